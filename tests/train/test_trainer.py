"""Training end to end on real data: artifacts, resume equality, schedules."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import needs_fashion
from ganforge.api import override_items
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from ganforge.rundir import list_checkpoints, load_checkpoint

TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 64, "train.progress": False}


def train(preset, out, **over):
    return Trainer(resolve(preset, {**TINY, **over}), run_dir=out).fit()


def test_digits_run_leaves_every_artifact(tmp_path):
    run = train("digits-dcgan", tmp_path / "run", **{"train.epochs": 2})
    for name in ["config.yaml", "reals.png", "samples/epoch_0001.png", "samples/epoch_0002.png",
                 "progress.gif", "metrics.jsonl", "losses.png"]:
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "d_loss" in r]
    epochs = [r for r in records if r.get("event") == "epoch"]
    assert [r["step"] for r in steps] == list(range(1, 2 * (1797 // 64) + 1))
    assert len(epochs) == 2 and all(r["seconds"] > 0 for r in epochs)
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in steps)
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 2
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == [f"ckpt_{2 * 28:08d}.pt"]
    state = load_checkpoint(ckpts[0])
    for key in ["step", "epoch", "config", "G", "D", "opt_g", "opt_d", "rng", "version", "fixed_z"]:
        assert key in state
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["G"])


def test_sampler_rebuilds_generator_from_run_alone(tmp_path):
    run = train("digits-dcgan", tmp_path / "run", **{"train.steps": 3})
    G = load_generator(run)
    x = G.sample(10, seed=1)
    assert x.shape == (10, 1, 16, 16)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, G.sample(10, seed=1))
    assert not torch.equal(x, G.sample(10, seed=2))


def _weights(run):
    return load_checkpoint(list_checkpoints(run)[-1])


@pytest.mark.parametrize("preset, over", [
    ("digits-dcgan", {}),
    # seed 000's model: dropout (global RNG) and the simultaneous update, on digits resized to 28x28
    ("mnist-dcgan", {"data.name": "digits", "model.z_dim": 100, "train.batch_size": 128}),
])
def test_two_epochs_equal_one_epoch_plus_resume(tmp_path, preset, over):
    full = train(preset, tmp_path / "full", **{**over, "train.epochs": 2})
    half = train(preset, tmp_path / "half", **{**over, "train.epochs": 1})
    Trainer.resume(half, {"train.epochs": 2}).fit()
    a, b = _weights(full), _weights(half)
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"] == 2
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    assert torch.equal(a["opt_g"]["state"][0]["exp_avg"], b["opt_g"]["state"][0]["exp_avg"])
    # resume is logged, nothing overwritten
    log = (half / "metrics.jsonl").read_text()
    assert '"event": "resume"' in log


@pytest.mark.parametrize("warmup", [False, True])
def test_resume_mid_epoch_by_steps_matches(tmp_path, warmup):
    ema = {"train.ema": 0.9, "train.ema_warmup": warmup}
    full = train("digits-dcgan", tmp_path / "full", **{"train.steps": 20, **ema})
    part = train("digits-dcgan", tmp_path / "part", **{"train.steps": 7, **ema})
    Trainer.resume(part, {"train.steps": 20}).fit()
    a, b = _weights(full), _weights(part)
    for k in a["G_ema"]:
        assert torch.equal(a["G_ema"][k], b["G_ema"][k])


def test_an_epoch_resumed_midway_is_timed_over_both_parts(tmp_path):
    """The epoch record counts the images and seconds before the resume too (28 steps of 64 per epoch)."""
    part = train("digits-dcgan", tmp_path / "part", **{"train.steps": 10})
    first = load_checkpoint(list_checkpoints(part)[-1])["epoch_progress"]
    assert first[1] == 10 * 64 and first[0] > 0
    Trainer.resume(part, {"train.steps": None, "train.epochs": 1}).fit()
    (epoch,) = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines() if '"epoch"' in line
                and json.loads(line).get("event") == "epoch"]
    assert epoch["seconds"] > first[0]
    # the record keeps seconds to 1 ms and img/s to 0.1: their product is 28 * 64 up to that rounding,
    # n * 0.0005 / seconds + 0.05 * seconds (a record that counted one part only would be off by a third or more)
    n, s = 28 * 64, epoch["seconds"]
    assert abs(epoch["img_per_s"] * s - n) <= n * 0.0005 / (s - 0.0005) + 0.05 * (s + 0.0005)


def test_existing_run_dir_is_refused_and_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(GanforgeError, match="already exists"):
        train("digits-dcgan", out, **{"train.steps": 1})
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_resume_refuses_changing_the_model(tmp_path):
    run = train("digits-dcgan", tmp_path / "run", **{"train.steps": 2})
    with pytest.raises(GanforgeError, match="cannot change model.width"):
        Trainer.resume(run, {"model.width": 16})


def test_alternating_schedule_counts_d_batches(tmp_path):
    """n_critic=2 plus an extra D step every 3rd step: an epoch of 28 batches gives 12 G steps (2+2+3)*4."""
    run = train("digits-dcgan", tmp_path / "run", **{"train.epochs": 1, "train.n_critic": 2, "train.extra_d_every": 3})
    assert _weights(run)["step"] == 12


@needs_fashion
def test_seed_000_steps_on_fashion_mnist(tmp_path):
    run = Trainer(resolve("mnist-dcgan", override_items(dataset="fashion-mnist", steps=3,
                                                      overrides=["train.progress=false"])), run_dir=tmp_path / "r").fit()
    state = _weights(run)
    assert state["step"] == 3 and state["data"]["shape"] == [1, 28, 28]
    assert (run / "samples" / "epoch_0001.png").is_file()


def test_time_budget_stops_cleanly_with_a_checkpoint(tmp_path):
    run = train("digits-dcgan", tmp_path / "run", **{"train.epochs": 1000, "train.minutes": 0.002})
    state = _weights(run)
    assert 1 <= state["step"] < 1000 * 28
    assert any((run / "samples").glob("epoch_*.png"))
    assert (run / "progress.gif").is_file()
