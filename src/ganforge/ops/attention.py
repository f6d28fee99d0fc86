"""Dot-product attention without the score matrix: PyTorch's fused kernel for SAGAN's self-attention.

Written out, ``softmax(q k^T) v`` holds the whole (B, N, M) score matrix, its softmax and their
gradients: for resnet128's attention at 64x64 (N = 4,096 queries, M = 1,024 pooled keys, batch 32)
that is 0.5 GB per tensor, a few of them per pass, each freshly faulted in by the kernel; the
softmax's backward alone took longer than the two matrix products. PyTorch's
``scaled_dot_product_attention`` (flash attention on the CPU: it walks the scores in tiles, keeping a
running maximum and sum) computes the same function without storing them: forward and backward of
that layer 1.4 s -> 0.6 s on 2 cores (``benchmarks/attention.py``), and resnet128's training step
1.9x faster, for the page faults it no longer takes (docs/benchmarks.md, "What made the 128 and 256 px
ResNets slow").

The fused kernel needs one width for queries, keys and values; SAGAN's queries and keys are C/8 wide
and its values C/2, so the narrower side is padded with zero channels (a zero channel adds nothing to
``q . k``, and a zero value channel gives a zero output channel, cut off again). Inside
``reference_forms()`` (what ``ganforge bench`` counts FLOPs in, and what ONNX export traces) the
function is the written-out form. The two agree to rounding (``tests/ops/test_attention.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.ops.conv import _REFERENCE


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q @ k^T, dim=-1) @ v``, unscaled (SAGAN's): q (B, N, d), k (B, M, d), v (B, M, e) -> (B, N, e)."""
    if _REFERENCE.get():
        return torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
    d, e = q.shape[-1], v.shape[-1]
    width = max(d, e)
    q, k, v = (F.pad(t, (0, width - t.shape[-1])) if t.shape[-1] < width else t.contiguous() for t in (q, k, v))
    out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=1.0).squeeze(1)
    return out if e == width else out[..., :e]
