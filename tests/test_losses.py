import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import OBJECTIVES, gradient_penalty, r1_penalty

LOG2 = math.log(2.0)


def test_registry_lists_every_objective():
    assert set(OBJECTIVES.names()) == {"ns", "minimax", "lsgan", "wgan", "wgan-gp", "hinge"}


def test_bce_losses_at_zero_logits():
    zeros = torch.zeros(8)
    ns = OBJECTIVES.get("ns")
    assert ns.d_loss(zeros, zeros).item() == pytest.approx(2 * LOG2)      # -log(1/2) twice
    assert ns.g_loss(zeros).item() == pytest.approx(LOG2)                 # -log D = -log(1/2)
    assert OBJECTIVES.get("minimax").g_loss(zeros).item() == pytest.approx(-LOG2)  # log(1 - 1/2)


# float32 losses against the textbook formula in float64: each term is a softplus (an exp and a log1p,
# 1 ulp each in PyTorch's vector maths) of a positive sum, so a float32 loss is within ~8 unit
# roundoffs (8 * 2^-24 = 4.8e-7) of its value, whichever CPU's kernels compute it; rel=1e-6 holds that.
def test_bce_losses_match_sigmoid_formula():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2, 1.5])
    s = lambda t: torch.sigmoid(t.double())  # noqa: E731
    expected_d = -(torch.log(s(real)).mean() + torch.log(1 - s(fake)).mean())
    assert OBJECTIVES.get("ns").d_loss(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert OBJECTIVES.get("ns").g_loss(fake).item() == pytest.approx(-torch.log(s(fake)).mean().item(), rel=1e-6)
    assert OBJECTIVES.get("minimax").g_loss(fake).item() == pytest.approx(torch.log(1 - s(fake)).mean().item(), rel=1e-6)


def test_bce_is_stable_for_huge_logits():
    big = torch.tensor([1000.0])
    assert torch.isfinite(OBJECTIVES.get("ns").d_loss(big, -big))
    assert OBJECTIVES.get("ns").d_loss(big, -big).item() == pytest.approx(0.0, abs=1e-6)
    assert OBJECTIVES.get("ns").g_loss(-big).item() == pytest.approx(1000.0)


def test_label_smoothing_targets_one_minus_s():
    real = torch.tensor([0.7])
    s = 0.1
    p = torch.sigmoid(real.double())
    expected = -(0.9 * torch.log(p) + 0.1 * torch.log(1 - p)) + math.log(2)
    got = OBJECTIVES.get("ns").d_loss(real, torch.zeros(1), label_smoothing=s)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_least_squares_closed_form():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    ls = OBJECTIVES.get("lsgan")
    # 0.5 * mean((r - 1)^2) + 0.5 * mean(f^2) = 0.5 * (0 + 4)/2 + 0.5 * (0 + 4)/2
    assert ls.d_loss(real, fake).item() == pytest.approx(2.0)
    # 0.5 * mean((f - 1)^2) = 0.5 * (1 + 1)/2
    assert ls.g_loss(fake).item() == pytest.approx(0.5)


def test_wasserstein_and_hinge_closed_form():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 3.0])
    w = OBJECTIVES.get("wgan")
    assert w.d_loss(real, fake).item() == pytest.approx(1.0 - 1.0)  # mean(f) - mean(r) = 1 - 1
    assert w.g_loss(fake).item() == pytest.approx(-1.0)
    h = OBJECTIVES.get("hinge")
    # relu(1 - r) = [0, 1] -> 0.5 ; relu(1 + f) = [0, 4] -> 2
    assert h.d_loss(real, fake).item() == pytest.approx(2.5)
    assert h.g_loss(fake).item() == pytest.approx(-1.0)


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.lin = nn.Linear(len(w), 1, bias=True)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([w]))

    def forward(self, x, y=None):
        return self.lin(x).squeeze(1)


def test_gradient_penalty_of_linear_critics():
    torch.manual_seed(0)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    assert gradient_penalty(Linear([0.6, 0.8]), real, fake).item() == pytest.approx(0.0, abs=1e-10)  # |w| = 1
    # |w| = 5 -> (5 - 1)^2 = 16 for every interpolate
    assert gradient_penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(16.0, rel=1e-6)


def test_r1_penalty_of_linear_critic_is_squared_weight_norm():
    real = torch.randn(16, 2)
    assert r1_penalty(Linear([3.0, 4.0]), real).item() == pytest.approx(25.0, rel=1e-6)


def test_config_knows_which_objectives_take_label_smoothing():
    """config.py refuses loss.label_smoothing for objectives without a real-target label, before torch loads."""
    from ganforge.config import SMOOTHABLE_LOSSES, UNSMOOTHABLE_LOSSES

    assert sorted(SMOOTHABLE_LOSSES + UNSMOOTHABLE_LOSSES) == sorted(OBJECTIVES.names())
    real, fake = torch.tensor([0.7, -0.2]), torch.tensor([0.3, -1.1])
    for name in OBJECTIVES:
        d_loss = OBJECTIVES.get(name).d_loss
        moved = d_loss(real, fake, label_smoothing=0.1).item() != d_loss(real, fake).item()
        assert moved == (name in SMOOTHABLE_LOSSES), name


@pytest.mark.parametrize("name, real_part, fake_part", [
    ("ns", lambda r: F.softplus(-r).mean(), lambda f: F.softplus(f).mean()),         # -log s(r), -log(1 - s(f))
    ("minimax", lambda r: F.softplus(-r).mean(), lambda f: F.softplus(f).mean()),
    ("lsgan", lambda r: 0.5 * ((r - 1) ** 2).mean(), lambda f: 0.5 * (f ** 2).mean()),
    ("wgan", lambda r: -r.mean(), lambda f: f.mean()),
    ("wgan-gp", lambda r: -r.mean(), lambda f: f.mean()),
    ("hinge", lambda r: F.relu(1 - r).mean(), lambda f: F.relu(1 + f).mean()),
])
def test_d_loss_is_its_real_part_plus_its_fake_part(name, real_part, fake_part):
    """The parts a split D update (one batch at a time) minimises, in closed form, and their sum."""
    obj = OBJECTIVES.get(name)
    real = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    fake = torch.tensor([1.5, -0.25], dtype=torch.float64)
    assert obj.d_real(real).item() == pytest.approx(real_part(real).item(), rel=1e-12)
    assert obj.d_fake(fake).item() == pytest.approx(fake_part(fake).item(), rel=1e-12)
    assert obj.d_loss(real, fake).item() == obj.d_real(real).item() + obj.d_fake(fake).item()
