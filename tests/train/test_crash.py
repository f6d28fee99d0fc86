"""Crash safety with real processes: SIGKILL at several moments, SIGINT and SIGTERM, then --resume.

Every interrupted run must end with exactly the weights, optimiser state and samples of an
uninterrupted run with the same config (CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganforge.train.checkpoint import list_checkpoints, load_checkpoint
from tiny import TINY_FLAGS, digit_folder

EPOCHS = 6  # 4 steps an epoch: 24 steps, a checkpoint after every epoch


def _args(folder):
    return ["train", "--dataset", f"folder:{folder}", "--epochs", EPOCHS, "--checkpoint-every", 1,
            *TINY_FLAGS, "train.log_every=1", "train.keep_checkpoints=2"]


def _start(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: fast on a busy machine, same numbers in every process
    return subprocess.Popen([sys.executable, "-m", "ganforge", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged_steps(run):
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["step"] for line in lines if '"d_loss"' in line and line.endswith("}")]
    return max(steps, default=0)


def _wait_for(proc, condition, what):
    deadline = time.monotonic() + 300
    while not condition():
        assert proc.poll() is None, f"training ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _finish(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
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
    moments = [
        ("after the first step, before any checkpoint", lambda: _logged_steps(run) >= 1, False),
        ("after the second checkpoint; the newest is then damaged", lambda: len(list_checkpoints(run)) >= 2, True),
        ("in the middle of epoch 5", lambda: _logged_steps(run) >= 18, False),
    ]
    proc, outputs, damaged = _start(*_args(folder), "--out", run), [], None
    for what, condition, damage in moments:
        _wait_for(proc, condition, what)
        proc.send_signal(signal.SIGKILL)
        outputs.append(proc.communicate()[0])
        assert proc.returncode == -signal.SIGKILL, what
        if damage:  # as a writer without temp file + rename could leave it
            damaged = list_checkpoints(run)[-1]
            damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
        proc = _start("train", "--resume", run)
    outputs.append(_finish(proc)[0])
    assert "note: " in outputs[1] and "restarting it from step 0" in outputs[1]
    assert f"skipped damaged checkpoint(s): checkpoint {damaged}" in outputs[2]
    assert "done: 24 steps" in outputs[3]
    _assert_same_final_state(ref, run)
    resumes = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"resume"' in line]
    assert len(resumes) == 3
    assert resumes[0]["from"] == "config.yaml" and resumes[0]["step"] == 0  # killed before the first checkpoint
    assert resumes[1]["step"] % 4 == 0 and resumes[1]["step"] >= 4  # fell back to the older checkpoint


def test_sigint_and_sigterm_checkpoint_then_resume_matches(setup):
    root, folder, ref = setup
    run = root / "signals"
    proc = _start(*_args(folder), "--out", run)
    for sig, code, at in ((signal.SIGINT, 130, 6), (signal.SIGTERM, 143, 14)):  # both in the middle of an epoch
        _wait_for(proc, lambda: _logged_steps(run) >= at, f"step {at}")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == code
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err
        state = load_checkpoint(list_checkpoints(run)[-1])
        assert at <= state["step"] < 4 * EPOCHS
        assert lines[0] == (f"ganforge: error: stopped by {signal.Signals(sig).name} at step {state['step']}; "
                            f"checkpoint saved; resume with: ganforge train --resume {run}")
        proc = _start("train", "--resume", run)
    _finish(proc)
    _assert_same_final_state(ref, run)
