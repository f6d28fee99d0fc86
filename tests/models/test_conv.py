"""ganforge.models.conv: the same sums as torch.nn's convolutions, computed in other forms."""

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.conv import (Conv2d, ConvTranspose2d, _phase_taps, input_grad_form, phased_conv_transpose2d, reference_forms,
                                  transposed_form)

# (C_in, C_out, kernel, stride, padding, output_padding, size, form): seed 000's generator layers,
# Radford's 4x4 up-sampling to an image, a 3x3 one, and layers that keep oneDNN's own form
TRANSPOSED = [
    (6, 4, 5, 1, 2, 0, 7, "flipped"),   # stride 1: an ordinary convolution, kernel flipped
    (4, 3, 5, 1, 4, 0, 9, "flipped"),   # stride 1 with padding = kernel - 1
    (6, 1, 5, 2, 2, 1, 7, "phased"),    # seed 000's image layer
    (5, 3, 4, 2, 1, 0, 8, "phased"),    # Radford's image layer
    (5, 2, 3, 2, 1, 1, 6, "phased"),    # phases with asymmetric phase padding
    (5, 8, 5, 2, 2, 1, 7, "onednn"),    # many output channels
    (5, 2, 3, 2, 0, 0, 5, "onednn"),    # output not twice the input
    (8, 4, 4, 1, 0, 0, 1, "onednn"),    # Radford's first layer on a 1x1 latent
]
# (C_in, C_out, kernel, stride, padding, size, form of the input gradient)
ORDINARY = [
    (1, 6, 5, 2, 2, 28, "phased"),      # seed 000's D input layer
    (3, 5, 4, 2, 1, 16, "phased"),      # Radford's D input layer
    (2, 4, 3, 2, 1, 10, "phased"),
    (6, 8, 5, 2, 2, 14, "onednn"),      # many input channels
    (1, 4, 5, 2, 2, 9, "onednn"),       # odd input
    (2, 3, 3, 1, 1, 6, "onednn"),       # stride 1
]


def _grads(y, inputs, seed=0):
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return torch.autograd.grad(y, inputs, g)


def assert_same_layer(fast: nn.Module, ref: nn.Module, x: torch.Tensor) -> None:
    """ganforge's layer with torch.nn's weights: the same output and gradients (input, weight, bias) in float64."""
    ref, fast = ref.double(), fast.double()
    fast.load_state_dict(ref.state_dict())
    x = x.requires_grad_(True)
    y_ref, y = ref(x), fast(x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    for a, b in zip(_grads(y, [x, *fast.parameters()]), _grads(y_ref, [x, *ref.parameters()])):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


# (kernel, padding, stride) whose transposed convolution can output exactly stride x the input:
# output_padding = stride + 2 * padding - kernel must lie in [0, stride)
PHASED = [(k, p, s) for s in (2, 3) for k, p in [(5, 2), (4, 1), (3, 1), (3, 0), (6, 2)] if 0 <= s + 2 * p - k < s]


@pytest.mark.parametrize("kernel,padding,stride", PHASED)
def test_phase_split_is_the_transposed_convolution(kernel, padding, stride):
    output_padding = stride + 2 * padding - kernel  # the output size is exactly stride x the input
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    w = torch.randn(3, 2, kernel, kernel, dtype=torch.float64)
    ref = F.conv_transpose2d(x, w, None, stride, padding, output_padding)
    out = phased_conv_transpose2d(x, w, stride, padding)
    assert out.shape == ref.shape == (2, 2, 5 * stride, 6 * stride)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_phase_taps_of_seed_000s_layer():
    # output 2m + 0 = x[m+1] w[0] + x[m] w[2] + x[m-1] w[4]; output 2m + 1 = x[m+1] w[1] + x[m] w[3]
    taps, before, after = _phase_taps(5, 2, 2)
    assert (taps, before, after) == ([[4, 2, 0], [-1, 3, 1]], 1, 1)


@pytest.mark.parametrize("c_in,c_out,k,s,p,op,size,form", TRANSPOSED)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_matches_torch_nn(c_in, c_out, k, s, p, op, size, form, bias):
    width = size + 1 if size > 1 else 1
    assert transposed_form((3, c_in, size, width), (c_in, c_out, k, k), (s, s), (p, p), (op, op), (1, 1), 1) == form
    torch.manual_seed(0)
    assert_same_layer(ConvTranspose2d(c_in, c_out, k, s, p, op, bias=bias),
                      nn.ConvTranspose2d(c_in, c_out, k, s, p, op, bias=bias),
                      torch.randn(3, c_in, size, width, dtype=torch.float64))


@pytest.mark.parametrize("c_in,c_out,k,s,p,size,form", ORDINARY)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_matches_torch_nn(c_in, c_out, k, s, p, size, form, bias):
    assert input_grad_form((3, c_in, size, size), (c_out, c_in, k, k), (s, s), (p, p), (1, 1), 1) == form
    torch.manual_seed(0)
    assert_same_layer(Conv2d(c_in, c_out, k, s, p, bias=bias), nn.Conv2d(c_in, c_out, k, s, p, bias=bias),
                      torch.randn(3, c_in, size, size, dtype=torch.float64))


def test_only_the_needed_gradients_and_the_second_derivative():
    """A gradient penalty differentiates D's input gradient again; real images need no input gradient."""
    torch.manual_seed(0)
    ref, fast = nn.Conv2d(1, 4, 5, 2, 2).double(), Conv2d(1, 4, 5, 2, 2).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    (gw,) = torch.autograd.grad(fast(x).square().sum(), [fast.weight])  # x needs no gradient
    torch.testing.assert_close(gw, torch.autograd.grad(ref(x).square().sum(), [ref.weight])[0])

    def penalty(conv):
        xi = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(conv(xi).tanh().sum(), xi, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), [conv.weight, conv.bias])

    for a, b in zip(penalty(fast), penalty(ref)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer", ["transposed", "ordinary"])
def test_bf16_autocast_agrees_with_torch_nn(layer):
    torch.manual_seed(0)
    if layer == "transposed":
        ref, fast, x = nn.ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False), ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False), \
            torch.randn(8, 64, 14, 14, requires_grad=True)
    else:
        ref, fast, x = nn.Conv2d(1, 64, 5, 2, 2), Conv2d(1, 64, 5, 2, 2), torch.randn(8, 1, 28, 28, requires_grad=True)
    fast.load_state_dict(ref.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref, y = ref(x), fast(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=0.02, atol=0.02)
    grads, grads_ref = _grads(y, [x, fast.weight]), _grads(y_ref, [x, ref.weight])
    for a, b in zip(grads, grads_ref):
        assert a.dtype == b.dtype == torch.float32  # flows back to the fp32 input and weight
        assert (a - b).norm() <= 0.02 * b.norm()


def test_spectral_norm_and_state_dict_keys_are_torch_nns():
    torch.manual_seed(0)
    ref = nn.utils.parametrizations.spectral_norm(nn.Conv2d(1, 4, 4, 2, 1)).double()
    fast = nn.utils.parametrizations.spectral_norm(Conv2d(1, 4, 4, 2, 1)).double()
    assert list(fast.state_dict()) == list(ref.state_dict())
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    ref.eval(), fast.eval()  # no power iteration: both use the stored u, v
    y_ref, y = ref(x), fast(x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    w_ref, w = ref.parametrizations.weight.original, fast.parametrizations.weight.original
    for a, b in zip(_grads(y, [x, w]), _grads(y_ref, [x, w_ref])):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


@pytest.mark.parametrize("layer", ["conv-phased", "conv-onednn", "linear"])
def test_per_sample_weight_gradients(layer):
    """Inside per_sample_weight_grads: weight and bias gradients of sum_i w_i * y_i, input gradients of sum_i y_i."""
    from ganforge.models.conv import Linear, per_sample_weight_grads

    torch.manual_seed(0)
    ref, fast, x = {
        "conv-phased": lambda: (nn.Conv2d(1, 4, 5, 2, 2), Conv2d(1, 4, 5, 2, 2), torch.randn(6, 1, 12, 12)),
        "conv-onednn": lambda: (nn.Conv2d(3, 8, 3, 1, 1), Conv2d(3, 8, 3, 1, 1), torch.randn(6, 3, 7, 7)),
        "linear": lambda: (nn.Linear(10, 3), Linear(10, 3), torch.randn(6, 10)),
    }[layer]()
    ref, fast, x = ref.double(), fast.double(), x.double().requires_grad_(True)
    fast.load_state_dict(ref.state_dict())
    sample_w = torch.tensor([1.0, -0.5, 0.0, 2.0, 0.25, -1.0], dtype=torch.float64)
    upstream = torch.randn(ref(x).shape, dtype=torch.float64)
    with per_sample_weight_grads() as weights:
        y = fast(x)
    weights.factors = sample_w
    gx, gw, gb = torch.autograd.grad(y, [x, fast.weight, fast.bias], upstream)
    y_ref = ref(x)
    (gx_ref,) = torch.autograd.grad(y_ref, [x], upstream, retain_graph=True)
    shape = (-1,) + (1,) * (upstream.dim() - 1)
    gw_ref, gb_ref = torch.autograd.grad(y_ref, [ref.weight, ref.bias], upstream * sample_w.view(shape))
    for a, b in ((gx, gx_ref), (gw, gw_ref), (gb, gb_ref)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


# -- TensorFlow's padding='same' ----------------------------------------------------------

def test_tf_same_transposed_convolution_on_a_delta():
    """A 5x5 stride-2 Conv2DTranspose(padding='same') of a delta at input (m, m) puts kernel tap
    (t_h, t_w) at output (2m + t_h - 1, 2m + t_w - 1): TensorFlow drops one pixel of the full output
    before (PyTorch's padding=2 drops two, shifting the image by one pixel)."""
    from ganforge.models.conv import ConvTranspose2dSame

    taps = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5) + 1   # tap (h, w) holds 5h + w + 1
    for m in (0, 1):
        x = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
        x[0, 0, m, m] = 1.0
        layer = ConvTranspose2dSame(1, 1, 5, 2, bias=False).double()
        with torch.no_grad():
            layer.weight.copy_(taps)
        expected = torch.zeros(6, 6, dtype=torch.float64)
        for th in range(5):
            for tw in range(5):
                i, j = 2 * m + th - 1, 2 * m + tw - 1
                if 0 <= i < 6 and 0 <= j < 6:
                    expected[i, j] = taps[0, 0, th, tw]
        for forms in (contextlib.nullcontext, reference_forms):
            with forms():
                torch.testing.assert_close(layer(x)[0, 0], expected, rtol=0, atol=0)
        torch_nn = F.conv_transpose2d(x, taps, None, 2, 2, 1)[0, 0]  # PyTorch's symmetric padding: one pixel later
        assert torch.equal(torch_nn[:-1, :-1], expected[1:, 1:]) and not torch.equal(torch_nn, expected)


def test_tf_same_convolution_on_a_delta():
    """A 5x5 stride-2 Conv2D(padding='same') on a 4x4 input pads 1 before and 2 after: output m reads
    input 2m - 1 ... 2m + 3, so a delta at input 3 meets tap 4 in output 0 and tap 2 in output 1."""
    from ganforge.models.conv import Conv2dSame

    taps = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5) + 1
    layer = Conv2dSame(1, 1, 5, 2, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(taps)
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 3, 3] = 1.0
    expected = torch.tensor([[taps[0, 0, 4, 4], taps[0, 0, 4, 2]], [taps[0, 0, 2, 4], taps[0, 0, 2, 2]]],
                            dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0, 0], expected, rtol=0, atol=0)
    assert F.conv2d(x, taps, None, 2, 2)[0, 0, 0, 0] == 0  # PyTorch's padding=2 misses the delta there


def _reference_same_transposed(x, w, b, stride):
    """TF's definition: the full transposed convolution, (k - s) // 2 pixels dropped before, stride x n kept."""
    k = w.shape[2]
    full = F.conv_transpose2d(x, w, b, stride)
    lo = (k - stride) // 2
    return full[:, :, lo:lo + stride * x.shape[2], lo:lo + stride * x.shape[3]]


# (C_in, C_out, kernel, stride, size, form): seed 000's G layers in TF's padding, and kernels where k - s is even
SAME_TRANSPOSED = [(6, 1, 5, 2, 7, "phased"), (6, 8, 5, 2, 7, "onednn"), (5, 3, 4, 2, 6, "phased"),
                   (4, 3, 5, 1, 7, "flipped"), (3, 2, 3, 2, 5, "phased"), (3, 6, 3, 2, 5, "onednn")]


@pytest.mark.parametrize("c_in,c_out,k,s,size,form", SAME_TRANSPOSED)
@pytest.mark.parametrize("bias", [False, True])
def test_tf_same_transposed_matches_its_definition(c_in, c_out, k, s, size, form, bias):
    from ganforge.models.conv import ConvTranspose2dSame

    torch.manual_seed(0)
    layer = ConvTranspose2dSame(c_in, c_out, k, s, bias=bias).double()
    x = torch.randn(3, c_in, size, size + 1, dtype=torch.float64, requires_grad=True)
    assert transposed_form(x.shape, layer.weight.shape, layer.stride, layer.padding, layer.output_padding, (1, 1), 1,
                           layer.crop) == form
    y = layer(x)
    y_ref = _reference_same_transposed(x, layer.weight, layer.bias, s)
    assert y.shape == (3, c_out, s * size, s * (size + 1))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    for a, b in zip(_grads(y, [x, *layer.parameters()]), _grads(y_ref, [x, *layer.parameters()])):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


@pytest.mark.parametrize("c_in,c_out,k,s,size,form", [(1, 6, 5, 2, 28, "phased"), (6, 8, 5, 2, 14, "onednn"),
                                                      (2, 3, 5, 2, 7, "onednn"), (2, 4, 3, 1, 6, "onednn")])
@pytest.mark.parametrize("sample_weights", [False, True])
def test_tf_same_convolution_matches_explicit_padding(c_in, c_out, k, s, size, form, sample_weights):
    from ganforge.models.conv import Conv2dSame, per_sample_weight_grads, same_padding

    torch.manual_seed(0)
    layer = Conv2dSame(c_in, c_out, k, s).double()
    x = torch.randn(4, c_in, size, size, dtype=torch.float64, requires_grad=True)
    before, after = same_padding(size, k, s)
    extra = (after - before,) * 2
    assert input_grad_form(x.shape, layer.weight.shape, layer.stride, (before,) * 2, (1, 1), 1, extra) == form
    factors = torch.tensor([1.0, -0.5, 0.0, 2.0], dtype=torch.float64)
    with per_sample_weight_grads() if sample_weights else contextlib.nullcontext() as weights:
        y = layer(x)
    if sample_weights:
        weights.factors = factors
    y_ref = F.conv2d(F.pad(x, (before, after, before, after)), layer.weight, layer.bias, s)
    assert y.shape[2] == -(-size // s)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    upstream = torch.randn(y.shape, dtype=torch.float64)
    gx, gw, gb = torch.autograd.grad(y, [x, layer.weight, layer.bias], upstream)
    (gx_ref,) = torch.autograd.grad(y_ref, [x], upstream, retain_graph=True)
    scaled = upstream * factors.view(-1, 1, 1, 1) if sample_weights else upstream
    gw_ref, gb_ref = torch.autograd.grad(y_ref, [layer.weight, layer.bias], scaled)
    for a, b in ((gx, gx_ref), (gw, gw_ref), (gb, gb_ref)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
