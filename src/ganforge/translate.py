"""``ganforge translate``: apply a trained translator (pix2pix) to your own images.

    ganforge translate RUN --input photo.png --out out/          # out/photo.png
    ganforge translate RUN --input folder/ --out out/            # every image in the folder
    ganforge translate RUN --input images.npz --out out.npz      # arr_0 uint8 (N, H, W[, C])

Inputs are read at their own size. An image of the model's source size is translated as it is. Any other
size is, with ``--fit resize`` (the default), resized to the source size (bilinear, antialiased) and comes
out at the model's output size; with ``--fit tile`` it is cut into source-size tiles (edges padded by
repeating the border), each tile translated, and the tiles put back together: the output keeps the input's
proportions, scaled by the model's factor (x4 for ``sr4``), so a super-resolution model enlarges a whole
picture. The channels must match the model's (a grey image into a colour model is an error that says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data import normalize, to_uint8
from ganforge.data.folder import IMAGE_SUFFIXES, read_image
from ganforge.errors import ConfigError, DataError, GanforgeError

FITS = ("resize", "tile")


def read_inputs(path: str | Path, channels: int) -> list[tuple[str, torch.Tensor]]:
    """(name, uint8 (C, H, W)) for each input image: one file, every image file in a folder (sorted), or the
    images of an .npz's arr_0 (named 00000, 00001, ...)."""
    from ganforge.metrics.evaluate import load_samples_file

    path = Path(path)
    if not path.exists():
        raise DataError(f"--input {path} does not exist; give an image file, a folder of images or a FILE.npz")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise DataError(f"--input {path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        items = [(p.stem, read_image(p)) for p in files]
    elif path.suffix.lower() == ".npz":
        x, _ = load_samples_file(path)
        if x.dim() != 4:
            raise DataError(f"--input {path} holds 2-D points, not images")
        items = [(f"{i:05d}", img) for i, img in enumerate(x)]
    else:
        items = [(path.stem, read_image(path))]
    for name, img in items:
        if img.shape[0] != channels:
            have, want = ("grey" if c == 1 else "colour" for c in (img.shape[0], channels))
            raise DataError(f"input '{name}' is a {have} image ({img.shape[0]} channel(s)) but this model translates "
                            f"{want} images ({channels}); convert it to {want} first")
    return items


def _tiles(img: torch.Tensor, th: int, tw: int) -> tuple[torch.Tensor, int, int]:
    """(tiles (R*C, ch, th, tw), R, C) of an image padded at its bottom and right edges by repeating them."""
    c, h, w = img.shape
    rows, cols = -(-h // th), -(-w // tw)
    padded = F.pad(img.float().unsqueeze(0), (0, cols * tw - w, 0, rows * th - h), mode="replicate")[0]
    tiles = padded.unfold(1, th, th).unfold(2, tw, tw)                        # (c, R, C, th, tw)
    return tiles.permute(1, 2, 0, 3, 4).reshape(rows * cols, c, th, tw), rows, cols


def translate(family, G, images: list[torch.Tensor], fit: str = "resize", device="cpu",
              batch_size: int = 256) -> list[torch.Tensor]:
    """G's uint8 (C_out, H', W') output for each uint8 input image (see the module docstring for ``fit``)."""
    if fit not in FITS:
        raise ConfigError(f"--fit must be one of {', '.join(FITS)}, got '{fit}'")
    _, sh, sw = family.source_shape
    _, oh, ow = family.spec.shape
    outs: list[torch.Tensor] = [None] * len(images)  # type: ignore[list-item]
    whole = [i for i, im in enumerate(images) if tuple(im.shape[1:]) == (sh, sw) or fit == "resize"]
    if whole:
        x = torch.stack([images[i] if tuple(images[i].shape[1:]) == (sh, sw) else _resize(images[i], sh, sw)
                         for i in whole])
        y = to_uint8(family.generate(G, {"source": normalize(x)}, device, chunk=batch_size))
        for i, out in zip(whole, y):
            outs[i] = out
    for i, im in enumerate(images):
        if outs[i] is not None:
            continue
        tiles, rows, cols = _tiles(im, sh, sw)
        y = family.generate(G, {"source": normalize(tiles.round().clamp(0, 255).to(torch.uint8))}, device, chunk=batch_size)
        c = y.shape[1]
        full = y.reshape(rows, cols, c, oh, ow).permute(2, 0, 3, 1, 4).reshape(c, rows * oh, cols * ow)
        h, w = round(im.shape[1] * oh / sh), round(im.shape[2] * ow / sw)
        outs[i] = to_uint8(full[:, :h, :w])
    return outs


def _resize(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    out = F.interpolate(img.float().unsqueeze(0), size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out[0].round().clamp(0, 255).to(torch.uint8)


def write_outputs(outs: list[torch.Tensor], names: list[str], out: Path, force: bool = False) -> str:
    """PNG files ``<name>.png`` in folder ``out``, or one FILE.npz (arr_0 uint8 (N, H, W, C)); refuses to replace
    existing files unless ``force``. Returns what was written, in words."""
    if out.suffix.lower() == ".npz":
        if out.is_dir():
            raise GanforgeError(f"--out {out} is a folder; name a FILE.npz, or a folder without the .npz suffix for PNGs")
        if out.exists() and not force:
            raise GanforgeError(f"{out} already exists; choose another --out or pass --force to replace it")
        sizes = {tuple(o.shape) for o in outs}
        if len(sizes) > 1:
            raise GanforgeError("the translations differ in size (tiled inputs of different sizes); an .npz holds one "
                                "size: write PNGs with --out FOLDER")
        from ganforge.io import atomic_path

        arr = np.stack([o.permute(1, 2, 0).numpy() for o in outs])
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, arr_0=arr)
        return f"{len(outs)} translations {arr.shape} uint8 to {out}"
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out} is an existing file; translate writes FILE.npz or a folder of PNGs")
    targets = [out / f"{name}.png" for name in names]
    if len(set(targets)) < len(targets):
        raise GanforgeError("two inputs share a file name stem (e.g. a.png and a.jpg); rename one, or write --out FILE.npz")
    taken = [t for t in targets if t.exists()]
    if taken and not force:
        raise GanforgeError(f"{taken[0]} already exists ({len(taken)} of the outputs do); choose another --out or pass "
                            "--force to replace them")
    from PIL import Image

    from ganforge.io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    for o, t in zip(outs, targets):
        pixels = o.permute(1, 2, 0).numpy()
        with atomic_path(t) as tmp:
            Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(tmp, format="PNG")
    return f"{len(outs)} PNG files to {out}/"
