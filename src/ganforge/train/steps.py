"""One discriminator update, one generator update, or both from a single forward pass.

The schedule (how many D steps per G step, alternating or simultaneous) lives
in the trainer; this module only knows how to take each kind of step.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ganforge.config import RunConfig
from ganforge.losses import OBJECTIVES, gradient_penalty, r1_penalty
from ganforge.models.base import sample_latent


def _split(out):
    """D returns logits (B,), or (logits, class_logits) when it has an auxiliary classifier."""
    return out if isinstance(out, tuple) else (out, None)


class Stepper:
    def __init__(self, G, D, opt_g, opt_d, cfg: RunConfig, device: torch.device,
                 autocast=None, scaler=None, ema=None):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.cfg = cfg
        self.obj = OBJECTIVES.get(cfg.loss.name)
        self.device = device
        self.autocast = autocast or contextlib.nullcontext
        self.scaler = scaler
        self.ema = ema
        g = G.module if hasattr(G, "module") else G
        self.z_dim, self.num_classes = g.z_dim, g.num_classes

    # -- helpers -------------------------------------------------------------
    def latent(self, n: int):
        z = sample_latent(n, self.z_dim, self.cfg.model.noise, self.device)
        y = torch.randint(0, self.num_classes, (n,), device=self.device) if self.num_classes else None
        return z, y

    def _aux(self, class_logits, labels):
        if class_logits is None or labels is None:
            return 0.0
        return self.cfg.loss.aux_weight * F.cross_entropy(class_logits.float(), labels)

    def _d_loss(self, real, real_y, fake, fake_y):
        """D's loss on a real batch and a fake batch (fake may or may not be detached)."""
        loss_cfg = self.cfg.loss
        with self.autocast():
            r, r_cls = _split(self.D(real, real_y))
            f, f_cls = _split(self.D(fake, fake_y))
            loss = self.obj.d_loss(r.float(), f.float(), loss_cfg.label_smoothing)
            loss = loss + self._aux(r_cls, real_y) + self._aux(f_cls, fake_y)
        if loss_cfg.name == "wgan-gp":
            loss = loss + loss_cfg.gp_weight * gradient_penalty(self.D, real, fake, real_y)
        if loss_cfg.r1_weight > 0:
            loss = loss + 0.5 * loss_cfg.r1_weight * r1_penalty(self.D, real, real_y)
        return loss, f, f_cls

    def _g_loss(self, f, f_cls, fake_y):
        return self.obj.g_loss(f.float()) + self._aux(f_cls, fake_y)

    def _apply(self, opt, loss):
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward()
            opt.step()

    def _clip(self):
        c = self.cfg.loss.clip
        if c is not None:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-c, c)

    # -- steps ---------------------------------------------------------------
    def d_step(self, real: torch.Tensor, real_y: torch.Tensor | None) -> torch.Tensor:
        z, fake_y = self.latent(real.shape[0])
        with torch.no_grad(), self.autocast():
            fake = self.G(z, fake_y)
        self.opt_d.zero_grad(set_to_none=True)
        loss, _, _ = self._d_loss(real, real_y, fake.to(real.dtype), fake_y)
        self._apply(self.opt_d, loss)
        self._clip()
        return loss.detach()

    def g_step(self, batch_size: int) -> torch.Tensor:
        z, fake_y = self.latent(batch_size)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            f, f_cls = _split(self.D(self.G(z, fake_y), fake_y))
            loss = self._g_loss(f, f_cls, fake_y)
        self._apply(self.opt_g, loss)
        if self.ema is not None:
            self.ema.update(self.G.module if hasattr(self.G, "module") else self.G)
        return loss.detach()

    def simultaneous_step(self, real: torch.Tensor, real_y: torch.Tensor | None):
        """Seed 000's train step: G and D gradients from the same forward pass, applied together."""
        z, fake_y = self.latent(real.shape[0])
        with self.autocast():
            fake = self.G(z, fake_y)
        d_loss, f, f_cls = self._d_loss(real, real_y, fake, fake_y)
        with self.autocast():
            g_loss = self._g_loss(f, f_cls, fake_y)
        g_params = [p for p in self.G.parameters() if p.requires_grad]
        d_params = [p for p in self.D.parameters() if p.requires_grad]
        scale = self.scaler.scale if self.scaler is not None else (lambda t: t)
        g_grads = torch.autograd.grad(scale(g_loss), g_params, retain_graph=True)
        d_grads = torch.autograd.grad(scale(d_loss), d_params)
        for params, grads in ((g_params, g_grads), (d_params, d_grads)):
            for p, g in zip(params, grads):
                p.grad = g
        for opt in (self.opt_g, self.opt_d):
            if self.scaler is not None:
                self.scaler.step(opt)
            else:
                opt.step()
        if self.scaler is not None:
            self.scaler.update()
        self._clip()
        if self.ema is not None:
            self.ema.update(self.G.module if hasattr(self.G, "module") else self.G)
        return d_loss.detach(), g_loss.detach()
