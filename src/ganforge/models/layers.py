"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.ops import same_padding


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a weight layer in spectral normalisation when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def glorot_uniform_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for dense and conv layers (Keras' and TensorFlow's defaults)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.xavier_uniform_(w)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def normal_init(module: nn.Module) -> None:
    """Weights of every conv, transposed conv and linear layer ~ N(0, 0.02) with zero biases, and every batch
    norm's scale ~ N(1, 0.02) with zero shift (1-d too): the released InfoGAN and StackGAN code's initialisation.
    (``dcgan_init`` leaves 1-d batch norms at PyTorch's defaults, as the runs made with it did.)"""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def conv_same(c_in: int, c_out: int, kernel: int, stride: int, size: int, sn: bool = False) -> tuple[nn.Module, int]:
    """A Conv2d with TensorFlow's 'same' padding for a ``size`` x ``size`` input; returns (module, output size).

    PyTorch pads both sides equally; TensorFlow puts the odd pixel on the right and bottom, which
    shifts every stride-2 tap by one pixel. Padding explicitly keeps TensorFlow's arithmetic.
    """
    before, after = same_padding(size, kernel, stride)
    out = -(-size // stride)
    if before == after:
        return maybe_sn(nn.Conv2d(c_in, c_out, kernel, stride, before), sn), out
    conv = maybe_sn(nn.Conv2d(c_in, c_out, kernel, stride), sn)
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)), conv), out

