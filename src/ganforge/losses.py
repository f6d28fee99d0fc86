"""GAN objectives as pure functions on discriminator logits.

Each objective is a pair ``d_loss(real_logits, fake_logits)`` and
``g_loss(fake_logits)``, both returning a scalar to minimise. Logits are raw
discriminator outputs; sigmoids never appear explicitly, which keeps the
maths stable: ``softplus(-x) = -log(sigmoid(x))`` and
``softplus(x) = -log(1 - sigmoid(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[..., Tensor]   # (real_logits, fake_logits, label_smoothing=0.0) -> scalar
    g_loss: Callable[[Tensor], Tensor]
    critic: bool = False            # unbounded critic (Wasserstein family): no sigmoid reading of D


OBJECTIVES: Registry[Objective] = Registry("loss")


def _bce_d_loss(real: Tensor, fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
    # -[t log s(r) + (1 - t) log(1 - s(r))] - log(1 - s(f)), with real target t = 1 - smoothing
    t = 1.0 - label_smoothing
    real_term = t * F.softplus(-real) + (1.0 - t) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def _ns_g_loss(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()  # -log D(G(z))


def _minimax_g_loss(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()  # log(1 - D(G(z))), saturates when D is confident


def _ls_d_loss(real: Tensor, fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
    # 0.5 E[(D(x) - b)^2] + 0.5 E[(D(G(z)) - a)^2] with a = 0, b = 1 - smoothing
    b = 1.0 - label_smoothing
    return 0.5 * (real - b).pow(2).mean() + 0.5 * fake.pow(2).mean()


def _ls_g_loss(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()  # 0.5 E[(D(G(z)) - c)^2], c = 1


def _wasserstein_d_loss(real: Tensor, fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return fake.mean() - real.mean()  # -(E[D(x)] - E[D(G(z))])


def _wasserstein_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


def _hinge_d_loss(real: Tensor, fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


for _obj, _doc in [
    (Objective("ns", _bce_d_loss, _ns_g_loss), "non-saturating: BCE for D, -log D(G(z)) for G (Goodfellow's heuristic)"),
    (Objective("minimax", _bce_d_loss, _minimax_g_loss), "minimax: BCE for D, log(1 - D(G(z))) for G (saturates early on)"),
    (Objective("lsgan", _ls_d_loss, _ls_g_loss), "least squares (Mao et al. 2016), labels a=0, b=c=1"),
    (Objective("wgan", _wasserstein_d_loss, _wasserstein_g_loss, critic=True), "Wasserstein critic; pair with loss.clip=0.01 (Arjovsky et al. 2017)"),
    (Objective("wgan-gp", _wasserstein_d_loss, _wasserstein_g_loss, critic=True), "Wasserstein critic with gradient penalty (Gulrajani et al. 2017)"),
    (Objective("hinge", _hinge_d_loss, _wasserstein_g_loss, critic=True), "hinge loss for D, -E[D(G(z))] for G (SNGAN, BigGAN)"),
]:
    OBJECTIVES.register(_obj.name, _doc)(_obj)


# ---------------------------------------------------------------------------
# Penalties that need the discriminator itself

def _first(out):
    return out[0] if isinstance(out, tuple) else out


def gradient_penalty(D, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat = a x + (1 - a) G(z), one a ~ U(0, 1) per sample."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = _first(D(x_hat, y))
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def r1_penalty(D, real: Tensor, y: Tensor | None = None) -> Tensor:
    """E[||grad_x D(x)||^2] on real data (Mescheder et al. 2018); scale by gamma / 2 outside."""
    x = real.detach().requires_grad_(True)
    out = _first(D(x, y))
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
