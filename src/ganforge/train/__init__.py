"""Training: the loop, single steps, EMA, checkpoints."""

from ganforge.train.trainer import Trainer

__all__ = ["Trainer"]
