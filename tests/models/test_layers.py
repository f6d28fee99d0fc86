import torch
from torch import nn

from ganforge.models.layers import conv_same


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
