"""CIFAR-10 parser on a small real-format tar the tests write, and safe extraction."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset
from ganforge.data.cifar import TAR_NAME, load_cifar10, parse_batch
from ganforge.data.download import extract_tar
from ganforge.errors import DataError

from .helpers import cifar_batch_bytes, make_cifar_tar


@pytest.fixture
def cifar_tar(tmp_path):
    path = tmp_path / "dl" / TAR_NAME
    path.parent.mkdir()
    written = make_cifar_tar(path, per_batch=4, n_test=3)
    return path, written


def test_channel_order_from_known_pixels():
    images = np.zeros((1, 3, 32, 32), np.uint8)
    images[0, 0] = 200  # red plane
    images[0, 1, 5, 7] = 17  # one green pixel at row 5, column 7
    images[0, 2] = 9  # blue plane
    x, y = parse_batch(cifar_batch_bytes(images, [4]), "batch")
    assert x.shape == (1, 3, 32, 32) and x.dtype == np.uint8
    assert (x[0, 0] == 200).all() and (x[0, 2] == 9).all()
    assert x[0, 1, 5, 7] == 17 and x[0, 1].sum() == 17
    # the raw row is channel-major: 1024 reds, then greens (row-major), then blues
    row = images.reshape(1, 3072)[0]
    assert row[0] == 200 and row[1024 + 5 * 32 + 7] == 17 and row[2048] == 9
    assert y.tolist() == [4]


def test_load_from_tar_train_and_test(cifar_tar):
    path, written = cifar_tar
    x, y, names = load_cifar10(path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    expected = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert np.array_equal(x.numpy(), expected)
    assert y.tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert x[4, 2, 0, 0].item() == (20 + 0 + 50) % 256  # batch 2 (seed 50), image 0, blue
    assert names[0] == "airplane" and names[9] == "truck"
    xt, yt, _ = load_cifar10(path, "test")
    assert xt.shape == (3, 3, 32, 32) and np.array_equal(xt.numpy(), written["test_batch"][0])


def test_load_dataset_from_tar_and_extracted_folder(cifar_tar, tmp_path):
    path, written = cifar_tar
    ds = load_dataset("cifar10", data_dir=str(path.parent), split="test", download=False)
    assert (ds.shape, len(ds), ds.num_classes, ds.kind) == ((3, 32, 32), 3, 10, "image")
    target = extract_tar(path, tmp_path / "out")
    assert (target / "cifar-10-batches-py" / "data_batch_5").is_file()
    ds2 = load_dataset("cifar10", data_dir=str(target), download=False)
    assert len(ds2) == 20
    gray = load_dataset("cifar10", data_dir=str(target), split="test", channels=1, download=False)
    r, g, b = (torch.from_numpy(written["test_batch"][0]).float()[:, c] for c in range(3))
    expected = (0.299 * r + 0.587 * g + 0.114 * b).round().to(torch.uint8)
    assert gray.shape == (1, 32, 32)
    assert (gray.x[:, 0].int() - expected.int()).abs().max() <= 1


def _traversal_tar(path, target_name):
    with tarfile.open(path, "w:gz") as tar:
        for name in ("cifar-10-batches-py/ok.txt", f"../{target_name}", f"/tmp/{target_name}"):
            data = b"x"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("cifar-10-batches-py/escape")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../" + target_name
        tar.addfile(link)


def test_path_traversal_member_is_refused(tmp_path):
    target_name = f"ganforge-evil-{os.getpid()}.txt"
    archive = tmp_path / "evil.tar.gz"
    _traversal_tar(archive, target_name)
    target = tmp_path / "a" / "b"
    with pytest.raises(DataError, match="unsafe archive member refused") as err:
        extract_tar(archive, target)
    assert str(archive) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "a" / target_name).exists()
    assert not (tmp_path / target_name).exists()
    assert not os.path.exists(f"/tmp/{target_name}")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(p.name for p in written) == ["evil.tar.gz", "ok.txt"]


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with pytest.raises(DataError, match="refusing to load"):
        parse_batch(pickle.dumps({b"data": Boom()}, protocol=2), "hostile")
    assert not (tmp_path / "pwned").exists()


def test_wrong_data_shape_and_labels(tmp_path):
    bad = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(DataError, match=r"expected uint8 \(n, 3072\)"):
        parse_batch(bad, "b1")
    bad = cifar_batch_bytes(np.zeros((2, 3, 32, 32), np.uint8), [0, 12])
    with pytest.raises(DataError, match="labels outside 0..9"):
        parse_batch(bad, "b2")
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        parse_batch(b"not a pickle", "b3")


def test_truncated_tar(cifar_tar):
    path, _ = cifar_tar
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="corrupt or truncated tar archive") as err:
        load_cifar10(path, "train")
    assert str(path) in str(err.value)
