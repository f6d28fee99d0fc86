"""GAN objectives as pure functions on discriminator logits.

Each objective is a pair ``d_loss(real_logits, fake_logits)`` and
``g_loss(fake_logits)``, both returning a scalar to minimise; D's loss is the sum
of a real-batch term ``d_real`` and a fake-batch term ``d_fake``. Logits are raw
discriminator outputs; sigmoids never appear explicitly, which keeps the
maths stable: ``softplus(-x) = -log(sigmoid(x))`` and
``softplus(x) = -log(1 - sigmoid(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.models.base import split_logits
from ganforge.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    """D's loss is a term on the real batch plus a term on the fake batch; ``d_real`` and ``d_fake``
    are those terms alone, for D updates that see one batch at a time (``train.d_update=split``)."""

    name: str
    d_real: Callable[..., Tensor]   # (real_logits, label_smoothing=0.0) -> scalar
    d_fake: Callable[[Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    critic: bool = False            # unbounded critic (Wasserstein family): no sigmoid reading of D
    probability: bool = False       # D trained with cross-entropy on its logits: sigmoid(D(x)) = P(real)

    def d_loss(self, real: Tensor, fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
        return self.d_real(real, label_smoothing) + self.d_fake(fake)


OBJECTIVES: Registry[Objective] = Registry("loss")


def _bce_d_real(real: Tensor, label_smoothing: float = 0.0) -> Tensor:
    # -[t log s(r) + (1 - t) log(1 - s(r))], real target t = 1 - smoothing
    t = 1.0 - label_smoothing
    return (t * F.softplus(-real) + (1.0 - t) * F.softplus(real)).mean()


def _bce_d_fake(fake: Tensor) -> Tensor:
    return F.softplus(fake).mean()  # -log(1 - s(f))


def _ns_g_loss(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()  # -log D(G(z))


def _minimax_g_loss(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()  # log(1 - D(G(z))), saturates when D is confident


def _ls_d_real(real: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return 0.5 * (real - (1.0 - label_smoothing)).pow(2).mean()  # 0.5 E[(D(x) - b)^2], b = 1 - smoothing


def _ls_d_fake(fake: Tensor) -> Tensor:
    return 0.5 * fake.pow(2).mean()  # 0.5 E[(D(G(z)) - a)^2], a = 0


def _ls_g_loss(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()  # 0.5 E[(D(G(z)) - c)^2], c = 1


def _wasserstein_d_real(real: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return -real.mean()  # D's loss -(E[D(x)] - E[D(G(z))]), real part


def _wasserstein_d_fake(fake: Tensor) -> Tensor:
    return fake.mean()


def _wasserstein_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


def _hinge_d_real(real: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.relu(1.0 - real).mean()


def _hinge_d_fake(fake: Tensor) -> Tensor:
    return F.relu(1.0 + fake).mean()


for _obj, _doc in [
    (Objective("ns", _bce_d_real, _bce_d_fake, _ns_g_loss, probability=True),
     "non-saturating: BCE for D, -log D(G(z)) for G (Goodfellow's heuristic)"),
    (Objective("minimax", _bce_d_real, _bce_d_fake, _minimax_g_loss, probability=True),
     "minimax: BCE for D, log(1 - D(G(z))) for G (saturates early on)"),
    (Objective("lsgan", _ls_d_real, _ls_d_fake, _ls_g_loss),
     "least squares (Mao et al. 2016), labels a=0, b=c=1"),
    (Objective("wgan", _wasserstein_d_real, _wasserstein_d_fake, _wasserstein_g_loss, critic=True),
     "Wasserstein critic; pair with loss.clip=0.01 (Arjovsky et al. 2017)"),
    (Objective("wgan-gp", _wasserstein_d_real, _wasserstein_d_fake, _wasserstein_g_loss, critic=True),
     "Wasserstein critic with gradient penalty (Gulrajani et al. 2017)"),
    (Objective("hinge", _hinge_d_real, _hinge_d_fake, _wasserstein_g_loss, critic=True),
     "hinge loss for D, -E[D(G(z))] for G (SNGAN, BigGAN)"),
]:
    OBJECTIVES.register(_obj.name, _doc)(_obj)


# ---------------------------------------------------------------------------
# Penalties that need the discriminator itself

def gradient_penalty(D, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat = a x + (1 - a) G(z), one a ~ U(0, 1) per sample."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out, _ = split_logits(D(x_hat, y))
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def r1_penalty(D, real: Tensor, y: Tensor | None = None) -> Tensor:
    """E[||grad_x D(x)||^2] on real data (Mescheder et al. 2018); scale by gamma / 2 outside."""
    x = real.detach().requires_grad_(True)
    out, _ = split_logits(D(x, y))
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


# ---------------------------------------------------------------------------
# InfoGAN's mutual-information term (Chen et al. 2016)
#
# I(c; G(z, c)) >= E[log Q(c | G(z, c))] + H(c) =: L_I, so minimising -E[log Q(c | x)] over G and Q
# maximises the lower bound (H(c) is a constant of the prior). Per code kind:

def categorical_info_loss(logits: Tensor, codes: Tensor) -> Tensor:
    """-E[log Q(c | x)] for one categorical code: the cross-entropy of Q's logits (B, K) at the drawn values
    (B,), -mean_i log softmax(logits_i)[c_i]. L_I's term for this code is log K minus this."""
    return F.cross_entropy(logits, codes)


def gaussian_info_loss(mean: Tensor, codes: Tensor) -> Tensor:
    """-E[log Q(c | x)] for continuous codes, Q(c | x) a factored Gaussian with unit variance (the paper's
    fixed-variance form, as the released code computes it), less its constant 0.5 log(2 pi) per code:
    mean_i sum_j 0.5 (c_ij - mu_ij)^2 for means (B, J) and drawn codes (B, J)."""
    return 0.5 * (codes - mean).pow(2).sum(dim=1).mean()
