"""InfoGAN's MNIST networks (Chen et al. 2016, appendix C.1), layer for layer.

G: (z, c) -> FC 1024, BN, ReLU -> FC 7x7x128, BN, ReLU -> 4x4 upconv 64 s2, BN, ReLU -> 4x4 upconv C s2, tanh.
D: 4x4 conv 64 s2, lReLU -> 4x4 conv 128 s2, BN, lReLU -> FC 1024, BN, lReLU: the body shared by two heads,
   D's logit (FC 1) and the recognition network Q (FC 128, BN, lReLU -> FC with one output per code
   parameter: the logits of each categorical code, the mean of each continuous one).

The paper's table fixes the layers; the released code (github.com/openai/InfoGAN) fixes the rest, which
is followed here: LeakyReLU slope 0.01 (``model.leaky_slope`` in the presets), weights ~ N(0, 0.02), batch
norm scales ~ N(1, 0.02). The released G ends in a sigmoid for [0, 1] pixels; ganforge's images are in
[-1, 1], so G ends in tanh. With 4x4 kernels and stride 2 on even sizes, TensorFlow's 'same' padding is
one pixel on each side, which PyTorch's ``padding=1`` computes exactly.

``model.width`` scales the channels (64 is the paper's): convs width, 2 x width, FC 16 x width, Q 2 x width.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.base import Discriminator, Generator
from ganforge.models.layers import Reshape, normal_init
from ganforge.ops import Conv2d, ConvTranspose2d, Linear


def _check_size(shape) -> int:
    if len(shape) != 3:
        raise ConfigError(f"architecture 'infogan' needs image data, got samples of shape {tuple(shape)}")
    c, h, w = shape
    if h != w or h % 4:
        raise ConfigError(f"architecture 'infogan' needs square images with a size divisible by 4, got {h}x{w}; "
                          "set data.image_size=28")
    return h // 4


class InfoGANGenerator(Generator):
    """(z, c) -> image. ``c`` (B, code_dim) is the codes' vector: one-hot categorical codes, then the continuous ones.

    For 28x28: (B, z + c) -> (B, 1024) -> (B, 128*7*7) -> (B, 128, 7, 7) -> (B, 64, 14, 14) -> (B, C, 28, 28).
    """

    def __init__(self, z_dim: int, code_dim: int, out_shape, width: int = 64):
        super().__init__(z_dim, out_shape)
        s = _check_size(out_shape)
        c = out_shape[0]
        self.code_dim = code_dim
        self.net = nn.Sequential(
            Linear(z_dim + code_dim, 16 * width), nn.BatchNorm1d(16 * width), nn.ReLU(),     # -> (B, 1024)
            Linear(16 * width, 2 * width * s * s), nn.BatchNorm1d(2 * width * s * s), nn.ReLU(),  # -> (B, 128*s*s)
            Reshape(2 * width, s, s),                                                        # -> (B, 128, s, s)
            ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),    # -> (B, 64, 2s, 2s)
            ConvTranspose2d(width, c, 4, 2, 1), nn.Tanh(),                                   # -> (B, C, 4s, 4s)
        )
        normal_init(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is None or c.shape[1] != self.code_dim:
            raise ValueError(f"the InfoGAN generator takes codes c of shape (B, {self.code_dim})")
        return self.net(torch.cat([z, c.to(z.dtype)], dim=1))                               # (B, z + c)


class InfoGANDiscriminator(Discriminator):
    """image -> (D's logit (B,), Q's outputs (B, q_dim)), both heads on one shared body.

    For 28x28: (B, C, 28, 28) -> (B, 64, 14, 14) -> (B, 128, 7, 7) -> (B, 1024) -> logit (B,) and
    Q: (B, 1024) -> (B, 128) -> (B, q_dim).
    """

    def __init__(self, in_shape, q_dim: int, width: int = 64, slope: float = 0.01):
        super().__init__(in_shape)
        s = _check_size(in_shape)
        c = in_shape[0]
        self.q_dim = q_dim
        self.body = nn.Sequential(
            Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(slope),                                  # -> (B, 64, 2s, 2s)
            Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(slope),  # -> (B, 128, s, s)
            nn.Flatten(),
            Linear(2 * width * s * s, 16 * width), nn.BatchNorm1d(16 * width), nn.LeakyReLU(slope),  # -> (B, 1024)
        )
        self.logit = Linear(16 * width, 1)                                                   # -> (B, 1)
        self.q = nn.Sequential(
            Linear(16 * width, 2 * width), nn.BatchNorm1d(2 * width), nn.LeakyReLU(slope),  # -> (B, 128)
            Linear(2 * width, q_dim),                                                        # -> (B, q_dim)
        )
        normal_init(self)

    def forward(self, x: torch.Tensor, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.logit(h).squeeze(1), self.q(h)


def build_infogan(z_dim: int, code_dim: int, q_dim: int, shape, width: int = 64, slope: float = 0.01):
    """(G, D) for ``shape`` (C, H, W): G takes z (B, z_dim) and codes (B, code_dim); D's Q head has q_dim outputs."""
    return InfoGANGenerator(z_dim, code_dim, shape, width), InfoGANDiscriminator(shape, q_dim, width, slope)
