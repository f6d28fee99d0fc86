"""Shared input checks for the metric functions: anything array-like in, float64 numpy out."""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(x, name: str, dtype=np.float64) -> np.ndarray:
    """Convert a torch tensor, numpy array or nested list to a numpy array of ``dtype``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu")
        x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        x = x.numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot convert to a numeric array ({err})") from None


def features_2d(x, name: str, min_samples: int = 2) -> np.ndarray:
    """Return ``x`` as a finite float64 array of shape (N, D) with N >= ``min_samples``."""
    arr = to_numpy(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (N, D), got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name}: need at least {min_samples} samples, got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: feature dimension is 0")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise if two (N, D) feature arrays disagree on D."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dims differ: {name_a} has {a.shape[1]}, {name_b} has {b.shape[1]}")
