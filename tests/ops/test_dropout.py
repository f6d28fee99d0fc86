"""ganforge.ops.dropout: the CPU mask from 15-bit draws."""

import pytest
import torch

from ganforge.ops.dropout import Dropout


def test_cpu_dropout_drops_p_of_the_units_and_scales_the_rest():
    torch.manual_seed(0)
    drop = Dropout(0.3).train()
    x = torch.ones(1000, 1001)  # odd count: the last 32-bit draw is half used
    y = drop(x)
    kept = y != 0
    # 1,001,000 Bernoulli(0.7) draws: the kept share is within 5 standard deviations (0.0023) of 0.7
    assert abs(kept.double().mean().item() - 0.7) < 0.0023
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    # neighbouring units are independent: P(both kept) = 0.49
    both = (kept[:, ::2][:, :500] & kept[:, 1::2]).double().mean().item()
    assert abs(both - 0.49) < 0.005


def test_cpu_dropout_gradient_is_the_same_mask_and_eval_is_identity():
    drop = Dropout(0.3)
    x = torch.randn(64, 8, 5, 5, requires_grad=True)
    y = drop.train()(x)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, (y != 0).float() / 0.7)
    assert torch.equal(drop.eval()(x), x)


def test_cpu_dropout_mask_follows_the_generator_state():
    drop = Dropout(0.5).train()
    x = torch.ones(3, 7, 9)
    torch.manual_seed(5)
    a = drop(x)
    b = drop(x)
    torch.manual_seed(5)
    assert torch.equal(drop(x), a) and not torch.equal(a, b)
    assert drop(x.bfloat16()).dtype == torch.bfloat16


@pytest.mark.parametrize("p", [0.3, 0.5, 0.01, 0.99])
def test_cpu_dropout_in_bf16_keeps_the_same_units_as_in_fp32(p):
    """The bf16 mask is made by integer arithmetic on the same bits: same units kept, same scale as fp32 rounds to."""
    drop = Dropout(p).train()
    x = torch.randn(37, 64, 9, 9)
    torch.manual_seed(1)
    y32 = drop(x)
    torch.manual_seed(1)
    xb = x.bfloat16().requires_grad_(True)
    y16 = drop(xb)
    assert y16.dtype == torch.bfloat16
    assert torch.equal(y16 != 0, y32 != 0)
    assert torch.equal(y16, xb.detach() * ((y32 != 0).bfloat16() * (1 / (1 - p))))
    y16.backward(torch.ones_like(y16))
    assert torch.equal(xb.grad, (y32 != 0).bfloat16() * (1 / (1 - p)))
