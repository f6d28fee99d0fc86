"""Frechet distance between Gaussians fitted to feature sets (the maths behind FID).

FID (Heusel et al. 2017) fits N(mu, Sigma) to the features of real and generated
images and reports the Frechet (2-Wasserstein squared) distance between the two:

    d^2 = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

Everything here runs in float64. The trace of the matrix square root is taken
from the eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1), which
has the same spectrum as S1 S2; this stays real where a general ``sqrtm`` of
S1 S2 can return complex noise, and it copes with singular covariances.
"""

from __future__ import annotations

import numpy as np

from ganforge.metrics._arrays import features_2d, same_dim, to_numpy


def feature_statistics(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), both float64.

    mu = mean_i x_i;  Sigma = 1/(N-1) sum_i (x_i - mu)(x_i - mu)^T.
    """
    x = features_2d(feats, "feats")
    mu = x.mean(axis=0)
    sigma = np.atleast_2d(np.cov(x, rowvar=False))  # (D, D); atleast_2d keeps D == 1 square
    return mu, sigma


def _clip_rounding(ev: np.ndarray) -> np.ndarray:
    """Zero eigenvalues that are negative or below the rounding level d * eps * max|ev|.

    Such eigenvalues are not resolved by ``eigh``; left in, their square roots
    (e.g. sqrt(1e-14) = 1e-7 each) would add visible noise for singular matrices.
    """
    tol = ev.shape[0] * np.finfo(np.float64).eps * np.abs(ev).max(initial=0.0)
    return np.where(ev > tol, ev, 0.0)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2.

    S1 S2 is similar to sqrt(S1) S2 sqrt(S1), which is symmetric PSD, so the
    trace is the sum of square roots of that matrix's eigenvalues.
    """
    w, v = np.linalg.eigh(sigma1)
    sqrt_s1 = (v * np.sqrt(_clip_rounding(w))) @ v.T  # V diag(sqrt w) V^T
    m = sqrt_s1 @ sigma2 @ sqrt_s1
    m = 0.5 * (m + m.T)  # remove rounding asymmetry before eigvalsh
    return float(np.sqrt(_clip_rounding(np.linalg.eigvalsh(m))).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), in float64.

    Singular covariances (e.g. fewer samples than dimensions) need no special
    care in the eigenvalue route; ``eps * I`` is added to both covariances only
    if the eigendecomposition fails or gives a non-finite trace. Rounding that
    would push the result below 0 is clamped to 0.
    """
    mu1 = np.atleast_1d(to_numpy(mu1, "mu1"))
    mu2 = np.atleast_1d(to_numpy(mu2, "mu2"))
    sigma1 = np.atleast_2d(to_numpy(sigma1, "sigma1"))
    sigma2 = np.atleast_2d(to_numpy(sigma2, "sigma2"))
    if mu1.ndim != 1 or mu2.ndim != 1:
        raise ValueError(f"means must be 1-D, got shapes {mu1.shape} and {mu2.shape}")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean dims differ: mu1 has {mu1.shape[0]}, mu2 has {mu2.shape[0]}")
    d = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"{name}: expected shape ({d}, {d}) to match the means, got {s.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: contains NaN or inf")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")

    try:
        tr_covmean = _trace_sqrt_product(sigma1, sigma2)
    except np.linalg.LinAlgError:
        tr_covmean = float("nan")
    if not np.isfinite(tr_covmean):
        offset = eps * np.eye(d)
        tr_covmean = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)

    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid_from_features(feats1, feats2) -> float:
    """FID between two feature sets (N1, D) and (N2, D): Frechet distance of their Gaussian fits."""
    x1 = features_2d(feats1, "feats1")
    x2 = features_2d(feats2, "feats2")
    same_dim(x1, x2, "feats1", "feats2")
    return frechet_distance(*feature_statistics(x1), *feature_statistics(x2))
