import math

import pytest
import torch
from torch import nn

from ganforge.config import ModelConfig, resolve
from ganforge.errors import ConfigError
from ganforge.models import build_models


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_seed_001_vanilla_gan_layer_sizes():
    """G: 100->128->128->784, D: 784->128->128->1, LeakyReLU(0.2), tanh output, Glorot init."""
    cfg = resolve("mnist-gan").model
    G, D = build_models(cfg, (1, 28, 28))
    assert count(G) == (100 * 128 + 128) + (128 * 128 + 128) + (128 * 784 + 784) == 130_576
    assert count(D) == (784 * 128 + 128) + (128 * 128 + 128) + (128 + 1) == 117_121
    assert isinstance(G.net[-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in G.modules() if isinstance(m, nn.LeakyReLU))
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, nn.Linear):   # tf.layers.dense: Glorot-uniform kernel, zero bias
            bound = math.sqrt(6.0 / (m.in_features + m.out_features))
            assert m.weight.abs().max() <= bound and torch.count_nonzero(m.bias) == 0
    z = torch.rand(7, 100) * 2 - 1
    x = G(z)
    assert x.shape == (7, 1, 28, 28) and D(x).shape == (7,)


def test_seed_004_hidden_layers_and_dropout_are_configurable():
    cfg = ModelConfig(arch="mlp", z_dim=20, g_hidden=[64, 32, 16], d_hidden=[50], d_dropout=0.5)
    G, D = build_models(cfg, (1, 28, 28))
    assert [m.out_features for m in G.modules() if isinstance(m, nn.Linear)] == [64, 32, 16, 784]
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [50, 1]
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.5]
    x = torch.randn(16, 1, 28, 28)
    D.eval()
    assert torch.equal(D(x), D(x))          # dropout off in eval
    D.train()
    torch.manual_seed(0)
    assert not torch.equal(D(x), D(x))      # and on in training


def test_points_generator_is_not_squashed_by_tanh():
    """The ring has radius 2: a 2-D generator must be able to leave [-1, 1]."""
    G, D = build_models(ModelConfig(arch="mlp", z_dim=4, g_hidden=[8]), (2,))
    assert not any(isinstance(m, nn.Tanh) for m in G.modules())
    with torch.no_grad():
        G.net[-1].bias.fill_(3.0)
        G.net[-1].weight.zero_()
    assert torch.equal(G(torch.randn(5, 4)), torch.full((5, 2), 3.0))
    assert D(torch.randn(5, 2)).shape == (5,)


def test_spectral_norm_bounds_every_mlp_layer():
    torch.manual_seed(0)  # the weights and power iterations' start: how fast the estimate converges
    _, D = build_models(ModelConfig(arch="mlp", d_hidden=[32, 32], spectral_norm=True), (2,))
    D.train()
    for _ in range(20):                      # power iterations converge while training
        D(torch.randn(8, 2))
    for m in D.modules():
        if isinstance(m, nn.Linear):
            assert torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_mlp_is_unconditional():
    with pytest.raises(ConfigError, match="unconditional"):
        build_models(ModelConfig(arch="mlp", conditional=True), (1, 28, 28), 10)
