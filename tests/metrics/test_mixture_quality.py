"""Mode coverage on the ring-of-8 mixture built here from its definition."""

import math

import numpy as np
import pytest

from ganforge.metrics import mixture_quality
from ganforge.metrics.mixtures import HIGH_QUALITY_STDS, MIN_MODE_SHARE

STD = 0.02


def ring_centres(k=8, radius=2.0):
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_modes(rng, modes, per_mode, centres):
    idx = np.repeat(modes, per_mode)
    return centres[idx] + STD * rng.normal(size=(len(idx), 2))


def test_true_ring_samples_cover_all_modes():
    rng = np.random.default_rng(0)
    centres = ring_centres()
    result = mixture_quality(sample_modes(rng, np.arange(8), 500, centres), centres, STD)
    assert result["modes_covered"] == 8
    assert result["high_quality"] > 0.98
    assert result["kl_modes"] < 0.01
    assert sum(result["mode_counts"]) == pytest.approx(0.989 * 4000, rel=0.01)  # 1 - exp(-4.5)


def test_three_modes_only():
    rng = np.random.default_rng(1)
    centres = ring_centres()
    result = mixture_quality(sample_modes(rng, [0, 3, 5], 800, centres), centres, STD)
    assert result["modes_covered"] == 3
    assert result["high_quality"] > 0.98
    assert [c > 0 for c in result["mode_counts"]] == [True, False, False, True, False, True, False, False]
    # Roughly equal counts over 3 of 8 modes: KL to uniform is about log(8 / 3).
    assert result["kl_modes"] == pytest.approx(math.log(8 / 3), abs=0.01)


def test_uniform_noise_is_low_quality():
    rng = np.random.default_rng(2)
    centres = ring_centres()
    result = mixture_quality(rng.uniform(-3, 3, size=(10000, 2)), centres, STD)
    # 8 discs of radius 3 * 0.02 cover 8 * pi * 0.06^2 / 36 ~ 0.25% of the square.
    assert result["high_quality"] < 0.01


def test_exact_counts_threshold_and_kl():
    centres = ring_centres()
    # Points exactly on centres: counts 100, 100, 19, 20 at modes 0..3; N = 239, N / K ~ 29.9.
    counts = [100, 100, 19, 20, 0, 0, 0, 0]
    samples = np.repeat(centres, counts, axis=0)
    # Plus 10 points far from every centre (not high quality).
    samples = np.concatenate([samples, np.full((10, 2), 10.0)])
    result = mixture_quality(samples, centres, STD, min_mode_share=0.5)
    assert result["mode_counts"] == counts
    assert result["high_quality"] == pytest.approx(239 / 249)
    threshold = 0.5 * 249 / 8  # 15.56: modes with 19 and 20 count, empty ones do not
    assert result["modes_covered"] == sum(c >= threshold for c in counts) == 4
    q = np.array(counts[:4]) / 239
    assert result["kl_modes"] == pytest.approx(float(np.sum(q * np.log(8 * q))), rel=1e-12)
    # With the default 20% share (threshold 6.2) the same 4 modes count; at 70% (21.8) only 2.
    assert mixture_quality(samples, centres, STD)["modes_covered"] == 4
    assert mixture_quality(samples, centres, STD, min_mode_share=0.7)["modes_covered"] == 2


def test_documented_constants():
    assert HIGH_QUALITY_STDS == 3.0
    assert MIN_MODE_SHARE == 0.2


def test_no_high_quality_samples():
    result = mixture_quality(np.full((5, 2), 50.0), ring_centres(), STD)
    assert result["modes_covered"] == 0 and result["high_quality"] == 0.0
    assert math.isnan(result["kl_modes"])


def test_validation_errors():
    with pytest.raises(ValueError, match="2-D points"):
        mixture_quality(np.zeros((5, 3)), ring_centres(), STD)
    with pytest.raises(ValueError, match="std must be"):
        mixture_quality(np.zeros((5, 2)), ring_centres(), 0.0)
