"""A class-conditional DCGAN with a projection discriminator (Miyato & Koyama 2018).

G is the Radford et al. generator with conditional BatchNorm: every BN normalises without its
own affine and takes a per-class scale and shift from two embeddings. D is the Radford et al.
discriminator body followed by global sum pooling h = sum_{i,j} phi(x); its logit is

    D(x, y) = w . h + b + <embed(y), h>          # the projection term

so the label enters as an inner product with the features rather than as an extra input channel.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.base import Discriminator, Generator
from ganforge.models.dcgan import _pyramid
from ganforge.models.layers import dcgan_init, maybe_sn
from ganforge.ops import Conv2d, ConvTranspose2d


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without affine, then ``gamma[y] * x + beta[y]`` (gamma starts at 1, beta at 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = self.gamma(y)[:, :, None, None]   # (B, C) -> (B, C, 1, 1)
        b = self.beta(y)[:, :, None, None]
        return g * self.bn(x) + b


class ProjGenerator(Generator):
    """Radford et al. generator with class-conditional BN; for 28x28 (width w): (2w, 7, 7) -> (w, 14, 14) -> (C, 28, 28)."""

    def __init__(self, z_dim: int, out_shape, num_classes: int, width: int = 64):
        super().__init__(z_dim, out_shape, num_classes)
        c, h, w = out_shape
        start, n = _pyramid(h)
        ch = width * 2 ** (n - 1)
        self.convs = nn.ModuleList([ConvTranspose2d(z_dim, ch, start, 1, 0, bias=False)])  # (B, z, 1, 1) -> (B, ch, s, s)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(ch, num_classes)])
        for _ in range(n - 1):
            self.convs.append(ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))   # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            self.norms.append(ConditionalBatchNorm2d(ch // 2, num_classes))
            ch //= 2
        self.out = ConvTranspose2d(ch, c, 4, 2, 1)                                 # -> (B, C, H, W)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("the conditional generator needs class labels y")
        h = z.view(z.shape[0], -1, 1, 1)
        for conv, norm in zip(self.convs, self.norms):
            h = torch.relu(norm(conv(h), y))
        return torch.tanh(self.out(h))


class ProjDiscriminator(Discriminator):
    """Radford et al. conv body (BN off when spectral norm is on), global sum pooling, linear + projection."""

    def __init__(self, in_shape, num_classes: int, width: int = 64, slope: float = 0.2, sn: bool = False):
        super().__init__(in_shape, num_classes)
        c, h, w = in_shape
        _, n = _pyramid(h)
        ch = width
        layers: list[nn.Module] = [maybe_sn(Conv2d(c, ch, 4, 2, 1), sn), nn.LeakyReLU(slope)]  # -> (B, w, H/2, W/2)
        for _ in range(n - 1):
            layers += [maybe_sn(Conv2d(ch, ch * 2, 4, 2, 1, bias=False), sn),       # -> (B, 2ch, s/2, s/2)
                       nn.Identity() if sn else nn.BatchNorm2d(ch * 2), nn.LeakyReLU(slope)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.linear = maybe_sn(nn.Linear(ch, 1), sn)
        self.embed = maybe_sn(nn.Embedding(num_classes, ch), sn)
        dcgan_init(self)
        nn.init.normal_(self.embed.parametrizations.weight.original if sn else self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x).sum(dim=(2, 3))                           # (B, ch, s, s) -> (B, ch)
        out = self.linear(h).squeeze(1)                             # (B,)
        if y is not None:
            out = out + (self.embed(y) * h).sum(dim=1)              # + <embed(y), h>
        return out
