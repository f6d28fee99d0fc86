"""folder:PATH on PNGs the tests write."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.errors import DataError


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def two_classes(tmp_path):
    """cats: 3 RGB 10x12 (h x w) images, dogs: 2, plus an unreadable file; outer columns are white."""
    root = tmp_path / "pets"
    for label, (cls, count) in enumerate([("cats", 3), ("dogs", 2)]):
        for i in range(count):
            img = np.zeros((10, 12, 3), np.uint8)
            img[..., 0] = 40 * label + i  # red encodes the class and index
            img[:, 0] = img[:, 11] = 255  # cropped away by the center square
            _png(root / cls / f"{i}.png", img)
    (root / "dogs" / "broken.png").write_bytes(b"not a png at all")
    (root / "dogs" / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_classes_labels_and_center_crop(two_classes):
    with pytest.warns(UserWarning, match="skipped 1 unreadable image file"):
        ds = load_dataset(f"folder:{two_classes}")
    assert ds.name == f"folder:{two_classes}"
    assert ds.class_names == ["cats", "dogs"] and ds.num_classes == 2
    assert ds.x.shape == (5, 3, 10, 10) and ds.x.dtype == torch.uint8
    assert ds.y.tolist() == [0, 0, 0, 1, 1]
    assert ds.x[:, 0, 0, 0].tolist() == [0, 1, 2, 40, 41]  # red channel, white border cropped off
    assert ds.x[:, 1:].max().item() == 0


def test_resize_and_grey(two_classes):
    with pytest.warns(UserWarning):
        ds = load_dataset(f"folder:{two_classes}", image_size=4, channels=1)
    assert ds.x.shape == (5, 1, 4, 4)
    # PIL's luminance: L = R * 299/1000 (+ G, B which are zero here)
    assert ds.x[4, 0, 0, 0].item() == round(41 * 0.299)


def test_all_grey_images_default_to_one_channel(tmp_path):
    for i in range(3):
        _png(tmp_path / "g" / f"{i}.png", np.full((6, 6), 10 * i, np.uint8))
    ds = load_dataset(f"folder:{tmp_path / 'g'}")
    assert ds.x.shape == (3, 1, 6, 6) and ds.y is None and ds.num_classes == 0
    assert ds.x[:, 0, 3, 3].tolist() == [0, 10, 20]


def test_empty_folder_and_only_unreadable(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no readable images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "empty" / "cls" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"no readable images .*; 1 unreadable file\(s\), e.g. .*x.jpg"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
