"""Run under torchrun by test_streaming.py: each rank streams its share of a pack for a few steps, then dumps
the indices of its batches in epoch 0 and the images its reader returned for them.

    torchrun --standalone --nproc_per_node=2 pack_worker.py RUN_DIR DUMP_DIR key=value ...
"""

import sys
from pathlib import Path

import torch

from ganforge.config import parse_override, resolve
from ganforge.train import Trainer
from ganforge.train.distributed import cleanup

run_dir, dump_dir, *rest = sys.argv[1:]
items = dict(parse_override(a) for a in rest)
trainer = Trainer(resolve(items.pop("preset"), items), run_dir=run_dir)
trainer.fit()
batches = trainer.epoch_batches(0)
Path(dump_dir).mkdir(parents=True, exist_ok=True)
torch.save({"indices": torch.cat(batches), "images": torch.cat([trainer.read_images(b) for b in batches]),
            "streamed": trainer.reader is not None, "step": trainer.step},
           Path(dump_dir) / f"rank{trainer.rank}.pt")
cleanup()
