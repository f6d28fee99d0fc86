"""Test images the models never saw, side by side: the source, each run's translation, the true image.

    python benchmarks/translation_grid.py runs/tr/sr4-pix2pix runs/tr/sr4-l1 --out docs/translation_sr4.png
    python benchmarks/translation_grid.py runs/tr/shoes-cyclegan --direction b2a --out docs/translation_boots.png

Columns are test images (``--first``, ``--num``); rows the source (as G is given it: upsampled where it is
smaller), one row per run, and the target where the test split has one. Each run's sources come from
its own config (its pair maker or domains), so the runs compared must share them.
"""

from __future__ import annotations

import argparse

import torch

from ganforge.rundir import latest_checkpoint
from ganforge.sampler import sampler_from_checkpoint
from ganforge.viz.grid import save_image_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--num", type=int, default=8)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--direction", choices=["a2b", "b2a"])
    args = ap.parse_args()

    columns, source, target = [], None, None
    for run in args.runs:
        sampler = sampler_from_checkpoint(latest_checkpoint(run))
        fam = sampler.family
        if args.direction:
            fam.set_direction(args.direction)
        if hasattr(fam, "test_inputs"):                                 # CycleGAN: the direction's test images
            src, tgt, _ = fam.test_inputs(args.first + args.num, fam.direction)
            tgt = None if tgt is None else (tgt.float() - 127.5) / 127.5
        else:
            test = fam.test_pairs()
            src = (test.source.float() - 127.5) / 127.5
            tgt = (test.x.float() - 127.5) / 127.5
        src, tgt = src[args.first:args.first + args.num], None if tgt is None else tgt[args.first:args.first + args.num]
        if source is None:
            source = fam.displayable(src) if hasattr(fam, "displayable") else src
            target = tgt
        columns.append(fam.generate(sampler.G, {"source": src}))
    cols = [source, *columns] + ([target] if target is not None else [])
    save_image_grid(torch.cat(cols), args.out, nrow=args.num)
    print(f"wrote {args.out}: rows source, {', '.join(args.runs)}" + (", target" if target is not None else "")
          + f"; {args.num} test images")


if __name__ == "__main__":
    main()
