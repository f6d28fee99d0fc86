"""What does each continuous code of an InfoGAN run control? Ink-weighted moments along its traversal.

    python benchmarks/infogan_traversals.py RUN_DIR [RUN_DIR ...]

Draws each continuous code's traversal (the run's stored inputs: rows the categorical values, columns
the code from -2 to 2, z and the other codes fixed) from the newest checkpoint and prints, per column
averaged over the rows, three moments of the image's ink (pixels mapped from [-1, 1] to [0, 1]):

    width  sqrt(E[(x - mean x)^2])       horizontal spread, in units of the image width
    slant  -Cov(x, y) / Var(y)           dx per dy going up the image: > 0 leans right (/), < 0 left (\\)
    ink    the mean pixel                stroke weight / brightness

A code that controls width moves the first, slant the second, thickness or brightness the third.
docs/infogan.md reads its runs with these numbers beside the pictures.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ganforge.sampler import load_generator


def moments(images: torch.Tensor, columns: int) -> dict[str, np.ndarray]:
    """(N, 1, H, W) images in [-1, 1], N = rows x columns -> per column, the rows' mean width, slant, ink."""
    w = ((images[:, 0].double() + 1) / 2).numpy()                      # (N, H, W) ink in [0, 1]
    _, h, wd = w.shape
    yy, xx = np.mgrid[0:h, 0:wd] / (max(h, wd) - 1)                    # pixel coordinates in [0, 1]
    m = w.sum((1, 2))
    cx, cy = (w * xx).sum((1, 2)) / m, (w * yy).sum((1, 2)) / m
    dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
    width = np.sqrt((w * dx ** 2).sum((1, 2)) / m)
    slant = -(w * dx * dy).sum((1, 2)) / (w * dy ** 2).sum((1, 2))      # y grows downwards
    ink = m / (h * wd)
    return {k: v.reshape(-1, columns).mean(0) for k, v in (("width", width), ("slant", slant), ("ink", ink))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="InfoGAN run directories (or checkpoint files)")
    args = p.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        sampler = load_generator(run)
        family = sampler.family
        if not getattr(family, "cont_names", None):
            raise SystemExit(f"{run}: not an InfoGAN run with continuous codes")
        print(f"== {run}")
        for name, inputs in family.traversal_inputs().items():
            columns = len(torch.unique(inputs["cont"][:, family.cont_names.index(name)]))
            sweep = inputs["cont"][:columns, family.cont_names.index(name)].tolist()
            print(f"{name}: columns {sweep[0]:g} ... {sweep[-1]:g}, mean over {len(inputs['z']) // columns} rows")
            for key, values in moments(family.generate(sampler.G, inputs), columns).items():
                print(f"  {key:<6}" + " ".join(f"{v:7.3f}" for v in values))


if __name__ == "__main__":
    main()
