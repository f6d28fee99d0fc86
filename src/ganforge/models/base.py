"""What every generator and discriminator provides."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """Maps latents ``z`` (B, z_dim) (and labels ``y`` (B,) when conditional) to samples in [-1, 1]."""

    def __init__(self, z_dim: int, out_shape: tuple[int, ...], num_classes: int = 0):
        super().__init__()
        self.z_dim = z_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """Maps samples (and labels when conditional) to real/fake logits (B,)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int = 0):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        raise NotImplementedError


def sample_latent(n: int, z_dim: int, kind: str = "normal", device="cpu",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent vectors (n, z_dim): ``normal`` ~ N(0, 1), ``uniform`` ~ U(-1, 1)."""
    if kind == "normal":
        return torch.randn(n, z_dim, device=device, generator=generator)
    if kind == "uniform":
        return torch.rand(n, z_dim, device=device, generator=generator) * 2.0 - 1.0
    raise ValueError(f"unknown latent distribution '{kind}'")
