"""Mirza & Osindero's concatenation cGAN (models/cgan_concat.py): shapes, and the one-hot label exactly where
the paper puts it, seen on the concatenated inputs themselves."""

import pytest
import torch
from torch import nn

from ganforge.config import ModelConfig, resolve
from ganforge.errors import ConfigError
from ganforge.models import ARCHS, build_models

K = 10
# In float64 the same sums in other orders differ by ~1e-14; a dropped or misplaced label term by 1e-3 or more.
F64_ATOL = 1e-10


def build(arch, shape, again=False, width=8, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(arch=arch, width=width, conditional=True, labels_after_conv1=again, d_dropout=0.3)
    G, D = build_models(cfg, shape, K)
    return G.eval().double(), D.eval().double()


def inputs_of(module: nn.Module, run):
    """The first positional input ``module`` received while ``run()`` ran (a forward pre-hook)."""
    seen = []
    hook = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    try:
        out = run()
    finally:
        hook.remove()
    assert len(seen) == 1
    return seen[0], out


SHAPES = [("cgan-mlp", (1, 28, 28), False), ("cgan-mlp", (1, 16, 16), False), ("cgan-mlp", (1, 8, 8), False),
          ("cgan-mlp", (3, 32, 32), False)] + \
         [("cgan-conv", s, again) for s in [(1, 28, 28), (1, 16, 16), (1, 8, 8), (3, 32, 32)] for again in (False, True)]


@pytest.mark.parametrize("arch, shape, again", SHAPES)
def test_shapes(arch, shape, again):
    G, D = build(arch, shape, again)
    z = torch.randn(5, G.z_dim, dtype=torch.float64)
    y = torch.tensor([0, 3, 9, 3, 1])
    x = G(z, y)
    assert x.shape == (5, *shape) and x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (5,)
    assert G.z_dim == 100 and G.num_classes == D.num_classes == K and D.in_shape == shape


def test_conv_discriminator_feature_sizes_at_28():
    _, D = build("cgan-conv", (1, 28, 28), again=True)
    sizes = []
    hooks = [m.register_forward_pre_hook(lambda m, a: sizes.append(tuple(a[0].shape[1:])))
             for m in D.modules() if isinstance(m, nn.Conv2d)]
    D(torch.zeros(2, 1, 28, 28, dtype=torch.float64), torch.tensor([1, 2]))
    for h in hooks:
        h.remove()
    # image + 10 label maps; conv 1's 8 channels + the 10 maps again; 16 channels at 7x7 into the logit conv
    assert sizes == [(11, 28, 28), (18, 14, 14), (16, 7, 7)]


@pytest.mark.parametrize("arch", ["cgan-mlp", "cgan-conv"])
def test_generator_input_is_z_then_the_one_hot_label(arch):
    G, _ = build(arch, (1, 28, 28))
    first = G.net[0] if arch == "cgan-mlp" else G.net[1]       # the first Linear / the ConvTranspose after Reshape
    z = torch.randn(4, 100, dtype=torch.float64)
    y = torch.tensor([7, 0, 7, 2])
    seen, _ = inputs_of(first, lambda: G(z, y))
    seen = seen.reshape(4, -1)                                  # (B, z + K, 1, 1) -> (B, z + K) for the conv form
    assert seen.shape == (4, 100 + K)
    assert torch.equal(seen[:, :100], z)
    assert torch.equal(seen[:, 100:], torch.eye(K, dtype=torch.float64)[y])


def test_mlp_generator_label_adds_its_weight_column():
    """Linear([z, e_y]) = W_z z + W[:, z_dim + y] + b: the label's whole effect on G's first layer."""
    G, _ = build("cgan-mlp", (1, 28, 28))
    lin = G.net[0]
    z = torch.randn(3, 100, dtype=torch.float64)
    y = torch.tensor([4, 4, 9])
    outputs = []
    hook = lin.register_forward_hook(lambda m, args, out: outputs.append(out.detach().clone()))
    G(z, y)
    hook.remove()
    expected = z @ lin.weight[:, :100].T + lin.weight[:, 100 + y].T + lin.bias
    torch.testing.assert_close(outputs[0], expected, atol=F64_ATOL, rtol=0)


def test_mlp_discriminator_input_is_the_flattened_image_then_the_label():
    _, D = build("cgan-mlp", (1, 28, 28))
    first = next(m for m in D.net if isinstance(m, nn.Linear))
    assert first.in_features == 784 + K
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([5, 1, 5])
    seen, _ = inputs_of(first, lambda: D(x, y))
    assert torch.equal(seen[:, :784], x.flatten(1))
    assert torch.equal(seen[:, 784:], torch.eye(K, dtype=torch.float64)[y])


@pytest.mark.parametrize("again", [False, True])
def test_conv_discriminator_sees_constant_one_hot_maps(again):
    _, D = build("cgan-conv", (1, 16, 16), again=again)
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    y = torch.tensor([2, 8, 2])
    seen, _ = inputs_of(D.first[0], lambda: D(x, y))
    assert seen.shape == (3, 1 + K, 16, 16)
    assert torch.equal(seen[:, :1], x)
    maps = torch.zeros(3, K, 16, 16, dtype=torch.float64)
    maps[torch.arange(3), y] = 1.0                              # channel y all ones, every other channel zeros
    assert torch.equal(seen[:, 1:], maps)
    # after the first conv: its 8 channels, then (again) the same maps at 8x8
    conv1_out, _ = inputs_of(D.rest[0], lambda: D(x, y))
    assert conv1_out.shape == (3, 8 + (K if again else 0), 8, 8)
    assert torch.equal(conv1_out[:, :8], D.first(torch.cat([x, maps], 1)))
    if again:
        assert torch.equal(conv1_out[:, 8:], maps[:, :, :8, :8])


@pytest.mark.parametrize("arch, again", [("cgan-mlp", False), ("cgan-conv", False), ("cgan-conv", True)])
def test_the_label_reaches_g_and_d(arch, again):
    """Same z (or x), another label: another image (or logit); the same label: the same bytes. Fresh Radford
    weights (N(0, 0.02)) make small differences, but in float64 anything above ~1e-14 is not rounding."""
    G, D = build(arch, (1, 28, 28), again)
    z = torch.randn(4, 100, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    x = G(z, y)
    assert torch.equal(G(z, y), x)
    moved = (G(z, (y + 1) % K) - x).flatten(1).abs().amax(1)
    assert (moved > 1e-6).all()
    d = D(x, y)
    assert ((D(x, (y + 5) % K) - d).abs() > 1e-6).all()
    if again:  # the second injection alone moves D too: zero the first conv's label weights, the label still counts
        with torch.no_grad():
            D.first[0].weight[:, 1:] = 0
        assert ((D(x, (y + 5) % K) - D(x, y)).abs() > 1e-6).all()


def test_labels_are_required():
    G, D = build("cgan-conv", (1, 8, 8))
    with pytest.raises(ValueError, match="needs class labels y"):
        G(torch.randn(2, 100, dtype=torch.float64))
    with pytest.raises(ValueError, match="needs class labels y"):
        D(torch.randn(2, 1, 8, 8, dtype=torch.float64))


@pytest.mark.parametrize("arch", ["cgan-mlp", "cgan-conv"])
def test_config_errors_are_one_line(arch):
    with pytest.raises(ConfigError, match=f"architecture '{arch}' is class-conditional; set model.conditional=true"):
        build_models(ModelConfig(arch=arch), (1, 28, 28), 0)
    with pytest.raises(ConfigError, match=f"architecture '{arch}' needs a labelled data set"):
        build_models(ModelConfig(arch=arch, conditional=True), (1, 28, 28), 0)
    assert "Mirza & Osindero 2014" in ARCHS.doc(arch)


def test_conv_form_needs_images_and_a_buildable_size():
    with pytest.raises(ConfigError, match="'cgan-conv' needs image data"):
        build_models(ModelConfig(arch="cgan-conv", conditional=True), (2,), K)
    with pytest.raises(ConfigError, match="cannot be built by doubling"):
        build_models(ModelConfig(arch="cgan-conv", conditional=True), (1, 7, 7), K)


def test_labels_after_conv1_belongs_to_the_conv_form():
    with pytest.raises(ConfigError, match="model.labels_after_conv1 applies to model.arch=cgan-conv only, got 'cgan-mlp'"):
        resolve("mnist-cgan-mlp", {"model.labels_after_conv1": True})
    assert resolve("mnist-cgan-conv").model.labels_after_conv1
