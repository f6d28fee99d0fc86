"""KID: exact agreement with a slow double loop, unbiasedness, and sensitivity to a shift."""

import numpy as np
import pytest
import torch

from ganforge.metrics import kernel_inception_distance
from ganforge.metrics.kid import mmd2_unbiased


def k_poly(x, y):
    return (np.dot(x, y) / len(x) + 1.0) ** 3


def slow_mmd2_unbiased(x, y):
    m, n = len(x), len(y)
    xx = sum(k_poly(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k_poly(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k_poly(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def mmd2_biased(x, y):
    """V-statistic: keeps the diagonal k(x_i, x_i) terms, so it is biased upwards."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


def test_matches_double_loop_exactly():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.7
    expected = slow_mmd2_unbiased(x, y)
    # One subset of the full size is a permutation of each set; the estimator ignores order.
    mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=100)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == 0.0
    # Unequal sizes through the helper.
    assert mmd2_unbiased(x, y[:4]) == pytest.approx(slow_mmd2_unbiased(x, y[:4]), rel=1e-12)


def test_subset_draws_match_double_loop():
    # Reproduce the documented sampling (default_rng(seed), choice without replacement).
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(9, 4))
    draw = np.random.default_rng(5)
    expected = []
    for _ in range(3):
        a = x[draw.choice(12, size=5, replace=False)]
        b = y[draw.choice(9, size=5, replace=False)]
        expected.append(slow_mmd2_unbiased(a, b))
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=5, seed=5)
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert std == pytest.approx(np.std(expected), rel=1e-9)


def test_same_distribution_mean_near_zero():
    rng = np.random.default_rng(2)
    f1, f2 = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kernel_inception_distance(f1, f2, num_subsets=100, subset_size=200)
    assert std > 0
    assert abs(mean) < 3 * std / np.sqrt(100)


def test_estimator_is_unbiased_where_v_statistic_is_not():
    # Average over many independent small draws from one distribution: the unbiased
    # estimate centres on 0, while the V-statistic sits clearly above it.
    rng = np.random.default_rng(3)
    repeats, m = 400, 20
    unbiased, biased = np.empty(repeats), np.empty(repeats)
    for r in range(repeats):
        x, y = rng.normal(size=(m, 4)), rng.normal(size=(m, 4))
        unbiased[r] = kernel_inception_distance(x, y, num_subsets=1, subset_size=m)[0]
        biased[r] = mmd2_biased(x, y)
    standard_error = unbiased.std(ddof=1) / np.sqrt(repeats)
    assert abs(unbiased.mean()) < 3 * standard_error
    assert biased.mean() > 10 * standard_error
    assert np.all(biased > unbiased)  # the bias is the (positive) diagonal term


def test_shifted_distribution_is_clearly_positive():
    rng = np.random.default_rng(4)
    f1 = rng.normal(size=(1000, 16))
    same = rng.normal(size=(1000, 16))
    shifted = rng.normal(size=(1000, 16)) + 0.5
    same_mean, _ = kernel_inception_distance(f1, same, num_subsets=50, subset_size=200)
    shift_mean, shift_std = kernel_inception_distance(f1, shifted, num_subsets=50, subset_size=200)
    assert shift_mean > 0.1
    assert shift_mean > 5 * shift_std
    assert shift_mean > 20 * abs(same_mean)


def test_deterministic_given_seed_and_accepts_torch():
    rng = np.random.default_rng(5)
    f1, f2 = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 0.2
    a = kernel_inception_distance(f1, f2, num_subsets=10, subset_size=50, seed=7)
    b = kernel_inception_distance(torch.from_numpy(f1), torch.from_numpy(f2), num_subsets=10, subset_size=50, seed=7)
    c = kernel_inception_distance(f1, f2, num_subsets=10, subset_size=50, seed=8)
    assert a == b
    assert a != c


def test_validation_errors():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="feature dims differ"):
        kernel_inception_distance(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), subset_size=1)
    with pytest.raises(ValueError, match="num_subsets"):
        kernel_inception_distance(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), num_subsets=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        kernel_inception_distance(rng.normal(size=(1, 3)), rng.normal(size=(10, 3)))
