"""CIFAR-10 from the python-pickle release (``cifar-10-python.tar.gz``).

Each batch is a pickle of a dict with ``b"data"`` (n x 3072 uint8, channel-major:
1024 red, then 1024 green, then 1024 blue values, each row-major 32x32) and
``b"labels"`` (n ints in 0..9). train = data_batch_1..5, test = test_batch.
Batches are read from the extracted ``cifar-10-batches-py/`` folder or straight
from the tar. Pickles are unpickled with a loader that only accepts the numpy
array types these files use, so a hostile file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ganforge.errors import DataError

TAR_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
SPLIT_BATCHES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # any unpickling failure means a corrupt or foreign file
        raise DataError(f"{where}: not a CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: not a CIFAR-10 batch (holds {type(obj).__name__}, expected a dict)")
    return obj


def parse_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, 32, 32) uint8 and labels (n,) int64 from one pickled batch."""
    batch = _unpickle(raw, where)
    if b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR-10 batch (no b'data' / b'labels' entries)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: b'data' is {data.dtype} {data.shape}, expected uint8 (n, 3072)")
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{where}: {labels.size} labels for {len(data)} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels outside 0..9 (min {labels.min()}, max {labels.max()})")
    # channel-major rows: (n, 3072) -> (n, 3, 32, 32)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _class_names(raw: bytes | None) -> list[str]:
    if raw is None:
        return list(CLASS_NAMES)
    try:
        meta = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
        return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
    except Exception:
        return list(CLASS_NAMES)


def batch_folder(folder: Path) -> Path | None:
    """The folder holding the batches: ``folder/cifar-10-batches-py`` or ``folder`` itself."""
    for candidate in (folder / FOLDER_NAME, folder):
        if all((candidate / b).is_file() for b in SPLIT_BATCHES["train"] + SPLIT_BATCHES["test"]):
            return candidate
    return None


def find_cifar(folder: Path) -> Path | None:
    """An extracted batch folder or the release tar in ``folder``, or None."""
    found = batch_folder(folder)
    if found is not None:
        return found
    tar = folder / TAR_NAME
    return tar if tar.is_file() else None


def _read_from_folder(folder: Path, names: list[str]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for name in names:
        path = folder / name
        try:
            out[name] = path.read_bytes()
        except FileNotFoundError:
            out[name] = None
        except OSError as e:
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    return out


def _read_from_tar(tar_path: Path, names: list[str]) -> dict[str, bytes | None]:
    """Read the regular-file members whose base names are in ``names``, without extracting."""
    out: dict[str, bytes | None] = dict.fromkeys(names)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if base in out and member.isfile():
                    out[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{tar_path}: corrupt or truncated tar archive ({e})") from None
    return out


def load_cifar10(source: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (N, 3, 32, 32) uint8, labels (N,) int64 and class names from a batch folder or the tar."""
    names = SPLIT_BATCHES[split]
    read = _read_from_tar if source.is_file() else _read_from_folder
    raw = read(source, names + ["batches.meta"])
    images, labels = [], []
    for name in names:
        if raw[name] is None:
            raise DataError(f"{source}: missing {name}")
        x, y = parse_batch(raw[name], f"{source}:{name}" if source.is_file() else str(source / name))
        images.append(x)
        labels.append(y)
    x = torch.from_numpy(np.concatenate(images))
    y = torch.from_numpy(np.concatenate(labels))
    return x, y, _class_names(raw["batches.meta"])

