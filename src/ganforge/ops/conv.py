"""Convolutions that compute the same sums by the fastest of their equivalent forms on the CPU.

A convolution has three computations (the output, the input gradient, the weight gradient)
and each can be written as a convolution of another kind: the forward pass of a transposed
convolution is the input gradient of an ordinary one, and so on. oneDNN's kernels for these
forms differ widely in speed on the CPU, for the same sums; two forms are used here:

- "flipped": a stride-1 transposed convolution is computed as an ordinary convolution with the
  kernel flipped and its in/out axes swapped;
- "phased": a stride-2 transposed convolution with few output channels (an image layer: 64 -> 1),
  which oneDNN runs far below the machine's speed, is split into its stride x stride output
  phases: one stride-1 convolution with stride**2 * C_out channels followed by a pixel shuffle.
  The input gradient of a stride-2 convolution with few input channels (D's first layer) is the
  same transposed convolution and gets the same treatment.

Which form each computation takes: by default the fastest, measured on this machine once per
shape and kept on disk (``conv_plan``, ``transposed_plan`` and ops/forms.py; the candidates are the
``*_forms`` functions below, which add two more forms: "gemm", a matrix product over unfolded
patches, for image layers, and "conv", the input gradient of a transposed convolution as the
ordinary convolution it is); with ``train.conv_forms=rules``, the fixed shape rules ``transposed_form`` and
``input_grad_form``, the same on every machine.

What each form gains, layer by layer, and where it was measured: docs/benchmarks.md, "What each
change bought" and "Forms chosen by measurement".

``Conv2d`` and ``ConvTranspose2d`` here are ``torch.nn``'s, with the same parameters and
state-dict keys; on the CPU, where a faster form applies, their forward goes through an
autograd function that routes each of the three computations to it, and everywhere else
(CUDA, ``torch.compile``, other padding modes, layers oneDNN already does best) they are
exactly ``torch.nn``'s. Results agree with ``torch.nn`` to rounding (tests/ops/test_conv.py,
in float64).

``Conv2dSame`` and ``ConvTranspose2dSame`` are TensorFlow's ``padding='same'``: where the padding
is odd, TensorFlow puts the extra pixel after (right, bottom), which PyTorch's symmetric padding
cannot express; they keep the same fast forms.

``Conv2d`` and ``Linear`` can also weight their weight gradients per sample while passing the
input gradient on unweighted (``per_sample_weight_grads``): what lets the simultaneous step
get D's and G's gradients from one backward pass through D (train/steps.py).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops import forms as _forms

aten = torch.ops.aten  # an attribute: `from torch.ops import aten` fails on torch 2.4

SMALL_CHANNELS = 4  # image layers (1 or 3 channels) and anything as thin
_REFERENCE = ContextVar("ganforge_reference_forms", default=False)


class SampleWeights:
    """Per-sample factors for the weight gradients of the layers run inside ``per_sample_weight_grads``.

    Set ``factors`` (shape (B,)) after the forward pass and before the backward one: each layer's
    weight and bias gradients then come from its output gradient multiplied by ``factors[i]`` for
    sample ``i``, while the gradient it passes on to its input stays unscaled.
    """

    def __init__(self):
        self.factors: torch.Tensor | None = None

    def scale(self, grad: torch.Tensor) -> torch.Tensor:
        return grad if self.factors is None else scale_per_sample(grad, self.factors)


def scale_per_sample(t: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``t[i] * factors[i]`` for each sample i of a batch (any trailing shape), in ``t``'s dtype."""
    return t * factors.to(t.dtype).view(-1, *[1] * (t.dim() - 1))


_SAMPLE_WEIGHTS: ContextVar[SampleWeights | None] = ContextVar("ganforge_sample_weights", default=None)


@contextlib.contextmanager
def per_sample_weight_grads():
    """Forward passes of ganforge's ``Conv2d`` and ``Linear`` inside the block weight their weight
    gradients per sample by the ``SampleWeights`` yielded (the simultaneous step uses this to get D's
    and G's gradients from one backward pass through D: train/steps.py)."""
    weights = SampleWeights()
    token = _SAMPLE_WEIGHTS.set(weights)
    try:
        yield weights
    finally:
        _SAMPLE_WEIGHTS.reset(token)


@contextlib.contextmanager
def reference_forms():
    """torch.nn's own forms inside the block: what ``ganforge bench`` counts FLOPs with, so that
    GFLOP/s is the model's arithmetic, not that of the forms chosen here (the phases add zero taps)."""
    token = _REFERENCE.set(True)
    try:
        yield
    finally:
        _REFERENCE.reset(token)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's padding='same' for one axis of a ``size`` input: (before, after); the odd pixel goes after."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _phase_taps(kernel: int, stride: int, padding: int) -> tuple[list[list[int]], int, int]:
    """Split a stride-``stride`` transposed convolution along one axis into its output phases.

    Output ``stride*m + r`` of the transposed convolution is ``sum_j x[m - j] * w[stride*j + r + padding]``
    over the ``j`` that index the kernel. Written as a correlation ``sum_t xpad[m + t] * k_r[t]`` with
    ``j = hi - t``, phase ``r`` uses kernel tap ``taps[r][t]`` (-1: a zero tap), and ``x`` is padded with
    ``hi`` zeros before and ``-lo`` after.
    """
    lo = min(-((r + padding) // stride) for r in range(stride))           # smallest j, ceil(-(r+p)/s)
    hi = max((kernel - 1 - r - padding) // stride for r in range(stride))  # largest j
    taps = [[k if 0 <= (k := stride * (hi - t) + r + padding) < kernel else -1 for t in range(hi - lo + 1)]
            for r in range(stride)]
    return taps, hi, -lo


def phased_conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, stride=stride, padding=padding, output_padding=...)`` whose output is
    exactly ``stride`` times the input's size, as one stride-1 convolution and a pixel shuffle.

    ``weight`` is (C_in, C_out, k, k). (B, C_in, H, W) -> (B, s*s*C_out, H, W) -> (B, C_out, s*H, s*W).
    """
    c_in, c_out, k, _ = weight.shape
    s = stride
    taps, before, after = _phase_taps(k, s, padding)
    t = len(taps[0])
    # index into the flattened kernel, one row of taps per (phase_h, phase_w); k*k is the zero tap
    index = torch.tensor([[(th * k + tw) if th >= 0 and tw >= 0 else k * k for th in taps[rh] for tw in taps[rw]]
                          for rh in range(s) for rw in range(s)], device=weight.device)   # (s*s, t*t)
    flat = torch.cat([weight.flatten(2), weight.new_zeros(c_in, c_out, 1)], 2)         # (C_in, C_out, k*k + 1)
    kernel = flat[:, :, index]                                                         # (C_in, C_out, s*s, t*t)
    kernel = kernel.permute(1, 2, 0, 3).reshape(c_out * s * s, c_in, t, t)             # channel c*s*s + rh*s + rw
    if before == after:
        z = F.conv2d(x, kernel, None, 1, before)
    else:
        z = F.conv2d(F.pad(x, (before, after, before, after)), kernel)
    return F.pixel_shuffle(z, s)


def _phases_fit(in_size, out_size, weight_shape, stride, padding, dilation, groups) -> bool:
    """Whether a transposed convolution (in_size -> out_size) is one ``phased_conv_transpose2d``."""
    s = stride[0]
    return (groups == 1 and tuple(dilation) == (1, 1) and s > 1 and tuple(stride) == (s, s)
            and padding[0] == padding[1] and weight_shape[2] == weight_shape[3]
            and tuple(out_size) == (s * in_size[0], s * in_size[1]))


def transposed_form(x_shape, weight_shape, stride, padding, output_padding, dilation, groups, crop=False) -> str:
    """How ``ConvTranspose2d`` computes its output on the CPU: "flipped", "phased" or "onednn".

    ``crop``: the output is cut to stride x the input (``ConvTranspose2dSame``).
    """
    kernel = weight_shape[2:]
    if crop:
        out = [n * s for n, s in zip(x_shape[2:], stride)]
        fits = _phases_fit(x_shape[2:], out, weight_shape, stride, padding, dilation, groups)
        return "phased" if weight_shape[1] <= SMALL_CHANNELS and fits else "onednn"
    if (tuple(stride) == (1, 1) and tuple(output_padding) == (0, 0) and groups == 1 and tuple(dilation) == (1, 1)
            and all(p <= k - 1 <= n - 1 for p, k, n in zip(padding, kernel, x_shape[2:]))):
        return "flipped"  # not for inputs smaller than the kernel (a 1x1 latent): slower there
    out = [(n - 1) * s - 2 * p + k + op for n, s, p, k, op in zip(x_shape[2:], stride, padding, kernel, output_padding)]
    if weight_shape[1] <= SMALL_CHANNELS and _phases_fit(x_shape[2:], out, weight_shape, stride, padding, dilation, groups):
        return "phased"
    return "onednn"


def input_grad_form(x_shape, weight_shape, stride, padding, dilation, groups, extra=(0, 0)) -> str:
    """How ``Conv2d`` computes its input gradient on the CPU: "phased" or "onednn".

    ``extra``: zeros padded after (bottom, right) beyond ``padding`` (``Conv2dSame``).
    """
    out = [(n + e + 2 * p - k) // s + 1 for n, e, p, k, s in zip(x_shape[2:], extra, padding, weight_shape[2:], stride)]
    if weight_shape[1] <= SMALL_CHANNELS and _phases_fit(out, x_shape[2:], weight_shape, stride, padding, dilation, groups):
        return "phased"
    return "onednn"


def gemm_conv2d(x: torch.Tensor, weight: torch.Tensor, stride, padding) -> torch.Tensor:
    """``F.conv2d`` (no groups, no dilation) as one matrix product over the input's unfolded patches.

    (B, C, H, W) -> patches (B, C*k*k, L) -> (O, C*k*k) @ patches -> (B, O, H', W'). A batched product
    (``bmm``), not ``matmul``, whose way of folding the batch depends on autograd's state and with it the
    rounding: this form gives the same bits with and without gradients.
    """
    (kh, kw), b, o = weight.shape[2:], x.shape[0], weight.shape[0]
    out = [(n + 2 * p - k) // s + 1 for n, p, k, s in zip(x.shape[2:], padding, (kh, kw), stride)]
    patches = F.unfold(x, (kh, kw), padding=tuple(padding), stride=tuple(stride))
    return torch.bmm(weight.reshape(1, o, -1).expand(b, -1, -1), patches).view(b, o, *out)


def gemm_weight_grad(x: torch.Tensor, grad: torch.Tensor, weight_shape, stride, padding) -> torch.Tensor:
    """The weight gradient of ``F.conv2d(x, w, stride=stride, padding=padding)`` (no groups, no dilation) for
    the output gradient ``grad``, as one matrix product: (O, B*L) @ (B*L, C*k*k) -> (O, C, k, k)."""
    o, kernel = weight_shape[0], tuple(weight_shape[2:])
    patches = F.unfold(x, kernel, padding=tuple(padding), stride=tuple(stride))    # (B, C*k*k, L)
    g = grad.reshape(grad.shape[0], o, -1).transpose(0, 1).reshape(o, -1)         # (O, B*L)
    return (g @ patches.transpose(1, 2).reshape(-1, patches.shape[1])).view(weight_shape)


def _with_bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def _key(what: str, x: torch.Tensor, weight: torch.Tensor, *args) -> str:
    """A computation's key in the measured choices: what, shapes, arguments, dtype, memory format."""
    layout = "nhwc" if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last) else "nchw"
    shapes = "x".join(map(str, x.shape)) + " w" + "x".join(map(str, weight.shape))
    return f"{what} {shapes} {' '.join(str(tuple(a) if isinstance(a, (list, tuple)) else a) for a in args)} " \
           f"{str(x.dtype).removeprefix('torch.')} {layout}"


ONEDNN = ("onednn", "onednn", "onednn")


def _chosen(key: str, candidates: dict) -> str:
    return _forms.choose(key, candidates)[0]


_PLANS: dict[tuple, tuple[str, str, str]] = {}  # this process's plans: looked up on every call, measured once


def _plan_key(kind: str, x: torch.Tensor, weight: torch.Tensor, args: tuple, train: bool) -> tuple:
    """What a plan depends on; ``x`` and ``weight`` as the layer receives them (autocast's dtype counts)."""
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    return (kind, tuple(x.shape), tuple(weight.shape), dtype, x.is_contiguous(), args, train, _forms.machine_id())


def _layer_plan(kind: str, layer: nn.Module, x: torch.Tensor, args: tuple, measure) -> tuple[str, str, str]:
    """The layer's plan on ``x``: looked up, or ``measure(train, x, weight, bias)`` on autocast's operands."""
    train = torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad)
    key = (*_plan_key(kind, x, layer.weight, args, train), _forms.agreeing())  # agreed plans: all ranks miss alike
    plan = _PLANS.get(key)
    if plan is None:
        def decide():
            with torch.no_grad():
                return measure(train, *_autocast_operands(x, layer.weight, layer.bias))

        plan = _PLANS[key] = _forms.agree(decide)
    return plan


def _noise(shape, dtype) -> torch.Tensor:
    """An output gradient to time the backward forms on, from a generator of its own: measuring never moves
    the global random state that training draws from (a measured run and a resumed one stay identical)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def conv_plan(x, weight, bias, stride, padding, dilation, groups, size, train: bool) -> tuple[str, str, str]:
    """The measured forms (output, input gradient, weight gradient) of ``Conv2d`` on ``x`` (with any extra
    padding after already added; ``size``: the input's size without it). Without ``train`` only the output's."""
    args = (tuple(stride), tuple(padding), tuple(dilation), groups)
    out = _forms.choose(_key("conv.forward", x, weight, *args), conv_forward_forms(x, weight, bias, *args))
    if not train:
        return out[0], "onednn", "onednn"
    size_out = [(n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, p, d, k, s in zip(x.shape[2:], padding, dilation, weight.shape[2:], stride)]
    grad = _noise((x.shape[0], weight.shape[0], *size_out), x.dtype)  # of the output
    return (out[0], _chosen(_key("conv.input", grad, weight, *args, tuple(size)),
                            conv_input_grad_forms(grad, x, weight, size, *args)),
            _chosen(_key("conv.weight", grad, weight, *args), conv_weight_grad_forms(grad, x, weight, *args)))


def transposed_plan(x, weight, bias, stride, padding, output_padding, dilation, groups, crop,
                    train: bool) -> tuple[str, str, str]:
    """The measured forms (output, input gradient, weight gradient) of ``ConvTranspose2d`` on ``x``."""
    args = (tuple(stride), tuple(padding), tuple(output_padding), tuple(dilation), groups)
    out = _forms.choose(_key("transposed.forward", x, weight, *args, crop),
                        transposed_forward_forms(x, weight, bias, *args, crop))
    if not train:
        return out[0], "onednn", "onednn"
    full = [(n - 1) * s - 2 * p + k + op for n, s, p, k, op in zip(x.shape[2:], stride, padding, weight.shape[2:],
                                                                     output_padding)]
    grad = _noise((x.shape[0], weight.shape[1] * groups, *full), x.dtype)  # of the uncropped output
    return (out[0], _chosen(_key("transposed.input", grad, weight, *args),
                            transposed_input_grad_forms(grad, x, weight, *args)),
            _chosen(_key("transposed.weight", grad, weight, *args),
                    transposed_weight_grad_forms(grad, x, weight, *args)))


def conv_forward_forms(x, weight, bias, stride, padding, dilation, groups) -> dict:
    """The equivalent forms of ``Conv2d``'s output (``x`` already carries any extra padding after)."""
    forms = {"onednn": lambda: aten.convolution(x, weight, bias, stride, padding, dilation, False, [0, 0], groups)}
    if _gemm_fits(weight, groups, dilation):
        forms["gemm"] = lambda: _with_bias(gemm_conv2d(x, weight, stride, padding), bias)
    return forms


def _gemm_fits(weight, groups, dilation) -> bool:
    """Whether "gemm" is a candidate: image layers only (few channels on one side), where it can win; on
    wide layers the unfolded patches are large and slow, and timing them would cost seconds for nothing."""
    return groups == 1 and tuple(dilation) == (1, 1) and min(weight.shape[0], weight.shape[1]) <= SMALL_CHANNELS


def conv_input_grad_forms(grad, x, weight, size, stride, padding, dilation, groups) -> dict:
    """The forms of ``Conv2d``'s input gradient; ``size``: the input's size before any extra padding (the
    caller cuts the result to it)."""
    forms = {"onednn": lambda: aten.convolution_backward(grad, x, weight, None, stride, padding, dilation, False,
                                                         [0, 0], groups, [True, False, False])[0]}
    if _phases_fit(grad.shape[2:], size, weight.shape, stride, padding, dilation, groups):
        forms["phased"] = lambda: phased_conv_transpose2d(grad, weight, stride[0], padding[0])
    return forms


def conv_weight_grad_forms(grad, x, weight, stride, padding, dilation, groups) -> dict:
    """The forms of ``Conv2d``'s weight gradient."""
    forms = {"onednn": lambda: aten.convolution_backward(grad, x, weight, None, stride, padding, dilation, False,
                                                         [0, 0], groups, [False, True, False])[1]}
    if _gemm_fits(weight, groups, dilation):
        forms["gemm"] = lambda: gemm_weight_grad(x, grad, weight.shape, stride, padding)
    return forms


def transposed_forward_forms(x, weight, bias, stride, padding, output_padding, dilation, groups, crop) -> dict:
    """The forms of ``ConvTranspose2d``'s output (before a ``crop`` to stride x the input)."""
    forms = {"onednn": lambda: aten.convolution(x, weight, bias, stride, padding, dilation, True, output_padding,
                                                groups)}
    kernel = weight.shape[2:]
    if (tuple(stride) == (1, 1) and tuple(output_padding) == (0, 0) and groups == 1 and tuple(dilation) == (1, 1)
            and all(p <= k - 1 for p, k in zip(padding, kernel))):
        flipped_padding = [k - 1 - p for p, k in zip(padding, kernel)]
        forms["flipped"] = lambda: F.conv2d(x, weight.flip(2, 3).transpose(0, 1), bias, 1, flipped_padding)
    out = [n * s for n, s in zip(x.shape[2:], stride)] if crop else \
        [(n - 1) * s - 2 * p + k + op for n, s, p, k, op in zip(x.shape[2:], stride, padding, kernel, output_padding)]
    if _phases_fit(x.shape[2:], out, weight.shape, stride, padding, dilation, groups):
        forms["phased"] = lambda: _with_bias(phased_conv_transpose2d(x, weight, stride[0], padding[0]), bias)
    return forms


def transposed_input_grad_forms(grad, x, weight, stride, padding, output_padding, dilation, groups) -> dict:
    """The forms of ``ConvTranspose2d``'s input gradient (``grad`` of the uncropped output)."""
    return {"onednn": lambda: aten.convolution_backward(grad, x, weight, None, stride, padding, dilation, True,
                                                        output_padding, groups, [True, False, False])[0],
            "conv": lambda: F.conv2d(grad, weight, None, stride, padding, dilation, groups)}


def transposed_weight_grad_forms(grad, x, weight, stride, padding, output_padding, dilation, groups) -> dict:
    """The forms of ``ConvTranspose2d``'s weight gradient: that of the ordinary convolution of the output
    gradient it is the transpose of, whose output gradient is ``x``."""
    forms = {"onednn": lambda: aten.convolution_backward(grad, x, weight, None, stride, padding, dilation, True,
                                                         output_padding, groups, [False, True, False])[1]}
    if _gemm_fits(weight, groups, dilation):
        forms["gemm"] = lambda: gemm_weight_grad(grad, x, weight.shape, stride, padding)
    return forms


def _wanted(ctx) -> list[bool]:
    """Which of (input, weight, bias) this backward call needs a gradient for.

    ``ctx.needs_input_grad`` says which inputs require a gradient at all; a call of
    ``torch.autograd.grad`` asks for some of them only (G's loss wants D's input gradient and
    no weight gradient, D's loss the reverse), which torch's own convolution nodes honour by
    asking the engine. So does this, wherever the engine can answer (not for leaf tensors
    inside ``autograd.grad``, where everything required is computed).
    """
    wanted = []
    for need, (node, _) in zip(ctx.needs_input_grad[:3], ctx.next_functions[:3]):
        if need and node is not None:
            try:
                need = torch._C._will_engine_execute_node(node)
            except (RuntimeError, AttributeError):  # a leaf inside autograd.grad; a torch without the call
                pass
        wanted.append(bool(need))
    return wanted


def crop_output(y: torch.Tensor, x: torch.Tensor, stride) -> torch.Tensor:
    """``ConvTranspose2dSame``'s cut of the full output, (B, C, s*H + 1, s*W + 1) -> (B, C, s*H, s*W), as a
    dense tensor in the full output's memory format. The view alone would leave every later layer a strided
    input: batch norm's CPU kernels take a slow path on one (forward and backward of seed 000's 64-channel
    14x14 batch norm in bf16: 28 ms on the view, 4.5 ms with this copy; docs/benchmarks.md)."""
    cut = y[:, :, :x.shape[-2] * stride[0], :x.shape[-1] * stride[1]]
    channels_last = y.dim() == 4 and not y.is_contiguous() and y.is_contiguous(memory_format=torch.channels_last)
    return cut.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class _ConvTranspose(torch.autograd.Function):
    """A transposed convolution whose forward pass is one of ``transposed_forward_forms``; its gradients oneDNN's,
    or a measured plan's forms."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups, form, crop=False):
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding, output_padding, dilation, groups, bias is not None, crop, form)
        name = form[0] if isinstance(form, tuple) else form  # a measured plan (ops/forms.py), or the rules' form
        y = transposed_forward_forms(x, weight, bias, stride, padding, output_padding, dilation, groups, crop)[name]()
        return crop_output(y, x, stride) if crop else y

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, output_padding, dilation, groups, has_bias, crop, form = ctx.args
        need = _wanted(ctx)
        if crop:  # the rows and columns cut off after the output had no effect: zero gradient
            full = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, padding, weight.shape[2:])]
            grad = F.pad(grad, (0, full[1] - grad.shape[3], 0, full[0] - grad.shape[2]))
        if isinstance(form, tuple) and form[1:] != ("onednn", "onednn"):  # a measured plan, not all oneDNN's
            conv = (stride, padding, output_padding, dilation, groups)
            gx = gw = gb = None
            if need[0]:
                gx = transposed_input_grad_forms(grad, x, weight, *conv)[form[1]]()
            if need[1]:
                gw = transposed_weight_grad_forms(grad, x, weight, *conv)[form[2]]()
            if has_bias and need[2]:
                gb = grad.sum((0, 2, 3))
            return gx, gw, gb, None, None, None, None, None, None, None
        gx, gw, gb = aten.convolution_backward(
            grad, x, weight, [weight.shape[1] * groups] if has_bias else None, stride, padding, dilation, True,
            output_padding, groups, [need[0], need[1], has_bias and need[2]])
        return gx, gw, gb, None, None, None, None, None, None, None


class _Conv(torch.autograd.Function):
    """A convolution whose input gradient may be computed by phases and whose weight gradient may be
    weighted per sample; the forward pass is oneDNN's."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, form, weights, extra=(0, 0)):
        size = x.shape[2:]
        if any(extra):  # TensorFlow's odd padding pixel after: (B, C, H, W) -> (B, C, H + e0, W + e1)
            x = F.pad(x, (0, extra[1], 0, extra[0]))
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding, dilation, groups, bias is not None, form, weights, size)
        if isinstance(form, tuple):  # a measured plan (ops/forms.py)
            return conv_forward_forms(x, weight, bias, stride, padding, dilation, groups)[form[0]]()
        return aten.convolution(x, weight, bias, stride, padding, dilation, False, [0, 0], groups)

    @staticmethod
    def backward(ctx, grad):
        gx, gw, gb = _Conv._grads(ctx, grad)
        size = ctx.args[-1]
        if gx is not None and tuple(gx.shape[2:]) != tuple(size):
            gx = gx[:, :, :size[0], :size[1]]  # the gradient of the padded input, cut to the input
        return gx, gw, gb, None, None, None, None, None, None, None

    @staticmethod
    def _grads(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias, form, weights, size = ctx.args
        need = _wanted(ctx)
        conv = (stride, padding, dilation, False, [0, 0], groups)
        bias_sizes = [weight.shape[0]] if has_bias else None
        gx = gw = gb = None
        if isinstance(form, tuple):  # a measured plan (ops/forms.py)
            if form[1:] == ("onednn", "onednn"):
                form = "onednn"  # both gradients from oneDNN, in one call as below
            else:
                args = (stride, padding, dilation, groups)
                if need[0]:
                    gx = conv_input_grad_forms(grad, x, weight, size, *args)[form[1]]()
                wgrad = grad if weights is None else weights.scale(grad)
                if need[1]:
                    gw = conv_weight_grad_forms(wgrad, x, weight, *args)[form[2]]()
                if has_bias and need[2]:
                    gb = wgrad.sum((0, 2, 3))
                return gx, gw, gb
        if form == "phased" and need[0]:  # the input gradient is a transposed convolution of the output gradient
            gx = phased_conv_transpose2d(grad, weight, stride[0], padding[0])
        elif weights is None:  # oneDNN's own, with the weight gradient in the same call
            return aten.convolution_backward(grad, x, weight, bias_sizes, *conv, [need[0], need[1], has_bias and need[2]])
        elif need[0]:
            gx = aten.convolution_backward(grad, x, weight, None, *conv, [True, False, False])[0]
        if need[1] or (has_bias and need[2]):
            wgrad = grad if weights is None else weights.scale(grad)
            _, gw, gb = aten.convolution_backward(wgrad, x, weight, bias_sizes, *conv,
                                                  [False, need[1], has_bias and need[2]])
        return gx, gw, gb


class _Linear(torch.autograd.Function):
    """A dense layer whose weight gradient is weighted per sample (``per_sample_weight_grads``)."""

    @staticmethod
    def forward(ctx, x, weight, bias, weights):
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.weights = bias is not None, weights
        return F.linear(x, weight, bias)                                  # (B, in) -> (B, out)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need = _wanted(ctx)
        gx = grad @ weight if need[0] else None
        wgrad = ctx.weights.scale(grad)
        gw = wgrad.t() @ x if need[1] else None
        gb = wgrad.sum(0) if ctx.has_bias and need[2] else None
        return gx, gw, gb, None


def _fast_path(module: nn.Module, x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dim() == 4 and module.padding_mode == "zeros"
            and not torch.compiler.is_compiling() and not _REFERENCE.get())


def _autocast_operands(x, weight, bias):
    """What autocast would hand the layer: lower precision inside an autocast region of x's device.

    The parameters always arrive as non-leaf tensors (a cast or a view), so that ``_wanted``
    can ask the engine about them.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)
    return x, weight.view_as(weight), None if bias is None else bias.view_as(bias)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same results) with a faster input gradient on the CPU; see the module doc."""

    def weights_per_sample(self) -> bool:
        """Whether ``per_sample_weight_grads`` applies to this layer (zero padding given as numbers)."""
        return self.padding_mode == "zeros" and not isinstance(self.padding, str)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._convolve(x, self.padding)

    def _plan(self, x, padding, extra) -> tuple[str, str, str]:
        """The measured forms of this layer on ``x`` (ops/forms.py)."""
        def measure(train, xe, w, b):
            if any(extra):
                xe = F.pad(xe, (0, extra[1], 0, extra[0]))
            return conv_plan(xe, w, b, self.stride, padding, self.dilation, self.groups, x.shape[2:], train)

        return _layer_plan("conv", self, x, (tuple(padding), tuple(extra)), measure)

    def _convolve(self, x: torch.Tensor, padding, extra=(0, 0)) -> torch.Tensor:
        """The convolution with ``padding`` zeros on each side and ``extra`` more after (bottom, right)."""
        weights = _SAMPLE_WEIGHTS.get()
        if weights is not None and (x.dim() != 4 or not self.weights_per_sample()):
            raise RuntimeError("per-sample weight gradients need a batched input and numeric zero padding")
        form = "onednn"
        if _fast_path(self, x) and not isinstance(padding, str):
            if _forms.conv_forms() == "measure":
                form = self._plan(x, padding, extra)
            else:
                form = input_grad_form(x.shape, self.weight.shape, self.stride, padding, self.dilation, self.groups,
                                       extra)
        if weights is None and (form in ("onednn", ONEDNN) or (form == "phased" and not x.requires_grad)):
            if padding is self.padding:
                return super().forward(x)
            if any(extra):
                x = F.pad(x, (0, extra[1], 0, extra[0]))
            return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        x, w, b = _autocast_operands(x, self.weight, self.bias)
        with torch.autocast(x.device.type, enabled=False):
            return _Conv.apply(x, w, b, self.stride, padding, self.dilation, self.groups, form, weights, tuple(extra))


class Conv2dSame(Conv2d):
    """TensorFlow's ``Conv2D(padding='same')``: output ceil(input / stride), the odd padding pixel after.

    The padding depends on the input's size, as in TensorFlow; a 28x28 input to a 5x5 stride-2
    layer gets 1 zero before and 2 after, where ``Conv2d(padding=2)`` would start each window one
    pixel earlier. The parameters and state-dict keys are ``nn.Conv2d``'s.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (bh, ah), (bw, aw) = same_padding(x.shape[-2], kh, sh), same_padding(x.shape[-1], kw, sw)
        if bh != bw or ah - bh != aw - bw:
            raise RuntimeError(f"Conv2dSame pads both axes alike; got a {x.shape[-2]}x{x.shape[-1]} input")
        return self._convolve(x, (bh, bw), (ah - bh, aw - bw))

    def extra_repr(self) -> str:
        return super().extra_repr() + ", padding=same (TensorFlow)"


class Linear(nn.Linear):
    """``nn.Linear``, whose weight gradient can be weighted per sample (``per_sample_weight_grads``)."""

    def weights_per_sample(self) -> bool:
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = _SAMPLE_WEIGHTS.get()
        if weights is None:
            return super().forward(x)
        if x.dim() != 2:
            raise RuntimeError("per-sample weight gradients need a (batch, features) input")
        x, w, b = _autocast_operands(x, self.weight, self.bias)
        with torch.autocast(x.device.type, enabled=False):
            return _Linear.apply(x, w, b, weights)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same results) with a faster forward pass on the CPU; see the module doc."""

    crop = False  # ConvTranspose2dSame: cut the output to stride x the input

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        form = "onednn"
        if _fast_path(self, x) and output_size is None:
            if _forms.conv_forms() == "measure":
                form = _layer_plan("transposed", self, x, (), lambda train, xe, w, b: transposed_plan(
                    xe, w, b, self.stride, self.padding, self.output_padding, self.dilation, self.groups, self.crop,
                    train))
            else:
                form = transposed_form(x.shape, self.weight.shape, self.stride, self.padding, self.output_padding,
                                       self.dilation, self.groups, self.crop)
        if form in ("onednn", ONEDNN):
            y = super().forward(x, output_size)
            return crop_output(y, x, self.stride) if self.crop else y
        x, w, b = _autocast_operands(x, self.weight, self.bias)
        with torch.autocast(x.device.type, enabled=False):
            return _ConvTranspose.apply(x, w, b, self.stride, self.padding, self.output_padding, self.dilation,
                                        self.groups, form, self.crop)


class ConvTranspose2dSame(ConvTranspose2d):
    """TensorFlow's ``Conv2DTranspose(padding='same')``: output exactly stride x the input.

    It is the transpose of ``Conv2dSame`` on the output's size: of the full transposed convolution
    (length (n - 1) * s + k) TensorFlow drops (k - s) // 2 pixels before and the rest after. PyTorch
    drops the same number on both sides, so where k - s is odd (5x5, stride 2)
    ``ConvTranspose2d(5, 2, padding=2, output_padding=1)`` is this layer shifted by one pixel. Here:
    ``padding=(k - s) // 2`` and the one extra pixel after cut off.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True):
        if kernel_size < stride:
            raise ValueError(f"'same' padding needs kernel_size >= stride, got {kernel_size} < {stride}")
        super().__init__(in_channels, out_channels, kernel_size, stride, (kernel_size - stride) // 2, bias=bias)
        self.crop = (kernel_size - stride) % 2 == 1

    def extra_repr(self) -> str:
        return super().extra_repr() + ", padding=same (TensorFlow)"
