"""One D / one G update on real components: clipping, penalties, the auxiliary classifier."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.config import resolve
from ganforge.data import load_dataset, normalize
from ganforge.models import build_models
from ganforge.train.steps import Stepper
from ganforge.train.trainer import build_optimizer


def stepper_for(preset, shape, num_classes=0, **over):
    cfg = resolve(preset, over)
    torch.manual_seed(0)
    G, D = build_models(cfg.model, shape, num_classes)
    opt_g, opt_d = build_optimizer(G.parameters(), cfg.g_optim), build_optimizer(D.parameters(), cfg.d_optim)
    return Stepper(G, D, opt_g, opt_d, cfg, torch.device("cpu"))


@pytest.fixture(scope="module")
def digits28():
    ds = load_dataset("digits", image_size=28)
    return normalize(ds.x[:32]), ds.y[:32]


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_clipping_keeps_every_critic_weight_in_range(digits28, update):
    s = stepper_for("mnist-wgan", (1, 28, 28), **{"train.update": update})
    with torch.no_grad():
        for p in s.D.parameters():
            p.mul_(100.0)                     # start far outside [-c, c]
    assert max(p.abs().max().item() for p in s.D.parameters()) > 0.5
    real, _ = digits28
    for _ in range(3):
        if update == "alternating":
            s.d_step(real, None)
        else:
            s.simultaneous_step(real, None)
        assert max(p.abs().max().item() for p in s.D.parameters()) <= 0.01
        assert min(p.min().item() for p in s.D.parameters()) >= -0.01


def test_wgan_gp_step_adds_lambda_times_penalty(digits28):
    """With a zeroed critic, D = 0 everywhere: the Wasserstein term is 0 and the penalty is (0 - 1)^2 = 1."""
    s = stepper_for("mnist-wgan-gp", (1, 28, 28))
    with torch.no_grad():
        for p in s.D.parameters():
            p.zero_()
    real, _ = digits28
    assert s.d_step(real, None).item() == pytest.approx(10.0)


def test_acgan_d_loss_adds_cross_entropy_of_both_batches(digits28):
    s = stepper_for("mnist-acgan", (1, 28, 28), 10)
    s.D.eval()                                # no dropout: the loss is a deterministic function of the inputs
    real, y = digits28
    fake = s.G(torch.randn(32, 100), y.flip(0)).detach()
    loss, _, _ = s._d_loss(real, y, fake, y.flip(0))
    r, r_cls = s.D(real)
    f, f_cls = s.D(fake)
    expected = (F.softplus(-r).mean() + F.softplus(f).mean()
                + F.cross_entropy(r_cls, y) + F.cross_entropy(f_cls, y.flip(0)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_g_step_moves_only_the_generator(digits28):
    s = stepper_for("mnist-gan", (1, 28, 28))
    d_before = [p.clone() for p in s.D.parameters()]
    g_before = [p.clone() for p in s.G.parameters()]
    s.g_step(16)
    assert all(torch.equal(a, b) for a, b in zip(d_before, s.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, s.G.parameters()))
