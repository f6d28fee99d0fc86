"""ganforge.ops.resample: nearest upsampling by an integer factor as a broadcast copy, torch.nn's values."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.ops import Upsample, reference_forms, upsample_nearest


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_same_values_and_layout_as_interpolate(factor, dtype, channels_last):
    x = torch.randn(3, 5, 4, 6, generator=torch.Generator().manual_seed(factor)).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y, ref = upsample_nearest(x, factor), F.interpolate(x, scale_factor=factor, mode="nearest")
    assert y.shape == (3, 5, 4 * factor, 6 * factor) and y.dtype == dtype
    assert torch.equal(y, ref)  # copies of the input's values: bit for bit
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.equal(y[:, :, factor * 2 + factor - 1, factor * 5], x[:, :, 2, 5])  # pixel (2, 5)'s block


def test_the_gradient_is_each_blocks_sum():
    """Each input pixel's gradient is the sum of its 4 output pixels' gradients: small integers here, so
    exact in any order."""
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    up = torch.randint(-3, 4, (2, 3, 10, 10), generator=torch.Generator().manual_seed(0)).double()
    (g,) = torch.autograd.grad(upsample_nearest(x, 2), x, up)
    (g_ref,) = torch.autograd.grad(F.interpolate(x, scale_factor=2, mode="nearest"), x, up)
    assert torch.equal(g, g_ref)
    assert g[1, 2, 3, 4] == up[1, 2, 6:8, 8:10].sum()
    for factor in (2, 3):  # any values, float32: torch's own kernel computes it, so the same bits
        x = torch.randn(4, 3, 5, 6, requires_grad=True).contiguous(memory_format=torch.channels_last)
        up = torch.randn(4, 3, 5 * factor, 6 * factor)
        (g,) = torch.autograd.grad(upsample_nearest(x, factor), x, up)
        (g_ref,) = torch.autograd.grad(F.interpolate(x, scale_factor=factor, mode="nearest"), x, up)
        assert torch.equal(g, g_ref)


def test_the_module_is_nn_upsample_and_falls_back_elsewhere():
    layer = Upsample(scale_factor=2, mode="nearest")
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), F.interpolate(x, scale_factor=2, mode="nearest"))
    assert isinstance(layer, torch.nn.Upsample) and layer.state_dict() == {}
    with reference_forms():  # what export traces: torch's own operation
        assert torch.equal(layer(x), F.interpolate(x, scale_factor=2, mode="nearest"))
    bilinear = Upsample(scale_factor=2, mode="bilinear")
    assert torch.equal(bilinear(x), F.interpolate(x, scale_factor=2, mode="bilinear"))
    assert torch.equal(Upsample(scale_factor=1.5)(x), F.interpolate(x, scale_factor=1.5, mode="nearest"))
