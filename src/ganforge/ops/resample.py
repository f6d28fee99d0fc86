"""Nearest-neighbour upsampling by an integer factor, as a broadcast copy on the CPU.

torch 2.13's CPU kernel for ``F.interpolate(mode="nearest")`` spends most of its time in a
layout copy of its output: 167 ms for a (128, 128, 14, 14) -> 28x28 batch on 2 cores, where
repeating each pixel by a broadcast view and one copy takes 24 ms (docs/benchmarks.md, "Every
preset"). The values are the same, bit for bit: nearest upsampling by an integer factor s copies
input pixel (i, j) to the s x s output pixels (s*i + a, s*j + b). The gradient (each s x s block's
sum) is torch's own kernel's, which is fast. Everywhere else (CUDA, ``torch.compile``,
``reference_forms``, other modes or factors) this is ``F.interpolate`` itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops.conv import _REFERENCE


def _fast(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dim() == 4 and not torch.compiler.is_compiling() and not _REFERENCE.get()


def upsample_nearest(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``F.interpolate(x, scale_factor=factor, mode="nearest")`` for an integer ``factor``: (B, C, H, W) ->
    (B, C, factor*H, factor*W), in x's memory format."""
    if not _fast(x):
        return F.interpolate(x, scale_factor=factor, mode="nearest")
    return _Nearest.apply(x, factor)


class _Nearest(torch.autograd.Function):
    """Forward: a broadcast copy. Backward: torch's own kernel for the gradient (fast, and the same bits)."""

    @staticmethod
    def forward(ctx, x, s):
        ctx.size, ctx.s = tuple(x.shape), s
        b, c, h, w = x.shape
        if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
            return x[:, :, :, None, :, None].expand(b, c, h, s, w, s).reshape(b, c, h * s, w * s)
        nhwc = x.permute(0, 2, 3, 1)                                                 # (B, H, W, C), a view
        up = nhwc[:, :, None, :, None, :].expand(b, h, s, w, s, c).reshape(b, h * s, w * s, c)
        return up.permute(0, 3, 1, 2)                                               # channels_last again

    @staticmethod
    def backward(ctx, grad):
        (_, _, h, w), s = ctx.size, ctx.s
        return torch.ops.aten.upsample_nearest2d_backward(grad, [h * s, w * s], list(ctx.size), float(s), float(s)), None


class Upsample(nn.Upsample):
    """``nn.Upsample`` whose nearest mode with an integer scale factor is ``upsample_nearest`` on the CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.scale_factor
        if (self.mode == "nearest" and self.size is None and isinstance(factor, (int, float))
                and float(factor).is_integer() and factor >= 1 and not self.recompute_scale_factor):
            return upsample_nearest(x, int(factor))
        return super().forward(x)
