"""Improved precision/recall on point clouds with known overlap, and against brute force."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ganforge.metrics import precision_recall


def brute_force_precision_recall(real, fake, k):
    def radii(x):
        d = cdist(x, x)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]  # k-th nearest other point

    r_real, r_fake = radii(real), radii(fake)
    precision = np.mean([(np.linalg.norm(real - f, axis=1) <= r_real).any() for f in fake])
    recall = np.mean([(np.linalg.norm(fake - r, axis=1) <= r_fake).any() for r in real])
    return precision, recall


def test_identical_clouds():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)


def test_disjoint_far_apart_clouds():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_fake_covers_half_of_the_real_support():
    # Real: uniform on the unit square. Fake: uniform on its left half.
    rng = np.random.default_rng(2)
    real = rng.uniform(size=(4000, 2))
    fake = rng.uniform(size=(2000, 2)) * [0.5, 1.0]
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.97
    assert recall == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force(k):
    rng = np.random.default_rng(10 + k)
    real = rng.normal(size=(300, 5))
    fake = np.concatenate([rng.normal(size=(150, 5)), rng.normal(size=(100, 5)) * 0.5 + 2.0])
    expected = brute_force_precision_recall(real, fake, k)
    assert 0.02 < expected[0] < 0.98 and 0.02 < expected[1] < 0.98  # a non-trivial case
    assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=0)
    # Batching and torch input do not change the answer.
    assert precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=k, batch_size=7) == pytest.approx(
        expected, abs=0
    )


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(500, 16)), rng.normal(size=(500, 16)) * 1.3
    p64 = precision_recall(real, fake)
    p32 = precision_recall(real, fake, dtype=torch.float32)
    assert p32 == pytest.approx(p64, abs=0.005)


def test_validation_errors():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="feature dims differ"):
        precision_recall(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="at least 4 samples"):
        precision_recall(rng.normal(size=(3, 3)), rng.normal(size=(10, 3)), k=3)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), k=0)
