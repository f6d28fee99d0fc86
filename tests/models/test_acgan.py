import pytest
import torch
from torch import nn

from ganforge.config import ModelConfig, resolve
from ganforge.errors import ConfigError
from ganforge.models import build_models


def count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.fixture
def acgan():
    torch.manual_seed(0)
    return build_models(resolve("mnist-acgan").model, (1, 28, 28), 10)


def test_seed_002_layer_sizes(acgan):
    """Keras' trainable parameter counts, layer by layer (BN moving statistics are buffers here)."""
    G, D = acgan
    g = 10 * 100 + (100 * 6272 + 6272) + 2 * 128 + (9 * 128 * 128 + 128) + 2 * 128 + (9 * 128 * 64 + 64) + 2 * 64 + (9 * 64 + 1)
    d = (9 * 16 + 16) + (9 * 16 * 32 + 32) + 2 * 32 + (9 * 32 * 64 + 64) + 2 * 64 + (9 * 64 * 128 + 128) + (2048 + 1) + (2048 * 10 + 10)
    assert count(G) == g == 857_065
    assert count(D) == d == 119_883


def test_keras_batchnorm_momentum_and_heads_are_logits(acgan):
    G, D = acgan
    bns = [m for m in list(G.modules()) + list(D.modules()) if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 5 and all(m.momentum == pytest.approx(0.2) and m.eps == 1e-3 for m in bns)
    assert not any(isinstance(m, (nn.Sigmoid, nn.Softmax, nn.LogSoftmax)) for m in D.modules())
    assert [m.padding for m in D.modules() if isinstance(m, nn.ZeroPad2d)].count((0, 1, 0, 1)) >= 1
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.25] * 4


def test_shapes_and_label_dependence(acgan):
    G, D = acgan
    G.eval()
    z = torch.randn(6, 100)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    x = G(z, y)
    assert x.shape == (6, 1, 28, 28) and x.abs().max() <= 1
    validity, classes = D(x)
    assert validity.shape == (6,) and classes.shape == (6, 10)
    # the generator's input is z * embed(y): same noise, another label, another image
    assert not torch.allclose(G(z, y), G(z, (y + 1) % 10))
    assert torch.equal(G(z, y), G(z, y))


def test_feature_map_sizes_at_28():
    G, D = build_models(resolve("mnist-acgan").model, (1, 28, 28), 10)
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
             for m in D.body if isinstance(m, (nn.Conv2d, nn.Sequential, nn.ZeroPad2d))]
    D(torch.randn(2, 1, 28, 28))
    for h in hooks:
        h.remove()
    assert sizes == [(16, 14, 14), (32, 7, 7), (32, 8, 8), (64, 4, 4), (128, 4, 4)]


def test_acgan_needs_labels():
    with pytest.raises(ConfigError, match="conditional"):
        build_models(ModelConfig(arch="acgan"), (1, 28, 28), 10)
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_models(ModelConfig(arch="acgan", conditional=True), (1, 30, 30), 10)
