"""The real Fashion-MNIST from Debian's dataset-fashion-mnist package."""

from pathlib import Path

import pytest
import torch

from ganforge.data import dataset_info, load_dataset

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not (SYSTEM / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)",
)


def test_train_split():
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.x.shape == (60000, 1, 28, 28) and ds.x.dtype == torch.uint8 and ds.x.is_contiguous()
    assert ds.y.shape == (60000,) and ds.y.dtype == torch.int64
    assert ds.y.min().item() == 0 and ds.y.max().item() == 9
    assert torch.bincount(ds.y).tolist() == [6000] * 10
    assert ds.x.max().item() == 255 and ds.class_names[9] == "Ankle boot"


def test_test_split():
    ds = load_dataset("fashion-mnist", split="test", download=False)
    assert ds.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y).tolist() == [1000] * 10


def test_info_reports_it_found():
    row = next(r for r in dataset_info() if r["name"] == "fashion-mnist")
    assert row["status"] == f"found: {SYSTEM}"
