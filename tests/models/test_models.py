import pytest
import torch

from ganforge.config import ModelConfig, resolve
from ganforge.errors import ConfigError
from ganforge.models import ARCHS, build_models


@pytest.mark.parametrize("arch, shape", [
    ("dcgan-tf", (1, 28, 28)), ("dcgan-tf", (3, 32, 32)),
    ("dcgan", (1, 16, 16)), ("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan", (3, 64, 64)),
    ("mlp", (1, 28, 28)), ("mlp-tf", (3, 32, 32)), ("dcgan-cifar", (3, 32, 32)), ("dcgan-cifar", (1, 28, 28)),
    ("dcgan-keras", (1, 28, 28)), ("dcgan-keras", (3, 32, 32)),
])
def test_generator_and_discriminator_shapes(arch, shape):
    G, D = build_models(ModelConfig(arch=arch, width=8), shape)
    z = torch.randn(5, G.z_dim)
    x = G(z)
    assert x.shape == (5, *shape)
    assert x.min() >= -1 and x.max() <= 1   # tanh output
    assert D(x).shape == (5,)


def test_seed_000_layer_sizes():
    """The TensorFlow tutorial's model summary: D has 212,865 parameters; G's trainable ones 2,330,944 - BN stats."""
    cfg = resolve("mnist-dcgan").model
    G, D = build_models(cfg, (1, 28, 28))
    assert sum(p.numel() for p in D.parameters()) == 212_865
    # Keras counts BN moving mean/var as non-trainable params: 2,330,944 total = trainable + 2 * BN channels
    bn_channels = 7 * 7 * 256 + 128 + 64
    assert sum(p.numel() for p in G.parameters()) + 2 * bn_channels == 2_330_944
    acts = [m for m in G.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert acts and all(a.negative_slope == 0.3 for a in acts)


def test_seed_003_layers_in_the_documents_order():
    """Seed 003: every layer has a bias (Keras' default); G applies each ReLU before its batch norm;
    D has one batch norm, after its second convolution. Parameter counts as Keras' model summary
    reports them: Dense 100 -> 12,544 with bias is 1,266,944; D's Dense 6,272 -> 1 is 6,273."""
    from torch import nn

    G, D = build_models(resolve("mnist-dcgan-keras").model, (1, 28, 28))
    kinds = [type(m).__name__ for m in G.net]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Reshape", "ConvTranspose2dSame", "ReLU", "BatchNorm2d",
                     "ConvTranspose2dSame", "ReLU", "BatchNorm2d", "ConvTranspose2dSame", "Tanh"]
    assert sum(p.numel() for p in G.net[0].parameters()) == 1_266_944
    assert [type(m).__name__ for m in D.net] == ["Conv2dSame", "LeakyReLU", "Dropout", "Conv2dSame", "BatchNorm2d",
                                                 "LeakyReLU", "Dropout", "Flatten", "Linear"]
    assert sum(p.numel() for p in D.net[-1].parameters()) == 6_273
    assert all(m.bias is not None for m in [*G.modules(), *D.modules()] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    assert all(a.negative_slope == 0.2 for a in D.modules() if isinstance(a, nn.LeakyReLU))
    assert D.net[2].p == D.net[6].p == 0.3
    bns = [m for m in [*G.modules(), *D.modules()] if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and all((m.eps, m.momentum) == (1e-3, 0.01) for m in bns)  # Keras: epsilon 1e-3, momentum 0.99


@pytest.mark.parametrize("arch, shape", [("dcgan-tf", (1, 28, 28)), ("dcgan-keras", (1, 28, 28)),
                                         ("dcgan-cifar", (3, 32, 32))])
def test_tf_padding_is_the_symmetric_model_shifted(arch, shape):
    """The same weights under both paddings: the state dicts are interchangeable (so old runs load), and
    the outputs differ (the symmetric form is TensorFlow's shifted by a pixel in each stride-2 layer)."""
    torch.manual_seed(0)
    G_tf, D_tf = build_models(ModelConfig(arch=arch, padding="tf"), shape)
    G_sym, D_sym = build_models(ModelConfig(arch=arch, padding="symmetric"), shape)
    G_sym.load_state_dict(G_tf.state_dict(), strict=True)
    D_sym.load_state_dict(D_tf.state_dict(), strict=True)
    G_tf.eval(), G_sym.eval(), D_tf.eval(), D_sym.eval()
    z = torch.randn(3, G_tf.z_dim)
    with torch.no_grad():
        x_tf, x_sym = G_tf(z), G_sym(z)
        assert x_tf.shape == x_sym.shape == (3, *shape)
        assert (x_tf - x_sym).abs().max() > 0.01
        if arch != "dcgan-cifar":  # the CIFAR-10 D always had TensorFlow's padding (layers.conv_same)
            assert (D_tf(x_tf) - D_sym(x_tf)).abs().max() > 1e-3


def test_unknown_arch_and_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="unknown architecture 'dcgna'.*dcgan"):
        build_models(ModelConfig(arch="dcgna"), (1, 28, 28))
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_models(ModelConfig(arch="dcgan-tf"), (1, 30, 30))
    with pytest.raises(ConfigError, match="needs image data"):
        build_models(ModelConfig(arch="dcgan"), (2,))


def test_spectral_norm_option_wraps_discriminator_layers():
    _, D = build_models(ModelConfig(arch="dcgan", width=8, spectral_norm=True), (1, 16, 16))
    assert any(hasattr(m, "parametrizations") for m in D.modules())


def test_every_arch_is_listed_with_a_description():
    for name in ARCHS.names():
        assert ARCHS.doc(name)


@pytest.mark.parametrize("arch, shape", [("acgan", (1, 28, 28)), ("acgan", (3, 32, 32)), ("dcgan-proj", (1, 28, 28)),
                                         ("dcgan-proj", (3, 32, 32))])
def test_conditional_shapes(arch, shape):
    G, D = build_models(ModelConfig(arch=arch, width=8, conditional=True), shape, 10)
    y = torch.arange(5)
    x = G(torch.randn(5, G.z_dim), y)
    assert x.shape == (5, *shape) and x.min() >= -1 and x.max() <= 1
    out = D(x, y)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (5,)


def test_seed_001_cifar10_dcgan_layer_sizes():
    """The book's CIFAR-10 DCGAN, parameter by parameter (BN moving statistics are buffers here)."""
    G, D = build_models(resolve("cifar10-dcgan").model, (3, 32, 32))
    g = (100 * 8192 + 8192) + 256 + (128 * 256 * 25 + 256) + 512 + 2 * (256 * 256 * 25 + 256 + 512) + (256 * 3 * 49 + 3)
    d = (3 * 64 * 25 + 64) + (64 * 128 * 25 + 128) + 256 + (128 * 256 * 25 + 256) + 512 + (256 * 8 * 8 + 1)
    assert sum(p.numel() for p in G.parameters()) == g == 4_963_587
    assert sum(p.numel() for p in D.parameters()) == d == 1_046_401
    slopes = [m.negative_slope for m in D.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert slopes == [0.2, 0.2, 0.1]
