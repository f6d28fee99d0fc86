"""IDX parser (MNIST family) on files the tests write, and the local search order."""

import gzip

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset
from ganforge.data.idx import load_idx, read_idx
from ganforge.errors import DataError

from .helpers import IMAGES_MAGIC, LABELS_MAGIC, idx_bytes, make_mnist_split, write_idx


def _pair(tmp_path, n=5, gz=True, size=(28, 28)):
    images, labels = make_mnist_split(tmp_path, "train", n, gz=gz, size=size)
    ext = ".gz" if gz else ""
    return tmp_path / f"train-images-idx3-ubyte{ext}", tmp_path / f"train-labels-idx1-ubyte{ext}", images, labels


def _assert_one_line_naming(err, path):
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("n", [1, 7, 300])
def test_load_idx_round_trips_values(tmp_path, n, gz):
    images_path, labels_path, images, labels = _pair(tmp_path, n, gz)
    x, y = load_idx(images_path, labels_path)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.uint8 and x.is_contiguous()
    assert y.shape == (n,) and y.dtype == torch.int64
    assert np.array_equal(x[:, 0].numpy(), images)
    assert np.array_equal(y.numpy(), labels)


def test_non_square_images_keep_their_dims(tmp_path):
    images_path, labels_path, images, _ = _pair(tmp_path, 4, size=(5, 3))
    x, _ = load_idx(images_path, labels_path)
    assert x.shape == (4, 1, 5, 3)
    assert x[2, 0, 4, 2].item() == images[2, 4, 2]


def test_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(3, np.uint8), LABELS_MAGIC)
    with pytest.raises(DataError, match="wrong IDX magic number 0x00000801") as err:
        read_idx(path, IMAGES_MAGIC)
    _assert_one_line_naming(err, path)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file(tmp_path, gz):
    data = idx_bytes(np.ones((10, 28, 28), np.uint8), IMAGES_MAGIC)[:-100]
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path, IMAGES_MAGIC)
    _assert_one_line_naming(err, path)


def test_truncated_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(IMAGES_MAGIC.to_bytes(4, "big") + b"\x00\x00")
    with pytest.raises(DataError, match="truncated IDX header") as err:
        read_idx(path, IMAGES_MAGIC)
    _assert_one_line_naming(err, path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8), LABELS_MAGIC) + b"\x00")
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(path, LABELS_MAGIC)


def test_label_count_mismatch(tmp_path):
    images_path, labels_path, _, _ = _pair(tmp_path, 6)
    write_idx(labels_path, np.zeros(5, np.uint8), LABELS_MAGIC)
    with pytest.raises(DataError, match="5 labels but train-images-idx3-ubyte.gz has 6 images") as err:
        load_idx(images_path, labels_path)
    _assert_one_line_naming(err, labels_path)


def test_label_out_of_range(tmp_path):
    images_path, labels_path, _, _ = _pair(tmp_path, 4)
    write_idx(labels_path, np.array([0, 3, 11, 2], np.uint8), LABELS_MAGIC)
    with pytest.raises(DataError, match=r"label 11 at index 2 is outside 0\.\.9") as err:
        load_idx(images_path, labels_path)
    _assert_one_line_naming(err, labels_path)


@pytest.mark.parametrize("damage", ["garbled", "cut"])
def test_corrupt_gzip(tmp_path, damage):
    images_path, labels_path, _, _ = _pair(tmp_path, 50)
    raw = bytearray(images_path.read_bytes())
    if damage == "garbled":
        raw[20:60] = bytes(40)
    else:
        raw = raw[: len(raw) // 2]
    images_path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt gzip") as err:
        load_idx(images_path, labels_path)
    _assert_one_line_naming(err, images_path)


# ------------------------------------------------------------------ search order through load_dataset


def test_load_dataset_from_explicit_dir_raw_files(tmp_path):
    images, labels = make_mnist_split(tmp_path / "mine", "test", 9, gz=False)
    ds = load_dataset("mnist", data_dir=str(tmp_path / "mine"), split="test", download=False)
    assert (ds.name, ds.kind, ds.num_classes, ds.shape, len(ds)) == ("mnist", "image", 10, (1, 28, 28), 9)
    assert ds.class_names == [str(i) for i in range(10)]
    assert np.array_equal(ds.x[:, 0].numpy(), images) and np.array_equal(ds.y.numpy(), labels)


def test_explicit_dir_may_hold_a_subfolder_per_name(tmp_path):
    make_mnist_split(tmp_path / "root" / "kmnist", "train", 3)
    ds = load_dataset("kmnist", data_dir=str(tmp_path / "root"), download=False)
    assert len(ds) == 3 and ds.class_names[1] == "ki"


def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch, isolated_data_env):
    make_mnist_split(tmp_path / "explicit", "train", 2)
    make_mnist_split(tmp_path / "env" / "mnist", "train", 3)
    make_mnist_split(isolated_data_env / "data" / "mnist", "train", 4)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "env"))
    assert len(load_dataset("mnist", data_dir=str(tmp_path / "explicit"), download=False)) == 2
    assert len(load_dataset("mnist", download=False)) == 3
    monkeypatch.delenv("GANFORGE_DATA_DIR")
    assert len(load_dataset("mnist", download=False)) == 4
    # a data_dir without the files falls through to the next place
    assert len(load_dataset("mnist", data_dir=str(tmp_path / "nothing"), download=False)) == 4


def test_env_dir_may_hold_the_files_directly(tmp_path, monkeypatch):
    make_mnist_split(tmp_path / "flat", "train", 5, gz=False)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "flat"))
    assert len(load_dataset("mnist", download=False)) == 5


def test_not_found_without_download_is_one_line(tmp_path):
    with pytest.raises(DataError, match="kmnist not found") as err:
        load_dataset("kmnist", data_dir=str(tmp_path), download=False)
    msg = str(err.value)
    assert "\n" not in msg and "--data-dir" in msg and str(tmp_path) in msg
