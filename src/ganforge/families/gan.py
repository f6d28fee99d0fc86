"""The latent GAN family: G maps a latent z (and a class y, when conditional) to a sample, D scores samples.

Every preset so far is this family: the MLP GAN, DCGANs, LSGAN, WGAN(-GP), Mirza & Osindero's cGAN
(the one-hot label concatenated to G's and D's inputs), the projection cGAN (D(x, y)) and ACGAN (D's
auxiliary class head, ``loss.aux_weight``). Its losses are an objective
of ``ganforge.losses`` on D's logits, plus the auxiliary classifier's cross-entropy, WGAN-GP's
gradient penalty and R1 where configured.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.families.base import Batch, DataSpec, Family, Figure, SampleInputs, Tensor
from ganforge.losses import OBJECTIVES, gradient_penalty, r1_penalty
from ganforge.models import build_models
from ganforge.models.base import frozen, has_batch_statistics, in_mode, sample_latent, split_logits
from ganforge.ops.fused import separate_gradients, shared_d_backward, shared_d_backward_applies


def upcast(logits: Tensor) -> Tensor:
    """Logits as a loss takes them: autocast's bf16 or fp16 in float32, float32 and float64 as they are."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def latent_input_meta(z_dim: int, noise: str) -> dict:
    """The exported generator's ``z`` input, described."""
    prior = "N(0, 1) per entry" if noise == "normal" else "U(-1, 1) per entry"
    return {"name": "z", "shape": ["B", z_dim], "dtype": "float32", "distribution": noise, "about": prior}


def class_input_meta(num_classes: int) -> dict:
    return {"name": "y", "shape": ["B"], "dtype": "int64", "about": f"class index 0-{num_classes - 1} (see classes)"}


class LatentGAN(Family):
    name = "gan"
    simultaneous = True
    reports_real_logits = True

    def __init__(self, cfg, spec: DataSpec):
        super().__init__(cfg, spec)
        self.num_classes = spec.num_classes if cfg.model.conditional else 0
        self.uses_labels = bool(self.num_classes)
        self.z_dim, self.noise = cfg.model.z_dim, cfg.model.noise
        self.obj = OBJECTIVES.get(cfg.loss.name)
        self.d_latents = None  # (z, labels) of the last D update, for train.g_reuses_d_latents

    def build(self):
        self.G, self.D = build_models(self.cfg.model, self.spec.shape, self.num_classes)
        return self.G, self.D

    def bind(self, forms):
        super().bind(forms)
        t, loss = self.cfg.train, self.cfg.loss
        # One D forward over cat(real, fake) gives the same logits as two when no D layer mixes samples.
        self.joint_d = t.joint_d_forward and not has_batch_statistics(self.D)
        # One backward pass through D over the fake batch for both losses of a simultaneous update
        self.shared_d_backward = (not forms.one_backward and not forms.scaled and forms.device.type == "cpu"
                                  and self.num_classes == 0 and loss.name != "wgan-gp" and loss.r1_weight == 0
                                  and shared_d_backward_applies(self.D))

    # -- inputs ------------------------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None, device=None):
        """(z, y): n latents and, when conditional, n uniformly drawn classes (None otherwise)."""
        device = device if device is not None else self.train_forms.device
        z = sample_latent(n, self.z_dim, self.noise, device, generator=generator)
        y = torch.randint(0, self.num_classes, (n,), device=device, generator=generator) if self.num_classes else None
        return z, y

    # -- loss terms ---------------------------------------------------------------------------
    def _aux(self, class_logits, labels):
        if class_logits is None or labels is None:
            return 0.0
        return self.cfg.loss.aux_weight * F.cross_entropy(upcast(class_logits), labels)

    def _d_outputs(self, real, real_y, fake, fake_y, joint=True):
        """D on the real and the fake batch: (r, r_cls, f, f_cls), in one forward pass when legal."""
        D = self.train_forms.D
        if joint and self.joint_d and (real_y is None) == (fake_y is None):
            y = None if real_y is None else torch.cat([real_y, fake_y])
            r, r_cls = split_logits(D(torch.cat([real, fake.to(real.dtype)]), y))
            n = real.shape[0]
            return r[:n], None if r_cls is None else r_cls[:n], r[n:], None if r_cls is None else r_cls[n:]
        return (*split_logits(D(real, real_y)), *split_logits(D(fake, fake_y)))

    def _d_loss(self, real, real_y, fake, fake_y, joint=True):
        """D's loss on a real batch and a fake batch, and D's outputs on the fake batch."""
        loss_cfg, D = self.cfg.loss, self.train_forms.D
        with self.train_forms.autocast():
            r, r_cls, f, f_cls = self._d_outputs(real, real_y, fake, fake_y, joint)
            self.report_real_logits(r)
            loss = self.obj.d_loss(upcast(r), upcast(f), loss_cfg.label_smoothing)
            loss = loss + self._aux(r_cls, real_y) + self._aux(f_cls, fake_y)
        if loss_cfg.name == "wgan-gp":
            loss = loss + loss_cfg.gp_weight * gradient_penalty(D, real, fake, real_y)
        if loss_cfg.r1_weight > 0:
            loss = loss + 0.5 * loss_cfg.r1_weight * r1_penalty(D, real, real_y)
        return loss, f, f_cls

    def _g_loss(self, fake, fake_y):
        """G's loss through a frozen D: gradients reach G only. With ``train.d_bn_for_g=running`` D's batch
        norm layers use their running statistics here (a Keras D frozen with ``trainable = False``)."""
        bn = [m for m in self.D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        running = in_mode(bn, False) if self.cfg.train.d_bn_for_g == "running" else contextlib.nullcontext()
        with frozen(self.D), running, self.train_forms.autocast():
            f, f_cls = split_logits(self.train_forms.D(fake, fake_y))
            return self.obj.g_loss(upcast(f)) + self._aux(f_cls, fake_y)

    def _fake_count(self, real: Tensor) -> int:
        """How many fakes meet ``real`` in D's loss: as many, or ``train.batch_size`` with ``train.fake_batch=full``
        (different only on an epoch's short last batch)."""
        return self.cfg.train.batch_size if self.cfg.train.fake_batch == "full" else real.shape[0]

    def _fakes_for_d(self, n: int):
        """Latents and G's images for a D update, without autograd; with ``train.g_mode_for_d=eval`` G runs
        in inference mode (batch norm's running statistics, no dropout), as Keras' ``generator.predict``."""
        z, fake_y = self.d_latents = self.latent(n)
        G = self.train_forms.G
        mode = in_mode([G], False) if self.cfg.train.g_mode_for_d == "eval" else contextlib.nullcontext()
        with torch.no_grad(), mode, self.train_forms.autocast():
            return G(z, fake_y), fake_y

    # -- the seam -------------------------------------------------------------------------------
    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        real, real_y = batch.x, batch.y
        fake, fake_y = self._fakes_for_d(self._fake_count(real))
        fake = fake.to(real.dtype)
        if not split:
            loss, _, _ = self._d_loss(real, real_y, fake, fake_y)
            yield loss
            return
        # two updates, each on one batch (a Keras loop's two train_on_batch calls): batch norm in D sees the
        # real and the fake images apart, and the fake pass already sees the real update's weights
        loss_cfg, D = self.cfg.loss, self.train_forms.D
        for x, y, is_real in ((real, real_y, True), (fake, fake_y, False)):
            with self.train_forms.autocast():
                out, cls = split_logits(D(x, y))
                if is_real:
                    self.report_real_logits(out)
                    loss = self.obj.d_real(out.float(), loss_cfg.label_smoothing) + self._aux(cls, y)
                else:
                    loss = self.obj.d_fake(out.float()) + self._aux(cls, y)
            if is_real and loss_cfg.r1_weight > 0:
                loss = loss + 0.5 * loss_cfg.r1_weight * r1_penalty(D, x, y)
            yield loss

    def after_d_update(self) -> None:
        c = self.cfg.loss.clip
        if c is not None:
            with torch.no_grad():
                for p in self.D.parameters():
                    if p.requires_grad:  # not the layers train.freeze_d keeps as they were
                        p.clamp_(-c, c)

    def g_loss(self, batch: Batch) -> Tensor:
        """G's loss on ``train.batch_size`` latents (the documents' loops draw a full batch for G even after a
        short real batch); with ``train.g_reuses_d_latents`` on the latents of the last D update since G's
        previous one, where there was one (a loop that feeds one z to both updates)."""
        latents, self.d_latents = self.d_latents, None
        reuse = self.cfg.train.g_reuses_d_latents and latents is not None
        z, fake_y = latents if reuse else self.latent(self.cfg.train.batch_size)
        with self.train_forms.autocast():
            fake = self.train_forms.G(z, fake_y)
        return self._g_loss(fake, fake_y)

    def both(self, batch: Batch, scale: Callable[[Tensor], Tensor]):
        """G and D gradients from the same generated batch (the TensorFlow tutorial's two tapes).

        Under DDP or torch.compile, G's loss goes through a frozen D and D's loss sees the fake batch
        detached, so one backward of their sum leaves dL_G/dG in G's gradients and dL_D/dD in D's. In one
        process, D's single pass over the fake batch serves both losses: one backward pass through it where
        that is exact (``ops.fused.shared_d_backward``), else two gradient calls separate them.
        """
        forms = self.train_forms
        real, real_y = batch.x, batch.y
        z, fake_y = self.latent(self._fake_count(real))
        with forms.autocast():
            fake = forms.G(z, fake_y)
        if forms.one_backward:  # one extra D pass over the fake batch, through a frozen D
            g_loss = self._g_loss(fake, fake_y)
            d_loss, _, _ = self._d_loss(real, real_y, fake.detach(), fake_y)
            scale(d_loss + g_loss).backward()
            return d_loss, g_loss
        if self.shared_d_backward:
            obj, smoothing = self.obj, self.cfg.loss.label_smoothing

            def d_loss(r, f):
                self.report_real_logits(r)
                return obj.d_loss(upcast(r), upcast(f), smoothing)

            return shared_d_backward(forms.G, forms.D, real, fake, d_loss, lambda f: obj.g_loss(upcast(f)), forms.autocast)
        # D sees real and fake in separate passes here: after a joint pass, G's gradient call would also
        # back-propagate through D over the real half (zeros, but a full conv cost)
        d_loss, f, f_cls = self._d_loss(real, real_y, fake, fake_y, joint=False)
        with forms.autocast():
            g_loss = self.obj.g_loss(upcast(f)) + self._aux(f_cls, fake_y)
        separate_gradients(forms.G, forms.D, scale(g_loss), scale(d_loss))
        return d_loss, g_loss

    # -- samples --------------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        """The latent grid drawn every epoch; independent of the training RNG. Conditional: one class per row."""
        g = torch.Generator().manual_seed(seed + 12345)
        if self.num_classes:
            per_row = max(1, n // self.num_classes) if n >= self.num_classes else 1
            y = torch.arange(self.num_classes).repeat_interleave(per_row)
            return {"z": sample_latent(len(y), self.z_dim, self.noise, generator=g), "y": y}
        return {"z": sample_latent(n, self.z_dim, self.noise, generator=g), "y": None}

    def eval_samples(self, G, n: int, seed: int, device=None):
        """Classes in turn (0, 1, ..., K-1, 0, ...) when conditional; latents from ``seed``."""
        y = torch.arange(n) % self.num_classes if self.num_classes else None
        inputs = self.sample_inputs(n, labels=y, generator=torch.Generator().manual_seed(seed))
        return self.generate(G, inputs, device), y

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        return None if inputs.get("y") is None else len(inputs["y"]) // self.num_classes

    def sample_inputs(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None,
                      z: Tensor | None = None) -> SampleInputs:
        """Inputs of ``n`` samples: latents drawn with ``generator`` (or ``z``); classes ``labels`` (drawn
        uniformly when None and the model is conditional). Labels are drawn before the latents."""
        if self.num_classes and labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator)
        if z is None:
            z = sample_latent(n, self.z_dim, self.noise, generator=generator)
        return {"z": z, "y": labels if self.num_classes else None}

    def report_figures(self, sampler) -> list[Figure]:
        """Samples from seed 0 (one class per row when conditional) and a latent walk (slerp for normal
        latents, straight lines for uniform ones)."""
        from ganforge.interpolate import interpolate

        if len(self.spec.shape) != 3:  # 2-D points: the per-epoch scatter plots say it all
            return []
        if self.num_classes:
            per_row = 8
            labels = torch.arange(self.num_classes).repeat_interleave(per_row)
            names = list(self.spec.class_names or [str(i) for i in range(self.num_classes)])
            walk = torch.cat([interpolate(sampler, [0, 1], steps=9, label=c)[0] for c in range(self.num_classes)])
            return [Figure("samples", sampler.sample(len(labels), labels=labels.tolist(), seed=0), per_row,
                           f"Samples from the final generator, one class per row ({per_row} per class, seed 0)", names),
                    Figure("interpolation", walk, 10,
                           "Latent interpolation (slerp) between seeds 0 and 1, one class per row")]
        walk = interpolate(sampler, [0, 1, 2, 3, 4], steps=9)
        how = "slerp" if self.noise == "normal" else "straight lines in the cube"
        return [Figure("samples", sampler.sample(64, seed=0), 8, "64 samples from the final generator (seed 0)"),
                Figure("interpolation", walk.reshape(-1, *walk.shape[2:]), 10,
                       f"Latent interpolation ({how}) through seeds 0-4, one pair per row")]

    # -- export ---------------------------------------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        inputs = self.sample_inputs(n, generator=generator)
        return {"z": inputs["z"], "y": inputs["y"]} if self.num_classes else {"z": inputs["z"]}

    def export_forward(self, G, inputs: dict[str, Tensor]) -> Tensor:
        return self.forward_G(G, {"z": inputs["z"], "y": inputs.get("y")})

    def export_meta(self) -> dict:
        inputs = [latent_input_meta(self.z_dim, self.noise)]
        if self.num_classes:
            inputs.append(class_input_meta(self.num_classes))
        return {"inputs": inputs, "num_classes": self.num_classes,
                "classes": list(self.spec.class_names) if self.num_classes and self.spec.class_names else None}

    def state_dict(self) -> dict:
        return {"fixed_z": self.fixed["z"], "fixed_y": self.fixed["y"]}  # the keys of ganforge 0.1's checkpoints

    def load_state_dict(self, state: dict) -> None:
        self.fixed = {"z": state["fixed_z"], "y": state["fixed_y"]}
