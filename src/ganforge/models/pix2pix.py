"""pix2pix's networks (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks").

- ``UNetGenerator``: an encoder of 4x4 stride-2 convolutions (C64-C128-C256-C512-C512-..., LeakyReLU 0.2,
  batch norm after all but the first), a decoder of 4x4 stride-2 transposed convolutions (ReLU, batch norm,
  dropout 0.5 in the three innermost: the paper's noise), each decoder layer reading the mirrored encoder
  layer's output beside its own input (the skips), tanh out. The paper's 256x256 G goes down 8 times to 1x1;
  here the encoder halves the image while its side is even and at least 2 (``depth`` limits it), so 28x28
  goes 28 -> 14 -> 7 and back, 32 -> 1 in five, 256 -> 1 in eight.
- ``PatchDiscriminator``: D on the (input, output) pair stacked as channels, C64-C128-...: ``layers`` 4x4
  stride-2 convolutions, one stride-1 one, then a 1-channel stride-1 convolution: one logit per patch. With
  3 layers each logit sees 70x70 pixels (the paper's 70x70 PatchGAN); with 1, 16x16; with 2, 34x34.

``ResnetGenerator`` is CycleGAN's G (Zhu et al. 2017). Weights ~ N(0, 0.02) and batch norm scales ~ N(1, 0.02),
as the papers' code; the convolutions are ``ganforge.ops.conv``'s (``torch.nn``'s parameters and results,
faster forms on the CPU where they apply).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.layers import normal_init
from ganforge.ops.conv import Conv2d, ConvTranspose2d  # torch.nn's, with the CPU's faster equivalent forms


def unet_depth(size: int, limit: int = 8) -> int:
    """How many times the U-Net halves a ``size`` x ``size`` image: while the side is even and at least 2."""
    depth = 0
    while size % 2 == 0 and size >= 2 and depth < limit:
        size //= 2
        depth += 1
    return depth


def patch_min_size(layers: int) -> int:
    """The smallest image side ``PatchDiscriminator`` with ``layers`` stride-2 layers takes: its two 4x4 stride-1
    convolutions need a map of at least 3x3 after the halvings."""
    return 3 * 2 ** layers


def patch_receptive_field(layers: int) -> int:
    """Pixels (per side) each of ``PatchDiscriminator``'s logits sees: 4x4 kernels, ``layers`` of stride 2, then
    two of stride 1."""
    field, jump = 1, 1
    for stride in [2] * layers + [1, 1]:                                        # from the input side
        field, jump = field + 3 * jump, jump * stride
    return field


class UNetGenerator(nn.Module):
    """Image (B, C_in, H, W) in [-1, 1] -> image (B, C_out, H, W) in [-1, 1]; H = W."""

    def __init__(self, in_channels: int, out_channels: int, size: int, width: int = 64, depth: int | None = None,
                 dropout: float = 0.5):
        super().__init__()
        depth = unet_depth(size) if depth is None else min(depth, unet_depth(size))
        if depth < 1:
            raise ValueError(f"a U-Net needs an even image size, got {size}")
        self.in_channels, self.out_channels, self.size, self.depth = in_channels, out_channels, size, depth
        chans = [min(width * 2 ** i, width * 8) for i in range(depth)]          # 64, 128, 256, 512, 512, ...
        self.down = nn.ModuleList()
        c_prev = in_channels
        for i, c in enumerate(chans):
            innermost = i == depth - 1
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(Conv2d(c_prev, c, 4, 2, 1, bias=i == 0 or innermost))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(c))
            self.down.append(nn.Sequential(*layers))
            c_prev = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):                                        # innermost first
            c_in = chans[i] if i == depth - 1 else chans[i] * 2                 # the skip doubles the input
            outermost = i == 0
            c_out = out_channels if outermost else chans[i - 1]
            layers = [nn.ReLU(), ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(c_out))
                if depth - 1 - i < 3 and dropout > 0:                           # the three innermost
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()                                                             # the innermost output is x itself
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return x


def norm_layer(kind: str, channels: int) -> nn.Module:
    """pix2pix's batch norm, or CycleGAN's instance norm (no learned scale and shift, as its code's default)."""
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.InstanceNorm2d(channels)


class PatchDiscriminator(nn.Module):
    """Image or (input, output) pair stacked as channels (B, C, H, W) -> patch logits (B, 1, h, w)."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "batch"):
        super().__init__()
        mods: list[nn.Module] = [Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers):
            c_next = min(width * 2 ** i, width * 8)
            mods += [Conv2d(c, c_next, 4, 2, 1, bias=norm != "batch"), norm_layer(norm, c_next), nn.LeakyReLU(0.2)]
            c = c_next
        c_next = min(width * 2 ** layers, width * 8)
        mods += [Conv2d(c, c_next, 4, 1, 1, bias=norm != "batch"), norm_layer(norm, c_next), nn.LeakyReLU(0.2),
                 Conv2d(c_next, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)
        self.layers = layers
        normal_init(self)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.net(pair)


class ResnetBlock(nn.Module):
    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), Conv2d(channels, channels, 3, bias=norm != "batch"),
                                  norm_layer(norm, channels), nn.ReLU(),
                                  nn.ReflectionPad2d(1), Conv2d(channels, channels, 3, bias=norm != "batch"),
                                  norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's G (Zhu et al. 2017, after Johnson et al.): c7s1-w, d2w, d4w, ``blocks`` residual blocks at 4w,
    u2w, uw, c7s1-C, tanh; reflection padding, instance norm. 9 blocks at 256x256 and 6 at 128 in the paper.
    The two stride-2 steps need a size divisible by 4 (28 -> 14 -> 7)."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9, norm: str = "instance"):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), Conv2d(in_channels, width, 7, bias=bias),
                                   norm_layer(norm, width), nn.ReLU()]
        c = width
        for _ in range(2):
            layers += [Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU()]
            c *= 2
        layers += [ResnetBlock(c, norm) for _ in range(blocks)]
        for _ in range(2):
            layers += [ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), norm_layer(norm, c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), Conv2d(c, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
