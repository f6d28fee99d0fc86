"""Bad input, tried as a new user would, through real `python -m ganforge` processes.

Each case checks: a non-zero exit, exactly one line on stderr holding the expected words,
no traceback, and every file the user already had byte-for-byte unchanged (nothing new either).
"""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from conftest import run_cli
from ganforge.config import resolve
from ganforge.models import ARCHS, build_models
from ganforge.config import ModelConfig
from ganforge.errors import ConfigError
from ganforge.train import Trainer
from ganforge.rundir import list_checkpoints, load_checkpoint, save_checkpoint
from tiny import TINY_FLAGS, digit_folder, snapshot

ENV = {"OMP_NUM_THREADS": "1"}


def _idx(array, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype("uint8").tobytes()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A user's workspace: data, a trained run and broken copies of both."""
    ws = tmp_path_factory.mktemp("workspace")
    digits = digit_folder(ws / "digits", per_class=4, classes=10)
    run = Trainer(resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{digits}", "train.epochs=1"]),
                  run_dir=ws / "run").fit()
    (ws / "empty").mkdir()
    (ws / "unreadable").mkdir()
    for i in range(3):
        (ws / "unreadable" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * i)
    # Fashion-MNIST files: good labels, images cut off inside the gzip stream / inside the IDX payload
    import numpy as np

    images = np.arange(20 * 28 * 28).reshape(20, 28, 28) % 251
    labels = np.arange(20) % 10
    for name, cut in (("idx_gz", "gz"), ("idx_raw", "raw")):
        d = ws / name / "fashion-mnist"
        d.mkdir(parents=True)
        (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels, 0x801)))
        img = _idx(images, 0x803)
        if cut == "gz":
            (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(img)[:300])
        else:
            (d / "train-images-idx3-ubyte").write_bytes(img[:5000])
    cifar = ws / "cifar" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(b"\x80\x04\x95 this is not a pickle")
    (ws / "nockpt").mkdir()
    shutil.copy(run / "config.yaml", ws / "nockpt" / "config.yaml")
    shutil.copytree(run, ws / "badckpt")
    ckpt = list_checkpoints(ws / "badckpt")[-1]
    ckpt.write_bytes(ckpt.read_bytes()[:777])
    # a run whose discriminator has diverged: its next step gives non-finite losses
    shutil.copytree(run, ws / "diverged")
    state = load_checkpoint(list_checkpoints(ws / "diverged")[-1])
    state["D"] = {k: v * 1e30 if v.is_floating_point() else v for k, v in state["D"].items()}
    state["config"]["train"]["epochs"] = 2
    for p in list_checkpoints(ws / "diverged"):
        p.unlink()
    save_checkpoint(state, ws / "diverged")
    (ws / "samples.npz").write_bytes(b"the user's own file")
    (ws / "SAMPLES.NPZ").write_bytes(b"the user's own file, upper case")
    (ws / "notes.txt").write_text("the user's notes")
    (ws / "folder.npz").mkdir()
    return ws


RUN = ["--dataset", "folder:digits", *TINY_FLAGS]

CASES = {
    # name: (arguments, words the one line must hold)
    "unknown preset": (["train", "--preset", "mnist-dcgn"], ["unknown preset 'mnist-dcgn'", "did you mean 'mnist-dcgan'?"]),
    "unknown data set": (["train", "--dataset", "fashion-mnst"], ["unknown dataset 'fashion-mnst'", "did you mean 'fashion-mnist'?"]),
    "unknown loss": (["train", *RUN, "loss.name=wgn"], ["unknown loss 'wgn'", "did you mean 'wgan'?"]),
    "label smoothing with the hinge loss": (["train", *RUN, "loss.name=hinge", "loss.label_smoothing=0.1"],
                                            ["loss.label_smoothing has no effect on loss 'hinge'", "ns, minimax, lsgan"]),
    "label smoothing with the WGAN critic": (["train", *RUN, "loss.name=wgan", "loss.clip=0.01", "loss.label_smoothing=0.1"],
                                             ["loss.label_smoothing has no effect on loss 'wgan'"]),
    "WGAN without clipping": (["train", *RUN, "loss.name=wgan"],
                              ["loss 'wgan' without loss.clip trains an unconstrained critic", "loss.allow_unclipped=true"]),
    "unknown architecture": (["train", *RUN, "model.arch=dcgn"], ["unknown architecture 'dcgn'", "did you mean 'dcgan'?"]),
    "unknown config key": (["train", "train.batchsize=3"], ["unknown config key 'train.batchsize'", "did you mean 'train.batch_size'?"]),
    "key without value": (["train", "train.batch_size"], ["expected key=value, got 'train.batch_size'"]),
    "unknown command": (["trian"], ["invalid choice: 'trian'", "ganforge --help"]),
    "unknown flag": (["train", "--epocs=3"], ["unrecognized arguments: --epocs=3"]),
    "wrong type in override": (["train", "train.batch_size=abc"], ["train.batch_size must be an integer, got 'abc'"]),
    "wrong type in flag": (["train", "--epochs", "three"], ["argument --epochs: invalid int value: 'three'"]),
    "wrong choice": (["train", "--device", "tpu"], ["argument --device: invalid choice: 'tpu'"]),
    "negative epochs": (["train", "--epochs", "-1"], ["train.epochs must be 0 or more, got -1"]),
    "zero batch size": (["train", "train.batch_size=0"], ["train.batch_size must be at least 1, got 0"]),
    "zero checkpoint interval": (["train", "--checkpoint-every", "0"], ["train.checkpoint_every must be at least 1, got 0"]),
    "learning rate out of range": (["train", "g_optim.lr=-1"], ["g_optim.lr must be positive, got -1.0"]),
    "batch larger than the data": (["train", "--dataset", "folder:digits", *TINY_FLAGS, "train.batch_size=1000"],
                                   ["has 40 samples, fewer than one batch", "lower the batch size"]),
    "conditional on an unconditional arch": (["train", *RUN, "model.conditional=true"], ["architecture 'dcgan' is unconditional"]),
    "renamed preset": (["train", "--preset", "mnist-cgan"], ["preset 'mnist-cgan' is now 'mnist-projgan'", "'mnist-cgan-conv'"]),
    "concatenation cGAN without labels": (["train", *RUN, "model.arch=cgan-conv"],
                                          ["architecture 'cgan-conv' is class-conditional; set model.conditional=true"]),
    "label maps after conv 1 on another arch": (["train", "--preset", "mnist-cgan-mlp", "model.labels_after_conv1=true"],
                                                ["model.labels_after_conv1 applies to model.arch=cgan-conv only"]),
    "missing data offline": (["train", "--dataset", "mnist", "data.download=false"],
                             ["mnist not found", "put the four files in", "--data-dir"]),
    "truncated gzip IDX file": (["train", "--dataset", "fashion-mnist", "--data-dir", "idx_gz", "data.download=false"],
                                ["train-images-idx3-ubyte.gz", "corrupt gzip", "download again"]),
    "truncated IDX file": (["train", "--dataset", "fashion-mnist", "--data-dir", "idx_raw", "data.download=false"],
                           ["train-images-idx3-ubyte", "header 20x28x28 needs"]),
    "corrupt CIFAR-10 pickle": (["train", "--dataset", "cifar10", "--data-dir", "cifar", "data.download=false"],
                                ["data_batch_1", "not a CIFAR-10 batch"]),
    "image folder without images": (["train", "--dataset", "folder:empty"], ["folder:empty: no readable images"]),
    "image folder of unreadable files": (["train", "--dataset", "folder:unreadable"], ["no readable images", "3 unreadable file(s), e.g. unreadable/0.png"]),
    "image folder that does not exist": (["train", "--dataset", "folder:nowhere"], ["folder:nowhere: not a folder"]),
    "new run over an existing run": (["train", *RUN, "--out", "run"], ["run directory run already exists", "--resume run"]),
    "resume of a missing run": (["train", "--resume", "nowhere"], ["run directory nowhere does not exist"]),
    "resume changing the model": (["train", "--resume", "run", "model.width=16"], ["cannot change model.width when resuming"]),
    "resume with only damaged checkpoints": (["train", "--resume", "badckpt"], ["badckpt/checkpoints/ckpt_", "unreadable"]),
    "non-finite losses": (["train", "--resume", "diverged"],
                          ["losses became non-finite at step 3", "the last good checkpoint diverged/checkpoints/ckpt_00000002.pt is kept"]),
    "sample from a run without checkpoint": (["sample", "nockpt", "--out", "s.npz"], ["no checkpoint in nockpt/checkpoints"]),
    "sample from a damaged checkpoint": (["sample", "badckpt", "--out", "s.npz"], ["unreadable (truncated or not a ganforge checkpoint)"]),
    "sample from a missing run": (["sample", "nowhere", "--out", "s.npz"], ["nowhere does not exist"]),
    "sample a class from an unconditional model": (["sample", "run", "--class", "12", "--out", "s.npz"], ["this generator is unconditional"]),
    "sample zero images": (["sample", "run", "--num", "0", "--out", "s.npz"], ["--num must be at least 1, got 0"]),
    "sample over an existing file": (["sample", "run", "--out", "samples.npz"], ["samples.npz already exists", "--force"]),
    "sample over an existing upper-case .NPZ file": (["sample", "run", "--out", "SAMPLES.NPZ"],
                                                     ["SAMPLES.NPZ already exists", "--force"]),
    "sample into an existing file that is no .npz": (["sample", "run", "--out", "notes.txt"],
                                                     ["--out notes.txt is an existing file", "FILE.npz or a folder"]),
    "sample .npz over a folder": (["sample", "run", "--out", "folder.npz"], ["--out folder.npz is a folder"]),
    "train into an existing file": (["train", *RUN, "--out", "notes.txt"],
                                    ["--out notes.txt is an existing file, not a run directory"]),
    "report over an existing file": (["report", "run", "--out", "notes.txt"], ["notes.txt already exists", "--force"]),
    "report into a folder": (["report", "run", "--out", "digits"], ["--out digits is a folder"]),
    "interpolate to a wrong format": (["sample", "run", "--interpolate", "3", "--out", "walk.jpg"], ["a .png strip or a .gif"]),
    "interpolate one seed": (["sample", "run", "--interpolate", "1", "--out", "walk.png"], ["at least 2 seeds"]),
    "report of a folder that is no run": (["report", "digits"], ["digits is not a ganforge run directory (no config.yaml)"]),
    "fine-tune with another width": (["train", "--init-from", "run", *RUN, "model.width=16"],
                                     ["--init-from run: model.width is 8 there, 16 here", "source run's networks"]),
    "fine-tune at another image size": (["train", "--init-from", "run", *RUN, "data.image_size=16"],
                                        ["--init-from run: data.image_size is 8x8 there, 16x16 here"]),
    "fine-tune from a missing run": (["train", *RUN, "--init-from", "nowhere"],
                                     ["--init-from nowhere: no such run directory or checkpoint file"]),
    "fine-tune from a run without checkpoint": (["train", *RUN, "--init-from", "nockpt"],
                                                ["--init-from nockpt: no checkpoint in nockpt/checkpoints"]),
    "fine-tune and resume at once": (["train", "--resume", "run", "--init-from", "run"],
                                     ["--init-from starts a new run", "--resume run continues a run"]),
    "FreezeD without a source": (["train", *RUN, "train.freeze_d=1"], ["train.freeze_d=1 keeps D's first layers", "--init-from RUN"]),
    "FreezeD of all of D": (["train", "--init-from", "run", *RUN, "train.freeze_d=2"],
                            ["train.freeze_d=2, but D of model.arch=dcgan has 2 weight layers; freeze at most 1"]),
    "ADA without augmentation": (["train", *RUN, "train.ada_target=0.6"], ["train.ada_target adapts", "set train.augment"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_and_changes_nothing(ws, case):
    args, words = CASES[case]
    before = snapshot(ws)
    logs = {p: p.read_bytes() for p in ws.rglob("metrics.jsonl")}  # a run's log may only grow
    result = run_cli(*args, cwd=ws, env=ENV)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ganforge: error: ") and "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    after = snapshot(ws)
    for path, old in logs.items():
        assert path.read_bytes().startswith(old)
        key = str(path.relative_to(ws))
        after[key] = before[key]
    assert after == before


def test_debug_flag_shows_the_traceback(ws):
    result = run_cli("--debug", "train", "--preset", "mnist-dcgn", cwd=ws)
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_folder_with_some_unreadable_files_warns_in_one_line_and_trains(ws, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ws / "digits", data)
    (data / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = run_cli("train", "--dataset", f"folder:{data}", *TINY_FLAGS, "--steps", "1", "--out", tmp_path / "run", env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"ganforge: warning: folder:{data}: skipped 1 unreadable image file(s), e.g. {data / '3' / 'broken.png'}"]


def _conditional_arch():
    for name in ARCHS:
        for size in (8, 16, 28, 32):
            try:
                build_models(ModelConfig(arch=name, conditional=True, width=8, z_dim=16), (1, size, size), 10)
                return name, size
            except (ConfigError, ValueError, TypeError):
                continue
    return None


def test_class_out_of_range_for_a_conditional_model(ws, tmp_path):
    found = _conditional_arch()
    if found is None:
        pytest.skip("no conditional architecture is registered in this build")
    arch, size = found
    run = Trainer(resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{ws / 'digits'}", f"data.image_size={size}",
                                           f"model.arch={arch}", "model.conditional=true", "train.steps=1"]),
                  run_dir=tmp_path / "cond").fit()
    before = snapshot(tmp_path)
    result = run_cli("sample", run, "--class", "12", "--out", tmp_path / "s.npz", env=ENV)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["ganforge: error: class 12 is out of range: this model has classes 0-9"]
    assert snapshot(tmp_path) == before
    assert torch.is_tensor(load_checkpoint(list_checkpoints(run)[-1])["fixed_z"])
