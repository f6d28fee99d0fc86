"""The SNGAN/BigGAN ResNet GAN for 16-256 px (Miyato et al. 2018; Brock et al. 2019), with SAGAN's
self-attention at one feature-map side (Zhang et al. 2019).

G: linear z -> (B, 16w, 4, 4), one up-sampling residual block per doubling, BN, ReLU, 3x3 conv, tanh.
D: down-sampling residual blocks to 4x4 (the first one "optimized": no ReLU before its first conv),
one more residual block at 4x4, ReLU, global sum pooling h, linear -> one logit per image.

Channel widths: a G block whose output side is r, and a D block whose input side is r, have
``width * min(16, S / r)`` channels for an S-pixel image, so G's 4x4 input and D's 4x4 output are
``width * min(16, S / 4)`` and both ends are ``width``. At 64 px that is 16, 8, 4, 2, 1 (x width) at
sides 4 ... 64 (SNGAN's and BigGAN's 64-px networks); at 128 px 16, 16, 8, 4, 2, 1 (BigGAN's); at 256 px
16, 16, 16, 8, 4, 2, 1 (BigGAN: 16, 16, 8, 8, 4, 2, 1). The cap at 16 keeps the low-resolution layers
from growing past 16 x width, so the cost of a larger image is the high-resolution layers' alone.

Spectral norm is on every weight layer of D, always (SNGAN's D: it has no batch norm, and is the
architecture's constraint on D); G has none (SNGAN's G) and batch norm instead.
Conditional (``num_classes`` > 0): every batch norm in G's blocks is class-conditional (SNGAN's
per-class scale and shift, ``models.cgan.ConditionalBatchNorm2d``), and D adds the projection term
``<embed(y), h>`` (Miyato & Koyama 2018). Initialisation as SNGAN's released code: Glorot-uniform
weights, gain sqrt(2) for the 3x3 convolutions inside the residual branches, gain 1 for every other
weight (shortcuts, linear layers, embeddings, attention, G's output conv); zero biases.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.base import Discriminator, Generator
from ganforge.models.cgan import ConditionalBatchNorm2d
from ganforge.models.layers import maybe_sn
from ganforge.ops import Conv2d, Linear, attention, upsample_nearest

WIDEST = 16  # the largest channel multiplier of width


def doublings(size: int) -> int:
    """k for an image size 4 x 2^k (k >= 2), else a ConfigError naming a valid size."""
    k = int(math.log2(size / 4)) if size >= 4 else 0
    if k < 2 or 4 * 2 ** k != size:
        valid = min((16, 32, 64, 128, 256), key=lambda s: abs(s - size))
        raise ConfigError(f"architecture 'resnet' needs an image size 4 x 2^k of at least 16 (16, 32, 64, 128, 256), "
                          f"got {size}; set data.image_size={valid}")
    return k


def attention_sides(size: int) -> list[int]:
    """The feature-map sides where both G and D can hold the self-attention block: 8 ... size / 2."""
    return [2 ** i for i in range(3, doublings(size) + 2)]


def _channels(width: int, size: int, side: int) -> int:
    return width * min(WIDEST, size // side)


def _init(layer: nn.Module, gain: float = 1.0, sn: bool = False) -> nn.Module:
    """Glorot-uniform weight with ``gain``, zero bias; then spectral norm when ``sn`` (its power iteration starts
    from the initialised weight)."""
    nn.init.xavier_uniform_(layer.weight, gain)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return maybe_sn(layer, sn)


def _conv(c_in: int, c_out: int, kernel: int, gain: float = 1.0, sn: bool = False, bias: bool = True) -> nn.Module:
    return _init(Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=bias), gain, sn)


def _up(x: torch.Tensor) -> torch.Tensor:
    return upsample_nearest(x, 2)  # (B, C, s, s) -> (B, C, 2s, 2s)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d called as the conditional one is, ``bn(x, y)``; it ignores ``y``."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class SelfAttention(nn.Module):
    """SAGAN's self-attention as BigGAN writes it: ``x + gamma * o(g softmax(theta^T phi)^T)``, with C/8-channel
    queries theta and keys phi, C/2-channel values g, keys and values max-pooled 2x2, no biases.
    ``gamma`` starts at 0, so the block starts as the identity. Shape-preserving: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, ch: int, sn: bool = False):
        super().__init__()
        key, value = max(1, ch // 8), max(1, ch // 2)
        self.theta = _conv(ch, key, 1, sn=sn, bias=False)
        self.phi = _conv(ch, key, 1, sn=sn, bias=False)
        self.g = _conv(ch, value, 1, sn=sn, bias=False)
        self.o = _conv(value, ch, 1, sn=sn, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``y`` is unused: G calls each of its stages with the labels."""
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)                  # (B, HW, C/8): a query per pixel
        phi = F.max_pool2d(self.phi(x), 2).flatten(2).transpose(1, 2)     # (B, HW/4, C/8): a key per 2x2 cell
        g = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)         # (B, HW/4, C/2): a value per 2x2 cell
        out = attention(theta, phi, g)                                    # softmax(theta phi^T) g: (B, HW, C/2)
        out = out.transpose(1, 2).reshape(b, -1, h, w)                    # -> (B, C/2, H, W)
        return x + self.gamma * self.o(out)                               # -> (B, C, H, W)


class GBlock(nn.Module):
    """BN, ReLU, nearest x2, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: nearest x2, 1x1 conv.
    The batch norms are class-conditional when ``num_classes`` > 0; the first conv has no bias (the batch norm
    after it would cancel one)."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, num_classes) if num_classes else BatchNorm2d(c_in)
        self.conv1 = _conv(c_in, c_out, 3, math.sqrt(2), bias=False)
        self.bn2 = ConditionalBatchNorm2d(c_out, num_classes) if num_classes else BatchNorm2d(c_out)
        self.conv2 = _conv(c_out, c_out, 3, math.sqrt(2))
        self.shortcut = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(_up(F.relu(self.bn1(x, y))))                       # (B, c_in, s, s) -> (B, c_out, 2s, 2s)
        h = self.conv2(F.relu(self.bn2(h, y)))                            # -> (B, c_out, 2s, 2s)
        return h + self.shortcut(_up(x))


class DBlock(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pool (``down``); shortcut: 1x1 conv where the channels or the
    size change, after the pool (the same as before it: both are linear and the conv is per pixel, but 4x cheaper).
    ``first``: SNGAN's optimized first block, without the ReLU on the image and 3x3 convs c_in -> c_out -> c_out;
    the others go c_in -> c_in -> c_out. Spectral norm on every conv."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        hidden = c_out if first else c_in
        self.first, self.down = first, down
        self.conv1 = _conv(c_in, hidden, 3, math.sqrt(2), sn=True)
        self.conv2 = _conv(hidden, c_out, 3, math.sqrt(2), sn=True)
        self.shortcut = _conv(c_in, c_out, 1, sn=True) if c_in != c_out or down else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))                    # (B, c_in, s, s) -> (B, hidden, s, s)
        h = self.conv2(F.relu(h))                                         # -> (B, c_out, s, s)
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)                 # -> (B, c_out, s/2, s/2)
        return h + self.shortcut(x)


class ResNetGenerator(Generator):
    """Linear z -> (16w, 4, 4), an up-sampling residual block per doubling (self-attention after the block that
    reaches side ``attention``, 0: none), BN, ReLU, 3x3 conv, tanh. For 64 px and width w:
    (16w, 4, 4) -> (8w, 8, 8) -> (4w, 16, 16) -> (2w, 32, 32) -> (w, 64, 64) -> (C, 64, 64)."""

    def __init__(self, z_dim: int, out_shape, width: int = 64, num_classes: int = 0, attention: int = 0):
        super().__init__(z_dim, out_shape, num_classes)
        c, size, _ = out_shape
        ch = _channels(width, size, 4)
        self.linear = _init(Linear(z_dim, ch * 4 * 4))
        stages: list[nn.Module] = []
        for k in range(1, doublings(size) + 1):
            out = _channels(width, size, 4 * 2 ** k)
            stages.append(GBlock(ch, out, num_classes))                   # (B, ch, s, s) -> (B, out, 2s, 2s)
            if 4 * 2 ** k == attention:
                stages.append(SelfAttention(out))
            ch = out
        self.stages = nn.ModuleList(stages)
        self.bn = BatchNorm2d(ch)
        self.out = _conv(ch, c, 3)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and y is None:
            raise ValueError("the conditional generator needs class labels y")
        h = self.linear(z).view(z.shape[0], -1, 4, 4)                     # (B, z) -> (B, 16w, 4, 4)
        for stage in self.stages:
            h = stage(h, y)                                               # -> (B, w, S, S)
        return torch.tanh(self.out(F.relu(self.bn(h))))                   # -> (B, C, S, S)


class ResNetDiscriminator(Discriminator):
    """Down-sampling residual blocks S -> 4 (self-attention after the block that reaches side ``attention``), a
    block at 4x4, ReLU, global sum pooling h, ``linear(h)`` (+ ``<embed(y), h>`` when conditional). For 64 px and
    width w: (C, 64, 64) -> (w, 32, 32) -> (2w, 16, 16) -> (4w, 8, 8) -> (8w, 4, 4) -> (16w, 4, 4) -> (B,)."""

    def __init__(self, in_shape, width: int = 64, num_classes: int = 0, attention: int = 0):
        super().__init__(in_shape, num_classes)
        c, size, _ = in_shape
        ch, side = c, size
        blocks: list[nn.Module] = []
        while side > 4:
            out = _channels(width, size, side)
            blocks.append(DBlock(ch, out, down=True, first=not blocks))  # (B, ch, s, s) -> (B, out, s/2, s/2)
            side //= 2
            if side == attention:
                blocks.append(SelfAttention(out, sn=True))
            ch = out
        blocks.append(DBlock(ch, _channels(width, size, 4), down=False))  # (B, ch, 4, 4) -> (B, 16w, 4, 4)
        self.blocks = nn.Sequential(*blocks)
        ch = _channels(width, size, 4)
        self.linear = _init(Linear(ch, 1), sn=True)
        self.embed = _init(nn.Embedding(num_classes, ch), sn=True) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))                        # (B, 16w, 4, 4) -> (B, 16w)
        out = self.linear(h).squeeze(1)                                   # (B,)
        if self.embed is not None and y is not None:
            out = out + (self.embed(y) * h).sum(dim=1)                    # + <embed(y), h>
        return out
