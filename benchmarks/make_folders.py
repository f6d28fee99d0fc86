"""Image folders for checking fast-28 / fast-32 on folder data (docs/recipes.md).

    python benchmarks/make_folders.py --out /tmp/folders --num 3000
    python benchmarks/make_folders.py --out /tmp/folders --num 10000 --rgb-size 64   # also OUT/fm64rgb (docs/recipes.md)
    python benchmarks/make_folders.py --out /tmp/folders --num 10000 --small 100     # also OUT/fm32rgb-small (docs/small-data.md)

Writes OUT/fm28/<class>/NNNNN.png: the first NUM Fashion-MNIST *test* images as 28x28 grey PNGs
(a small folder data set, separate from the training split), and OUT/fm32rgb/<class>/NNNNN.png:
the same images padded to 32x32 and colourised (a random hue per image on the garment, a darker
random tint on the background), a stand-in for 32x32 RGB data since CIFAR-10 is not installed.
``--rgb-size 64``: also OUT/fm64rgb, the same coloured images resized (bicubic) to 64x64.
``--small N``: also OUT/fm32rgb-small, the first N coloured images of each class (a small data set
drawn from OUT/fm32rgb: 1,000 images for N = 100).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data import load_dataset


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=3000)
    p.add_argument("--rgb-size", type=int, default=32, help="also write the coloured images at this size (fmSrgb)")
    p.add_argument("--small", type=int, default=0, help="also write the first N coloured images per class (fm32rgb-small)")
    args = p.parse_args()
    ds = load_dataset("fashion-mnist", split="test")
    x, y = ds.x[:args.num, 0].numpy(), ds.y[:args.num].numpy()
    rng = np.random.default_rng(0)
    out = Path(args.out)
    per_class: dict[str, int] = {}
    for i, (img, label) in enumerate(zip(x, y)):
        name = ds.class_names[label].replace("/", "-").replace(" ", "_")
        for sub in ("fm28", "fm32rgb"):
            (out / sub / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "L").save(out / "fm28" / name / f"{i:05d}.png")
        a = np.pad(img, 2).astype(np.float32)[..., None] / 255.0                    # (32, 32, 1)
        fg = rng.uniform(0.3, 1.0, 3).astype(np.float32)
        bg = rng.uniform(0.0, 0.25, 3).astype(np.float32)
        rgb = (a * fg + (1 - a) * bg) * 255
        coloured = Image.fromarray(rgb.round().astype(np.uint8), "RGB")
        coloured.save(out / "fm32rgb" / name / f"{i:05d}.png")
        per_class[name] = per_class.get(name, 0) + 1
        if per_class[name] <= args.small:
            (out / "fm32rgb-small" / name).mkdir(parents=True, exist_ok=True)
            coloured.save(out / "fm32rgb-small" / name / f"{i:05d}.png")
        if args.rgb_size != 32:
            (out / f"fm{args.rgb_size}rgb" / name).mkdir(parents=True, exist_ok=True)
            coloured.resize((args.rgb_size, args.rgb_size), Image.Resampling.BICUBIC).save(
                out / f"fm{args.rgb_size}rgb" / name / f"{i:05d}.png")


if __name__ == "__main__":
    main()
