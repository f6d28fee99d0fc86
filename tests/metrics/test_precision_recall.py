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
    # no point lies within float64 rounding of a boundary, so any float64 computation decides each the same
    assert undecided_share(fake, real, k, 2.0 ** -53) == undecided_share(real, fake, k, 2.0 ** -53) == 0
    assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=0)
    # Batching and torch input do not change the answer.
    assert precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=k, batch_size=7) == pytest.approx(
        expected, abs=0
    )


def undecided_share(points, centres, k, unit_roundoff):
    """Share of ``points`` whose "inside some ball of ``centres``" can flip under rounding of size ``unit_roundoff``.

    Rounding the inputs (relative error u each) and forming |a|^2 + |b|^2 - 2 a.b from sums of D products
    errs by at most (D + 6) u (|a| + |b|)^2 (Higham 3.1: gamma_D for each sum, 2u for the inputs, 3 more
    operations); a ball's squared radius is the k-th smallest such value over the centre's neighbours, so it
    errs by at most the same bound with |b| <= the largest norm M. A point's membership is decided the same
    way by any such computation unless, for some centre, |d^2 - r^2| is within the sum of those two errors.
    """
    dim, u = points.shape[1], unit_roundoff
    d2 = cdist(points, centres) ** 2  # float64: exact to ~1e-15 relative, far below the float32 errors
    radii = cdist(centres, centres)
    np.fill_diagonal(radii, np.inf)
    r2 = np.sort(radii, axis=1)[:, k - 1] ** 2
    norm_p, norm_c = np.linalg.norm(points, axis=1), np.linalg.norm(centres, axis=1)
    slack = (dim + 6) * u * ((norm_p[:, None] + norm_c[None, :]) ** 2 + (norm_c[None, :] + norm_c.max()) ** 2)
    surely_in = (d2 + slack <= r2[None, :]).any(axis=1)
    surely_out = (d2 - slack > r2[None, :]).all(axis=1)
    return float(np.mean(~surely_in & ~surely_out))


def test_float32_agrees_with_float64():
    """float32 distances can flip a point that lies within rounding of a ball's boundary, and only such a
    point: the two answers differ by at most the share of undecided points (none for these clouds, so
    they agree exactly), whatever order the CPU's kernels sum in."""
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(500, 16)), rng.normal(size=(500, 16)) * 1.3
    p64 = precision_recall(real, fake)
    p32 = precision_recall(real, fake, dtype=torch.float32)
    u32 = 2.0 ** -24
    bounds = (undecided_share(fake, real, 3, u32), undecided_share(real, fake, 3, u32))
    assert all(abs(a - b) <= bound for a, b, bound in zip(p32, p64, bounds))
    assert 0 < p64[0] < 1 and 0 < p64[1] < 1  # a case with boundaries to get wrong


def test_validation_errors():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="feature dims differ"):
        precision_recall(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="at least 4 samples"):
        precision_recall(rng.normal(size=(3, 3)), rng.normal(size=(10, 3)), k=3)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), k=0)
