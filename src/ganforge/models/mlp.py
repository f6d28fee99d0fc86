"""Fully connected GANs for images (flattened) and 2-D points.

The book chapter's vanilla GAN (TensorFlow, MNIST): G = Dense(100->128) - Dense(128->128) -
Dense(128->784, tanh), D = Dense(784->128) - Dense(128->128) - Dense(128->1), LeakyReLU(0.2)
inside both. The PyTorch MLP GAN tutorial: z (20) -> hidden Linear + LeakyReLU -> Linear(784) -
tanh; D with Dropout after each hidden layer. The hidden widths are configuration (``model.g_hidden``, ``model.d_hidden``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.models.base import Discriminator, Generator
from ganforge.models.layers import maybe_sn


class MLPGenerator(Generator):
    """z (B, z_dim) -> [Linear - LeakyReLU] x len(hidden) -> Linear (- tanh for images) -> (B, *out_shape)."""

    def __init__(self, z_dim: int, out_shape, hidden: list[int], slope: float = 0.2):
        super().__init__(z_dim, out_shape)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]   # (B, width) -> (B, h)
            width = h
        layers.append(nn.Linear(width, math.prod(out_shape)))          # -> (B, C*H*W) or (B, 2)
        if len(out_shape) == 3:
            layers.append(nn.Tanh())  # images live in [-1, 1]; 2-D points (e.g. the ring at radius 2) do not
        self.net = nn.Sequential(*layers)

    def forward(self, z, y=None):
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(Discriminator):
    """x (B, *in_shape) -> flatten -> [Linear - LeakyReLU - Dropout] x len(hidden) -> Linear -> logits (B,)."""

    def __init__(self, in_shape, hidden: list[int], slope: float = 0.2, dropout: float = 0.0, sn: bool = False):
        super().__init__(in_shape)
        layers: list[nn.Module] = [nn.Flatten()]                   # (B, C, H, W) -> (B, C*H*W)
        width = math.prod(in_shape)
        for h in hidden:
            layers += [maybe_sn(nn.Linear(width, h), sn), nn.LeakyReLU(slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(maybe_sn(nn.Linear(width, 1), sn))           # -> (B, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return self.net(x).squeeze(1)
