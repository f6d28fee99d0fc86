import pytest
import torch
from torch import nn

from ganforge.models.layers import conv_same, same_padding


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (28, 3, 2, (0, 1)),   # ACGAN's first conv: 14 outputs need 1 pixel of padding, TF puts it after
    (7, 3, 2, (1, 1)),
    (32, 5, 2, (1, 2)),   # the CIFAR-10 DCGAN's first conv
    (8, 5, 1, (2, 2)),
    (8, 3, 2, (0, 1)),
])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_conv_same_aligns_taps_like_tensorflow():
    """An impulse at (2, 2) under a 3x3 all-ones stride-2 conv: TF's windows start at rows 0, 2, 4...,
    so the pixel falls in two windows per axis (4 outputs); symmetric padding would give 1."""
    conv, out = conv_same(1, 1, 3, 2, 8)
    assert out == 4
    inner = conv[-1] if isinstance(conv, nn.Sequential) else conv
    with torch.no_grad():
        inner.weight.fill_(1.0)
        inner.bias.zero_()
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 2] = 1.0
    y = conv(x)
    assert y.shape == (1, 1, 4, 4)
    assert torch.equal(y[0, 0].nonzero(), torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]))


def test_cpu_dropout_drops_p_of_the_units_and_scales_the_rest():
    from ganforge.models.layers import Dropout

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
    from ganforge.models.layers import Dropout

    drop = Dropout(0.3)
    x = torch.randn(64, 8, 5, 5, requires_grad=True)
    y = drop.train()(x)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, (y != 0).float() / 0.7)
    assert torch.equal(drop.eval()(x), x)


def test_cpu_dropout_mask_follows_the_generator_state():
    from ganforge.models.layers import Dropout

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
    from ganforge.models.layers import Dropout

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
