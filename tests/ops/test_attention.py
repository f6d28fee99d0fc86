"""ganforge.ops.attention: PyTorch's fused attention kernel computes SAGAN's written-out softmax(q k^T) v."""

import math

import pytest
import torch
from torch.profiler import profile

from ganforge.ops import attention, reference_forms

U_FP32 = 2.0 ** -24  # fp32's unit roundoff
# (batch, queries N, keys M, query/key width d, value width e): SAGAN's d = C/8 < e = C/2, equal widths, d > e
SHAPES = [(2, 24, 6, 2, 8), (3, 17, 9, 4, 4), (2, 10, 33, 8, 3)]


def _operands(shape, dtype, seed=0):
    b, n, m, d, e = shape
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(size, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
               for size in ((b, n, d), (b, m, d), (b, m, e)))
    return q, k, v


def _written_out(q, k, v):
    return torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v


def _kernels(fn) -> set[str]:
    with profile() as prof:
        fn()
    return {e.key for e in prof.key_averages()}


@pytest.mark.parametrize("shape", SHAPES)
def test_fused_kernel_equals_the_written_out_form_in_float64(shape):
    """Output and the three gradients. Each is a sum of at most M + d products of O(1) terms, added in other
    orders by the two forms: float64 rounds each by ~1e-16 (times a few dozen terms here), so 1e-12 bounds the
    difference with room, and a dropped, doubled or misplaced term (a pad channel that leaks, a softmax over the
    wrong axis) moves an element by ~1e-1."""
    q, k, v = _operands(shape, torch.float64)
    out = attention(q, k, v)
    ref = _written_out(q, k, v)
    assert out.shape == (shape[0], shape[1], shape[4])
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_the_fused_kernel_runs_outside_reference_forms_and_the_written_out_form_inside():
    q, k, v = _operands(SHAPES[0], torch.float32)
    fused = _kernels(lambda: attention(q, k, v).sum().backward())
    assert any("scaled_dot_product" in name for name in fused) and "aten::_softmax" not in fused
    with reference_forms():
        written = _kernels(lambda: attention(q, k, v).sum().backward())
    assert "aten::_softmax" in written and not any("scaled_dot_product" in name for name in written)


@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_fused_kernel_is_within_its_rounding_bound_of_the_exact_value(shape):
    """fp32 against the float64 value of the same fp32 operands. Each score q.k_j is a d-term dot product: its
    error is at most gamma_d * a_j, a_j = sum_i |q_i k_ji| (Higham 3.1), and errors of at most D in the scores
    move each softmax weight w_j by a factor within exp(+-2D). The exponentials (the kernel's vectorised exp:
    taken as 32 units of roundoff), the running rescalings (one per tile, at most M), the sum of M weighted
    values and the final division add at most (32 + 2M + 2) units of roundoff, relative, to each term w_j v_j.
    So |error| <= ((exp(2 D) - 1) + (2M + 34) u) * sum_j w_j |v_j|, with D = gamma_d * max_j a_j per query."""
    b, n, m, d, e = shape
    q, k, v = _operands(shape, torch.float32)
    with torch.no_grad():
        out = attention(q, k, v).double()
        q64, k64, v64 = q.double(), k.double(), v.double()
        w = torch.softmax(q64 @ k64.transpose(1, 2), dim=-1)                        # (B, N, M)
        exact = w @ v64
        gamma_d = d * U_FP32 / (1 - d * U_FP32)
        a = (q64.abs() @ k64.abs().transpose(1, 2)).amax(-1, keepdim=True)           # (B, N, 1)
        bound = (torch.expm1(2 * gamma_d * a) + (2 * m + 34) * U_FP32) * (w @ v64.abs())
    err = (out - exact).abs()
    assert (err <= bound).all(), f"largest error/bound {(err / bound).max().item():.3f}"
    assert bound.max() < 1e-4 * math.sqrt(d)  # the bound is a real one: a misplaced term errs by ~0.1
