"""Optional TensorBoard logging: event files with both losses per step and the sample grids."""

from __future__ import annotations

import json

import pytest

from ganforge.config import resolve
from ganforge.train import Trainer
from tiny import TINY_FLAGS, digit_folder


def test_tensorboard_events_hold_losses_and_samples(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 'ganforge[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{digit_folder(tmp_path / 'd')}", "train.epochs=2",
                                   "train.tensorboard=true", "train.log_every=1"])
    run = Trainer(cfg, run_dir=tmp_path / "run").fit()
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    d = acc.Scalars("loss/D")
    assert [e.step for e in d] == list(range(1, 9))
    assert [e.step for e in acc.Images("samples")] == [4, 8]
    log = [line for line in (run / "metrics.jsonl").read_text().splitlines() if '"d_loss"' in line]
    assert [round(json.loads(line)["d_loss"], 4) for line in log] == [round(e.value, 4) for e in d]
