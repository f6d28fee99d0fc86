"""Dropout with a cheaper random mask on the CPU."""

from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper random mask on the CPU.

    PyTorch's CPU dropout draws its mask with ``bernoulli_``, one generator call per
    element. Here each element's mask comes from 15 random bits (two elements per 32-bit
    draw of the same generator), compared against ``round(p * 2**15)``: the same
    drop probability to within 2**-16, the same 1/(1-p) scaling, reproducible
    from the generator state. In bf16 the mask is made by integer arithmetic on
    the bits (no bool -> bf16 conversion). Other devices keep ``F.dropout``.
    What this saves, and where it was measured: docs/benchmarks.md, "What each change
    bought".
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
