"""Run under torchrun by test_distributed.py: train (or resume) a run, then dump this rank's weights.

    torchrun --standalone --nproc_per_node=2 ddp_worker.py RUN_DIR DUMP_DIR [--resume] [key=value ...]
"""

import sys
from pathlib import Path

import torch

from ganforge.config import parse_override, resolve
from ganforge.train import Trainer
from ganforge.train.distributed import cleanup

run_dir, dump_dir, *rest = sys.argv[1:]
resume = "--resume" in rest
items = dict(parse_override(a) for a in rest if a != "--resume")
preset = items.pop("preset")
trainer = Trainer.resume(run_dir, items) if resume else Trainer(resolve(preset, items), run_dir=run_dir)
trainer.fit()
Path(dump_dir).mkdir(parents=True, exist_ok=True)
torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "step": trainer.step,
            "opt_d": trainer.opt_d.state_dict(), "world_size": trainer.world_size,
            "G_types": sorted({type(m).__name__ for m in trainer.G.modules()})},
           Path(dump_dir) / f"rank{trainer.rank}.pt")
cleanup()
