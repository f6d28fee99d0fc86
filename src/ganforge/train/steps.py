"""The loop's side of each update: zero the gradients, ask the family for its loss, back-propagate, step.

The family (``ganforge.families``) computes every loss; this module only knows optimisers, the
fp16 gradient scaler, EMA, and the order of a step's updates (``train/schedule.py``). Every
gradient reaches the parameters through one ``backward()`` per update where G and D are wrapped
(DistributedDataParallel, torch.compile), which is what DDP's gradient-averaging hooks need.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.families import Batch, Family
from ganforge.train.schedule import Schedule


class Stepper:
    def __init__(self, family: Family, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 schedule: Schedule, scaler=None, ema=None, ada=None):
        self.family, self.opt_g, self.opt_d = family, opt_g, opt_d
        self.schedule = schedule
        self.scaler = scaler
        self.ema = ema
        self.ada = ada  # train/augment.py's AdaptiveAugment: told of every D update
        self.split_d = schedule.t.d_update == "split"

    @property
    def G(self) -> nn.Module:
        """The form of G being trained (wrapped or compiled; ``family.G`` is the plain module)."""
        return self.family.train_forms.G

    @property
    def D(self) -> nn.Module:
        return self.family.train_forms.D

    def _apply(self, opt, loss):
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward()
            opt.step()

    # -- updates -------------------------------------------------------------
    def d_step(self, batch: Batch) -> torch.Tensor:
        """One D update on a real batch and generated data (``train.d_update=split``: two, real then fake;
        the loss returned is their sum, each taken before its own update)."""
        total = None
        for loss in self.family.d_losses(batch, self.split_d):
            self.opt_d.zero_grad(set_to_none=True)
            self._apply(self.opt_d, loss)
            self.family.after_d_update()
            total = loss.detach() if total is None else total + loss.detach()
        return total

    def g_step(self, batch: Batch) -> torch.Tensor:
        self.opt_g.zero_grad(set_to_none=True)
        loss = self.family.g_loss(batch)
        self._apply(self.opt_g, loss)
        if self.ema is not None:
            self.ema.update(self.family.G)
        return loss.detach()

    def simultaneous_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """G and D updated together from the family's two losses on one generated batch."""
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        scale = self.scaler.scale if self.scaler is not None else (lambda t: t)
        d_loss, g_loss = self.family.both(batch, scale)
        if self.scaler is not None:
            self.scaler.step(self.opt_g)
            self.scaler.step(self.opt_d)
            self.scaler.update()
        else:
            self.opt_g.step()
            self.opt_d.step()
        self.family.after_d_update()
        if self.ema is not None:
            self.ema.update(self.family.G)
        return d_loss.detach(), g_loss.detach()

    def step(self, step: int, batches: list[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        """Training step number ``step`` (0-based over the run) on its real ``batches``: (d_loss, g_loss) of
        its last D and its G update."""
        d_loss = g_loss = None
        for update in self.schedule.updates(step):
            batch = batches[update.batch]
            if update.kind == "both":
                d_loss, g_loss = self.simultaneous_step(batch)
            elif update.kind == "D":
                d_loss = self.d_step(batch)
            else:
                g_loss = self.g_step(batch)
            if self.ada is not None and update.kind != "G":
                self.ada.d_update_done(step + 1)
        return d_loss, g_loss
