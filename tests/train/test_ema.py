"""EMA of G: the update's closed form, with and without the decay warm-up."""

import pytest
import torch
from torch import nn

from ganforge.train.ema import EMA


def linear(value):
    m = nn.Linear(1, 1, bias=False)
    nn.init.constant_(m.weight, value)
    return m


def test_update_without_warmup():
    g = linear(0.0)
    ema = EMA(g, 0.9)
    nn.init.constant_(g.weight, 1.0)
    ema.update(g)
    ema.update(g)
    assert ema.shadow.weight.item() == pytest.approx(1 - 0.9 ** 2)


def test_warmup_decay_is_1_plus_n_over_10_plus_n_capped():
    g = linear(0.0)
    ema = EMA(g, 0.5, warmup=True)
    nn.init.constant_(g.weight, 1.0)
    expected, decays = 0.0, []
    for n in range(12):
        decays.append(ema.current_decay())
        ema.update(g)
        d = min(0.5, (1 + n) / (10 + n))
        expected = d * expected + (1 - d)
        assert ema.shadow.weight.item() == pytest.approx(expected)
    assert decays[:3] == pytest.approx([0.1, 2 / 11, 3 / 12]) and decays[-1] == 0.5
    assert ema.num_updates == 12
    assert not ema.shadow.weight.requires_grad and isinstance(ema.shadow.weight, torch.nn.Parameter)
