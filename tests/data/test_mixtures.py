"""ring8 and grid25: known centres, balanced modes, deterministic draws."""

import math

import pytest
import torch

from ganforge.data import load_dataset, mixture_centers, mixture_std
from ganforge.errors import ConfigError


def test_ring8_centres_and_std():
    centres = mixture_centers("ring8")
    assert centres.shape == (8, 2) and centres.dtype == torch.float32
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(centres[0], torch.tensor([2.0, 0.0]))
    assert torch.allclose(centres[2], torch.tensor([0.0, 2.0]), atol=1e-6)
    assert torch.allclose(centres[1], torch.tensor([math.sqrt(2), math.sqrt(2)]))
    assert mixture_std("ring8") == 0.02


def test_ring8_points():
    ds = load_dataset("ring8")
    assert ds.kind == "points" and ds.shape == (2,) and len(ds) == 50_000 and ds.x.dtype == torch.float32
    assert ds.num_classes == 8 and ds.y.dtype == torch.int64
    counts = torch.bincount(ds.y, minlength=8)
    assert ((counts - 50_000 / 8).abs() < 300).all()  # each mode ~1/8 (binomial sd ~74)
    offsets = ds.x - mixture_centers("ring8")[ds.y]
    assert offsets.abs().max() < 6 * 0.02
    assert abs(offsets.std().item() - 0.02) < 0.001
    nearest = torch.cdist(ds.x, mixture_centers("ring8")).argmin(dim=1)
    assert torch.equal(nearest, ds.y)


def test_deterministic_and_test_split_differs():
    a, b = load_dataset("ring8"), load_dataset("ring8", image_size=64, channels=3)  # ignored for points
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    test = load_dataset("ring8", split="test")
    assert len(test) == 50_000 and not torch.equal(test.x, a.x)


def test_grid25():
    centres = mixture_centers("grid25")
    assert centres.shape == (25, 2)
    assert {tuple(c) for c in centres.tolist()} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    ds = load_dataset("grid25")
    assert ds.num_classes == 25 and mixture_std("grid25") == 0.05
    assert (ds.x - centres[ds.y]).abs().max() < 6 * 0.05


def test_unknown_mixture():
    with pytest.raises(ConfigError, match="did you mean 'ring8'"):
        mixture_centers("ring9")
