"""Improved precision and recall (Kynkaanniemi et al. 2019).

Each set's manifold is approximated by the union of balls around its points,
the ball at x having radius = distance from x to its k-th nearest neighbour in
the same set (x itself excluded). Precision is the share of generated points
inside the real manifold (fidelity); recall is the share of real points inside
the generated manifold (coverage).

Pairwise distances are computed in row batches with torch, so 10k x 10k
features never need more than ``batch_size x N`` distances in memory at once.
"""

from __future__ import annotations

import torch

from ganforge.metrics._arrays import features_2d, same_dim


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_i - b_j||^2 for a (A, D), b (B, D) -> (A, B), via |a|^2 + |b|^2 - 2 a.b."""
    a2 = (a * a).sum(dim=1, keepdim=True)  # (A, 1)
    b2 = (b * b).sum(dim=1)  # (B,)
    return (a2 + b2 - 2.0 * a @ b.T).clamp_min_(0.0)


def _knn_radii_squared(x: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Squared distance from each row of x (N, D) to its k-th nearest other row -> (N,)."""
    n = x.shape[0]
    radii = torch.empty(n, dtype=x.dtype, device=x.device)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        d2 = _squared_distances(x[start:stop], x)  # (b, N)
        rows = torch.arange(stop - start, device=x.device)
        d2[rows, rows + start] = float("inf")  # exclude each point itself
        radii[start:stop] = d2.kthvalue(k, dim=1).values
    return radii


def _share_inside(points: torch.Tensor, centres: torch.Tensor, radii_sq: torch.Tensor, batch_size: int) -> float:
    """Share of ``points`` lying in at least one ball (centres[j], sqrt(radii_sq[j])), boundary included."""
    inside = 0
    for start in range(0, points.shape[0], batch_size):
        d2 = _squared_distances(points[start : start + batch_size], centres)  # (b, C)
        inside += int((d2 <= radii_sq).any(dim=1).sum())
    return inside / points.shape[0]


def precision_recall(
    real_feats,
    fake_feats,
    k: int = 3,
    batch_size: int = 1024,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Improved precision and recall of fake features (M, D) against real features (N, D).

    precision = mean_{f in fake} 1[exists r in real: ||f - r|| <= NN_k(r, real)]
    recall    = mean_{r in real} 1[exists f in fake: ||r - f|| <= NN_k(f, fake)]
    where NN_k(x, S) is the distance from x to its k-th nearest neighbour in S minus {x}.

    Distances are computed in ``dtype`` (float64 by default; float32 halves time and
    memory at the cost of exactness near ball boundaries) on ``device`` (default:
    the device of ``real_feats`` if it is a tensor, else CPU).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    real = features_2d(real_feats, "real_feats", min_samples=k + 1)
    fake = features_2d(fake_feats, "fake_feats", min_samples=k + 1)
    same_dim(real, fake, "real_feats", "fake_feats")
    if device is None:
        device = real_feats.device if isinstance(real_feats, torch.Tensor) else "cpu"

    real_t = torch.as_tensor(real, dtype=dtype, device=device)
    fake_t = torch.as_tensor(fake, dtype=dtype, device=device)
    real_radii = _knn_radii_squared(real_t, k, batch_size)  # (N,)
    fake_radii = _knn_radii_squared(fake_t, k, batch_size)  # (M,)
    precision = _share_inside(fake_t, real_t, real_radii, batch_size)
    recall = _share_inside(real_t, fake_t, fake_radii, batch_size)
    return precision, recall
