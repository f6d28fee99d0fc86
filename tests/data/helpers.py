"""File writers shared by the data tests: real IDX files and CIFAR-10 batches."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The IDX encoding of a uint8 array: magic, one big-endian uint32 per dimension, raw bytes."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """Write ``array`` as IDX; gzipped when ``path`` ends in .gz."""
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_mnist_split(folder: Path, split: str, n: int, seed: int = 0, gz: bool = True,
                     size: tuple[int, int] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Write one split's image and label files into ``folder``; return what was written."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    ext = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images, IMAGES_MAGIC)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels, LABELS_MAGIC)
    return images, labels


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def cifar_images(n: int, seed: int) -> np.ndarray:
    """(n, 3, 32, 32) uint8 with channel c of image i holding 10*c + i + seed at (0, 0) and noise elsewhere."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    for i in range(n):
        for c in range(3):
            images[i, c, 0, 0] = (10 * c + i + seed) % 256
    return images


def cifar_batch_bytes(images: np.ndarray, labels: list[int]) -> bytes:
    """A pickled batch as in the release: b"data" (n, 3072) channel-major uint8, b"labels" a list."""
    batch = {
        b"batch_label": b"test batch",
        b"labels": list(labels),
        b"data": images.reshape(len(images), 3072),  # (n, 3, 32, 32) -> (n, 3072), R then G then B
        b"filenames": [f"img{i}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=2)


def make_cifar_tar(path: Path, per_batch: int = 4, n_test: int = 3) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write a cifar-10-python.tar.gz with 5 train batches, a test batch and batches.meta."""
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    with tarfile.open(path, "w:gz") as tar:
        for seed, name in enumerate(names):
            n = n_test if name == "test_batch" else per_batch
            images = cifar_images(n, seed * 50)
            labels = [(seed + i) % 10 for i in range(n)]
            written[name] = (images, labels)
            _add(tar, f"cifar-10-batches-py/{name}", cifar_batch_bytes(images, labels))
        meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                 b"dog", b"frog", b"horse", b"ship", b"truck"]}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
    return written


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
