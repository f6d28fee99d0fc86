"""FID maths against scipy's sqrtm and closed forms for Gaussians."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.metrics import feature_statistics, fid_from_features, frechet_distance


def reference_fid(mu1, s1, mu2, s2):
    """Textbook formula with a general matrix square root (what pytorch-fid style code does)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def random_features(rng, n, d, scale=1.0, shift=0.0):
    mix = rng.normal(size=(d, d)) * scale / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [8, 64])
def test_matches_scipy_sqrtm_reference(d):
    rng = np.random.default_rng(d)
    f1 = random_features(rng, 500, d)
    f2 = random_features(rng, 400, d, scale=1.5, shift=0.3)
    stats1, stats2 = feature_statistics(f1), feature_statistics(f2)
    expected = reference_fid(*stats1, *stats2)
    assert expected > 1.0
    assert frechet_distance(*stats1, *stats2) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-6)


def test_diagonal_covariances_closed_form():
    # For commuting (here diagonal) covariances: sum_i (sqrt(a_i) - sqrt(b_i))^2 + |mu1 - mu2|^2.
    rng = np.random.default_rng(0)
    d = 16
    a, b = rng.uniform(0.1, 4.0, d), rng.uniform(0.1, 4.0, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_one_dimensional_closed_form():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2; scalars are accepted.
    assert frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_equal_covariances_leave_only_mean_term():
    rng = np.random.default_rng(1)
    sigma = random_spd(rng, 32)
    mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
    expected = np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(2)
    f = random_features(rng, 300, 64)
    assert abs(fid_from_features(f, f)) < 1e-6
    mu, sigma = feature_statistics(f)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_symmetric():
    rng = np.random.default_rng(3)
    s1, s2 = feature_statistics(random_features(rng, 200, 20)), feature_statistics(random_features(rng, 200, 20, 2.0))
    assert frechet_distance(*s1, *s2) == pytest.approx(frechet_distance(*s2, *s1), rel=1e-10)


def test_rank_deficient_covariances_stay_real_and_finite():
    # n < d: both covariances have rank <= n - 1 = 9 out of 64.
    rng = np.random.default_rng(4)
    f1, f2 = rng.normal(size=(10, 64)), rng.normal(size=(10, 64)) + 0.5
    value = fid_from_features(f1, f2)
    assert isinstance(value, float) and np.isfinite(value) and value > 0
    # The eps-regularised reference agrees closely.
    (mu1, s1), (mu2, s2) = feature_statistics(f1), feature_statistics(f2)
    eye = 1e-6 * np.eye(64)
    assert value == pytest.approx(reference_fid(mu1, s1 + eye, mu2, s2 + eye), rel=1e-4)


def test_singular_equal_covariances_exact():
    # Rank-3 covariance in 16 dims shared by both: only the mean term survives.
    rng = np.random.default_rng(5)
    basis = rng.normal(size=(16, 3))
    sigma = basis @ basis.T
    mu1, mu2 = np.zeros(16), np.full(16, 0.25)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(16 * 0.0625, abs=1e-9)


def test_feature_statistics_float64_unbiased_and_accepts_torch():
    rng = np.random.default_rng(6)
    f = rng.normal(size=(50, 7)).astype(np.float32)
    mu, sigma = feature_statistics(torch.from_numpy(f))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    assert mu.shape == (7,) and sigma.shape == (7, 7)
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False, ddof=1), rtol=1e-12)


def test_validation_errors():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="feature dims differ"):
        fid_from_features(rng.normal(size=(10, 4)), rng.normal(size=(10, 5)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        feature_statistics(rng.normal(size=(1, 4)))
    with pytest.raises(ValueError, match="2-D"):
        feature_statistics(rng.normal(size=10))
    with pytest.raises(ValueError, match="NaN"):
        feature_statistics(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="mean dims differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
