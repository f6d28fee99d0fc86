"""Optional TensorBoard logging (train.tensorboard=true): losses per step, epoch timings, sample grids.

Event files go to RUN_DIR/tensorboard; view them with ``tensorboard --logdir RUN_DIR``.
The ``tensorboard`` package is imported only when this is switched on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.errors import ConfigError


class TensorBoardLogger:
    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard=true needs the tensorboard package: "
                              "pip install 'ganforge[tensorboard]' (or set train.tensorboard=false)") from None
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def losses(self, records: list[dict]) -> None:
        for r in records:
            self.writer.add_scalar("loss/D", r["d_loss"], r["step"])
            self.writer.add_scalar("loss/G", r["g_loss"], r["step"])

    def epoch(self, epoch: int, step: int, grid_png: Path) -> None:
        if grid_png.is_file():
            from PIL import Image

            img = np.asarray(Image.open(grid_png).convert("RGB"))  # (H, W, 3) uint8
            self.writer.add_image("samples", img, step, dataformats="HWC")
        self.writer.add_scalar("epoch", epoch, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
