"""Mode coverage and sample quality for 2-D Gaussian mixtures (ring, grid).

Follows the protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al.
2018): each sample is assigned to its nearest mixture centre; it is *high
quality* if it lies within ``HIGH_QUALITY_STDS`` standard deviations of that
centre; a mode is *covered* if it receives enough high-quality samples.
The mixture is assumed to have equal weights and isotropic std.
"""

from __future__ import annotations

import math

import numpy as np

from ganforge.metrics._arrays import features_2d, to_numpy

# A sample is high quality if it lies within this many stds of its nearest centre.
# For an isotropic 2-D Gaussian, P(||x - mu|| <= 3 std) = 1 - exp(-4.5) ~ 0.989.
HIGH_QUALITY_STDS = 3.0

# A mode is covered if it gets at least this share of the N / K high-quality samples
# a perfect generator would give it. PacGAN counts a mode as lost with fewer than
# 20 high-quality samples of 2,500 on the 25-mode grid, i.e. 20% of the 100 expected.
MIN_MODE_SHARE = 0.2


def mixture_quality(
    samples,
    centers,
    std: float,
    hq_stds: float = HIGH_QUALITY_STDS,
    min_mode_share: float = MIN_MODE_SHARE,
) -> dict:
    """Mode coverage and quality of samples (N, 2) from a mixture with centres (K, 2).

    high_quality = share of samples with ||x - nearest centre|| <= hq_stds * std;
    modes_covered = #{k : n_k >= max(1, min_mode_share * N / K)}, n_k = high-quality samples at k;
    kl_modes = KL(n / sum n || uniform) = sum_k q_k log(K q_k), with 0 log 0 = 0
    (NaN when there are no high-quality samples, since the histogram is then undefined).

    Returns a dict with ``modes_covered`` (int), ``high_quality`` (float),
    ``kl_modes`` (float) and ``mode_counts`` (list of K ints, high-quality samples per mode).
    """
    x = features_2d(samples, "samples", min_samples=1)
    c = features_2d(centers, "centers", min_samples=1)
    if x.shape[1] != 2 or c.shape[1] != 2:
        raise ValueError(f"samples and centers must be 2-D points, got shapes {x.shape} and {c.shape}")
    std_arr = to_numpy(std, "std")
    if std_arr.size != 1:
        raise ValueError(f"std must be a single number (isotropic mixture), got shape {std_arr.shape}")
    std = float(std_arr.reshape(()))
    if not std > 0 or not math.isfinite(std):
        raise ValueError(f"std must be a positive number, got {std}")
    if hq_stds <= 0:
        raise ValueError(f"hq_stds must be > 0, got {hq_stds}")
    if min_mode_share < 0:
        raise ValueError(f"min_mode_share must be >= 0, got {min_mode_share}")
    n, k = x.shape[0], c.shape[0]

    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)  # (N, K)
    nearest = d2.argmin(axis=1)  # (N,)
    is_hq = d2[np.arange(n), nearest] <= (hq_stds * std) ** 2  # (N,)
    counts = np.bincount(nearest[is_hq], minlength=k)  # (K,)

    threshold = max(1.0, min_mode_share * n / k)
    total_hq = int(counts.sum())
    if total_hq == 0:
        kl = float("nan")
    else:
        q = counts / total_hq
        nz = q > 0
        kl = float((q[nz] * np.log(k * q[nz])).sum())
    return {
        "modes_covered": int((counts >= threshold).sum()),
        "high_quality": float(is_hq.mean()),
        "kl_modes": kl,
        "mode_counts": counts.tolist(),
    }
