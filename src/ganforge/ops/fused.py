"""Both losses' gradients of a simultaneous update from one generated batch.

``separate_gradients`` is the plain form: two gradient calls, one per loss, over one graph.
``shared_d_backward`` saves the second backward pass through D over the fake batch where that is
exact; ``shared_d_backward_applies`` is the one test of when it is. docs/benchmarks.md measures both.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.base import has_batch_statistics
from ganforge.ops.conv import Conv2d, Linear, per_sample_weight_grads, scale_per_sample


def _trainable(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def separate_gradients(G: nn.Module, D: nn.Module, g_loss: torch.Tensor, d_loss: torch.Tensor) -> None:
    """dL_G/dG into G's ``.grad`` and dL_D/dD into D's, from losses that share one graph."""
    g_params, d_params = _trainable(G), _trainable(D)
    g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
    d_grads = torch.autograd.grad(d_loss, d_params)
    for p, g in zip(g_params + d_params, g_grads + d_grads):
        p.grad = g


def weights_per_sample(module: nn.Module) -> bool:
    """Whether every layer with parameters in ``module`` can weight its weight gradient per sample
    (ganforge's ``Conv2d`` and ``Linear``, without a parametrization such as spectral norm)."""
    return all(isinstance(m, (Conv2d, Linear)) and m.weights_per_sample() and not hasattr(m, "parametrizations")
               for m in module.modules() if any(True for _ in m.parameters(recurse=False)))


def shared_d_backward_applies(D: nn.Module) -> bool:
    """Whether ``shared_d_backward`` is exact for ``D``: no batch statistics, every weight layer able to weight
    its gradient per sample. The caller adds its own conditions (one process, a plain loss on logits)."""
    return not has_batch_statistics(D) and weights_per_sample(D)


def shared_d_backward(G: nn.Module, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, d_loss_fn, g_loss_fn,
                      autocast):
    """Both losses' gradients with one backward pass through D over the fake batch: (d_loss, g_loss).

    ``d_loss_fn(real_logits, fake_logits)`` and ``g_loss_fn(fake_logits)`` are the losses on D's logits.
    D has no batch statistics, so for each fake sample i the backward pass from its logit f_i is
    linear in the gradient arriving there: D's loss sends a_i = dL_D/df_i, G's loss b_i = dL_G/df_i,
    and everything below f_i is the same pass scaled by a_i or b_i. So D back-propagates
    c_i = |a_i| + |b_i| once; its layers take their weight gradients from that pass weighted by
    a_i / c_i (``per_sample_weight_grads``), and the gradient reaching the fake images, weighted by
    b_i / c_i, is G's. ``separate_gradients`` computes the part below f twice; the result is the same
    to rounding (tests/train/test_steps.py).
    """
    with autocast():
        r = D(real)
        with per_sample_weight_grads() as weights:
            f = D(fake)
        d_loss = d_loss_fn(r, f)
        g_loss = g_loss_fn(f)
    a_real, a = torch.autograd.grad(d_loss, [r, f], retain_graph=True)  # through the losses only
    (b,) = torch.autograd.grad(g_loss, [f], retain_graph=True)
    c = a.abs() + b.abs()
    c = torch.where(c > 0, c, torch.ones_like(c))
    weights.factors = a / c
    d_params = _trainable(D)
    *d_grads, fake_grad = torch.autograd.grad([r, f], d_params + [fake], [a_real, c])
    g_params = _trainable(G)
    g_grads = torch.autograd.grad(fake, g_params, scale_per_sample(fake_grad, b / c))
    for p, g in zip(g_params + d_params, list(g_grads) + d_grads):
        p.grad = g
    return d_loss, g_loss
