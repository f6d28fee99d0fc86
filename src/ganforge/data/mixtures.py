"""Synthetic 2-D Gaussian mixtures with known modes, for exact mode-coverage metrics.

ring8:  8 Gaussians evenly spaced on a circle of radius 2, std 0.02.
grid25: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.
Each point picks a mode uniformly at random; its label is the mode index.
Points are drawn from a fixed seed (0 for train, 1 for test), so every load
returns the same 50,000 points.
"""

from __future__ import annotations

import math

import torch

from ganforge.errors import ConfigError, did_you_mean

NUM_POINTS = 50_000
SPLIT_SEEDS = {"train": 0, "test": 1}


def _ring8() -> torch.Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([2 * torch.cos(angles), 2 * torch.sin(angles)], dim=1).float()


def _grid25() -> torch.Tensor:
    coords = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (25, 2), row-major over x then y


# name -> (centres builder, std)
MIXTURES = {
    "ring8": (_ring8, 0.02),
    "grid25": (_grid25, 0.05),
}


def _check(name: str) -> None:
    if name not in MIXTURES:
        raise ConfigError(f"unknown mixture '{name}'{did_you_mean(name, MIXTURES)}")


def mixture_centers(name: str) -> torch.Tensor:
    """Mode centres of mixture ``name``: float32 (K, 2)."""
    _check(name)
    return MIXTURES[name][0]()


def mixture_std(name: str) -> float:
    """Standard deviation of every mode of mixture ``name``."""
    _check(name)
    return MIXTURES[name][1]


def sample_mixture(name: str, n: int = NUM_POINTS, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points float32 (n, 2) and their mode indices int64 (n,), deterministic in ``seed``."""
    centers, std = mixture_centers(name), mixture_std(name)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=gen)
    noise = torch.randn(n, 2, generator=gen)
    return centers[labels] + std * noise, labels
