"""Which updates a training step takes, and which of the epoch's batches each one reads.

Alternating, a step is ``n_critic`` D updates, one per real batch, and one G update; every
``train.extra_d_every`` steps one more D update comes first, on the next batch of the epoch
(``extra_d_batch=next``) or the step's first batch again (``same``). ``train.g_before_d`` moves
G's update before the step's ``n_critic`` D updates. Simultaneous, a step is one update of both
on one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.config import TrainConfig


@dataclass(frozen=True)
class Update:
    """One optimiser update of a step: ``"D"`` on the step's ``batch``-th batch, ``"G"``, or ``"both"``."""

    kind: str
    batch: int


class Schedule:
    def __init__(self, t: TrainConfig):
        self.t = t

    def extra_d(self, step: int) -> bool:
        """Whether step ``step`` (0-based, counted over the whole run) takes the extra D update."""
        t = self.t
        if not t.extra_d_every:
            return False
        return step % t.extra_d_every == (0 if t.extra_d_on == "first" else t.extra_d_every - 1)

    def batches_for(self, step: int) -> int:
        """Real batches step ``step`` takes from the epoch (an extra D update on the step's batch takes none)."""
        t = self.t
        if t.update == "simultaneous":
            return 1
        return t.n_critic + (1 if self.extra_d(step) and t.extra_d_batch == "next" else 0)

    def updates(self, step: int) -> list[Update]:
        """The updates of step ``step`` in order, each naming the index of its batch in the step's batches."""
        t = self.t
        if t.update == "simultaneous":
            return [Update("both", 0)]
        d_batches = list(range(self.batches_for(step)))
        if self.extra_d(step) and t.extra_d_batch == "same":
            d_batches = [0, *d_batches]
        before_g = len(d_batches) - t.n_critic if t.g_before_d else len(d_batches)
        g_batch = d_batches[before_g - 1] if before_g else d_batches[0]  # the batch of the last D update before G
        return ([Update("D", i) for i in d_batches[:before_g]] + [Update("G", g_batch)]
                + [Update("D", i) for i in d_batches[before_g:]])

    def steps_in(self, batches: list[torch.Tensor], start_step: int, start_batch: int = 0):
        """(step, that step's batches) through an epoch's ``batches`` from ``start_batch``, while a whole step fits."""
        step, i = start_step, start_batch
        while i + self.batches_for(step) <= len(batches):
            need = self.batches_for(step)
            yield step, batches[i:i + need]
            step, i = step + 1, i + need
