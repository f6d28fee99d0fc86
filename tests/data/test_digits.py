"""scikit-learn's digits, scaled to uint8."""

import torch

from ganforge.data import load_dataset


def test_digits_shape_and_scale():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == torch.uint8
    assert ds.x.max().item() == 255 and ds.x.min().item() == 0
    # every value is round(v * 255 / 16) for an integer v in 0..16
    allowed = {int(v * 255 / 16 + 0.5) for v in range(17)}
    assert set(ds.x.unique().tolist()) <= allowed
    assert ds.y.shape == (1797,) and ds.y.unique().tolist() == list(range(10))
    assert ds.num_classes == 10


def test_digits_resized_and_test_split_is_the_same():
    ds = load_dataset("digits", image_size=16)
    assert ds.x.shape == (1797, 1, 16, 16) and ds.x.dtype == torch.uint8
    test = load_dataset("digits", split="test")
    assert torch.equal(test.x, load_dataset("digits").x)
