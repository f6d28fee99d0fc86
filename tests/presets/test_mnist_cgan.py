"""mnist-cgan-mlp / mnist-cgan-conv (Mirza & Osindero 2014, docs/cgan.md) and mnist-projgan (was mnist-cgan):
real training runs on digits through the Trainer, resumed bit for bit, with one class per grid row."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import resolve
from ganforge.rundir import latest_checkpoint, list_checkpoints
from ganforge.sampler import load_generator
from ganforge.train import Trainer

CGAN_PRESETS = ["mnist-cgan-mlp", "mnist-cgan-conv"]


def config(preset, steps, **over):
    # digits (8x8) resized to the preset's 28x28; batch 32 keeps a step cheap, 56 steps an epoch: the split
    # below falls mid-epoch
    return resolve(preset, {"data.name": "digits", "data.image_size": 28, "train.steps": steps,
                            "train.batch_size": 32, "train.progress": False, **over})


def test_presets_are_the_paper_and_say_so():
    mlp, conv = resolve("mnist-cgan-mlp"), resolve("mnist-cgan-conv")
    for cfg in (mlp, conv):
        assert "Mirza & Osindero 2014" in cfg.description
        assert cfg.model.conditional and cfg.family == "gan" and cfg.train.num_samples == 100
        assert (cfg.data.image_size, cfg.data.channels, cfg.loss.name) == (28, 1, "ns")
    assert (mlp.model.arch, mlp.model.g_hidden, mlp.model.d_hidden, mlp.model.noise) == ("cgan-mlp", [256, 512], [512, 256], "uniform")
    assert (conv.model.arch, conv.model.width, conv.model.labels_after_conv1) == ("cgan-conv", 32, True)
    assert "Miyato & Koyama 2018" in resolve("mnist-projgan").description


@pytest.mark.parametrize("preset", CGAN_PRESETS)
def test_resumed_run_equals_an_uninterrupted_one(tmp_path, preset):
    straight = Trainer(config(preset, 6), tmp_path / "straight")
    straight.fit()
    first = Trainer(config(preset, 3), tmp_path / "resumed")
    first.fit()
    assert latest_checkpoint(tmp_path / "resumed")["step"] == 3
    resumed = Trainer.resume(tmp_path / "resumed", {"train.steps": 6})
    resumed.fit()
    assert resumed.step == straight.step == 6
    for part in ("G", "D"):
        a, b = getattr(straight, part).state_dict(), getattr(resumed, part).state_dict()
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), f"{part}.{name}"
    for (name, a), b in zip(straight.ema.shadow.state_dict().items(), resumed.ema.shadow.state_dict().values()):
        assert torch.equal(a, b), f"G_ema.{name}"
    assert torch.equal(straight.sample_fixed(), resumed.sample_fixed())
    # the run trained: G moved from its initial weights
    fresh = Trainer(config(preset, 1), tmp_path / "fresh")
    assert any(not torch.equal(a, b) for a, b in zip(fresh.G.state_dict().values(), straight.G.state_dict().values()))


@pytest.mark.parametrize("preset", CGAN_PRESETS)
def test_grid_has_one_class_per_row_and_samples_follow_the_label(tmp_path, preset):
    run = Trainer(config(preset, 2, **{"train.num_samples": 20}), tmp_path / "run").fit()
    grid = np.asarray(Image.open(run / "samples" / "epoch_0001.png"))
    # 10 rows (classes) x 2 columns of 28x28 tiles, 2 px padding, scaled x2 for viewing
    assert grid.shape == ((10 * 30 + 2) * 2, (2 * 30 + 2) * 2)
    G = load_generator(run)
    assert G.num_classes == 10
    threes, fours = G.sample(4, labels=3, seed=5), G.sample(4, labels=4, seed=5)
    assert threes.shape == (4, 1, 28, 28) and not torch.equal(threes, fours)
    assert torch.equal(threes, G.sample(4, labels=3, seed=5))


def test_a_run_saved_under_the_old_name_mnist_cgan_still_samples_and_resumes(tmp_path):
    """Runs made before the rename say ``preset: mnist-cgan`` in config.yaml and in every checkpoint."""
    cfg = resolve("mnist-projgan", {"data.name": "digits", "data.image_size": 16, "model.width": 8, "train.steps": 2,
                                    "train.batch_size": 16, "train.num_samples": 10, "train.progress": False})
    cfg.preset = "mnist-cgan"
    run = Trainer(cfg, tmp_path / "old").fit()
    assert "preset: mnist-cgan" in (run / "config.yaml").read_text()
    assert latest_checkpoint(run)["config"]["preset"] == "mnist-cgan"
    assert load_generator(run).sample(3, labels=[0, 1, 2], seed=0).shape == (3, 1, 16, 16)
    resumed = Trainer.resume(run, {"train.steps": 3})
    resumed.fit()
    assert resumed.step == 3 and resumed.cfg.preset == "mnist-cgan"
    assert len(list_checkpoints(run)) == 2
