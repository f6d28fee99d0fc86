"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy between two feature sets under the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, estimated with the unbiased
U-statistic on random subsets and averaged over subsets. Unlike FID, its
estimator has no bias that depends on the number of samples.
"""

from __future__ import annotations

import numpy as np

from ganforge.metrics._arrays import features_2d, same_dim


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gram matrix k(x_i, y_j) = (x_i . y_j / d + 1)^3 for x (M, D), y (N, D) -> (M, N)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD^2 between the laws of x (M, D) and y (N, D).

    MMD^2_u = sum_{i!=j} k(x_i,x_j) / (M(M-1)) + sum_{i!=j} k(y_i,y_j) / (N(N-1))
              - 2 sum_{i,j} k(x_i,y_j) / (MN).
    The diagonals k(x_i, x_i) are left out, which removes the positive bias of
    the plain (V-statistic) plug-in estimate; the cross term keeps every pair
    because x and y are independent.
    """
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)  # (M, M)
    k_yy = polynomial_kernel(y, y)  # (N, N)
    k_xy = polynomial_kernel(x, y)  # (M, N)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float(sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * k_xy.sum() / (m * n))


def kernel_inception_distance(
    feats1, feats2, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and std over subsets of the unbiased MMD^2 with k(x,y) = (x.y/d + 1)^3.

    Each of ``num_subsets`` rounds draws ``subset_size`` rows without replacement
    from each set (clipped to the smaller set's size) and computes the unbiased
    MMD^2; the result is deterministic given ``seed``. The std is the population
    standard deviation (ddof=0) of the per-subset estimates, not a standard error.
    """
    x1 = features_2d(feats1, "feats1")
    x2 = features_2d(feats2, "feats2")
    same_dim(x1, x2, "feats1", "feats2")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    m = min(subset_size, x1.shape[0], x2.shape[0])

    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets)
    for s in range(num_subsets):
        a = x1[rng.choice(x1.shape[0], size=m, replace=False)]
        b = x2[rng.choice(x2.shape[0], size=m, replace=False)]
        estimates[s] = mmd2_unbiased(a, b)
    return float(estimates.mean()), float(estimates.std())
