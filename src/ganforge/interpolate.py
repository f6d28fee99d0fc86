"""Walks through latent space: spherical interpolation between the latents of K seeds.

    z = interpolation_latents([0, 1, 2], steps=8, z_dim=100, noise="normal")   # (2, 9, 100)
    x = sampler(z.flatten(0, 1)).unflatten(0, z.shape[:2])                       # (2, 9, C, H, W)

Normal latents are interpolated along great circles (slerp), which keeps the norm where
N(0, I) puts its mass; uniform latents (a cube) are interpolated in straight lines.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.errors import ConfigError
from ganforge.models.base import sample_latent


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` (D,) to ``b`` (D,) at fractions ``t`` (T,) -> (T, D).

    slerp(t) = sin((1 - t) w) / sin(w) a + sin(t w) / sin(w) b,  w = angle(a, b);
    nearly parallel vectors fall back to a straight line.
    """
    t = t.reshape(-1, 1).to(a.dtype)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    w = torch.arccos(cos.clamp(-1.0, 1.0))
    if w.abs() < 1e-4:
        return lerp(a, b, t)
    return (torch.sin((1 - t) * w) * a + torch.sin(t * w) * b) / torch.sin(w)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.reshape(-1, 1).to(a.dtype)
    return (1 - t) * a + t * b


def seed_latents(seeds: list[int], z_dim: int, noise: str) -> torch.Tensor:
    """One latent per seed (K, z_dim), each drawn as ``Sampler.sample(1, seed=s)`` would draw it."""
    return torch.cat([sample_latent(1, z_dim, noise, generator=torch.Generator().manual_seed(s)) for s in seeds])


def interpolation_latents(seeds: list[int], steps: int, z_dim: int, noise: str) -> torch.Tensor:
    """(K-1, steps+1, z_dim): row i goes from seed i's latent to seed i+1's, both ends included."""
    if len(seeds) < 2:
        raise ConfigError(f"interpolation needs at least 2 seeds, got {len(seeds)}")
    if steps < 1:
        raise ConfigError(f"interpolation needs at least 1 step between seeds, got {steps}")
    z = seed_latents(seeds, z_dim, noise)
    t = torch.linspace(0, 1, steps + 1)
    path = slerp if noise == "normal" else lerp
    return torch.stack([path(z[i], z[i + 1], t) for i in range(len(seeds) - 1)])


@torch.no_grad()
def interpolate(sampler, seeds: list[int], steps: int = 8, label: int | None = None,
                codes: dict | None = None) -> torch.Tensor:
    """Images along the path, (K-1, steps+1, C, H, W) in [-1, 1]; ``label`` fixes the class of a conditional model.
    A model with latent codes (InfoGAN) walks through z with every code fixed: at ``codes`` where given, else at 0."""
    if len(sampler.out_shape) != 3:
        raise ConfigError("interpolation draws images, but this run's generator makes 2-D points")
    z = interpolation_latents(seeds, steps, sampler.z_dim, sampler.noise)
    n = z.shape[0] * z.shape[1]
    labels = None
    if sampler.num_classes:
        labels = 0 if label is None else label
    if sampler.code_names:
        codes = {**{name: 0 for name in sampler.code_names}, **(codes or {})}
    x = sampler.sample(n, labels=labels, z=z.reshape(n, -1), codes=codes)
    return x.reshape(*z.shape[:2], *x.shape[1:])


def save_interpolation(images: torch.Tensor, path: str | Path, ms_per_frame: int = 120) -> Path:
    """``.png``: one row per pair of seeds; ``.gif``: the whole walk, looping, one image per frame."""
    import numpy as np
    from PIL import Image

    from ganforge.io import atomic_path
    from ganforge.viz.grid import make_grid, to_uint8_hwc

    path = Path(path)
    rows, cols = images.shape[:2]
    arr = to_uint8_hwc(images.reshape(rows * cols, *images.shape[2:]))  # (N, H, W, C)
    scale = max(1, 64 // arr.shape[1])
    if path.suffix.lower() == ".gif":
        # drop each row's last frame (it repeats the next row's first), keep the very last one
        keep = [i for i in range(rows * cols) if (i % cols) != cols - 1 or i == rows * cols - 1]
        frames = arr[keep].repeat(2 * scale, axis=1).repeat(2 * scale, axis=2)
        mode = "L" if frames.shape[3] == 1 else "RGB"
        pics = [Image.fromarray(f.squeeze(2) if mode == "L" else f, mode) for f in frames]
        with atomic_path(path) as tmp:
            pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
        return path
    grid = make_grid(arr, nrow=cols, pad=max(1, arr.shape[1] // 14), scale=scale)
    mode = "L" if grid.shape[2] == 1 else "RGB"
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(grid.squeeze(2) if mode == "L" else grid), mode).save(tmp, format="PNG")
    return path
