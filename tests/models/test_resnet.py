"""The SNGAN/BigGAN ResNet architecture (models/resnet.py) and its presets resnet64/128/256."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.config import ModelConfig, resolve
from ganforge.errors import ConfigError
from ganforge.models import build_models
from ganforge.models.cgan import ConditionalBatchNorm2d
from ganforge.models.resnet import GBlock, SelfAttention
from ganforge.rundir import list_checkpoints, load_checkpoint

SIZES = [16, 32, 64, 128, 256]
# float64 sums of a few thousand terms in another order: within ~1e3 * 2^-53 of their magnitudes (< 1e3 here)
F64_ATOL = 1e-10


def tiny(size, **over):
    return ModelConfig(**{"arch": "resnet", "width": 2, "z_dim": 16, **over})


@pytest.mark.parametrize("size", SIZES)
def test_forward_and_backward_at_every_size(size):
    torch.manual_seed(0)
    G, D = build_models(tiny(size, conditional=True, attention=8), (3, size, size), 5)
    y = torch.tensor([0, 4])
    x = G(torch.randn(2, 16), y)
    assert x.shape == (2, 3, size, size) and x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (2,)
    logits.sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # gamma = 0 at init: attention's gamma learns, its convolutions get no gradient yet; every other weight does
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        inside_attention = any(f".{part}." in f".{name}" for part in ("theta", "phi", "g", "o"))
        if not name.endswith("bias"):
            assert (p.grad.abs().sum() == 0) == inside_attention, name


@pytest.mark.parametrize("size, g_widths", [(64, [16, 8, 4, 2, 1]), (128, [16, 16, 8, 4, 2, 1]),
                                            (256, [16, 16, 16, 8, 4, 2, 1])])
def test_channel_widths_are_width_times_the_docstring_multipliers(size, g_widths):
    width = 3
    G, D = build_models(ModelConfig(arch="resnet", width=width), (3, size, size))
    assert G.linear.out_features == g_widths[0] * width * 4 * 4
    assert [s.conv2.out_channels for s in G.stages if isinstance(s, GBlock)] == [m * width for m in g_widths[1:]]
    # D mirrors G: its blocks end at the widths G's blocks start from, then one more block at 4x4 at G's 4x4 width
    assert [b.conv2.out_channels for b in D.blocks] == [m * width for m in g_widths[::-1]]
    x = G(torch.randn(2, 100))
    assert x.shape == (2, 3, size, size) and D(x).shape == (2,)


def test_every_weight_of_d_has_largest_singular_value_one():
    """Spectral norm divides each weight W by sigma, a power-iteration estimate of its largest singular value s1.
    Each training-mode forward takes one iteration, u = W v / |W v|, v = W^T u / |W^T u|, from the stored v, and
    sigma = u^T W v; after k of them from v0, sigma^2 = |W^T W v'|^2 / |W v'|^2 with v' ~ (W^T W)^(k-1) v0.
    Writing v0 = sum c_i e_i over W's right singular vectors and r = s2 / s1: sigma <= s1, and
    sigma^2 >= s1^2 / (1 + t) with t = r^(4k-2) (1 - c1^2) / c1^2. So the normalised weight's largest singular
    value lies in [1, sqrt(1 + t)]; the test measures s1, s2 and c1 by SVD (in float64) and checks that interval."""
    torch.manual_seed(0)
    _, D = build_models(tiny(32, conditional=True, attention=8), (3, 32, 32), 5)
    D.double()
    layers = {name: m for name, m in D.named_modules() if hasattr(m, "parametrizations")}
    assert len(layers) == 4 * 3 + 4 + 1 + 1    # 4 blocks x 3 convs (the 4x4 block's shortcut too), attention, linear, embed
    raw = [torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), ord=2) for m in layers.values()]
    assert max(abs(s - 1) for s in raw) > 0.3  # unnormalised, the weights would fail the interval below
    v0 = {name: m.parametrizations.weight[0]._v.clone() for name, m in layers.items()}
    k = 3
    x, y = torch.randn(4, 3, 32, 32, dtype=torch.float64), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        for _ in range(k):
            D.train()(x, y)
    D.eval()                                    # weights from the stored vectors, no further iteration
    for name, m in layers.items():
        w = m.parametrizations.weight.original.flatten(1)
        _, s, vh = torch.linalg.svd(w, full_matrices=False)
        c1 = (vh[0] @ v0[name] / v0[name].norm()).abs()
        r = s[1] / s[0] if len(s) > 1 else torch.tensor(0.0, dtype=torch.float64)
        t = r ** (4 * k - 2) * (1 - c1 ** 2).clamp(min=0) / c1 ** 2
        top = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
        assert 1 - 1e-12 <= top <= (1 + t).sqrt() + 1e-12, (name, top.item(), t.item())


def test_projection_term_is_inner_product_with_class_embedding():
    torch.manual_seed(0)
    _, D = build_models(tiny(32, conditional=True), (3, 32, 32), 10)
    D.eval().double()
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    y = torch.tensor([0, 3, 3, 9])
    h = torch.relu(D.blocks(x)).sum(dim=(2, 3))               # global sum pooling, (4, 32)
    unconditional = h @ D.linear.weight[0] + D.linear.bias
    torch.testing.assert_close(D(x), unconditional, atol=F64_ATOL, rtol=0)
    expected = unconditional + (D.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(D(x, y), expected, atol=F64_ATOL, rtol=0)
    assert (D(x, y) - D(x)).abs().min() > 1e-6                # the term is there for every image


def test_conditional_generator_follows_the_label():
    torch.manual_seed(0)
    G, _ = build_models(tiny(32, conditional=True), (3, 32, 32), 4)
    cbns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 2 * 3                                # both norms of each of the three blocks
    G.eval().double()
    z = torch.randn(4, 16, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    x = G(z, y)
    with torch.no_grad():
        for m in cbns:
            m.beta.weight[2] += 0.5
    x2 = G(z, y)
    torch.testing.assert_close(x2[[0, 1, 3]], x[[0, 1, 3]], atol=F64_ATOL, rtol=0)  # other classes' images stay
    assert (x2[2] - x[2]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="needs class labels"):
        G(z)


def test_attention_is_the_identity_at_init_and_attends_as_written():
    torch.manual_seed(0)
    att = SelfAttention(16).double()
    x = torch.randn(2, 16, 4, 6, dtype=torch.float64)
    assert att.gamma.item() == 0.0
    assert torch.equal(att(x), x)
    with torch.no_grad():
        att.gamma.fill_(0.7)
    out = att(x)
    assert out.shape == x.shape
    # by hand, pixel by pixel: queries at every pixel, keys and values at the max-pooled 2x3 grid
    theta = att.theta.weight.flatten(1) @ x.flatten(2)                              # (2, 2, 24)
    pool = torch.nn.functional.max_pool2d
    phi = pool(torch.einsum("oc,bchw->bohw", att.phi.weight.flatten(1), x), 2).flatten(2)   # (2, 2, 6)
    g = pool(torch.einsum("oc,bchw->bohw", att.g.weight.flatten(1), x), 2).flatten(2)       # (2, 8, 6)
    expected = torch.empty_like(x.flatten(2))
    for b in range(2):
        for i in range(24):
            scores = torch.stack([theta[b, :, i] @ phi[b, :, j] for j in range(6)])
            weights = scores.exp() / scores.exp().sum()
            mixed = sum(weights[j] * g[b, :, j] for j in range(6))
            expected[b, :, i] = x.flatten(2)[b, :, i] + 0.7 * att.o.weight.flatten(1) @ mixed
    torch.testing.assert_close(out.flatten(2), expected, atol=F64_ATOL, rtol=0)


def test_attention_sits_at_the_configured_side_in_g_and_d():
    G, D = build_models(tiny(64, attention=16), (3, 64, 64))
    sides = []
    h = G.linear(torch.randn(2, 16)).view(2, -1, 4, 4)
    for stage in G.stages:
        h = stage(h)
        if isinstance(stage, SelfAttention):
            sides.append(h.shape[-1])
    h = torch.randn(2, 3, 64, 64)
    for block in D.blocks:
        h = block(h)
        if isinstance(block, SelfAttention):
            sides.append(h.shape[-1])
    assert sides == [16, 16]


def test_bad_sizes_and_settings_are_one_line_config_errors():
    for size, valid in ((48, "32"), (8, "16"), (100, "128"), (12, "16")):
        with pytest.raises(ConfigError, match=f"image size 4 x 2\\^k.*got {size}; set data.image_size={valid}") as err:
            build_models(tiny(size), (3, size, size))
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="model.attention=64 is no feature-map side.*64 px.*8, 16, 32"):
        build_models(tiny(64, attention=64), (3, 64, 64))
    with pytest.raises(ConfigError, match="labelled data set"):
        build_models(tiny(64, conditional=True), (3, 64, 64), 0)
    with pytest.raises(ConfigError, match="model.attention is the resnet architecture's"):
        resolve("dcgan64", {"model.attention": 16})
    with pytest.raises(ConfigError, match="model.attention must be 0"):
        resolve("resnet64", {"model.attention": -1})


def test_presets_name_their_papers():
    for size, batch in ((64, 64), (128, 32), (256, 16)):
        cfg = resolve(f"resnet{size}")
        assert (cfg.data.name, cfg.data.image_size, cfg.data.channels) == ("folder:images", size, 3)
        assert (cfg.model.arch, cfg.loss.name, cfg.train.batch_size, cfg.train.ema, cfg.train.ema_warmup) == \
               ("resnet", "hinge", batch, 0.999, True)
        assert cfg.g_optim.betas == cfg.d_optim.betas == [0.0, 0.999]
        for paper in ("Miyato et al. 2018", "Zhang et al. 2019", "Brock et al. 2019", "Miyato & Koyama 2018"):
            assert paper in cfg.description
        build_models(cfg.model, (3, size, size))             # the preset's attention side exists at its size


def write_pngs(root, n=40, size=20, classes=1):
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % classes}" if classes > 1 else root
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return root


@pytest.mark.parametrize("classes", [1, 2])
def test_cli_trains_resnet64_on_a_folder(tmp_path, classes):
    folder = write_pngs(tmp_path / "imgs", classes=classes)
    out = tmp_path / "run"
    over = ["model.width=2", "model.attention=8", "train.batch_size=4", "train.num_samples=4", "train.progress=false",
            "train.threads=1"]  # the preset's model.conditional=auto: conditional exactly when the folder has classes
    r = run_cli("train", "--preset", "resnet64", "--dataset", f"folder:{folder}", "--steps", "2", "--out", out, *over)
    assert r.returncode == 0, r.stderr
    state = load_checkpoint(list_checkpoints(out)[-1])
    assert state["step"] == 2 and state["data"]["shape"] == [3, 64, 64]
    assert state["config"]["model"]["attention"] == 8 and state["G_ema"] is not None
    assert state["config"]["model"]["conditional"] is (classes > 1)  # auto, decided once and saved as true/false
    assert f"conditional: {'true' if classes > 1 else 'false'}" in (out / "config.yaml").read_text()
    assert any(k.startswith("stages.0.bn1.gamma") for k in state["G"]) == (classes > 1)   # cBN only when conditional
    grid = np.asarray(Image.open(out / "samples" / "epoch_0001.png"))
    assert 2 * 64 < grid.shape[0] == grid.shape[1] < 3 * 64      # 2 x 2 tiles of 64 px (a class per row when conditional)
