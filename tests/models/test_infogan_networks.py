"""InfoGAN's MNIST networks (Chen et al. 2016, appendix C.1): layers, parameter counts, output shapes."""

import pytest
import torch
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.infogan import InfoGANDiscriminator, InfoGANGenerator, build_infogan


def kinds(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module]


def test_the_papers_layers_in_order():
    G, D = build_infogan(62, 12, 12, (1, 28, 28))
    assert kinds(G.net) == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Reshape",
                            "ConvTranspose2d", "BatchNorm2d", "ReLU", "ConvTranspose2d", "Tanh"]
    assert kinds(D.body) == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten",
                             "Linear", "BatchNorm1d", "LeakyReLU"]
    assert kinds(D.q) == ["Linear", "BatchNorm1d", "LeakyReLU", "Linear"]
    # G: FC 74 -> 1024, FC 1024 -> 7*7*128, 4x4 upconv 128 -> 64, 4x4 upconv 64 -> 1 (weights + biases)
    assert (G.net[0].in_features, G.net[0].out_features, G.net[3].out_features) == (74, 1024, 6272)
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in G.net
            if isinstance(m, nn.ConvTranspose2d)] == [(128, 64, (4, 4), (2, 2), (1, 1)), (64, 1, (4, 4), (2, 2), (1, 1))]
    weights = 74 * 1024 + 1024 + 1024 * 6272 + 6272 + 128 * 64 * 16 + 64 + 64 * 1 * 16 + 1
    batch_norm = 2 * (1024 + 6272 + 64)
    assert sum(p.numel() for p in G.parameters()) == weights + batch_norm
    # D: 4x4 conv 1 -> 64 s2, 4x4 conv 64 -> 128 s2, FC 7*7*128 -> 1024; D's head FC 1; Q: FC 128 -> 12
    assert [(m.in_channels, m.out_channels, m.stride) for m in D.body if isinstance(m, nn.Conv2d)] == [(1, 64, (2, 2)),
                                                                                                     (64, 128, (2, 2))]
    body = 16 * 64 + 64 + 64 * 16 * 128 + 128 + 2 * 128 + 6272 * 1024 + 1024 + 2 * 1024
    heads = 1024 + 1 + 1024 * 128 + 128 + 2 * 128 + 128 * 12 + 12
    assert sum(p.numel() for p in D.parameters()) == body + heads
    assert all(m.negative_slope == 0.01 for m in D.modules() if isinstance(m, nn.LeakyReLU))


@pytest.mark.parametrize("shape, width", [((1, 28, 28), 64), ((1, 8, 8), 8), ((3, 32, 32), 16)])
def test_shapes_of_G_D_and_Q(shape, width):
    G, D = build_infogan(16, 13, 13, shape, width=width)
    z, c = torch.rand(5, 16) * 2 - 1, torch.rand(5, 13)
    x = G(z, c)
    assert x.shape == (5, *shape) and x.min() >= -1 and x.max() <= 1   # tanh output
    logit, q = D(x)
    assert logit.shape == (5,) and q.shape == (5, 13)


def test_D_and_Q_share_the_body():
    """One forward pass of the body feeds both heads: a change to the body moves D's logit and Q's outputs."""
    torch.manual_seed(0)
    _, D = build_infogan(8, 4, 4, (1, 8, 8), width=8)
    D.eval()
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        before = D(x)
        D.body[0].weight.add_(0.1)
        after = D(x)
    assert not torch.allclose(before[0], after[0]) and not torch.allclose(before[1], after[1])
    assert set(dict(D.named_children())) == {"body", "logit", "q"}


def test_the_reference_initialisation():
    torch.manual_seed(0)
    G = InfoGANGenerator(62, 12, (1, 28, 28))
    w = G.net[3].weight                                   # 6,422,528 weights ~ N(0, 0.02)
    assert abs(w.mean().item()) < 1e-4 and abs(w.std().item() - 0.02) < 1e-4
    assert all((m.bias == 0).all() for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d)))
    bn = G.net[4].weight                                  # batch norm scales ~ N(1, 0.02)
    assert abs(bn.mean().item() - 1) < 0.005 and 0.015 < bn.std().item() < 0.025


def test_bad_sizes_and_missing_codes():
    with pytest.raises(ConfigError, match="size divisible by 4, got 30x30; set data.image_size=28"):
        InfoGANGenerator(62, 12, (1, 30, 30))
    with pytest.raises(ConfigError, match="needs image data"):
        InfoGANDiscriminator((2,), 12)
    G = InfoGANGenerator(62, 12, (1, 28, 28))
    with pytest.raises(ValueError, match=r"takes codes c of shape \(B, 12\)"):
        G(torch.zeros(2, 62))
