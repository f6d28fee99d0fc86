"""ganforge.ops.conv: the same sums as torch.nn's convolutions, computed in other forms."""

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops.conv import (Conv2d, ConvTranspose2d, _phase_taps, input_grad_form, phased_conv_transpose2d, reference_forms,
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


@pytest.fixture(autouse=True)
def _rules():
    """These tests check the fixed shape rules' forms; tests/ops/test_forms.py checks every measured form."""
    from ganforge.ops import forms

    before = forms.conv_forms()
    forms.set_conv_forms("rules")
    yield
    forms.set_conv_forms(before)


def _grads(y, inputs, seed=0):
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return torch.autograd.grad(y, inputs, g)


def assert_same_layer(fast: nn.Module, ref: nn.Module, x: torch.Tensor) -> None:
    """ganforge's layer with torch.nn's weights: the same output and gradients (input, weight, bias) in float64.

    Each is a sum of products that the two forms add in other orders; each form's float64 sum of at most K
    terms is within gamma_K = K * 2^-53 / (1 - K * 2^-53) of the sum of the terms' magnitudes of the exact
    value (Higham 3.1), so the two differ by at most 2 gamma_K times that, which the same layer with |weights|
    on |x|, back-propagating |output gradient|, computes element by element (the layers are bilinear). A
    dropped, doubled or misplaced term is ~1e13 times that.
    """
    ref, fast = ref.double(), fast.double()
    fast.load_state_dict(ref.state_dict())
    x = x.requires_grad_(True)
    y_ref, y = ref(x), fast(x)
    up = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    mags = copy.deepcopy(ref)
    with torch.no_grad():
        for p in mags.parameters():
            p.abs_()
    x_mag = x.detach().abs().requires_grad_(True)
    y_mag = mags(x_mag)
    abs_sums = [y_mag, *torch.autograd.grad(y_mag, [x_mag, *mags.parameters()], up.abs())]
    terms = max(x.numel(), y.numel(), ref.weight.numel())  # no sum has more nonzero terms
    gamma = terms * 2.0 ** -53 / (1 - terms * 2.0 ** -53)
    got = [y, *torch.autograd.grad(y, [x, *fast.parameters()], up)]
    want = [y_ref, *torch.autograd.grad(y_ref, [x, *ref.parameters()], up)]
    for name, a, b, mag in zip(["output", "input grad", "weight grad", "bias grad"], got, want, abs_sums):
        assert ((a - b).abs() <= 2 * gamma * mag.detach()).all(), name


# (kernel, padding, stride) whose transposed convolution can output exactly stride x the input:
# output_padding = stride + 2 * padding - kernel must lie in [0, stride)
PHASED = [(k, p, s) for s in (2, 3) for k, p in [(5, 2), (4, 1), (3, 1), (3, 0), (6, 2)] if 0 <= s + 2 * p - k < s]


@pytest.mark.parametrize("kernel,padding,stride", PHASED)
def test_phase_split_is_the_transposed_convolution(kernel, padding, stride):
    output_padding = stride + 2 * padding - kernel  # the output size is exactly stride x the input
    g = torch.Generator().manual_seed(kernel * 10 + stride)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, kernel, kernel, generator=g, dtype=torch.float64)
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


U_BF16, U_FP32 = 2.0 ** -8, 2.0 ** -24  # unit roundoffs of round-to-nearest: 8 and 24 significant bits


def bf16_error_bound(exact: torch.Tensor, abs_sum: torch.Tensor, roundings: int, terms: int) -> torch.Tensor:
    """Largest |error| of a bf16 kernel's sum whose exact value is ``exact`` and sum of |terms| ``abs_sum``.

    Products of bf16 operands are exact in fp32. A CPU kernel accumulates them in fp32 (at most ``terms``
    additions, each a factor 1 + U_FP32) and may round partial sums to bf16 on the way: torch's fallback
    kernels (ATen's im2col/col2im, used where oneDNN has no bf16) round each column to bf16 and add up to
    ceil(k/s)^2 of them in bf16, or add each sample's weight gradient to a bf16 buffer, one sample at a
    time. Each such rounding of a partial sum P errs by at most U_BF16 * |P| <= U_BF16 * abs_sum, so with
    ``roundings`` - 1 of them before the output's own rounding, the unrounded output t has
    |t - exact| <= e := ((1 + U_BF16)^(roundings - 1) (1 + U_FP32)^terms - 1) * abs_sum (Higham, Accuracy
    and Stability of Numerical Algorithms, 2nd ed., section 4.2), and the output fl(t) errs by at most
    U_BF16 * |t| + e <= U_BF16 * |exact| + (1 + U_BF16) * e, whatever the order of the sums.
    """
    e = ((1 + U_BF16) ** (roundings - 1) * (1 + U_FP32) ** terms - 1) * abs_sum
    return U_BF16 * exact.abs() + (1 + U_BF16) * e


def signs(shape, gen, density):
    """-1, 0 or +1 (each nonzero with probability ``density``): sums of such products are small integers."""
    return torch.randint(-1, 2, shape, generator=gen).double() * (torch.rand(shape, generator=gen) < density)


@pytest.mark.parametrize("data", ["random", "integer"])
@pytest.mark.parametrize("layer", ["transposed", "ordinary"])
def test_bf16_autocast_agrees_with_torch_nn(layer, data):
    """Both layers under bf16 autocast against the float64 sums of what autocast hands the kernels
    (the bf16-rounded input and weight), not against each other: two bf16 kernels that sum in different
    orders differ by rounding that scales with the sum of the terms' magnitudes, and which element trips
    an element-wise tolerance depends on the CPU's kernels.

    "random": every output and gradient within ``bf16_error_bound`` of the exact sum (about 9 * 2^-8 of the
    sum of |terms|; measured errors stay under 0.12 of it, with AVX-512 and with AVX2 kernels). It catches
    gross errors: a one-pixel shift (a wrong padding) exceeds it about 20x, a dropped kernel tap about 4x;
    one term of the 576 in a sum is below what bf16 resolves. "integer": operands of -1, 0 and +1 times
    powers of two, sparse enough that every partial sum is an integer multiple of a quantum below 2^8 of
    them, which bf16 and fp32 hold exactly, so any kernel on any CPU, in any order, gives the exact sum:
    both forms must equal it bit for bit, and a single dropped or misplaced term shows.
    """
    torch.manual_seed(0)
    if layer == "transposed":  # seed 000's image layer, (8, 64, 14, 14) -> (8, 1, 28, 28)
        ref, fast = nn.ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False), ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False)
        x_shape, op = (8, 64, 14, 14), lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 2, 1)
    else:  # seed 000's D input layer, (8, 1, 28, 28) -> (8, 64, 14, 14)
        ref, fast = nn.Conv2d(1, 64, 5, 2, 2), Conv2d(1, 64, 5, 2, 2)
        x_shape, op = (8, 1, 28, 28), lambda x, w, b: F.conv2d(x, w, b, 2, 2)
    gen = torch.Generator().manual_seed(1)
    if data == "integer":  # x and the output gradient sparse, so that the weight gradient's 1568-term sums stay small
        x, grad_scale = signs(x_shape, gen, 0.25), 2.0 ** -2
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(signs(p.shape, gen, 2 / 3) * 2.0 ** -4)
    else:
        x, grad_scale = torch.randn(x_shape, generator=gen, dtype=torch.float64), 1.0
    x = x.float().requires_grad_(True)
    fast.load_state_dict(ref.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref, y = ref(x), fast(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    up = (signs(y.shape, gen, 0.25) if data == "integer" else torch.randn(y.shape, generator=gen, dtype=torch.float64))
    up = (up * grad_scale).bfloat16()  # the output gradient of a bf16 output is bf16

    # float64 sums of the bf16-rounded operands, and of their magnitudes (the convolutions are bilinear, so the
    # gradients of sum(|up| * op(|x|, |w|)) are each gradient's sums of |terms|)
    xb, w = x.detach().bfloat16().double(), ref.weight.detach().bfloat16().double()
    b = None if ref.bias is None else ref.bias.detach().bfloat16().double()
    xr, wr = xb.clone().requires_grad_(True), w.clone().requires_grad_(True)
    exact = [op(xr, wr, b), *torch.autograd.grad(op(xr, wr, b), [xr, wr], up.double())]
    xa, wa = xb.abs().requires_grad_(True), w.abs().requires_grad_(True)
    abs_out = op(xa, wa, None if b is None else b.abs())
    abs_sums = [abs_out.detach(), *torch.autograd.grad(abs_out, [xa, wa], up.double().abs())]
    # roundings: ceil(k/s)^2 = 9 bf16 column sums added in col2im, or one bf16 addition per sample (8)
    k, s, batch = 5, 2, x_shape[0]
    roundings = max(-(-k // s) ** 2, batch)
    # fp32 additions in one sum: channels x taps, or samples x 14 x 14 positions (a weight gradient)
    terms = max(ref.weight.shape[0] * k * k, ref.weight.shape[1] * k * k, batch * 14 * 14)
    if data == "integer":
        quanta = [2.0 ** -4, 2.0 ** -6, 2.0 ** -2]  # x*w, up*w, up*x
        assert all((a <= 256 * q).all() for a, q in zip(abs_sums, quanta))  # every partial sum exact in bf16

    for y_form, weight in ((y, fast.weight), (y_ref, ref.weight)):
        grads = torch.autograd.grad(y_form, [x, weight], up)
        assert all(g.dtype == torch.float32 for g in grads)  # flows back to the fp32 input and weight
        for name, got, e, a in zip(("output", "input grad", "weight grad"), (y_form, *grads), exact, abs_sums):
            err = (got.double() - e).abs()
            if data == "integer":
                assert torch.equal(got.double(), e), f"{name}: {int((err > 0).sum())} sums inexact"
            else:
                bound = bf16_error_bound(e, a, roundings, terms)
                assert (err <= bound).all(), f"{name}: error up to {(err / bound).max():.2f} x the bound"


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
    from ganforge.ops.conv import Linear, per_sample_weight_grads

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

@pytest.mark.parametrize("size, kernel, stride, expected", [
    (28, 3, 2, (0, 1)),   # ACGAN's first conv: 14 outputs need 1 pixel of padding, TF puts it after
    (7, 3, 2, (1, 1)),
    (32, 5, 2, (1, 2)),   # the CIFAR-10 DCGAN's first conv
    (8, 5, 1, (2, 2)),
    (8, 3, 2, (0, 1)),
])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    from ganforge.ops.conv import same_padding

    assert same_padding(size, kernel, stride) == expected


def test_tf_same_transposed_convolution_on_a_delta():
    """A 5x5 stride-2 Conv2DTranspose(padding='same') of a delta at input (m, m) puts kernel tap
    (t_h, t_w) at output (2m + t_h - 1, 2m + t_w - 1): TensorFlow drops one pixel of the full output
    before (PyTorch's padding=2 drops two, shifting the image by one pixel)."""
    from ganforge.ops.conv import ConvTranspose2dSame

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
    from ganforge.ops.conv import Conv2dSame

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


def assert_within_rounding(got, want, mags, terms: int) -> None:
    """Float64 sums of at most ``terms`` products in two orders differ by at most 2 gamma_K times the sum of the
    terms' magnitudes (``mags``: the same computation on |operands|), as in ``assert_same_layer``."""
    gamma = terms * 2.0 ** -53 / (1 - terms * 2.0 ** -53)
    for name, a, b, mag in zip(["output", "input grad", "weight grad", "bias grad"], got, want, mags):
        assert ((a - b).abs() <= 2 * gamma * mag.detach()).all(), name


def _magnitudes(fn, x, weight, bias, upstream):
    """``fn`` on |x|, |weight|, |bias| and its gradients for |upstream|: each result's sum of |terms|."""
    xm, wm, bm = (t.detach().abs().requires_grad_(True) for t in (x, weight, bias))
    ym = fn(xm, wm, bm)
    return [ym, *torch.autograd.grad(ym, [xm, wm, bm], upstream.abs())]


@pytest.mark.parametrize("c_in,c_out,k,s,size,form", SAME_TRANSPOSED)
def test_tf_same_transposed_matches_its_definition(c_in, c_out, k, s, size, form):
    from ganforge.ops.conv import ConvTranspose2dSame

    torch.manual_seed(0)
    layer = ConvTranspose2dSame(c_in, c_out, k, s).double()
    x = torch.randn(3, c_in, size, size + 1, dtype=torch.float64, requires_grad=True)
    assert transposed_form(x.shape, layer.weight.shape, layer.stride, layer.padding, layer.output_padding, (1, 1), 1,
                           layer.crop) == form
    y = layer(x)
    y_ref = _reference_same_transposed(x, layer.weight, layer.bias, s)
    assert y.shape == (3, c_out, s * size, s * (size + 1))
    assert y.is_contiguous()  # the cut is copied out: batch norm after a strided view takes a slow path
    up = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    params = [x, layer.weight, layer.bias]
    got = [y, *torch.autograd.grad(y, params, up)]
    want = [y_ref, *torch.autograd.grad(y_ref, params, up)]
    mags = _magnitudes(lambda a, w, b: _reference_same_transposed(a, w, b, s), *params, up)
    assert_within_rounding(got, want, mags, terms=max(x.numel(), y.numel(), layer.weight.numel()))


@pytest.mark.parametrize("c_in,c_out,k,s,size,form", [(1, 6, 5, 2, 28, "phased"), (6, 8, 5, 2, 14, "onednn"),
                                                      (2, 3, 5, 2, 7, "onednn"), (2, 4, 3, 1, 6, "onednn")])
@pytest.mark.parametrize("sample_weights", [False, True])
def test_tf_same_convolution_matches_explicit_padding(c_in, c_out, k, s, size, form, sample_weights):
    from ganforge.ops.conv import Conv2dSame, per_sample_weight_grads, same_padding

    torch.manual_seed(0)
    layer = Conv2dSame(c_in, c_out, k, s).double()
    x = torch.randn(4, c_in, size, size, dtype=torch.float64, requires_grad=True)
    before, after = same_padding(size, k, s)
    extra = (after - before,) * 2
    assert input_grad_form(x.shape, layer.weight.shape, layer.stride, (before,) * 2, (1, 1), 1, extra) == form
    factors = torch.tensor([1.0, -0.5, 0.0, 2.0], dtype=torch.float64) if sample_weights else torch.ones(4).double()
    with per_sample_weight_grads() if sample_weights else contextlib.nullcontext() as weights:
        y = layer(x)
    if sample_weights:
        weights.factors = factors
    reference = lambda a, w, b: F.conv2d(F.pad(a, (before, after, before, after)), w, b, s)  # noqa: E731
    y_ref = reference(x, layer.weight, layer.bias)
    assert y.shape[2] == -(-size // s)
    up = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    gx, gw, gb = torch.autograd.grad(y, [x, layer.weight, layer.bias], up)
    (gx_ref,) = torch.autograd.grad(y_ref, [x], up, retain_graph=True)
    scaled = up * factors.view(-1, 1, 1, 1)  # weight and bias gradients weighted per sample, the input's not
    gw_ref, gb_ref = torch.autograd.grad(y_ref, [layer.weight, layer.bias], scaled)
    mags = _magnitudes(reference, x, layer.weight, layer.bias, up)
    mags[2:] = _magnitudes(reference, x, layer.weight, layer.bias, scaled)[2:]
    assert_within_rounding([y, gx, gw, gb], [y_ref, gx_ref, gw_ref, gb_ref], mags,
                           terms=max(x.numel(), y.numel(), layer.weight.numel()))


def test_tf_same_transposed_cut_keeps_channels_last():
    """The cut output is dense in the layer's memory format: NHWC in, NHWC out, the same values as NCHW."""
    from ganforge.ops.conv import ConvTranspose2dSame

    torch.manual_seed(0)
    layer = ConvTranspose2dSame(6, 4, 5, 2).double()
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64)
    y = layer(x)
    y_nhwc = layer(x.contiguous(memory_format=torch.channels_last))
    assert layer.crop and y.is_contiguous() and y_nhwc.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y_nhwc, y, rtol=0, atol=1e-12)
