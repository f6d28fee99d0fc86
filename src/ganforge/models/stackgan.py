"""StackGAN's networks (Zhang et al. 2017), with a class label's embedding in place of the sentence embedding.

The paper's section 3 and its released code (github.com/hanzhanggit/StackGAN-Pytorch) fix the shapes;
here they are scaled down to small images and ``model.width`` channels:

- ``CondAug``, conditioning augmentation: the label's embedding (``stack.embed_dim``, standing in for the
  paper's text embedding) -> one fully connected layer -> the mean mu and log variance of a Gaussian over
  the condition c (``stack.c_dim``); c = mu + sigma * eps with eps ~ N(0, I). Each stage of G has its own.
- ``StageIGenerator`` (z, c) -> the low-resolution image (S / factor): FC to (4 w, b, b) -> upsample x2 +
  3x3 conv, BN, ReLU, until the stage's size -> 3x3 conv to the image channels, tanh.
- ``StageIIGenerator`` (stage I's image, c) -> the full-size image (S): 3x3 conv, ReLU -> 3x3 conv s2, BN,
  ReLU (half stage I's size) -> joined with c replicated over the map: 3x3 conv, BN, ReLU -> two residual
  blocks -> upsample x2 + 3x3 conv, BN, ReLU, (1 + log2 factor) times -> 3x3 conv, tanh.
- ``StageDiscriminator`` (image, label) -> logit: 3x3 convs s2 (LeakyReLU 0.2, BN after the first) down to
  4x4 or less, joined with the label's compressed embedding replicated over the map -> 1x1 conv, BN,
  LeakyReLU -> a conv over the whole map: one logit. Both stages' Ds have this form (stage II's on
  the full size); each sees the condition, as the paper's do.

The paper's upsampling blocks are nearest-neighbour upsampling and a 3x3 convolution, as here; its
weights are initialised N(0, 0.02) with batch norm scales N(1, 0.02).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.layers import Reshape, normal_init
from ganforge.ops import Conv2d, Linear, Upsample


def stage_sizes(shape, factor: int) -> tuple[int, int]:
    """(stage I's size, stage II's size) for images of ``shape`` (C, S, S); a one-line error when they do not fit."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"family stackgan needs square images, got samples of shape {tuple(shape)}")
    size = shape[1]
    if factor not in (2, 4):
        raise ConfigError(f"stack.factor must be 2 or 4 (stage II draws 2-4x stage I's size), got {factor}")
    if size % (2 * factor) or size // factor < 8:
        raise ConfigError(f"family stackgan with stack.factor={factor} needs an image size divisible by {2 * factor} "
                          f"and at least {8 * factor}, got {size}; set data.image_size (e.g. 28 with factor 2, 32 or 64)")
    return size // factor, size


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """x2 nearest-neighbour upsampling and a 3x3 convolution, BN, ReLU: the paper's upsampling block."""
    return nn.Sequential(Upsample(scale_factor=2, mode="nearest"), Conv2d(c_in, c_out, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
                                  Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu(x + self.body(x))


class CondAug(nn.Module):
    """Label -> (c, mu, logvar): c = mu + exp(logvar / 2) * eps, mu and logvar from the label's embedding."""

    def __init__(self, num_classes: int, embed_dim: int, c_dim: int):
        super().__init__()
        self.c_dim = c_dim
        self.embed = nn.Embedding(num_classes, embed_dim)  # the paper's fixed text embedding, learned here
        self.fc = Linear(embed_dim, 2 * c_dim)

    def forward(self, y: torch.Tensor, eps: torch.Tensor | None = None):
        h = self.fc(self.embed(y))
        mu, logvar = h[:, :self.c_dim], h[:, self.c_dim:]
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * logvar) * eps.to(mu.dtype), mu, logvar


class StageIGenerator(nn.Module):
    """(z, c) -> (B, C, s1, s1) in [-1, 1]. For s1 = 14 and width 32: FC -> (128, 7, 7) -> (64, 14, 14) -> (C, 14, 14)."""

    def __init__(self, z_dim: int, c_dim: int, channels: int, size: int, width: int):
        super().__init__()
        base, ups = size, 0
        while base % 2 == 0 and base > 4:
            base, ups = base // 2, ups + 1
        ch = 4 * width
        layers: list[nn.Module] = [Linear(z_dim + c_dim, ch * base * base, bias=False), nn.BatchNorm1d(ch * base * base),
                                   nn.ReLU(), Reshape(ch, base, base)]
        for _ in range(ups):
            layers.append(up_block(ch, max(ch // 2, width)))
            ch = max(ch // 2, width)
        layers += [Conv2d(ch, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c.to(z.dtype)], dim=1))


class StageIIGenerator(nn.Module):
    """(stage I's image, c) -> (B, C, S, S). For 14 -> 28 and width 32: (C, 14, 14) -> (32, 14, 14) ->
    (64, 7, 7) -> joined with c -> (64, 7, 7) -> 2 residual blocks -> (64, 14, 14) -> (32, 28, 28) -> (C, 28, 28)."""

    def __init__(self, c_dim: int, channels: int, width: int, factor: int, residual_blocks: int = 2):
        super().__init__()
        ch = 2 * width
        self.encode = nn.Sequential(Conv2d(channels, width, 3, 1, 1), nn.ReLU(),
                                    Conv2d(width, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU())
        self.joint = nn.Sequential(Conv2d(ch + c_dim, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU())
        self.residual = nn.Sequential(*[ResBlock(ch) for _ in range(residual_blocks)])
        ups = []
        for _ in range(1 + int(math.log2(factor))):
            ups.append(up_block(ch, max(ch // 2, width // 2)))
            ch = max(ch // 2, width // 2)
        self.up = nn.Sequential(*ups, Conv2d(ch, channels, 3, 1, 1), nn.Tanh())

    def forward(self, low: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.encode(low)
        cmap = c.to(h.dtype)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.up(self.residual(self.joint(torch.cat([h, cmap], dim=1))))


class StageDiscriminator(nn.Module):
    """(image (B, C, s, s), label (B,)) -> logit (B,). For 28 and width 32: (32, 14, 14) -> (64, 7, 7) ->
    (128, 4, 4) -> joined with the label's (c_dim,) code -> (128, 4, 4) -> 1."""

    def __init__(self, channels: int, size: int, num_classes: int, embed_dim: int, c_dim: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch, s = channels, width, size
        while s > 4:
            layers.append(Conv2d(ch_in, ch, 3, 2, 1, bias=not layers))
            if layers[:-1]:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2))
            ch_in, ch, s = ch, 2 * ch, (s + 1) // 2
        self.body = nn.Sequential(*layers)
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.compress = Linear(embed_dim, c_dim)         # the paper's FC that compresses the text embedding to N_d
        self.joint = nn.Sequential(Conv2d(ch_in + c_dim, ch_in, 1, bias=False), nn.BatchNorm2d(ch_in), nn.LeakyReLU(0.2))
        self.logit = Conv2d(ch_in, 1, s)                # over the whole s x s map: one logit

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        code = self.compress(self.embed(y)).to(h.dtype)
        cmap = code[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.logit(self.joint(torch.cat([h, cmap], dim=1))).flatten()


class StackGenerator(nn.Module):
    """Both stages of G and their conditioning augmentations: what G's optimiser trains and EMA averages."""

    def __init__(self, z_dim: int, num_classes: int, shape, width: int, factor: int, embed_dim: int, c_dim: int):
        super().__init__()
        s1, _ = stage_sizes(shape, factor)
        c = shape[0]
        self.z_dim, self.factor, self.out_shape, self.low_shape = z_dim, factor, tuple(shape), (c, s1, s1)
        self.ca1 = CondAug(num_classes, embed_dim, c_dim)
        self.stage1 = StageIGenerator(z_dim, c_dim, c, s1, width)
        self.ca2 = CondAug(num_classes, embed_dim, c_dim)
        self.stage2 = StageIIGenerator(c_dim, c, width, factor)
        normal_init(self)

    def forward(self, z, y, eps1=None, eps2=None, stages: int = 2):
        """Stage I's images (B, C, s1, s1) and, with ``stages=2``, stage II's (B, C, S, S) (else None)."""
        c1, _, _ = self.ca1(y, eps1)
        low = self.stage1(z, c1)
        if stages == 1:
            return low, None
        c2, _, _ = self.ca2(y, eps2)
        return low, self.stage2(low, c2)


class StackDiscriminator(nn.Module):
    """Stage I's D (on images of stage I's size) and stage II's (full size)."""

    def __init__(self, num_classes: int, shape, width: int, factor: int, embed_dim: int, c_dim: int):
        super().__init__()
        s1, s2 = stage_sizes(shape, factor)
        c = shape[0]
        self.sizes = (s1, s2)
        self.d1 = StageDiscriminator(c, s1, num_classes, embed_dim, c_dim, width)
        self.d2 = StageDiscriminator(c, s2, num_classes, embed_dim, c_dim, width)
        normal_init(self)

    def forward(self, x, y):
        """The logits of the stage whose D takes images of x's size."""
        return (self.d2 if x.shape[-1] == self.sizes[1] else self.d1)(x, y)
