"""fast-28 / fast-32 (docs/recipes.md): unchanged presets build and train on digits, folders and Fashion-MNIST."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import needs_fashion, run_cli
from ganforge.config import resolve
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from ganforge.train.augment import AugmentedD
from ganforge.rundir import list_checkpoints, load_checkpoint

STEPS = {"train.steps": 3, "train.progress": False}


def make_folder(root, size, mode, n=80):
    """n noisy images in two class sub-folders: a bright square on a dark background."""
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
        a = int(rng.integers(2, size // 2))
        img[a:a + size // 3, a:a + size // 3] = 220 if i % 2 else 160
        d = root / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).convert(mode).save(d / f"{i:03d}.png")
    return root


def fit_steps(preset, dataset, out):
    trainer = Trainer(resolve(preset, {"data.name": dataset, **STEPS}), run_dir=out)
    return trainer, trainer.fit()


def test_fast_28_defaults():
    cfg = resolve("fast-28")
    assert (cfg.data.name, cfg.data.image_size, cfg.data.channels) == ("fashion-mnist", 28, 1)
    assert cfg.train.minutes == 10 and cfg.train.augment == "off" and cfg.train.ema == 0.999
    assert cfg.train.precision == "auto" and cfg.model.width == 32
    assert resolve("fast-32").data.image_size == 32 and resolve("fast-32").data.channels == 3


def test_fast_28_on_digits_upscales(tmp_path):
    trainer, run = fit_steps("fast-28", "digits", tmp_path / "run")
    assert trainer.stepper.D is trainer.D                            # augmentation off
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 3 and state["data"]["shape"] == [1, 28, 28]
    assert state["G_ema"] is not None
    x = load_generator(run).sample(5, seed=0)
    assert x.shape == (5, 1, 28, 28)


def test_fast_28_on_a_28x28_folder(tmp_path):
    folder = make_folder(tmp_path / "imgs", 28, "L")
    trainer, run = fit_steps("fast-28", f"folder:{folder}", tmp_path / "run")
    assert load_checkpoint(list_checkpoints(run)[-1])["data"]["shape"] == [1, 28, 28]
    assert (run / "samples" / "epoch_0001.png").is_file()


def test_fast_32_on_a_32x32_rgb_folder(tmp_path):
    folder = make_folder(tmp_path / "imgs", 32, "RGB")
    trainer, run = fit_steps("fast-32", f"folder:{folder}", tmp_path / "run")
    assert load_generator(run).sample(4, seed=0).shape == (4, 3, 32, 32)


def test_fast_28_with_auto_augment_on_digits(tmp_path):
    trainer = Trainer(resolve("fast-28", {"data.name": "digits", "train.augment": "auto", **STEPS}),
                      run_dir=tmp_path / "run")
    assert isinstance(trainer.stepper.D, AugmentedD)                 # 1,797 images: DiffAugment on
    trainer.fit()
    assert load_checkpoint(list_checkpoints(tmp_path / "run")[-1])["step"] == 3


@needs_fashion
def test_fast_28_auto_does_not_augment_fashion_mnist(tmp_path):
    trainer = Trainer(resolve("fast-28", {"train.augment": "auto", **STEPS}), run_dir=tmp_path / "run")
    assert trainer.stepper.D is trainer.D                            # 60,000 images: no augmentation


def test_cli_minutes_budget_with_fast_28(tmp_path):
    out = tmp_path / "run"
    r = run_cli("train", "--preset", "fast-28", "--dataset", "digits", "--minutes", "0.05", "--out", out,
                "train.progress=false", timeout=300)
    assert r.returncode == 0, r.stderr
    state = load_checkpoint(list_checkpoints(out)[-1])
    assert state["step"] >= 1 and state["config"]["preset"] == "fast-28"
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("d_loss" in r for r in epochs)
    assert (out / "progress.gif").is_file()
