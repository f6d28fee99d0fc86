"""Convolutional GANs: three 5x5 architectures, layer for layer as their documents build them (each
class's docstring names its document), and the Radford et al. DCGAN at any size 4-7 x 2^n.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.base import Discriminator, Generator
from ganforge.models.layers import Reshape, conv_same, dcgan_init, glorot_uniform_init, maybe_sn
from ganforge.ops import Conv2d, Conv2dSame, ConvTranspose2d, ConvTranspose2dSame, Dropout, Linear

PADDINGS = ("tf", "symmetric")


# The 5x5 models' batch norm: epsilon 1e-3, running statistics kept as 0.99 * running + 0.01 * batch
# (PyTorch's momentum 0.01). These are Keras' BatchNormalization defaults (its momentum 0.99).
def _bn2d(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-3, momentum=0.01)


def _bn1d(features: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(features, eps=1e-3, momentum=0.01)


def _up(c_in: int, c_out: int, kernel: int, stride: int, padding: str, bias: bool = True) -> nn.Module:
    """Keras' ``Conv2DTranspose(padding='same')``: output stride x the input.

    ``padding="tf"`` is TensorFlow's exactly (the odd pixel after); ``"symmetric"`` is PyTorch's
    ``padding=k//2, output_padding=stride-1``, one pixel off for 5x5 stride 2, which ganforge
    used before 0.2 (runs made then keep it: config.from_saved).
    """
    if padding == "tf":
        return ConvTranspose2dSame(c_in, c_out, kernel, stride, bias=bias)
    return ConvTranspose2d(c_in, c_out, kernel, stride, kernel // 2, output_padding=stride - 1, bias=bias)


def _down(c_in: int, c_out: int, kernel: int, stride: int, padding: str, bias: bool = True) -> nn.Module:
    """Keras' ``Conv2D(padding='same')``; ``padding`` as in ``_up``."""
    if padding == "tf":
        return Conv2dSame(c_in, c_out, kernel, stride, bias=bias)
    return Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=bias)


class ConvT5x5Generator(Generator):
    """Dense -> 3 ConvTranspose 5x5 (256 -> 128 -> 64 -> C), each hidden layer BN then LeakyReLU, no biases; tanh.

    The architecture of the TensorFlow DCGAN tutorial (MNIST, 28x28).
    For 28x28 the state goes (256, 7, 7) -> (128, 7, 7) -> (64, 14, 14) -> (C, 28, 28).
    """

    def __init__(self, z_dim: int, out_shape, slope: float = 0.3, padding: str = "tf"):
        super().__init__(z_dim, out_shape)
        c, h, w = out_shape
        s = h // 4
        self.net = nn.Sequential(
            nn.Linear(z_dim, 256 * s * s, bias=False),                        # (B, z) -> (B, 256*s*s)
            _bn1d(256 * s * s),
            nn.LeakyReLU(slope),
            Reshape(256, s, s),                                               # -> (B, 256, s, s)
            _up(256, 128, 5, 1, padding, bias=False),                         # -> (B, 128, s, s)
            _bn2d(128),
            nn.LeakyReLU(slope),
            _up(128, 64, 5, 2, padding, bias=False),                          # -> (B, 64, 2s, 2s)
            _bn2d(64),
            nn.LeakyReLU(slope),
            _up(64, c, 5, 2, padding, bias=False),                            # -> (B, C, 4s, 4s)
            nn.Tanh(),
        )
        glorot_uniform_init(self)

    def forward(self, z, y=None):
        return self.net(z)


class Conv5x5DropoutDiscriminator(Discriminator):
    """Conv 5x5 s2 (64) -> LeakyReLU -> Dropout -> Conv 5x5 s2 (128) -> LeakyReLU -> Dropout -> Dense(1) logit; no BN.

    The architecture of the TensorFlow DCGAN tutorial (MNIST, 28x28).
    """

    def __init__(self, in_shape, slope: float = 0.3, dropout: float = 0.3, sn: bool = False, padding: str = "tf"):
        super().__init__(in_shape)
        c, h, w = in_shape
        s = (h + 3) // 4
        self.net = nn.Sequential(
            maybe_sn(_down(c, 64, 5, 2, padding), sn),                      # (B, C, H, W) -> (B, 64, H/2, W/2)
            nn.LeakyReLU(slope),
            Dropout(dropout),
            maybe_sn(_down(64, 128, 5, 2, padding), sn),                    # -> (B, 128, H/4, W/4)
            nn.LeakyReLU(slope),
            Dropout(dropout),
            nn.Flatten(),
            maybe_sn(Linear(128 * s * s, 1), sn),                           # -> (B, 1)
        )
        glorot_uniform_init(self)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


class ConvT5x5ReluBNGenerator(Generator):
    """Dense with ReLU, then BN; ConvT 5x5 s1 (128) ReLU, BN; ConvT 5x5 s2 (64) ReLU, BN; ConvT 5x5 s2 tanh.

    The architecture of the Keras DCGAN article (a subclassed Keras model). Each activation comes
    before its batch norm, as the article writes it, and every layer has a bias (Keras' default).
    For 28x28: (B, z) -> (B, 256, 7, 7) -> (B, 128, 7, 7) -> (B, 64, 14, 14) -> (B, C, 28, 28).
    """

    def __init__(self, z_dim: int, out_shape, padding: str = "tf"):
        super().__init__(z_dim, out_shape)
        c, h, w = out_shape
        s = h // 4
        self.net = nn.Sequential(
            nn.Linear(z_dim, 256 * s * s), nn.ReLU(), _bn1d(256 * s * s),         # (B, z) -> (B, 256*s*s)
            Reshape(256, s, s),                                                   # -> (B, 256, s, s)
            _up(256, 128, 5, 1, padding), nn.ReLU(), _bn2d(128),                  # -> (B, 128, s, s)
            _up(128, 64, 5, 2, padding), nn.ReLU(), _bn2d(64),                    # -> (B, 64, 2s, 2s)
            _up(64, c, 5, 2, padding), nn.Tanh(),                                 # -> (B, C, 4s, 4s)
        )
        glorot_uniform_init(self)

    def forward(self, z, y=None):
        return self.net(z)


class Conv5x5BNDropoutDiscriminator(Discriminator):
    """Conv 5x5 s2 (64), LeakyReLU(0.2), Dropout(0.3); Conv 5x5 s2 (128), BN, LeakyReLU(0.2), Dropout(0.3); Dense(1).

    The architecture of the Keras DCGAN article (a subclassed Keras model). Its sigmoid lives in
    the loss (D returns a logit).
    For 28x28: (B, C, 28, 28) -> (B, 64, 14, 14) -> (B, 128, 7, 7) -> (B, 6272) -> (B,).
    """

    def __init__(self, in_shape, slope: float = 0.2, dropout: float = 0.3, padding: str = "tf"):
        super().__init__(in_shape)
        c, h, w = in_shape
        s = (h + 3) // 4
        self.net = nn.Sequential(
            _down(c, 64, 5, 2, padding), nn.LeakyReLU(slope), Dropout(dropout),                     # -> (B, 64, H/2, W/2)
            _down(64, 128, 5, 2, padding), _bn2d(128), nn.LeakyReLU(slope), Dropout(dropout),       # -> (B, 128, H/4, W/4)
            nn.Flatten(),
            Linear(128 * s * s, 1),                                                                 # -> (B, 1)
        )
        glorot_uniform_init(self)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


def _pyramid(size: int) -> tuple[int, int]:
    """Split an image size into (start size, number of 2x up-samplings), e.g. 64 -> (4, 4), 28 -> (7, 2)."""
    start, n = size, 0
    while start % 2 == 0 and start // 2 >= 4:
        start //= 2
        n += 1
    if n == 0:
        raise ConfigError(f"image size {size} cannot be built by doubling from 4-7 pixels; use data.image_size=16, 28, 32 or 64")
    return start, n


class DCGANGenerator(Generator):
    """Radford et al. 2015: project-and-reshape, then ConvTranspose 4x4 s2 with BN + ReLU, tanh output.

    For 64x64 and width 64 the state goes (512, 4, 4) -> (256, 8, 8) -> (128, 16, 16) -> (64, 32, 32) -> (C, 64, 64).
    """

    def __init__(self, z_dim: int, out_shape, width: int = 64):
        super().__init__(z_dim, out_shape)
        c, h, w = out_shape
        start, n = _pyramid(h)
        ch = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            Reshape(z_dim, 1, 1),
            ConvTranspose2d(z_dim, ch, start, 1, 0, bias=False),           # (B, z, 1, 1) -> (B, ch, s, s)
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),  # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]             # -> (B, C, H, W)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z, y=None):
        return self.net(z)


class DCGANDiscriminator(Discriminator):
    """Radford et al.: Conv 4x4 s2 with LeakyReLU(0.2), BN everywhere but the input layer, a final conv to 1 logit."""

    def __init__(self, in_shape, width: int = 64, slope: float = 0.2, sn: bool = False):
        super().__init__(in_shape)
        c, h, w = in_shape
        start, n = _pyramid(h)
        ch = width
        layers: list[nn.Module] = [maybe_sn(Conv2d(c, ch, 4, 2, 1), sn), nn.LeakyReLU(slope, True)]  # -> (B, w, H/2, W/2)
        for _ in range(n - 1):
            layers += [maybe_sn(Conv2d(ch, ch * 2, 4, 2, 1, bias=False), sn),  # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
                       nn.Identity() if sn else nn.BatchNorm2d(ch * 2), nn.LeakyReLU(slope, True)]
            ch *= 2
        layers += [maybe_sn(Conv2d(ch, 1, start, 1, 0), sn), nn.Flatten()]  # (B, ch, s, s) -> (B, 1)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


def _normal_conv_glorot_dense_init(module: nn.Module) -> None:
    """Conv kernels ~ N(0, 0.02), dense layers Glorot-uniform (TensorFlow's default), BN scale 1 and shift 0."""
    dcgan_init(module)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.xavier_uniform_(w)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ConvT5x5Then7x7Generator(Generator):
    """Dense -> (128, s, s) -> ConvT 5x5 s2 (256) x2 -> ConvT 5x5 (256) -> ConvT 7x7 -> tanh; BN + ReLU between.

    The generator of the book chapter's CIFAR-10 DCGAN.
    For 32x32: (B, 100) -> (B, 128, 8, 8) -> (B, 256, 16, 16) -> (B, 256, 32, 32) -> (B, 256, 32, 32) -> (B, 3, 32, 32).
    """

    def __init__(self, z_dim: int, out_shape, padding: str = "tf"):
        super().__init__(z_dim, out_shape)
        c, h, w = out_shape
        s = h // 4
        self.net = nn.Sequential(
            nn.Linear(z_dim, 128 * s * s),                                       # (B, z) -> (B, 128*s*s)
            Reshape(128, s, s),                                                  # -> (B, 128, s, s)
            _bn2d(128), nn.ReLU(),
            _up(128, 256, 5, 2, padding),                                        # -> (B, 256, 2s, 2s)
            _bn2d(256), nn.ReLU(),
            _up(256, 256, 5, 2, padding),                                        # -> (B, 256, 4s, 4s)
            _bn2d(256), nn.ReLU(),
            _up(256, 256, 5, 1, padding),                                        # -> (B, 256, 4s, 4s)
            _bn2d(256), nn.ReLU(),
            _up(256, c, 7, 1, padding),                                          # -> (B, C, 4s, 4s)
            nn.Tanh(),
        )
        _normal_conv_glorot_dense_init(self)

    def forward(self, z, y=None):
        return self.net(z)


class Conv5x5BNDiscriminator(Discriminator):
    """Conv 5x5 s2 (64) -> s2 (128) + BN -> s1 (256) + BN -> Dense(1) logit; LeakyReLU 0.2, 0.2, 0.1; no dropout.

    The discriminator of the book chapter's CIFAR-10 DCGAN.
    For 32x32: (B, 3, 32, 32) -> (B, 64, 16, 16) -> (B, 128, 8, 8) -> (B, 256, 8, 8) -> (B, 16384) -> (B,).
    """

    def __init__(self, in_shape, sn: bool = False):
        super().__init__(in_shape)
        c, size, _ = in_shape
        conv1, size = conv_same(c, 64, 5, 2, size, sn)
        conv2, size = conv_same(64, 128, 5, 2, size, sn)
        conv3, size = conv_same(128, 256, 5, 1, size, sn)
        self.net = nn.Sequential(
            conv1, nn.LeakyReLU(0.2),
            conv2, nn.Identity() if sn else _bn2d(128), nn.LeakyReLU(0.2),
            conv3, nn.Identity() if sn else _bn2d(256), nn.LeakyReLU(0.1),
            nn.Flatten(),
            maybe_sn(nn.Linear(256 * size * size, 1), sn),                       # -> (B, 1)
        )
        _normal_conv_glorot_dense_init(self)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)
