"""Dataset, load_dataset arguments, adaptation, dataset_info, normalize / to_uint8."""

import pytest
import torch

from ganforge.data import DATASETS, Dataset, adapt_images, dataset_info, load_dataset, normalize, to_uint8
from ganforge.errors import ConfigError


def test_normalize_round_trip_is_exact_for_all_values():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = normalize(x)
    assert f.dtype == torch.float32 and f.min().item() == -1.0 and f.max().item() == 1.0
    assert torch.equal(to_uint8(f), x)


def test_to_uint8_clamps_and_rounds():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0, float("nan"), 1 / 127.5 * 0.4])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255, 128, 128]
    with pytest.raises(TypeError):
        normalize(torch.zeros(2))


def test_to_uint8_infinities_and_half_steps():
    """+-inf clamp like any out-of-range value. Rounding is half to even on (x + 1) * 127.5 in float32: x + 1 for
    the float32 nearest -126/127.5, -125/127.5, -124/127.5 rounds below 1.5/127.5, 2.5/127.5, 3.5/127.5, so they
    give 1, 2 (2.5 -> even), 3, and a negative x too small to move 1 gives 127.5 -> 128 but one that moves it
    by a float32 step gives 127. The saved samples, the grids and the metrics all see these bytes."""
    x = torch.tensor([float("inf"), float("-inf"), -126 / 127.5, -125 / 127.5, -124 / 127.5, -2.985e-8, -1e-9])
    expected = [255, 0, 1, 2, 3, 127, 128]
    assert x.dtype == torch.float32
    assert to_uint8(x).dtype == torch.uint8 and to_uint8(x).tolist() == expected
    assert to_uint8(x.double()).tolist() == expected  # computed in float32 whatever comes in


def test_adapt_channels():
    grey = torch.tensor([[[[0, 100], [200, 255]]]], dtype=torch.uint8)
    rgb = adapt_images(grey, channels=3)
    assert rgb.shape == (1, 3, 2, 2) and all(torch.equal(rgb[:, c], grey[:, 0]) for c in range(3))
    red = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    red[:, 0] = 255
    assert adapt_images(red, channels=1).flatten().tolist() == [76] * 4  # round(0.299 * 255)
    assert torch.equal(adapt_images(grey), grey)  # nothing to do


def test_adapt_resize_keeps_constants_and_dtype():
    x = torch.full((5000, 1, 8, 8), 77, dtype=torch.uint8)  # more than one chunk
    y = adapt_images(x, image_size=3)
    assert y.shape == (5000, 1, 3, 3) and y.dtype == torch.uint8 and (y == 77).all()


def test_dataset_shape_and_len():
    ds = Dataset("t", torch.zeros(4, 3, 5, 5, dtype=torch.uint8), None, 0, None, "image")
    assert ds.shape == (3, 5, 5) and len(ds) == 4
    assert "tensor" not in repr(ds)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="did you mean 'mnist'"):
        load_dataset("mnst")
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        load_dataset("ring8", split="val")
    with pytest.raises(ConfigError, match="channels must be 1 or 3"):
        load_dataset("ring8", channels=2)
    with pytest.raises(ConfigError, match="image_size must be a positive integer"):
        load_dataset("ring8", image_size=0)
    with pytest.raises(ConfigError, match="folder:PATH"):
        load_dataset("folder")


def test_dataset_info_covers_every_registered_name():
    rows = {r["name"]: r for r in dataset_info()}
    assert set(rows) == {"mnist", "fashion-mnist", "kmnist", "cifar10", "digits", "folder:PATH", "paired:PATH", "pack:DIR",
                         "ring8", "grid25"}
    assert len(DATASETS.names()) == 10
    assert rows["paired:PATH"]["status"] == "use paired:PATH" and rows["pack:DIR"]["status"] == "use pack:DIR"
    assert rows["mnist"]["shape"] == "1x28x28" and rows["mnist"]["classes"] == 10
    assert rows["mnist"]["status"] == "downloadable"
    assert rows["cifar10"]["shape"] == "3x32x32"
    assert rows["digits"]["status"] == "embedded (scikit-learn)"
    assert rows["ring8"]["status"] == "synthetic" and rows["grid25"]["classes"] == 25
    assert all(r["description"] and "\n" not in r["description"] for r in rows.values())
