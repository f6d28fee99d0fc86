"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.conv import same_padding


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a weight layer in spectral normalisation when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def keras_init(module: nn.Module) -> None:
    """Keras' defaults: Glorot-uniform weights and zero biases for dense and conv layers."""
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
    shifts every stride-2 tap by one pixel. Padding explicitly keeps the seeds' arithmetic.
    """
    before, after = same_padding(size, kernel, stride)
    out = -(-size // stride)
    if before == after:
        return maybe_sn(nn.Conv2d(c_in, c_out, kernel, stride, before), sn), out
    conv = maybe_sn(nn.Conv2d(c_in, c_out, kernel, stride), sn)
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)), conv), out


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper random mask on the CPU.

    PyTorch's CPU dropout draws its mask with ``bernoulli_``, one generator call per
    element: 15% of a bf16 training step of seed 000's model (docs/benchmarks.md).
    Here each element's mask comes from 15 random bits (two elements per 32-bit
    draw of the same generator), compared against ``round(p * 2**15)``: the same
    drop probability to within 2**-16, the same 1/(1-p) scaling, reproducible
    from the generator state. In bf16 the mask is made by integer arithmetic on
    the bits (no bool -> bf16 conversion, 4.8 -> 0.7 ms for seed 000's first
    dropout). Other devices keep ``F.dropout``.
    """

    BITS = 15

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        if self.p == 1:
            return x * 0
        n = x.numel()
        draws = torch.empty((n + 1) // 2, dtype=torch.int32).random_()  # 31 random bits each
        bits = draws.view(torch.int16)[:n].view(x.shape) & (2 ** self.BITS - 1)
        threshold = round(self.p * 2 ** self.BITS)  # drop where bits < threshold
        if x.dtype == torch.bfloat16:
            # threshold - 1 - bits is negative exactly where the unit is kept; an arithmetic shift makes
            # that -1 (all ones) and dropped units 0, and the AND leaves the bf16 bit pattern of 1/(1-p)
            scale = torch.tensor(1.0 / (1.0 - self.p), dtype=torch.bfloat16).view(torch.int16).item()
            mask = bits.neg_().add_(threshold - 1).bitwise_right_shift_(self.BITS).bitwise_and_(scale)
            return x * mask.view(torch.bfloat16)
        keep = bits >= threshold
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))
