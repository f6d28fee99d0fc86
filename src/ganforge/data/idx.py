"""IDX files: MNIST, Fashion-MNIST, KMNIST.

An IDX file is big-endian: two zero bytes, a type byte (0x08 = uint8), the
number of dimensions, one uint32 per dimension, then the raw values. Images
use magic 0x00000803 (n, rows, cols) and labels 0x00000801 (n). Files may be
gzipped or raw; they are checked by structure, never by checksum, so any
number of images and repacked archives are accepted.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ganforge.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
NUM_CLASSES = 10

# Base names (without .gz) of the image and label files of each split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


def find_file(folder: Path, base: str) -> Path | None:
    """``folder/base.gz`` or ``folder/base`` (also the ``base.idx3-ubyte`` spelling some archives use)."""
    for candidate in (base + ".gz", base, base.replace("-idx", ".idx") + ".gz", base.replace("-idx", ".idx")):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def find_split(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``folder``, or None if either is missing."""
    images = find_file(folder, SPLIT_FILES[split][0])
    labels = find_file(folder, SPLIT_FILES[split][1])
    return (images, labels) if images and labels else None


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip ({e}); delete it and download again") from None


def read_idx(path: Path | str, magic: int) -> np.ndarray:
    """Parse one uint8 IDX file (gz or raw) into an array of its declared shape.

    Raises a one-line ``DataError`` naming the file on a wrong magic number or a
    size that does not match the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        raise DataError(f"{path}: wrong IDX magic number 0x{got:08x} (expected 0x{magic:08x})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: {len(data)} bytes, header {'x'.join(map(str, dims))} needs {expected}")
    # One copy so the tensor built on it owns writable memory.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx(images_path: Path | str, labels_path: Path | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 from an IDX image/label pair."""
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected 3 dimensions (n, rows, cols), header has {images.ndim}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected 1 dimension (n), header has {labels.ndim}")
    if len(images) == 0:
        raise DataError(f"{images_path}: holds no images")
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} images")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DataError(f"{labels_path}: label {labels[bad[0]]} at index {bad[0]} is outside 0..{NUM_CLASSES - 1}")
    x = torch.from_numpy(images).unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y
