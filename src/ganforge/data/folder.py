"""A folder of images: ``folder:PATH``.

Each sub-folder of PATH is a class (sorted names give labels 0, 1, ...); a
folder without sub-folders is one unlabelled set. Images are read with PIL,
converted to the requested channels (default: 1 if every image is grey, else
3), center-cropped to a square and resized to ``image_size`` (default: the
size of the first image). Files PIL cannot read are skipped with one warning;
a folder with no readable image is an error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ganforge.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def list_folder(path: Path | str) -> tuple[list[tuple[Path, int]], list[str] | None]:
    """``folder:PATH``'s image files with their labels (sub-folders are classes, in name order; -1 without
    sub-folders) and the class names or None."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: not a folder; pass --dataset folder:PATH with PATH a folder of images (sub-folders = classes)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_dirs:
        return [(f, label) for label, d in enumerate(class_dirs) for f in _image_files(d)], [d.name for d in class_dirs]
    return [(f, -1) for f in _image_files(root)], None


def fit_square(img, size: int, fit: str = "crop"):
    """A PIL image made ``size`` x ``size``: centre ``crop`` to a square, ``pad`` with black to one, or ``stretch``."""
    from PIL import Image

    w, h = img.size
    if fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    elif fit == "pad" and w != h:
        side = max(w, h)
        canvas = Image.new(img.mode, (side, side))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        img = canvas
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)  # PIL antialiases when shrinking
    return img


def load_folder(
    path: Path | str, *, image_size: int | None = None, channels: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, list[str] | None]:
    """Images (N, C, S, S) uint8, labels (N,) int64 or None, and class names or None."""
    from PIL import Image, UnidentifiedImageError

    entries, class_names = list_folder(path)

    unreadable: list[Path] = []
    read_errors = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)

    # Pass 1: headers only, to choose channels and size before decoding anything.
    headers = []
    for f, label in entries:
        try:
            with Image.open(f) as img:
                headers.append((f, label, img.mode, img.size))
        except read_errors:
            unreadable.append(f)
    if channels is None:
        channels = 1 if headers and all(mode in GREY_MODES for _, _, mode, _ in headers) else 3
    if channels not in (1, 3):
        raise DataError(f"folder:{path}: channels must be 1 or 3, not {channels}")
    if image_size is None and headers:
        image_size = min(headers[0][3])

    # Pass 2: decode, convert, crop and resize into one preallocated buffer.
    pil_mode = "L" if channels == 1 else "RGB"
    buffer = np.empty((len(headers), image_size or 1, image_size or 1, channels), dtype=np.uint8)
    labels = []
    for f, label, _, _ in headers:
        try:
            with Image.open(f) as img:
                img = fit_square(img.convert(pil_mode), image_size)
                pixels = np.asarray(img, dtype=np.uint8)
        except read_errors:
            unreadable.append(f)
            continue
        buffer[len(labels)] = pixels.reshape(image_size, image_size, channels)
        labels.append(label)

    if not labels:
        where = "its class sub-folders" if class_names is not None else "it"
        bad = f"; {len(unreadable)} unreadable file(s), e.g. {unreadable[0]}" if unreadable else ""
        raise DataError(f"folder:{path}: no readable images in {where} ({', '.join(sorted(IMAGE_SUFFIXES))}){bad}")
    if unreadable:
        warnings.warn(f"folder:{path}: skipped {len(unreadable)} unreadable image file(s), e.g. {unreadable[0]}",
                      stacklevel=3)
    x = torch.from_numpy(buffer[: len(labels)]).permute(0, 3, 1, 2).contiguous()  # (N, S, S, C) -> (N, C, S, S)
    y = torch.tensor(labels, dtype=torch.int64) if class_names is not None else None
    return x, y, class_names


def read_image(path: Path | str, channels: int | None = None) -> torch.Tensor:
    """One image file as uint8 (C, H, W) at its own size: ``channels`` 1 or 3, or None for its own (grey modes
    1, the rest 3). A file PIL cannot read is a ``DataError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            c = channels if channels is not None else (1 if img.mode in GREY_MODES else 3)
            pixels = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: not an image PIL can read ({type(e).__name__}); give PNG, JPEG or another "
                        f"format PIL reads ({', '.join(sorted(IMAGE_SUFFIXES))})") from None
    return torch.from_numpy(pixels.reshape(pixels.shape[0], pixels.shape[1], -1).copy()).permute(2, 0, 1).contiguous()


def read_images(paths, channels: int | None = None) -> torch.Tensor:
    """Image files of one size as uint8 (N, C, H, W); ``channels`` None: 1 if every file is grey, else 3."""
    from PIL import Image

    paths = list(paths)
    if channels is None:
        modes = []
        for p in paths:
            try:
                with Image.open(p) as img:
                    modes.append(img.mode)
            except Exception:  # read_image below names the file
                modes.append("?")
        channels = 1 if all(m in GREY_MODES for m in modes) else 3
    images = [read_image(p, channels) for p in paths]
    sizes = {tuple(im.shape[1:]) for im in images}
    if len(sizes) > 1:
        h, w = images[0].shape[1:]
        other, im = next((p, im) for p, im in zip(paths, images) if tuple(im.shape[1:]) != (h, w))
        raise DataError(f"{other} is {im.shape[2]}x{im.shape[1]} pixels but {paths[0]} is {w}x{h}; the images of "
                        "one set must share one size: resize them to one size first")
    return torch.stack(images)
