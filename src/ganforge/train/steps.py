"""One discriminator update, one generator update, or both from a single forward pass.

The schedule (how many D steps per G step, alternating or simultaneous) lives
in the trainer; this module only knows how to take each kind of step.

G and D may arrive wrapped (DistributedDataParallel, torch.compile); every
gradient reaches the parameters through one ``backward()`` per update, which
is what DDP's gradient-averaging hooks need. When G's loss is back-propagated
through D, D's parameters are frozen for that forward pass, so D gets no
gradient from G's loss (and none is computed).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import RunConfig
from ganforge.losses import OBJECTIVES, gradient_penalty, r1_penalty
from ganforge.models.base import sample_latent
from ganforge.ops import Conv2d, Linear, per_sample_weight_grads, scale_per_sample


def _split(out):
    """D returns logits (B,), or (logits, class_logits) when it has an auxiliary classifier."""
    return out if isinstance(out, tuple) else (out, None)


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    """Logits as a loss takes them: autocast's bf16 or fp16 in float32, float32 and float64 as they are."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        else:
            return module


def weights_per_sample(module: nn.Module) -> bool:
    """Whether every layer with parameters in ``module`` can weight its weight gradient per sample
    (ganforge's ``Conv2d`` and ``Linear``, without a parametrization such as spectral norm)."""
    return all(isinstance(m, (Conv2d, Linear)) and m.weights_per_sample() and not hasattr(m, "parametrizations")
               for m in module.modules() if any(True for _ in m.parameters(recurse=False)))


def has_batch_statistics(module: nn.Module) -> bool:
    """Whether the module's output for one sample depends on the rest of its batch (batch norm)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@contextlib.contextmanager
def in_mode(modules, training: bool):
    """``modules`` in training or inference mode inside the block (each one's own mode restored afterwards)."""
    modules = list(modules)
    before = [m.training for m in modules]
    for m in modules:
        m.train(training)
    try:
        yield
    finally:
        for m, was in zip(modules, before):
            m.train(was)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters that need no gradient inside the block (restored afterwards)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


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
        self.G_raw, self.D_raw = unwrap(G), unwrap(D)
        self.d_latents = None  # (z, labels) of the last D update, for train.g_reuses_d_latents
        self.z_dim, self.num_classes = self.G_raw.z_dim, self.G_raw.num_classes
        # One D forward over cat(real, fake) gives the same logits as two when no D layer mixes samples.
        self.joint_d = cfg.train.joint_d_forward and not has_batch_statistics(self.D_raw)
        self.channels_last = cfg.train.channels_last
        # DDP averages gradients in backward() hooks, which torch.autograd.grad does not fire, and
        # torch.compile's backward frees its buffers, so it cannot be run twice (retain_graph)
        self.one_backward = isinstance(G, nn.parallel.DistributedDataParallel) or hasattr(G, "_orig_mod")
        # One backward pass through D over the fake batch for both losses (simultaneous_step); CPU
        # only, where it was measured and tested (on CUDA the two-call form stands)
        loss = cfg.loss
        self.shared_d_backward = (device.type == "cpu" and not self.one_backward and scaler is None
                                  and self.num_classes == 0
                                  and loss.name != "wgan-gp" and loss.r1_weight == 0
                                  and not has_batch_statistics(self.D_raw) and weights_per_sample(self.D_raw))

    # -- helpers -------------------------------------------------------------
    def latent(self, n: int):
        z = sample_latent(n, self.z_dim, self.cfg.model.noise, self.device)
        y = torch.randint(0, self.num_classes, (n,), device=self.device) if self.num_classes else None
        return z, y

    def _aux(self, class_logits, labels):
        if class_logits is None or labels is None:
            return 0.0
        return self.cfg.loss.aux_weight * F.cross_entropy(_upcast(class_logits), labels)

    def _d_outputs(self, real, real_y, fake, fake_y, joint=True):
        """D on the real and the fake batch: (r, r_cls, f, f_cls), in one forward pass when legal."""
        if joint and self.joint_d and (real_y is None) == (fake_y is None):
            y = None if real_y is None else torch.cat([real_y, fake_y])
            r, r_cls = _split(self.D(torch.cat([real, fake.to(real.dtype)]), y))
            n = real.shape[0]
            return r[:n], None if r_cls is None else r_cls[:n], r[n:], None if r_cls is None else r_cls[n:]
        return (*_split(self.D(real, real_y)), *_split(self.D(fake, fake_y)))

    def _d_loss(self, real, real_y, fake, fake_y, joint=True):
        """D's loss on a real batch and a fake batch, and D's outputs on the fake batch."""
        loss_cfg = self.cfg.loss
        with self.autocast():
            r, r_cls, f, f_cls = self._d_outputs(real, real_y, fake, fake_y, joint)
            loss = self.obj.d_loss(_upcast(r), _upcast(f), loss_cfg.label_smoothing)
            loss = loss + self._aux(r_cls, real_y) + self._aux(f_cls, fake_y)
        if loss_cfg.name == "wgan-gp":
            loss = loss + loss_cfg.gp_weight * gradient_penalty(self.D, real, fake, real_y)
        if loss_cfg.r1_weight > 0:
            loss = loss + 0.5 * loss_cfg.r1_weight * r1_penalty(self.D, real, real_y)
        return loss, f, f_cls

    def _g_loss(self, fake, fake_y):
        """G's loss through a frozen D: gradients reach G only. With ``train.d_bn_for_g=running`` D's batch
        norm layers use their running statistics here (a Keras D frozen with ``trainable = False``)."""
        bn = [m for m in self.D_raw.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        running = in_mode(bn, False) if self.cfg.train.d_bn_for_g == "running" else contextlib.nullcontext()
        with frozen(self.D_raw), running, self.autocast():
            f, f_cls = _split(self.D(fake, fake_y))
            return self.obj.g_loss(_upcast(f)) + self._aux(f_cls, fake_y)

    def _fakes_for_d(self, n: int):
        """Latents and G's images for a D update, without autograd; with ``train.g_mode_for_d=eval`` G runs
        in inference mode (batch norm's running statistics, no dropout), as Keras' ``generator.predict``."""
        z, fake_y = self.d_latents = self.latent(n)
        mode = in_mode([self.G], False) if self.cfg.train.g_mode_for_d == "eval" else contextlib.nullcontext()
        with torch.no_grad(), mode, self.autocast():
            return self.G(z, fake_y), fake_y

    def _real(self, real):
        return real.contiguous(memory_format=torch.channels_last) if self.channels_last and real.dim() == 4 else real

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
        """One D update on a real batch and a fake batch (``train.d_update=split``: two, see ``split_d_step``)."""
        fake, fake_y = self._fakes_for_d(real.shape[0])
        if self.cfg.train.d_update == "split":
            return self.split_d_step(self._real(real), real_y, fake.to(real.dtype), fake_y)
        self.opt_d.zero_grad(set_to_none=True)
        loss, _, _ = self._d_loss(self._real(real), real_y, fake.to(real.dtype), fake_y)
        self._apply(self.opt_d, loss)
        self._clip()
        return loss.detach()

    def split_d_step(self, real, real_y, fake, fake_y) -> torch.Tensor:
        """Seed 002's D update: ``train_on_batch`` on the real batch, then on the fake batch.

        Two optimiser steps, each on one batch (so batch norm in D sees the real and the fake images
        apart, and the second D pass already sees the first update's weights). Returns the sum of the
        two losses, each taken before its own update: D's loss on a real and a fake batch, as logged
        for the joint update.
        """
        loss_cfg, losses = self.cfg.loss, []
        for x, y, is_real in ((real, real_y, True), (fake, fake_y, False)):
            self.opt_d.zero_grad(set_to_none=True)
            with self.autocast():
                out, cls = _split(self.D(x, y))
                if is_real:
                    loss = self.obj.d_real(out.float(), loss_cfg.label_smoothing) + self._aux(cls, y)
                else:
                    loss = self.obj.d_fake(out.float()) + self._aux(cls, y)
            if is_real and loss_cfg.r1_weight > 0:
                loss = loss + 0.5 * loss_cfg.r1_weight * r1_penalty(self.D, x, y)
            self._apply(self.opt_d, loss)
            self._clip()
            losses.append(loss.detach())
        return losses[0] + losses[1]

    def g_step(self, batch_size: int) -> torch.Tensor:
        """One G update; with ``train.g_reuses_d_latents`` on the latents of the last D update since G's
        previous one, where there was one (seed 001's MLP loop feeds one z to both updates, seed 002's
        Keras loop one (noise, labels))."""
        latents, self.d_latents = self.d_latents, None
        reuse = self.cfg.train.g_reuses_d_latents and latents is not None
        z, fake_y = latents if reuse else self.latent(batch_size)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.G(z, fake_y)
        loss = self._g_loss(fake, fake_y)
        self._apply(self.opt_g, loss)
        if self.ema is not None:
            self.ema.update(self.G_raw)
        return loss.detach()

    def simultaneous_step(self, real: torch.Tensor, real_y: torch.Tensor | None):
        """Seed 000's train step: G and D gradients from the same generated batch, applied together.

        Under DDP, G's loss goes through a frozen D and D's loss sees the fake batch detached, so
        one backward of their sum leaves dL_G/dG in G's gradients and dL_D/dD in D's, exactly the
        two tapes of the TensorFlow tutorial. In one process, D's single pass over the fake batch
        serves both losses: one backward pass through it where that is exact (``_shared_d_backward``),
        else two autograd.grad calls separate them (docs/benchmarks.md).
        """
        z, fake_y = self.latent(real.shape[0])
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        scale = self.scaler.scale if self.scaler is not None else (lambda t: t)
        with self.autocast():
            fake = self.G(z, fake_y)
        if self.one_backward:  # one extra D pass over the fake batch, through a frozen D
            g_loss = self._g_loss(fake, fake_y)
            d_loss, _, _ = self._d_loss(self._real(real), real_y, fake.detach(), fake_y)
            scale(d_loss + g_loss).backward()
        elif self.shared_d_backward:
            d_loss, g_loss = self._shared_d_backward(self._real(real), fake)
        else:  # one process: D's pass over the fake batch serves both losses, two gradient calls
            # D sees real and fake in separate passes here: after a joint pass, G's gradient call
            # would also back-propagate through D over the real half (zeros, but a full conv cost).
            d_loss, f, f_cls = self._d_loss(self._real(real), real_y, fake, fake_y, joint=False)
            with self.autocast():
                g_loss = self.obj.g_loss(_upcast(f)) + self._aux(f_cls, fake_y)
            g_params = [p for p in self.G.parameters() if p.requires_grad]
            d_params = [p for p in self.D.parameters() if p.requires_grad]
            g_grads = torch.autograd.grad(scale(g_loss), g_params, retain_graph=True)
            d_grads = torch.autograd.grad(scale(d_loss), d_params)
            for p, g in zip(g_params + d_params, g_grads + d_grads):
                p.grad = g
        if self.scaler is not None:
            self.scaler.step(self.opt_g)
            self.scaler.step(self.opt_d)
            self.scaler.update()
        else:
            self.opt_g.step()
            self.opt_d.step()
        self._clip()
        if self.ema is not None:
            self.ema.update(self.G_raw)
        return d_loss.detach(), g_loss.detach()

    def _shared_d_backward(self, real: torch.Tensor, fake: torch.Tensor):
        """Both losses' gradients with one backward pass through D over the fake batch.

        D has no batch statistics, so for each fake sample i the backward pass from its logit f_i
        is linear in the gradient arriving there: D's loss sends a_i = dL_D/df_i, G's loss
        b_i = dL_G/df_i, and everything below f_i is the same pass scaled by a_i or b_i. So D
        back-propagates c_i = |a_i| + |b_i| once; its layers take their weight gradients from
        that pass weighted by a_i / c_i (``per_sample_weight_grads``), and the gradient reaching
        the fake images, weighted by b_i / c_i, is G's. The two-call form computes the part below
        f twice (seed 000: D's second convolution's input gradient, 5% of the step); the result
        is the same to rounding (tests/train/test_steps.py).
        """
        with self.autocast():
            r = self.D(real)
            with per_sample_weight_grads() as weights:
                f = self.D(fake)
            d_loss = self.obj.d_loss(_upcast(r), _upcast(f), self.cfg.loss.label_smoothing)
            g_loss = self.obj.g_loss(_upcast(f))
        a_real, a = torch.autograd.grad(d_loss, [r, f], retain_graph=True)  # through the losses only
        (b,) = torch.autograd.grad(g_loss, [f], retain_graph=True)
        c = a.abs() + b.abs()
        c = torch.where(c > 0, c, torch.ones_like(c))
        weights.factors = a / c
        d_params = [p for p in self.D.parameters() if p.requires_grad]
        *d_grads, fake_grad = torch.autograd.grad([r, f], d_params + [fake], [a_real, c])
        g_params = [p for p in self.G.parameters() if p.requires_grad]
        g_grads = torch.autograd.grad(fake, g_params, scale_per_sample(fake_grad, b / c))
        for p, g in zip(g_params + d_params, list(g_grads) + d_grads):
            p.grad = g
        return d_loss, g_loss
