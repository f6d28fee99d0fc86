import pytest
import torch
from torch import nn

from ganforge.config import ModelConfig, resolve
from ganforge.models import build_models
from ganforge.models.cgan import ConditionalBatchNorm2d


# In float64: the two sides sum the same few hundred terms in other orders, so they differ by at most
# ~1e3 * 2^-53 times the sum of the terms' magnitudes (Higham 4.2; under 1e2 here), ~1e-11; a dropped
# or misplaced term would differ by 1e-3 or more.
F64_ATOL = 1e-10


def test_projection_term_is_inner_product_with_class_embedding():
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(arch="dcgan-proj", width=8, conditional=True), (1, 16, 16), 10)
    D.eval().double()
    x = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    y = torch.tensor([0, 3, 3, 9])
    h = D.body(x).sum(dim=(2, 3))                            # global sum pooling
    unconditional = D.linear(h).squeeze(1)
    torch.testing.assert_close(D(x), unconditional, atol=F64_ATOL, rtol=0)
    expected = unconditional + (D.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(D(x, y), expected, atol=F64_ATOL, rtol=0)


def test_conditional_batchnorm_uses_per_class_scale_and_shift():
    cbn = ConditionalBatchNorm2d(3, 4).double()
    with torch.no_grad():
        cbn.gamma.weight.copy_(torch.arange(12.0).view(4, 3))
        cbn.beta.weight.copy_(-torch.arange(12.0).view(4, 3))
    x = torch.randn(8, 3, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    normed = nn.functional.batch_norm(x, None, None, training=True, eps=cbn.bn.eps)
    expected = cbn.gamma.weight[y][:, :, None, None] * normed + cbn.beta.weight[y][:, :, None, None]
    torch.testing.assert_close(cbn(x, y), expected, atol=F64_ATOL, rtol=0)


def test_preset_builds_with_spectral_norm_and_follows_labels():
    torch.manual_seed(0)
    cfg = resolve("mnist-projgan").model
    G, D = build_models(cfg, (1, 28, 28), 10)
    assert any(hasattr(m, "parametrizations") for m in D.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())  # SN replaces BN in D
    G.eval().double()
    z = torch.randn(3, cfg.z_dim, dtype=torch.float64)
    y = torch.tensor([1, 2, 3])
    x = G(z, y)
    assert x.shape == (3, 1, 28, 28) and D.double()(x, y).shape == (3,)
    # fresh conditional BN starts at gamma 1, beta 0 for every class; move one class and its images move
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.beta.weight[2] += 0.5
    x2 = G(z, y)
    torch.testing.assert_close(x2[[0, 2]], x[[0, 2]], atol=F64_ATOL, rtol=0)  # other classes' images stay
    assert (x2[1] - x[1]).abs().max() > 1e-3
