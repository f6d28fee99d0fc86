"""Crash safety with real processes: SIGKILL at several moments, SIGINT and SIGTERM, then --resume.

Every interrupted run must end with exactly the weights, optimiser state and samples of an
uninterrupted run with the same config (CPU). Each signal is a real one that the training process
sends itself during a chosen step (signal_worker.py), not one timed from outside: a watcher that
polls the log and then signals lands wherever the machine's speed and load put it (a run can
checkpoint, or finish, before the signal arrives).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge.rundir import list_checkpoints, load_checkpoint
from tiny import TINY_FLAGS, digit_folder

EPOCHS = 6  # 4 steps an epoch: 24 steps, a checkpoint after every epoch
SIGNAL_WORKER = Path(__file__).with_name("signal_worker.py")


def _args(folder):
    return ["train", "--dataset", f"folder:{folder}", "--epochs", EPOCHS, "--checkpoint-every", 1,
            *TINY_FLAGS, "train.log_every=1", "train.keep_checkpoints=2"]


def _start(*args, signal_at: tuple[signal.Signals, int] | None = None):
    """``ganforge ARGS`` in a new process; with ``signal_at=(SIG, N)`` it gets SIG during step N."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: fast on a busy machine, same numbers in every process
    cmd = ["-m", "ganforge"] if signal_at is None else [SIGNAL_WORKER, signal_at[0].name, signal_at[1]]
    return subprocess.Popen([sys.executable, *map(str, cmd), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged_steps(run):
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []  # written from the first logged step on
    return max((json.loads(line)["step"] for line in lines if '"d_loss"' in line), default=0)


def _finish(proc, code=0):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err
    return out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    folder = digit_folder(root / "digits")
    ref = root / "reference"
    _finish(_start(*_args(folder), "--out", ref))
    return root, folder, ref


def _assert_same_final_state(ref, run):
    a = load_checkpoint(list_checkpoints(ref)[-1])
    b = load_checkpoint(list_checkpoints(run)[-1])
    assert a["step"] == b["step"] == 4 * EPOCHS and a["epoch"] == b["epoch"] == EPOCHS
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for opt in ("opt_g", "opt_d"):
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), f"{opt}[{i}].{k} differs"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    final = f"samples/epoch_{EPOCHS:04d}.png"
    assert (ref / final).read_bytes() == (run / final).read_bytes()


def test_sigkill_at_several_moments_then_resume_matches(setup):
    root, folder, ref = setup
    run = root / "killed"
    moments = [  # (step that SIGKILL lands in, damage the newest checkpoint afterwards)
        (1, False),   # the first step, before any checkpoint
        (9, True),    # the step after the second checkpoint (end of epoch 2, step 8), which is then damaged
        (18, False),  # the middle of epoch 5
    ]
    outputs, damaged = [], None
    for i, (at, damage) in enumerate(moments):
        args = _args(folder) + ["--out", run] if i == 0 else ["train", "--resume", run]
        outputs.append(_finish(_start(*args, signal_at=(signal.SIGKILL, at)), code=-signal.SIGKILL)[0])
        assert _logged_steps(run) == at - 1  # killed inside step `at`, before it was logged
        if damage:  # as a writer without temp file + rename could leave it
            damaged = list_checkpoints(run)[-1]
            assert damaged.name == "ckpt_00000008.pt"
            damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    outputs.append(_finish(_start("train", "--resume", run))[0])
    assert "note: " in outputs[1] and "restarting it from step 0" in outputs[1]
    assert f"skipped damaged checkpoint(s): checkpoint {damaged}" in outputs[2]
    assert "done: 24 steps" in outputs[3]
    _assert_same_final_state(ref, run)
    resumes = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"resume"' in line]
    assert len(resumes) == 3
    assert resumes[0]["from"] == "config.yaml" and resumes[0]["step"] == 0  # killed before the first checkpoint
    assert resumes[1]["step"] == 4  # fell back to the older checkpoint
    assert resumes[2]["step"] == 16  # epoch 4's checkpoint: step 18 was in the middle of epoch 5


def test_sigint_and_sigterm_checkpoint_then_resume_matches(setup):
    root, folder, ref = setup
    run = root / "signals"
    args = _args(folder) + ["--out", run]
    for sig, code, at in ((signal.SIGINT, 130, 6), (signal.SIGTERM, 143, 14)):  # both in the middle of an epoch
        out, err = _finish(_start(*args, signal_at=(sig, at)), code=code)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err
        state = load_checkpoint(list_checkpoints(run)[-1])
        assert state["step"] == at  # the step the signal arrived in is finished, then the run stops
        assert lines[0] == (f"ganforge: error: stopped by {sig.name} at step {at}; "
                            f"checkpoint saved; resume with: ganforge train --resume {run}")
        args = ["train", "--resume", run]
    _finish(_start(*args))
    _assert_same_final_state(ref, run)
