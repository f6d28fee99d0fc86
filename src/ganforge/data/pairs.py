"""Paired images for translation: pair makers that turn any image data set into a task, and paired folders.

A pair maker computes each image's *source* (what the translator is given) from the image itself (the
*target*), as uint8, deterministically per (seed, image index):

- ``sr4``: the image shrunk 4x by averaging each 4x4 block (PIL's ``Image.reduce(4)``), rounded;
- ``inpaint``: a square hole of half the image's side, at a random place (per seed and image), filled with
  mid-grey (128); ``inpaint-centre``: the hole in the middle;
- ``colorize``: the luminance 0.299 R + 0.587 G + 0.114 B of an RGB image (one channel);
- ``edges``: black edges on white: the Sobel gradient of the luminance where it exceeds a quarter of a full
  black-to-white step.

A paired folder holds ``A/`` and ``B/`` with the same file names (A the source, B the target), or images
that are the two side by side (A on the left, as the public pix2pix data sets ship them).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.errors import DataError

PAIR_MAKERS = {
    "sr4": "x4 super-resolution: the source is the image shrunk 4x (4x4 block means)",
    "inpaint": "inpainting: a half-side square hole filled with grey, at a random place per image",
    "inpaint-centre": "inpainting: a half-side square hole filled with grey, in the middle",
    "colorize": "colourisation: the source is the RGB image's luminance",
    "edges": "edges -> image: black Sobel edges on white",
}
HOLE_FILL = 128
EDGE_THRESHOLD = 255.0 / 4  # of the Sobel magnitude scaled to a black-to-white step = 255
_CHUNK = 4096


def make_sources(x: torch.Tensor, task: str, seed: int = 0) -> torch.Tensor:
    """The sources (uint8) of targets ``x`` (uint8 (N, C, H, W)) for pair maker ``task``."""
    if task not in PAIR_MAKERS:
        raise DataError(f"unknown pair maker '{task}' (valid: {', '.join(PAIR_MAKERS)})")
    n, c, h, w = x.shape
    if task == "sr4":
        if h % 4 or w % 4:
            raise DataError(f"sr4 shrinks images 4x and needs a size divisible by 4, got {h}x{w}; set data.image_size")
        return _chunked(x, lambda f: F.avg_pool2d(f, 4))
    if task.startswith("inpaint"):
        return inpaint_sources(x, centre=task == "inpaint-centre", seed=seed)
    if task == "colorize":
        if c != 3:
            raise DataError(f"colorize turns grey into colour and needs RGB images, got {c} channel(s); "
                            "use an RGB data set (or data.channels=3 on a colour one)")
        return _chunked(x, luminance)
    return _chunked(x, edge_map)


def _chunked(x: torch.Tensor, fn) -> torch.Tensor:
    parts = [fn(x[i:i + _CHUNK].float()).round().clamp(0, 255).to(torch.uint8) for i in range(0, len(x), _CHUNK)]
    return torch.cat(parts) if parts else x.clone()


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W), any float range; grey images pass through."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def hole_boxes(n: int, h: int, w: int, centre: bool, seed: int) -> torch.Tensor:
    """(n, 2) top-left corners of each image's (h // 2) x (w // 2) hole."""
    hh, hw = h // 2, w // 2
    if centre:
        return torch.tensor([[(h - hh) // 2, (w - hw) // 2]]).repeat(n, 1)
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, h - hh + 1, (n,), generator=g), torch.randint(0, w - hw + 1, (n,), generator=g)], 1)


def inpaint_sources(x: torch.Tensor, centre: bool, seed: int = 0) -> torch.Tensor:
    n, _, h, w = x.shape
    out = x.clone()
    hh, hw = h // 2, w // 2
    for i, (top, left) in enumerate(hole_boxes(n, h, w, centre, seed).tolist()):
        out[i, :, top:top + hh, left:left + hw] = HOLE_FILL
    return out


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in 0..255 -> (B, 1, H, W): 0 (black) where the luminance's Sobel magnitude / 4 exceeds
    ``EDGE_THRESHOLD``, else 255. The Sobel kernels sum to 4 on a step, hence the / 4."""
    grey = luminance(x)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=grey.dtype)
    k = torch.stack([kx, kx.t()]).unsqueeze(1)                                  # (2, 1, 3, 3)
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), k)
    magnitude = g.pow(2).sum(1, keepdim=True).sqrt() / 4
    return torch.where(magnitude > EDGE_THRESHOLD, 0.0, 255.0)


# -- paired folders ------------------------------------------------------------------------------

def load_paired_folder(path: str, image_size: int | None = None, channels: int | None = None):
    """(sources, targets, how) from a paired folder: ``A/`` + ``B/`` with the same names, else side-by-side
    images. ``image_size`` / ``channels`` apply to both halves."""
    from ganforge.data import adapt_images
    from ganforge.data.folder import IMAGE_SUFFIXES, read_images

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"paired folder {path} not found; give a folder with A/ and B/ (same file names) or "
                        "side-by-side A|B images")
    a_dir, b_dir = root / "A", root / "B"
    if a_dir.is_dir() or b_dir.is_dir():
        if not (a_dir.is_dir() and b_dir.is_dir()):
            missing = "B/" if a_dir.is_dir() else "A/"
            raise DataError(f"paired folder {path} has {'A/' if missing == 'B/' else 'B/'} but no {missing}; "
                            "put the sources in A/ and the targets in B/, with the same file names")
        names_a = {p.name for p in a_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        names_b = {p.name for p in b_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        if names_a != names_b:
            only = sorted(names_a ^ names_b)
            raise DataError(f"paired folder {path}: {len(only)} file(s) in only one of A/ and B/ (e.g. {only[0]}); "
                            "every source needs a target of the same name")
        if not names_a:
            raise DataError(f"paired folder {path}: A/ and B/ hold no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        names = sorted(names_a)
        a = read_images([a_dir / n for n in names], channels)
        b = read_images([b_dir / n for n in names], channels)
        how = "A/ and B/"
    else:
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"paired folder {path} holds no A/ and B/ folders and no images; give A/ + B/ with the "
                            "same file names, or side-by-side A|B images")
        both = read_images(files, channels)
        if both.shape[-1] % 2:
            raise DataError(f"paired folder {path}: side-by-side images must be twice as wide as tall (A|B), "
                            f"got {both.shape[-2]}x{both.shape[-1]}")
        half = both.shape[-1] // 2
        a, b = both[..., :half].contiguous(), both[..., half:].contiguous()
        how = "side by side"
    if a.shape[-2:] != b.shape[-2:] and image_size is None:
        raise DataError(f"paired folder {path}: sources are {tuple(a.shape[-2:])} and targets {tuple(b.shape[-2:])}; "
                        "set data.image_size to bring both to one size")
    return adapt_images(a, image_size, channels), adapt_images(b, image_size, channels), how


# -- unpaired domains (CycleGAN) -----------------------------------------------------------------

def class_index(name: str, class_names: list[str] | None, dataset: str) -> int:
    """A class given by name (case-insensitive; '-' and ' ' alike) or by index."""
    names = list(class_names or [])
    key = name.strip().lower().replace(" ", "-")
    for i, n in enumerate(names):
        if n.lower().replace(" ", "-") == key:
            return i
    if key.isdigit() and int(key) < len(names):
        return int(key)
    if not names:
        raise DataError(f"data.domains picks two classes, and data set '{dataset}' has no classes; use a labelled data "
                        "set or a folder with one subfolder per domain")
    valid = ", ".join(n.lower().replace(" ", "-") for n in names)
    raise DataError(f"data set '{dataset}' has no class '{name}' (classes: {valid})")


def split_domains(x: torch.Tensor, y: torch.Tensor, a: int, b: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(sources, targets): the images of class ``a`` and of class ``b``, the smaller set repeated in a seeded
    shuffled order until both have the larger one's count (unpaired: index i of one is not i of the other)."""
    xa, xb = x[y == a], x[y == b]
    if not len(xa) or not len(xb):
        raise DataError(f"data.domains: class {a if not len(xa) else b} has no images in this split")
    n = max(len(xa), len(xb))
    g = torch.Generator().manual_seed(seed)

    def fill(t):
        if len(t) == n:
            return t
        order = torch.cat([torch.randperm(len(t), generator=g) for _ in range(-(-n // len(t)))])[:n]
        return t[order]

    return fill(xa), fill(xb)


def unpair_halves(source: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None):
    """Sources of the first half of the images, targets of the second half: no image's own pair is in the set."""
    half = len(x) // 2
    return source[:half], x[half:2 * half], None if y is None else y[half:2 * half]
