"""Data sets as whole in-memory uint8 tensors, looked up by name.

    ds = load_dataset("fashion-mnist")            # Dataset: x uint8 (60000, 1, 28, 28), y int64
    batch = normalize(ds.x[:64])                  # float in [-1, 1], on any device
    images = to_uint8(generator(z))               # back to uint8 for saving

Names: mnist, fashion-mnist, kmnist, cifar10 (local files or download), digits
(scikit-learn), folder:PATH (your images), pack:DIR (a pack made by ``ganforge data pack``: its
images stay in a memory-mapped file), ring8 and grid25 (2-D mixtures).
Local files are searched in: the explicit ``data_dir`` (or ``data_dir/<name>``),
``$GANFORGE_DATA_DIR/<name>`` (or files directly in it), the cache
``<cache>/data/<name>``, then ``/usr/share/datasets/<name>``. Missing files are
downloaded into the cache when ``download=True``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.data import cifar, digits, download as dl, folder, idx, mixtures, pack as pack_, pairs as pairs_
from ganforge.data.download import cache_dir, data_cache_dir, download_file, download_files, pretty_path
from ganforge.data.mixtures import mixture_centers, mixture_std
from ganforge.errors import ConfigError, DataError
from ganforge.registry import Registry

__all__ = [
    "Dataset", "DATASETS", "load_dataset", "dataset_info", "normalize", "to_uint8",
    "mixture_centers", "mixture_std", "search_dirs", "adapt_images", "cache_dir",
    "data_cache_dir", "download_file", "download_files", "SYSTEM_DATA_ROOT", "data_fingerprint",
]

SYSTEM_DATA_ROOT = Path("/usr/share/datasets")  # where Debian's dataset-* packages install
SPLITS = ("train", "test")
_CHUNK = 4096  # images adapted per step, to bound the float copy


@dataclass
class Dataset:
    """A whole data set in memory."""

    name: str
    x: torch.Tensor = field(repr=False)  # images: uint8 (N, C, H, W); points: float32 (N, 2)
    y: torch.Tensor | None = field(repr=False)  # int64 (N,) or None
    num_classes: int  # 0 when unlabelled
    class_names: list[str] | None = field(repr=False)
    kind: str  # "image" or "points"
    source: torch.Tensor | None = field(default=None, repr=False)  # uint8 (N, C', H', W'): what a translator is given
    pairs: str | None = None  # how ``source`` was made: a pair maker (data/pairs.py), or "paired folder"
    domain_classes: tuple[int, int] | None = None  # data.domains: the classes of the source and the target domain
    pack: pack_.PackInfo | None = field(default=None, repr=False)  # pack:DIR: x is its memory-mapped file

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-sample shape: (C, H, W) or (2,)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


# ---------------------------------------------------------------------------------------------
# Registry: name -> loader(*, arg, data_dir, split, download, image_size, channels) -> Dataset
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetMeta:
    """What ``dataset_info`` reports without loading anything."""

    shape: tuple[int, ...] | None  # native per-sample shape; None when it depends on the files
    classes: int
    kind: str
    source: str


DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")
DATASET_META: dict[str, DatasetMeta] = {}


def _register(name: str, doc: str, *, shape, classes: int, kind: str, source: str):
    def decorator(loader):
        DATASETS.register(name, doc)(loader)
        DATASET_META[name] = DatasetMeta(shape, classes, kind, source)
        return loader

    return decorator


# ---------------------------------------------------------------------------------------------
# Where local files live
# ---------------------------------------------------------------------------------------------

def search_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for ``name``'s files, in order (see the module docstring)."""
    dirs: list[Path] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs += [root / name, root]
    if os.environ.get("GANFORGE_DATA_DIR"):
        root = Path(os.environ["GANFORGE_DATA_DIR"]).expanduser()
        dirs += [root / name, root]
    dirs += [data_cache_dir(name), SYSTEM_DATA_ROOT / name]
    return list(dict.fromkeys(dirs))


def _locate(name: str, data_dir, finder: Callable[[Path], object]):
    """The first non-None ``finder(folder)`` over the search folders, or None."""
    for folder_ in search_dirs(name, data_dir):
        if folder_.is_dir():
            found = finder(folder_)
            if found is not None:
                return found
    return None


def _not_found(name: str, data_dir, what: str) -> DataError:
    looked = ", ".join(pretty_path(d) for d in search_dirs(name, data_dir))
    return DataError(
        f"{name} not found (looked in {looked}); allow downloading, "
        f"or put {what} in {pretty_path(data_cache_dir(name))} or pass --data-dir DIR"
    )


# ---------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------

def _idx_loader(name: str):
    def load(*, data_dir=None, split="train", download=True, **_) -> Dataset:
        found = _locate(name, data_dir, lambda d: idx.find_split(d, split))
        if found is None:
            if not download:
                raise _not_found(name, data_dir, "the four files")
            dest = dl.download_files(name, [base + ".gz" for base in idx.SPLIT_FILES[split]])
            found = idx.find_split(dest, split)
        x, y = idx.load_idx(*found)
        return Dataset(name, x, y, idx.NUM_CLASSES, list(idx.CLASS_NAMES[name]), "image")

    load.__doc__ = f"Load {name} from IDX files (gz or raw), downloading them if needed."
    return load


_IDX_DOCS = {
    "mnist": "MNIST handwritten digits, 60k/10k 28x28 grey, 10 classes",
    "fashion-mnist": "Fashion-MNIST clothing, 60k/10k 28x28 grey, 10 classes",
    "kmnist": "Kuzushiji-MNIST cursive Japanese, 60k/10k 28x28 grey, 10 classes",
}
for _name, _doc in _IDX_DOCS.items():
    _register(_name, _doc, shape=(1, 28, 28), classes=10, kind="image", source=dl.MIRRORS[_name][0])(_idx_loader(_name))


@_register("cifar10", "CIFAR-10 photos, 50k/10k 32x32 RGB, 10 classes",
           shape=(3, 32, 32), classes=10, kind="image", source=dl.MIRRORS["cifar10"][0] + cifar.TAR_NAME)
def _load_cifar10(*, data_dir=None, split="train", download=True, **_) -> Dataset:
    source = _locate("cifar10", data_dir, cifar.find_cifar)
    if source is None:
        if not download:
            raise _not_found("cifar10", data_dir, cifar.TAR_NAME)
        dest = dl.download_files("cifar10", [cifar.TAR_NAME])
        dl.extract_tar(dest / cifar.TAR_NAME, dest)
        source = cifar.find_cifar(dest)
    x, y, names = cifar.load_cifar10(source, split)
    return Dataset("cifar10", x, y, 10, names, "image")


@_register("digits", "scikit-learn handwritten digits, 1,797 8x8 grey, 10 classes (no separate test split)",
           shape=(1, 8, 8), classes=10, kind="image", source="sklearn.datasets.load_digits")
def _load_digits(**_) -> Dataset:
    """Both splits return the same 1,797 images: scikit-learn ships no test split."""
    x, y = digits.load_digits()
    return Dataset("digits", x, y, 10, list(digits.CLASS_NAMES), "image")


@_register("folder", "folder:PATH, your images; sub-folders are classes",
           shape=None, classes=0, kind="image", source="a local folder")
def _load_folder(*, arg=None, image_size=None, channels=None, **_) -> Dataset:
    if not arg:
        raise ConfigError("data set 'folder' needs a path: folder:PATH")
    x, y, names = folder.load_folder(arg, image_size=image_size, channels=channels)
    return Dataset(f"folder:{arg}", x, y, len(names) if names else 0, names, "image")


@_register("paired", "paired:PATH, source -> target pairs: A/ and B/ with the same file names, or side-by-side A|B images",
           shape=None, classes=0, kind="image", source="a local folder")
def _load_paired(*, arg=None, image_size=None, channels=None, **_) -> Dataset:
    if not arg:
        raise ConfigError("data set 'paired' needs a path: paired:PATH")
    a, b, how = pairs_.load_paired_folder(arg, image_size=image_size, channels=channels)
    return Dataset(f"paired:{arg}", b, None, 0, None, "image", source=a, pairs=f"paired folder ({how})")


@_register("pack", "pack:DIR, images packed once by `ganforge data pack` (memory-mapped; streamed when large)",
           shape=None, classes=0, kind="image", source="a local pack")
def _load_pack(*, arg=None, image_size=None, channels=None, **_) -> Dataset:
    """Both splits are the pack itself (as with folder:PATH); its images are read from disk when touched."""
    if not arg:
        raise ConfigError("data set 'pack' needs a folder: pack:DIR (make one with `ganforge data pack`)")
    info = pack_.read_manifest(arg)
    c, s, _ = info.shape
    if (image_size not in (None, s)) or (channels not in (None, c)):
        raise ConfigError(f"pack:{arg} holds {c}-channel {s}x{s} images, the config asks for "
                          f"{channels or c}-channel {image_size or s}x{image_size or s}; set data.image_size={s} "
                          f"data.channels={c}, or pack the source again with --size/--channels")
    names = info.class_names
    return Dataset(f"pack:{arg}", pack_.open_images(info), pack_.read_labels(info), len(names) if names else 0, names,
                   "image", pack=info)


def _mixture_loader(name: str):
    def load(*, split="train", **_) -> Dataset:
        x, y = mixtures.sample_mixture(name, mixtures.NUM_POINTS, mixtures.SPLIT_SEEDS[split])
        k = len(mixtures.mixture_centers(name))
        return Dataset(name, x, y, k, [f"mode {i}" for i in range(k)], "points")

    load.__doc__ = f"Sample the {name} mixture (50,000 points, seed 0 train / 1 test)."
    return load


_register("ring8", "8 Gaussians on a circle of radius 2, std 0.02 (2-D points)",
          shape=(2,), classes=8, kind="points", source="synthetic")(_mixture_loader("ring8"))
_register("grid25", "25 Gaussians on a 5x5 grid {-4..4}^2, std 0.05 (2-D points)",
          shape=(2,), classes=25, kind="points", source="synthetic")(_mixture_loader("grid25"))


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------

def adapt_images(x: torch.Tensor, image_size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """Convert uint8 (N, C, H, W) images to ``channels`` and ``image_size`` x ``image_size``.

    Grey -> RGB repeats the channel; RGB -> grey uses luminance weights
    0.299 R + 0.587 G + 0.114 B; resizing is bilinear with antialiasing. Work
    happens in float, in chunks, and the result is rounded back to uint8.
    """
    n, c, h, w = x.shape
    want_c = c if channels is None else channels
    want_hw = (h, w) if image_size is None else (image_size, image_size)
    if want_c == c and want_hw == (h, w):
        return x.contiguous()
    if c not in (1, 3) or want_c not in (1, 3):
        raise DataError(f"cannot convert {c}-channel images to {want_c} channels")
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    out = torch.empty((n, want_c, *want_hw), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        chunk = x[start:start + _CHUNK].float()
        if want_c == 3 and c == 1:
            chunk = chunk.expand(-1, 3, -1, -1)
        elif want_c == 1 and c == 3:
            chunk = (chunk * luma).sum(dim=1, keepdim=True)  # (B, 3, H, W) -> (B, 1, H, W)
        if want_hw != (h, w):
            chunk = F.interpolate(chunk, size=want_hw, mode="bilinear", align_corners=False, antialias=True)
        out[start:start + _CHUNK] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out


def load_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    split: str = "train",
    download: bool = True,
    image_size: int | None = None,
    channels: int | None = None,
    pairs: str | None = None,
    domains: str | None = None,
    unpaired: bool = False,
) -> Dataset:
    """Load data set ``name`` whole into memory (see the module docstring for names and search order).

    ``image_size`` / ``channels`` adapt images once, here; they are ignored for
    point data. ``digits`` has no test split: "test" returns the same images.
    ``pairs``: a pair maker (``data/pairs.py``: sr4, inpaint, ...) that gives every image its translation
    source, deterministically per split and image; ``unpaired``: the first half's sources with the second half's
    images (no image meets its own source). ``domains``: "A,B", two classes of a labelled data set as the source
    and the target domain (unpaired; the smaller one repeated to the larger one's count).
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (valid: {', '.join(SPLITS)})")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ConfigError(f"image_size must be a positive integer, not {image_size!r}")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, not {channels!r}")
    key, _, arg = name.partition(":")
    if arg and key not in ("folder", "paired", "pack"):
        raise ConfigError(f"unknown dataset '{name}' (only folder:PATH, paired:PATH and pack:DIR take a path)")
    loader = DATASETS.get(key)
    ds = loader(arg=arg, data_dir=data_dir, split=split, download=download,
                image_size=image_size, channels=channels)
    if ds.kind == "image" and ds.source is None:
        ds.x = adapt_images(ds.x, image_size, channels)
    if pairs:
        if ds.kind != "image":
            raise ConfigError(f"data.pairs={pairs} makes image pairs; data set '{name}' holds 2-D points")
        if ds.source is not None:
            raise ConfigError(f"data set '{name}' is paired already; drop data.pairs")
        ds.source, ds.pairs = pairs_.make_sources(ds.x, pairs, seed=SPLITS.index(split)), pairs
        if unpaired:
            ds.source, ds.x, ds.y = pairs_.unpair_halves(ds.source, ds.x, ds.y)
            ds.pairs = f"{pairs}, unpaired halves"
    elif unpaired:
        raise ConfigError("data.unpaired=true splits the pairs of data.pairs; set data.pairs too")
    if domains:
        if ds.source is not None:
            raise ConfigError(f"data.domains picks two classes as domains; drop data.pairs (or the paired data set)")
        names = [n.strip() for n in domains.split(",")]
        if len(names) != 2 or not all(names):
            raise ConfigError(f"data.domains must name two classes, A,B (e.g. sneaker,ankle-boot), got '{domains}'")
        if ds.kind != "image" or ds.y is None:
            raise ConfigError(f"data.domains picks two classes; data set '{name}' has no labelled images")
        a, b = (pairs_.class_index(n, ds.class_names, name) for n in names)
        if a == b:
            raise ConfigError(f"data.domains names one class twice ('{domains}'); give two different classes")
        ds.source, ds.x = pairs_.split_domains(ds.x, ds.y, a, b, seed=SPLITS.index(split))
        ds.y = torch.full((len(ds.x),), b, dtype=torch.int64)
        ds.pairs = f"domains {ds.class_names[a]} -> {ds.class_names[b]}"
        ds.domain_classes = (a, b)
    return ds


def dataset_info() -> list[dict]:
    """One dict per registered data set: name, shape, classes, description, source, status."""
    rows = []
    for name in DATASETS.names():
        meta = DATASET_META[name]
        if name in idx.CLASS_NAMES:
            found = _locate(name, None, lambda d: d if idx.find_split(d, "train") else None)
            status = f"found: {found}" if found else "downloadable"
        elif name == "cifar10":
            found = _locate(name, None, cifar.find_cifar)
            status = f"found: {found}" if found else "downloadable"
        elif name == "digits":
            status = "embedded (scikit-learn)"
        elif name in ("folder", "paired"):
            status = f"use {name}:PATH"
        elif name == "pack":
            status = "use pack:DIR"
        else:
            status = "synthetic"
        rows.append({
            "name": f"{name}:PATH" if name in ("folder", "paired") else "pack:DIR" if name == "pack" else name,
            "shape": "x".join(map(str, meta.shape)) if meta.shape else "any",
            "classes": meta.classes,
            "kind": meta.kind,
            "description": DATASETS.doc(name),
            "source": meta.source,
            "status": status,
        })
    return rows


def data_fingerprint(*datasets: Dataset) -> str:
    """sha256 over the images and labels (shape, dtype and bytes) of the given splits."""
    h = hashlib.sha256()
    for ds in datasets:
        for t in (ds.x, ds.y):
            if t is None:
                h.update(b"none")
                continue
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            for start in range(0, max(len(t), 1), 4096):  # in chunks: a packed data set is not copied whole
                h.update(t[start:start + 4096].contiguous().numpy().tobytes())
    return h.hexdigest()


def normalize(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [-1, 1] (same device)."""
    if x_uint8.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {x_uint8.dtype}")
    return (x_uint8.float() - 127.5) / 127.5


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 0..255 (inverse of ``normalize``), on ``x``'s device; the one conversion
    for saved samples, grids and metrics. Clamped to [-1, 1], then ``(x + 1) * 127.5`` rounded half to even:
    -1 -> 0, 0 -> 128, 1 -> 255, out of range and +-inf -> 0 or 255, NaN -> 128 (read as 0). (The formula of
    ganforge 0.1's sample files and grids; its metrics' ``x * 127.5 + 127.5`` rounded 7 in 10^6 values of
    tanh(N(0, 1)) one level the other way.)"""
    x = torch.nan_to_num(x.float(), nan=0.0)
    return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
