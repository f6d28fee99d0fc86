"""Image grids and 2-D scatter plots of samples, written as PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.data import to_uint8
from ganforge.io import atomic_path
from ganforge.viz.plots import save_figure


def to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float (N, C, H, W) -> uint8 (N, H, W, C) numpy: ``ganforge.data.to_uint8``, channels last."""
    return to_uint8(x.detach().cpu()).permute(0, 2, 3, 1).numpy()  # (N, C, H, W) -> (N, H, W, C)


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile uint8 (N, H, W, C) images into one (rows*H, cols*W, C) array, ``nrow`` images per row."""
    n, h, w, c = images.shape
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top:top + h, left:left + w] = images[i]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def _auto_scale(size: int) -> int:
    """Upscale small images so a grid is comfortable to look at (about 64 px a tile)."""
    return max(1, 64 // size)


def save_image_grid(x: torch.Tensor, path: str | Path, nrow: int | None = None,
                    reference: torch.Tensor | None = None) -> Path:
    """Save samples in [-1, 1] as a PNG grid; (N, 2) points are drawn as a scatter plot instead,
    over the ``reference`` points (e.g. a mixture's modes) when given."""
    if x.dim() == 2:
        return save_scatter(x, path, reference=reference)
    imgs = to_uint8_hwc(x)
    grid = make_grid(imgs, nrow, pad=max(1, imgs.shape[1] // 14), scale=_auto_scale(imgs.shape[1]))
    mode = "L" if grid.shape[2] == 1 else "RGB"
    with atomic_path(path) as tmp:
        Image.fromarray(grid.squeeze(2) if mode == "L" else grid, mode).save(tmp, format="PNG")
    return Path(path)


def save_scatter(points: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                 title: str | None = None) -> Path:
    """Scatter plot of 2-D samples, optionally over reference points (e.g. the real modes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if reference is not None:
        ref = reference.detach().cpu().numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=30, c="tab:red", marker="x", label="real modes", zorder=3)  # on top
    p = points.detach().float().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.5, c="tab:blue", label="samples", zorder=2)
    lim = max(2.5, float(np.abs(p).max()) * 1.05 if len(p) else 2.5)
    lim = min(lim, 10.0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
