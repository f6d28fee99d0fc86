"""Checkpoints: truncated at many byte offsets, foreign files, fallback, pruning that keeps best.pt."""

from __future__ import annotations

import pickle
import shutil
import zipfile
from collections import OrderedDict

import pytest
import torch

from ganforge.config import resolve
from ganforge.errors import CheckpointError
from ganforge.train import Trainer
from ganforge.rundir import (checkpoint_path, latest_checkpoint, list_checkpoints, load_checkpoint,
                                       resume_point, save_checkpoint)
from tiny import TINY_FLAGS, digit_folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real run with checkpoints at steps 4 and 8 (two 4-step epochs)."""
    root = tmp_path_factory.mktemp("ckpt")
    folder = digit_folder(root / "digits")
    cfg = resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{folder}", "train.epochs=2", "train.checkpoint_every=1"])
    return Trainer(cfg, run_dir=root / "run").fit()


def _one_line(err: CheckpointError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_real_checkpoint_loads(run):
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 8 and state["format"] == "ganforge-checkpoint-v1"


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.1, 0.5, 0.9, 0.999])
def test_truncated_checkpoint_is_a_one_line_error(run, tmp_path, fraction):
    good = list_checkpoints(run)[-1]
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(cut)
    msg = _one_line(info.value)
    assert str(cut) in msg and ("unreadable" in msg or "not a ganforge checkpoint" in msg)


@pytest.mark.parametrize("offset_from_end", [1, 22, 100])
def test_checkpoint_missing_its_last_bytes_is_refused(run, tmp_path, offset_from_end):
    data = list_checkpoints(run)[-1].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[:-offset_from_end])
    with pytest.raises(CheckpointError, match="unreadable|not a ganforge checkpoint"):
        load_checkpoint(cut)


class Foreign:
    pass


@pytest.mark.parametrize("kind", ["tensor", "plain dict", "pickled object", "text", "zip"])
def test_foreign_files_are_refused(tmp_path, kind):
    path = tmp_path / "foreign.pt"
    if kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "plain dict":
        torch.save({"model": OrderedDict(w=torch.ones(2))}, path)
    elif kind == "pickled object":
        path.write_bytes(pickle.dumps(Foreign()))
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "not a ganforge checkpoint" in _one_line(info.value) or "unreadable" in str(info.value)


def test_pickled_code_is_never_executed(tmp_path):
    """weights_only loading refuses a pickle that would call a function."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "ganforge-checkpoint-v1", "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_latest_falls_back_to_the_previous_good_one(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run / "checkpoints", copy / "checkpoints")
    newest = list_checkpoints(copy)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    state = latest_checkpoint(copy)
    assert state["step"] == 4
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"skipped damaged checkpoint(s): checkpoint {newest}" in out and "using ckpt_00000004.pt" in out


def test_all_checkpoints_damaged_is_an_error(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run / "checkpoints", copy / "checkpoints")
    for p in list_checkpoints(copy):
        p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="unreadable"):
        latest_checkpoint(copy)


def test_pruning_keeps_last_k_and_best(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    best = tmp_path / "checkpoints" / "best.pt"
    torch.save({"format": "ganforge-checkpoint-v1", "step": 2}, best)
    leftover = tmp_path / "checkpoints" / ".ckpt_00000099.pt.abc.tmp"  # what a kill during a write leaves
    leftover.write_bytes(b"partial")
    for step in range(1, 7):
        save_checkpoint({"step": step, "w": torch.full((2,), float(step))}, tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000005.pt", "ckpt_00000006.pt"]
    assert best.is_file() and load_checkpoint(best)["step"] == 2
    assert latest_checkpoint(tmp_path)["step"] == 6
    assert load_checkpoint(checkpoint_path(tmp_path, 6))["w"].tolist() == [6.0, 6.0]


def test_resume_point_without_checkpoint_uses_config(run, tmp_path, capsys):
    fresh = tmp_path / "run"
    fresh.mkdir()
    shutil.copy(run / "config.yaml", fresh / "config.yaml")
    point = resume_point(fresh)
    assert point["path"] is None and point["config"]["train"]["epochs"] == 2
    assert "restarting it from step 0" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="does not exist"):
        resume_point(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        resume_point(empty)


def test_a_run_made_before_tf_padding_samples_and_resumes_with_its_own_padding(tmp_path):
    """ganforge 0.1 wrote no model.padding and padded seed 000's layers symmetrically: such a run keeps
    computing exactly that when sampled, evaluated or resumed, never TensorFlow's padding silently."""
    import yaml

    from ganforge.models import build_models
    from ganforge.ops import ConvTranspose2dSame
    from ganforge.sampler import load_generator

    folder = digit_folder(tmp_path / "digits")
    over = ["train.batch_size=16", "train.progress=false", "train.num_samples=4", f"data.name=folder:{folder}",
            "data.image_size=8", "train.epochs=1", "model.padding=symmetric"]
    run = Trainer(resolve("mnist-dcgan", over), run_dir=tmp_path / "run").fit()
    for path in list_checkpoints(run):  # make it the 0.1 run: no padding field in the checkpoint or config.yaml
        state = torch.load(path, weights_only=True)
        del state["config"]["model"]["padding"]
        torch.save(state, path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    del config["model"]["padding"]
    (run / "config.yaml").write_text(yaml.safe_dump(config))

    G = load_generator(run)
    assert not any(isinstance(m, ConvTranspose2dSame) for m in G.modules())
    state = latest_checkpoint(run)
    G_sym, _ = build_models(resolve("mnist-dcgan", {"model.padding": "symmetric"}).model, tuple(state["data"]["shape"]))
    G_sym.load_state_dict(state["G"])
    z = torch.randn(4, G.z_dim)
    assert torch.equal(G(z), G_sym.eval()(z))
    resumed = Trainer.resume(run, {"train.epochs": 2})
    assert resumed.cfg.model.padding == "symmetric"
    assert not any(isinstance(m, ConvTranspose2dSame) for m in resumed.G.modules())
