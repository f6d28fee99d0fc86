"""Every named preset: listed, faithful to its seed document, builds and trains on real data."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.cli import main
from ganforge.config import list_presets, resolve
from ganforge.data import mixture_centers, to_uint8
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from ganforge.rundir import list_checkpoints, load_checkpoint

ISSUE_PRESETS = ["mnist-gan", "mnist-gan-minimax", "mnist-mlp-gan", "mnist-dcgan", "mnist-lsgan", "mnist-wgan",
                 "mnist-wgan-gp", "mnist-acgan", "cifar10-dcgan", "dcgan64", "ring8-gan"]
ALL_PRESETS = [name for name, _ in list_presets()]
# small batches and grids keep the two steps of the big convolutional presets cheap on a CPU
TINY = {"train.steps": 2, "train.progress": False, "train.batch_size": 2, "train.num_samples": 4}


def test_cli_lists_every_preset_with_its_description():
    out = run_cli("presets").stdout
    listed = {line.split()[0] for line in out.splitlines()}
    assert set(ISSUE_PRESETS) <= listed == set(ALL_PRESETS)
    assert {"mnist-projgan", "mnist-cgan-mlp", "mnist-cgan-conv"} <= listed and "mnist-cgan" not in listed


@pytest.mark.parametrize("preset", ALL_PRESETS)
def test_preset_builds_and_takes_two_steps(tmp_path, preset):
    data = "ring8" if preset == "ring8-gan" else "digits"   # digits are resized to each preset's image size
    over = {**TINY, "data.name": data}
    if resolve(preset).family == "pix2pix" and not resolve(preset).data.pairs:
        over["data.pairs"] = "edges"                        # a paired-folder preset, on pairs made from the digits
    if resolve(preset).data.domains:
        over["data.domains"] = "0,1"                        # two of the digits' classes as the two domains
    cfg = resolve(preset)
    if cfg.family in ("pix2pix", "cyclegan") and cfg.data.image_size > 64:
        over["data.image_size"] = 64                        # two steps at 64 px; the 256-px networks: the test below
        cfg = resolve(preset, over)
    run = Trainer(resolve(preset, over), run_dir=tmp_path / "run").fit()
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 2
    if cfg.data.image_size is not None:
        assert state["data"]["shape"] == [cfg.data.channels or 1, cfg.data.image_size, cfg.data.image_size]
    for part in ("G", "D"):
        assert all(torch.isfinite(v).all() for v in state[part].values() if v.is_floating_point())
    assert (run / "samples" / "epoch_0001.png").is_file()


@pytest.mark.parametrize("preset", [n for n in ALL_PRESETS if resolve(n).family in ("pix2pix", "cyclegan")
                                    and resolve(n).data.image_size > 64])
def test_256_pixel_translators_are_the_papers_networks(preset):
    """At 256x256: pix2pix's U-Net goes down eight times to 1x1 and its PatchGAN sees 70x70 patches (a 30x30 map);
    CycleGAN's ResNet G has 9 residual blocks. One image through each network, in inference mode."""
    from ganforge.families import DataSpec, build_family

    cfg = resolve(preset)
    spec = DataSpec("paired:x", (3, 256, 256), 0, None, (3, 256, 256))
    G, D = build_family(cfg, spec).build()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        if cfg.family == "pix2pix":
            assert G.depth == 8 and G.eval()(x).shape == (1, 3, 256, 256)
            assert D.eval()(torch.cat([x, x], 1)).shape == (1, 1, 30, 30)
        else:
            from ganforge.models.pix2pix import ResnetBlock

            for name in ("a2b", "b2a"):
                assert sum(isinstance(m, ResnetBlock) for m in G[name].modules()) == 9
            assert G["a2b"].eval()(x).shape == (1, 3, 256, 256) and D["b"].eval()(x).shape == (1, 1, 30, 30)


def test_seed_values():
    gan, minimax = resolve("mnist-gan"), resolve("mnist-gan-minimax")
    assert (gan.model.noise, gan.model.z_dim, gan.model.g_hidden, gan.model.d_hidden) == ("uniform", 100, [128, 128], [128, 128])
    assert gan.g_optim.lr == 1e-3 and gan.train.batch_size == 100 and gan.train.update == "alternating"
    assert (gan.loss.name, minimax.loss.name) == ("ns", "minimax")
    assert resolve("mnist-lsgan").loss.name == "lsgan"
    wgan = resolve("mnist-wgan")
    assert (wgan.loss.name, wgan.loss.clip, wgan.d_optim.name, wgan.d_optim.lr, wgan.train.n_critic) == ("wgan", 0.01, "rmsprop", 5e-5, 5)
    gp = resolve("mnist-wgan-gp")
    assert (gp.loss.name, gp.loss.gp_weight, gp.d_optim.lr, gp.d_optim.betas) == ("wgan-gp", 10.0, 1e-4, [0.5, 0.9])
    mlp = resolve("mnist-mlp-gan")
    assert (mlp.model.z_dim, mlp.model.noise, mlp.model.arch) == (20, "normal", "mlp") and mlp.model.d_dropout > 0
    ac = resolve("mnist-acgan")
    assert (ac.model.arch, ac.model.conditional, ac.g_optim.lr, ac.g_optim.betas[0], ac.train.batch_size) == ("acgan", True, 2e-4, 0.5, 128)
    cifar = resolve("cifar10-dcgan")
    assert (cifar.g_optim.lr, cifar.train.batch_size, cifar.train.extra_d_every, cifar.data.image_size) == (2e-5, 100, 2, 32)
    d64 = resolve("dcgan64")
    assert (d64.data.image_size, d64.model.width * 8, d64.g_optim.betas[0]) == (64, 1024, 0.5)


def test_conditional_grid_has_one_class_per_row_and_sample_class_works(tmp_path, capsys):
    run = Trainer(resolve("mnist-acgan", {**TINY, "data.name": "digits", "train.num_samples": 20}),
                  run_dir=tmp_path / "run").fit()
    grid = np.asarray(Image.open(run / "samples" / "epoch_0001.png"))
    # 10 rows (classes) x 2 columns of 28x28 tiles, 2 px padding, scaled x2 for viewing
    assert grid.shape == ((10 * 30 + 2) * 2, (2 * 30 + 2) * 2)
    out = tmp_path / "three.npz"
    assert main(["sample", str(run), "--class", "3", "--num", "6", "--seed", "5", "--out", str(out)]) == 0
    arrays = np.load(out)
    assert arrays["arr_0"].shape == (6, 28, 28, 1) and arrays["arr_1"].tolist() == [3] * 6
    # the images are the generator's for label 3, and not those of another label
    G = load_generator(run)
    expected, other = to_uint8(G.sample(6, labels=3, seed=5)), to_uint8(G.sample(6, labels=4, seed=5))
    assert np.array_equal(arrays["arr_0"], expected.permute(0, 2, 3, 1).numpy())
    assert not np.array_equal(arrays["arr_0"], other.permute(0, 2, 3, 1).numpy())
    assert main(["sample", str(run), "--class", "10", "--out", str(tmp_path / "bad.npz")]) != 0
    assert "class 10 is out of range" in capsys.readouterr().err


def test_ring8_progress_images_are_scatter_plots_over_the_modes(tmp_path):
    run = Trainer(resolve("ring8-gan", {"train.steps": 3, "train.progress": False}), run_dir=tmp_path / "run").fit()
    for name in ("reals.png", "samples/epoch_0001.png"):
        img = np.asarray(Image.open(run / name).convert("RGB")).astype(int)
        assert img.shape == (400, 400, 3)
        # red crosses (tab:red, the 8 modes) and blue dots (tab:blue, the points) are both drawn
        red = (abs(img[..., 0] - 214) < 30) & (abs(img[..., 1] - 39) < 30) & (abs(img[..., 2] - 40) < 30)
        blue = (abs(img[..., 0] - 31) < 40) & (abs(img[..., 1] - 119) < 40) & (abs(img[..., 2] - 180) < 40)
        assert red.sum() > 8 * 10 and blue.sum() > 100, name
    assert len(mixture_centers("ring8")) == 8


def test_image_preset_on_point_data_is_refused_in_one_line(tmp_path, capsys):
    assert main(["train", "--preset", "mnist-acgan", "--dataset", "ring8", "--steps", "1", "--out", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err
    assert "needs image data" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--preset", "dcgan64", "--steps", "1", "--out", str(tmp_path / "r2")]) != 0
    assert "--dataset folder:PATH" in capsys.readouterr().err
