import pytest
import torch
from torch import nn

from ganforge.config import ModelConfig, resolve
from ganforge.models import build_models
from ganforge.models.cgan import ConditionalBatchNorm2d


def test_projection_term_is_inner_product_with_class_embedding():
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(arch="dcgan-proj", width=8, conditional=True), (1, 16, 16), 10)
    D.eval()
    x = torch.randn(4, 1, 16, 16)
    y = torch.tensor([0, 3, 3, 9])
    h = D.body(x).sum(dim=(2, 3))                            # global sum pooling
    unconditional = D.linear(h).squeeze(1)
    assert torch.allclose(D(x), unconditional)
    expected = unconditional + (D.embed.weight[y] * h).sum(1)
    assert torch.allclose(D(x, y), expected, atol=1e-6)


def test_conditional_batchnorm_uses_per_class_scale_and_shift():
    cbn = ConditionalBatchNorm2d(3, 4)
    with torch.no_grad():
        cbn.gamma.weight.copy_(torch.arange(12.0).view(4, 3))
        cbn.beta.weight.copy_(-torch.arange(12.0).view(4, 3))
    x = torch.randn(8, 3, 5, 5)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    normed = nn.functional.batch_norm(x, None, None, training=True, eps=cbn.bn.eps)
    expected = cbn.gamma.weight[y][:, :, None, None] * normed + cbn.beta.weight[y][:, :, None, None]
    assert torch.allclose(cbn(x, y), expected, atol=1e-5)


def test_preset_builds_with_spectral_norm_and_follows_labels():
    cfg = resolve("mnist-cgan").model
    G, D = build_models(cfg, (1, 28, 28), 10)
    assert any(hasattr(m, "parametrizations") for m in D.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())  # SN replaces BN in D
    G.eval()
    z = torch.randn(3, cfg.z_dim)
    y = torch.tensor([1, 2, 3])
    x = G(z, y)
    assert x.shape == (3, 1, 28, 28) and D(x, y).shape == (3,)
    # fresh conditional BN starts at gamma 1, beta 0 for every class; move one class and its images move
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.beta.weight[2] += 0.5
    x2 = G(z, y)
    assert torch.allclose(x2[[0, 2]], x[[0, 2]]) and not torch.allclose(x2[1], x[1])
