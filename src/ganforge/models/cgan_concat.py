"""The conditional GAN of Mirza & Osindero 2014: the label y, one-hot, is concatenated to the networks' inputs.

G(z, y) sees [z, onehot(y)]; D(x, y) sees x with onehot(y) beside it. Two forms:

- MLP (``cgan-mlp``): G = [z, onehot(y)] (B, z_dim + K) -> hidden Linear + LeakyReLU -> Linear -> tanh;
  D = [flatten(x), onehot(y)] (B, C*H*W + K) -> hidden Linear + LeakyReLU (+ Dropout) -> Linear -> logit.
  This is the simplified form of the book and of most reimplementations (the label joins at the
  input; hidden widths are ``model.g_hidden`` / ``model.d_hidden``). The paper's own MNIST network
  is not this: it maps z and y to separate ReLU layers (200 and 1000 units) joined in a 1200-unit
  layer, and its D uses maxout layers (240 and 50 units, 5 pieces; joint 240, 4 pieces).
- Convolutional (``cgan-conv``): G = the Radford et al. generator whose 1x1 input is
  [z, onehot(y)] (B, z_dim + K, 1, 1); D = the Radford et al. discriminator whose input image
  carries K more channels, constant one-hot feature maps (channel k is all ones where y = k,
  zeros elsewhere), and, with ``model.labels_after_conv1=true``, the same maps again beside the
  first conv layer's output.

Both are the unconditional models with K more input units or channels; nothing else differs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.base import Discriminator
from ganforge.models.dcgan import DCGANGenerator, _pyramid
from ganforge.models.layers import dcgan_init, maybe_sn
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.ops import Conv2d


def one_hot(y: torch.Tensor | None, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) class indices -> (B, K) one-hot rows in ``dtype``."""
    if y is None:
        raise ValueError("a concatenation cGAN needs class labels y")
    return F.one_hot(y, num_classes).to(dtype)


def label_maps(y: torch.Tensor | None, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """(B,) class indices -> (B, K, H, W) constant maps, H and W (and dtype) of ``like`` (B, C, H, W)."""
    b, _, h, w = like.shape
    return one_hot(y, num_classes, like.dtype)[:, :, None, None].expand(b, num_classes, h, w)


class ConcatMLPGenerator(MLPGenerator):
    """[z, onehot(y)] (B, z_dim + K) -> the MLP generator's layers -> (B, *out_shape)."""

    def __init__(self, z_dim: int, out_shape, num_classes: int, hidden: list[int], slope: float = 0.2):
        super().__init__(z_dim + num_classes, out_shape, hidden, slope)
        self.z_dim, self.num_classes = z_dim, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1)   # (B, z) + (B, K) -> (B, z + K)
        return self.net(h).view(z.shape[0], *self.out_shape)


class ConcatMLPDiscriminator(MLPDiscriminator):
    """[flatten(x), onehot(y)] (B, C*H*W + K) -> the MLP discriminator's layers -> logits (B,)."""

    def __init__(self, in_shape, num_classes: int, hidden: list[int], slope: float = 0.2, dropout: float = 0.0,
                 sn: bool = False):
        super().__init__((math.prod(in_shape) + num_classes,), hidden, slope, dropout, sn)
        self.in_shape, self.num_classes = tuple(in_shape), num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        flat = x.flatten(1)                                                       # (B, C, H, W) -> (B, C*H*W)
        h = torch.cat([flat, one_hot(y, self.num_classes, flat.dtype)], dim=1)   # -> (B, C*H*W + K)
        return self.net(h).squeeze(1)


class ConcatConvGenerator(DCGANGenerator):
    """[z, onehot(y)] as a (B, z_dim + K, 1, 1) input -> the Radford et al. generator -> (B, C, H, W).

    For 28x28 and width w: (B, z + K) -> (B, 2w, 7, 7) -> (B, w, 14, 14) -> (B, C, 28, 28).
    """

    def __init__(self, z_dim: int, out_shape, num_classes: int, width: int = 64):
        super().__init__(z_dim + num_classes, out_shape, width)
        self.z_dim, self.num_classes = z_dim, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1))   # (B, z + K) -> (B, C, H, W)


class ConcatConvDiscriminator(Discriminator):
    """The Radford et al. discriminator on [x, label maps] (B, C + K, H, W); optionally the maps again beside
    the first conv's output (``again``).

    For 28x28 and width w: (B, C + K, 28, 28) -> (B, w, 14, 14) [+ K maps] -> (B, 2w, 7, 7) -> logit (B,).
    """

    def __init__(self, in_shape, num_classes: int, width: int = 64, slope: float = 0.2, sn: bool = False,
                 again: bool = False):
        super().__init__(in_shape, num_classes)
        c, h, w = in_shape
        start, n = _pyramid(h)
        self.again = again
        self.first = nn.Sequential(maybe_sn(Conv2d(c + num_classes, width, 4, 2, 1), sn),   # -> (B, w, H/2, W/2)
                                   nn.LeakyReLU(slope, True))
        ch, extra = width, num_classes if again else 0
        layers: list[nn.Module] = []
        for _ in range(n - 1):
            layers += [maybe_sn(Conv2d(ch + extra, ch * 2, 4, 2, 1, bias=False), sn),    # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
                       nn.Identity() if sn else nn.BatchNorm2d(ch * 2), nn.LeakyReLU(slope, True)]
            ch, extra = ch * 2, 0
        layers += [maybe_sn(Conv2d(ch + extra, 1, start, 1, 0), sn), nn.Flatten()]      # (B, ch, s, s) -> (B, 1)
        self.rest = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(torch.cat([x, label_maps(y, self.num_classes, x)], dim=1))      # (B, C + K, H, W) -> (B, w, H/2, W/2)
        if self.again:
            h = torch.cat([h, label_maps(y, self.num_classes, h)], dim=1)               # -> (B, w + K, H/2, W/2)
        return self.rest(h).squeeze(1)
