"""Run under torchrun by test_distributed.py: train (or resume) a run, then dump this rank's weights.

    torchrun --standalone --nproc_per_node=2 ddp_worker.py RUN_DIR DUMP_DIR [--resume] [--sigterm-rank1-at N] [key=value ...]

``--sigterm-rank1-at N``: rank 1 sends itself a real SIGTERM right after its step N, as when a
signal reaches one worker of a job before the others.
"""

import os
import signal
import sys
from pathlib import Path

import torch

from ganforge.config import parse_override, resolve
from ganforge.train import Trainer
from ganforge.train.distributed import cleanup
from ganforge.train.signals import TrainingInterrupted

run_dir, dump_dir, *rest = sys.argv[1:]
resume = "--resume" in rest
sigterm_at = int(rest[rest.index("--sigterm-rank1-at") + 1]) if "--sigterm-rank1-at" in rest else None
items = dict(parse_override(a) for a in rest if "=" in a)
preset = items.pop("preset")
trainer = Trainer.resume(run_dir, items) if resume else Trainer(resolve(preset, items), run_dir=run_dir)
if sigterm_at is not None and trainer.rank == 1:
    take_step = trainer.train_step

    def step_then_signal(chunk):
        out = take_step(chunk)
        if trainer.step + 1 == sigterm_at:  # trainer.step counts this step once train_step returns
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    trainer.train_step = step_then_signal
try:
    trainer.fit()
except TrainingInterrupted as stopped:
    print(f"rank {trainer.rank}: {stopped}", flush=True)
Path(dump_dir).mkdir(parents=True, exist_ok=True)
torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "step": trainer.step,
            "opt_d": trainer.opt_d.state_dict(), "world_size": trainer.world_size,
            "G_types": sorted({type(m).__name__ for m in trainer.G.modules()})},
           Path(dump_dir) / f"rank{trainer.rank}.pt")
cleanup()
