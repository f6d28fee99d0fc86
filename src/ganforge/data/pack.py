"""Packed data sets: images decoded once into one memory-mapped uint8 file, read back in any order.

    ganforge data pack folder:photos --size 64 --out packs/photos64    # decode, crop, resize: once
    ganforge train --preset dcgan64 --dataset pack:packs/photos64     # train from it (streamed when large)

A pack directory holds

    images.u8       every image, uint8 (N, C, S, S) in C order, one after the other (memory-mapped when loaded)
    labels.i64      int64 (N,) class labels, when the source has classes
    manifest.json   count, shape, class names, the source and its fingerprint, and the image file's shards:
                    consecutive runs of images, each with its sha256 (``verify_pack`` checks them)
    skipped.txt     the source files that could not be read, one per line (when any)

Packing writes shard by shard and records each finished shard in ``pack.partial.json``; an interrupted pack
continues from the last finished shard (the files are cut back to it first). The source is only read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ganforge.errors import ConfigError, DataError
from ganforge.io import atomic_path, write_text

FORMAT = "ganforge-pack"
VERSION = 1
IMAGES, LABELS, MANIFEST, PARTIAL, SKIPPED = "images.u8", "labels.i64", "manifest.json", "pack.partial.json", "skipped.txt"
SHARD_BYTES = 256 << 20  # images per shard: as many as fit in 256 MiB (at least one)
FITS = ("crop", "pad", "stretch")


# ---------------------------------------------------------------------------------------------
# Reading a pack
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackInfo:
    path: Path
    count: int
    shape: tuple[int, int, int]  # (C, S, S)
    class_names: list[str] | None
    labelled: bool
    manifest: dict

    @property
    def image_bytes(self) -> int:
        c, h, w = self.shape
        return c * h * w

    @property
    def nbytes(self) -> int:
        return self.count * self.image_bytes


def read_manifest(path: str | os.PathLike) -> PackInfo:
    """The pack at ``path``; a one-line ``DataError`` when it is missing, unfinished or damaged."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"pack:{path}: no such folder; make a pack with `ganforge data pack SOURCE --out {path}`")
    file = root / MANIFEST
    if not file.is_file():
        hint = ("its packing was interrupted: run the same `ganforge data pack` again to finish it"
                if (root / PARTIAL).is_file() else f"make one with `ganforge data pack SOURCE --out {path}`")
        raise DataError(f"pack:{path}: no {MANIFEST} there; {hint}")
    try:
        m = json.loads(file.read_text())
        if m.get("format") != FORMAT:
            raise ValueError("not a ganforge pack")
        count, shape = int(m["count"]), tuple(int(s) for s in m["shape"])
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"pack:{path}: {MANIFEST} is damaged ({e}); pack the source again into a new folder") from None
    info = PackInfo(root, count, shape, m.get("class_names"), bool(m.get("labelled")), m)
    expected = {IMAGES: info.nbytes, **({LABELS: count * 8} if info.labelled else {})}
    for name, size in expected.items():
        have = (root / name).stat().st_size if (root / name).is_file() else None
        if have != size:
            raise DataError(f"pack:{path}: {name} holds {have if have is not None else 'no'} bytes, the manifest says "
                            f"{size}; the pack is damaged: pack the source again into a new folder")
    return info


def open_images(info: PackInfo) -> torch.Tensor:
    """All images as a uint8 (N, C, S, S) tensor backed by the memory-mapped file (pages load when touched)."""
    if info.count == 0:
        return torch.empty((0, *info.shape), dtype=torch.uint8)
    # mode "c": copy-on-write, so torch gets a writable array; nothing is ever written back to the file
    array = np.memmap(info.path / IMAGES, dtype=np.uint8, mode="c", shape=(info.count, *info.shape))
    return torch.from_numpy(array)


def read_images(info: PackInfo) -> torch.Tensor:
    """All images read into memory, uint8 (N, C, S, S) (a plain read: nothing of the file stays mapped)."""
    return torch.from_numpy(np.fromfile(info.path / IMAGES, dtype=np.uint8).reshape(info.count, *info.shape))


def read_labels(info: PackInfo) -> torch.Tensor | None:
    if not info.labelled:
        return None
    return torch.from_numpy(np.fromfile(info.path / LABELS, dtype=np.int64))


class PackReader:
    """Reads images by index with ``pread``: nothing stays mapped, so memory stays bounded by what is asked for."""

    def __init__(self, info: PackInfo):
        self.info = info
        self.fd = os.open(info.path / IMAGES, os.O_RDONLY)

    def read(self, idx: torch.Tensor) -> torch.Tensor:
        """uint8 (len(idx), C, S, S): the images at ``idx``, in that order."""
        size = self.info.image_bytes
        out = np.empty((len(idx), *self.info.shape), dtype=np.uint8)
        view = memoryview(out).cast("B")
        for row, i in enumerate(idx.tolist()):
            got = os.preadv(self.fd, [view[row * size:(row + 1) * size]], i * size)
            if got != size:
                raise DataError(f"pack:{self.info.path}: image {i} could not be read ({got} of {size} bytes); "
                                "the pack is damaged: pack the source again")
        return torch.from_numpy(out)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        self.close()


def verify_pack(path: str | os.PathLike) -> list[int]:
    """Indices of the shards whose sha256 does not match the manifest (empty: the pack is intact)."""
    info = read_manifest(path)
    bad = []
    with open(info.path / IMAGES, "rb") as f:
        for k, shard in enumerate(info.manifest["shards"]):
            f.seek(shard["start"] * info.image_bytes)
            if _sha256(f, shard["count"] * info.image_bytes) != shard["sha256"]:
                bad.append(k)
    return bad


def _sha256(f, nbytes: int) -> str:
    h = hashlib.sha256()
    while nbytes > 0:
        block = f.read(min(nbytes, 1 << 24))
        if not block:
            break
        h.update(block)
        nbytes -= len(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing a pack
# ---------------------------------------------------------------------------------------------

@dataclass
class PackSource:
    """What is packed: ``count`` items read in order by ``items(start)``, which yields (uint8 (C, S, S) or None
    for an unreadable item, label or -1, name)."""

    name: str
    count: int
    shape: tuple[int, int, int]
    class_names: list[str] | None
    fingerprint: str
    items: callable  # items(start) -> Iterator[tuple[np.ndarray | None, int, str]]
    options: dict


def folder_source(path: str, size: int, channels: int, fit: str) -> PackSource:
    """The images under ``path`` (sub-folders are classes, as with ``folder:PATH``), decoded one at a time."""
    from ganforge.data.folder import fit_square, list_folder

    root = Path(path).expanduser()
    entries, names = list_folder(path)
    if not entries:
        raise DataError(f"folder:{path}: no image files in it; give a folder of PNG/JPEG images")
    h = hashlib.sha256()
    for f, label in entries:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())

    def items(start: int) -> Iterator:
        from PIL import Image, UnidentifiedImageError

        errors = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)
        for f, label in entries[start:]:
            try:
                with Image.open(f) as img:
                    img = fit_square(img.convert("L" if channels == 1 else "RGB"), size, fit)
                    pixels = np.asarray(img, dtype=np.uint8).reshape(size, size, channels).transpose(2, 0, 1)
            except errors:
                yield None, label, str(f)
                continue
            yield pixels, label, str(f)

    return PackSource(f"folder:{path}", len(entries), (channels, size, size), names, h.hexdigest(), items,
                      {"size": size, "channels": channels, "fit": fit})


def dataset_source(name: str, split: str, size: int | None, channels: int | None, data_dir=None,
                   download: bool = True) -> PackSource:
    """A data set ganforge loads whole (mnist, cifar10, digits, ...), adapted to ``size`` and ``channels``."""
    from ganforge.data import data_fingerprint, load_dataset

    ds = load_dataset(name, data_dir=data_dir, split=split, download=download, image_size=size, channels=channels)
    if ds.kind != "image":
        raise ConfigError(f"data set '{name}' holds 2-D points; only images can be packed")
    c, h, w = ds.shape
    if h != w:
        raise ConfigError(f"data set '{name}' has {w}x{h} images; give --size S to make them square")
    x, y = ds.x, ds.y

    def items(start: int) -> Iterator:
        for i in range(start, len(x)):
            yield x[i].numpy(), int(y[i]) if y is not None else -1, f"{name}[{i}]"

    return PackSource(f"{name} ({split})", len(x), (c, h, w), ds.class_names, data_fingerprint(ds), items,
                      {"size": h, "channels": c, "fit": "stretch", "split": split})


def pack(source: PackSource, out: str | os.PathLike, *, shard_bytes: int = SHARD_BYTES, progress: bool = True,
         log=print) -> PackInfo:
    """Write ``source`` into the pack folder ``out`` (continuing an interrupted pack of the same source there)."""
    from tqdm import tqdm

    root = Path(out).expanduser()
    header = {"format": FORMAT, "version": VERSION, "shape": list(source.shape), "class_names": source.class_names,
              "source": {"name": source.name, "fingerprint": source.fingerprint, **source.options}}
    state = _start(root, header, source)
    per_shard = max(1, shard_bytes // int(np.prod(source.shape)))
    labelled = source.class_names is not None
    done = state["consumed"]
    bar = tqdm(total=source.count, initial=done, desc=f"packing {source.name}", unit="img", disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    with open(root / IMAGES, "r+b") as images, open(root / LABELS, "r+b") as labels, \
            open(root / SKIPPED, "a", encoding="utf-8") as skipped_file:
        images.seek(0, os.SEEK_END)
        labels.seek(0, os.SEEK_END)
        buf, ys, consumed = [], [], done

        def finish_shard():
            block = np.stack(buf) if buf else np.empty((0, *source.shape), dtype=np.uint8)
            images.write(block.tobytes())
            labels.write(np.asarray(ys, dtype=np.int64).tobytes() if labelled else b"")
            images.flush(), labels.flush(), skipped_file.flush()
            os.fsync(images.fileno()), os.fsync(labels.fileno())
            start = state["count"]
            state["shards"].append({"start": start, "count": len(buf), "sha256": hashlib.sha256(block.tobytes()).hexdigest()})
            state["count"] += len(buf)
            state["consumed"] = consumed
            _write_json(root / PARTIAL, state)
            buf.clear(), ys.clear()

        for pixels, label, where in source.items(done):
            consumed += 1
            if pixels is None:
                state["skipped"] += 1
                skipped_file.write(where + "\n")
            else:
                buf.append(np.ascontiguousarray(pixels, dtype=np.uint8))
                ys.append(label)
            bar.update(1)
            if len(buf) == per_shard:
                finish_shard()
        if buf or consumed != state["consumed"]:
            finish_shard()
    bar.close()
    if state["count"] == 0:
        raise DataError(f"{source.name}: none of its {source.count} images could be read (see {root / SKIPPED}); "
                        "nothing was packed")
    manifest = {**header, "count": state["count"], "labelled": labelled, "skipped": state["skipped"],
                "shards": state["shards"]}
    if not labelled:
        (root / LABELS).unlink()
    _write_json(root / MANIFEST, manifest)
    (root / PARTIAL).unlink()
    if not state["skipped"]:
        (root / SKIPPED).unlink(missing_ok=True)
    else:
        log(f"skipped {state['skipped']} unreadable file(s), listed in {root / SKIPPED}")
    return read_manifest(root)


def _start(root: Path, header: dict, source: PackSource) -> dict:
    """A fresh pack's state, or an interrupted one's with its files cut back to the last finished shard."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is an existing file; pick a new folder for the pack")
    if (root / MANIFEST).is_file():
        raise ConfigError(f"--out {root} holds a finished pack already; pick a new folder (packs are never overwritten)")
    if (root / PARTIAL).is_file():
        state = json.loads((root / PARTIAL).read_text())
        if {k: state.get(k) for k in header} != header:
            raise ConfigError(f"--out {root} holds an interrupted pack of another source or other options "
                              f"({state['source']['name']}, {state['shape']}); pick a new folder")
        image_bytes = int(np.prod(source.shape))
        for name, size in ((IMAGES, state["count"] * image_bytes), (LABELS, state["count"] * 8 if source.class_names else 0)):
            with open(root / name, "r+b") as f:  # drop whatever the interrupted shard had written
                f.truncate(size)
        _cut_skipped(root / SKIPPED, state["skipped"])
        return state
    if root.is_dir() and any(root.iterdir()):
        raise ConfigError(f"--out {root} is a folder with other files in it; pick a new (or empty) folder for the pack")
    root.mkdir(parents=True, exist_ok=True)
    for name in (IMAGES, LABELS, SKIPPED):
        (root / name).write_bytes(b"")
    state = {**header, "count": 0, "consumed": 0, "skipped": 0, "shards": []}
    _write_json(root / PARTIAL, state)
    return state


def _cut_skipped(path: Path, keep: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
    write_text(path, "".join(lines[:keep]))


def _write_json(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
