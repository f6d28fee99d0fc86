"""StackGAN (Zhang et al. 2017) with a class label in place of the sentence: two stages, each with its own D.

Stage I draws a low-resolution image (S / ``stack.factor``) from z and a condition c1; stage II takes that
image and a second condition c2 and draws the full-size image (``models/stackgan.py``). Each condition
comes from conditioning augmentation: a Gaussian N(mu(e), sigma(e)) around the label's embedding e, with
the KL term to N(0, I) added to G's loss (weight ``stack.kl_weight``, the paper's lambda = 1):

    KL = mean_j 0.5 (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)     (over c's dimensions, as the released code)

Each stage's D sees its images and the label. With ``stack.wrong_labels`` (the paper's mismatched pairs) D's
fake term is the mean of the term on generated images and on real images given a wrong label:

    L_D = d_real(D(x, y)) + 0.5 [d_fake(D(G(z, y), y)) + d_fake(D(x, y'))],  y' != y
    L_G = g_loss(D(G(z, y), y)) + lambda KL

Stage I's real images are the batch reduced by ``factor`` (box averaging). Generated images are drawn for
the batch's own labels, as the paper draws them for the batch's sentences.

``stack.schedule``: **staged** is the paper's: stage I alone for ``stack.stage1_epochs`` epochs, then stage II
with stage I frozen (its G and D take no more updates). **joint** trains both stages on every step, stage
II's loss reaching stage I through its image (StackGAN++ trains its stages together). A frozen stage I runs
in inference mode (batch norm's running statistics), as it does when sampled.

Samples: stage II's images; ``output_stage = 1`` gives stage I's (``ganforge sample --stage 1``), and
``output_stage = "1-bicubic"`` stage I's upsampled to the full size by bicubic interpolation (``ganforge
eval --stage 1``, the baseline stage II must beat). The grids show stage I (upsampled by repeating pixels)
and stage II side by side for the same z and c.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, DataSpec, Family, Figure, SampleInputs, Tensor
from ganforge.families.gan import upcast
from ganforge.losses import OBJECTIVES
from ganforge.models.base import frozen, in_mode, sample_latent
from ganforge.models.stackgan import StackDiscriminator, StackGenerator, stage_sizes
from ganforge.ops import upsample_nearest

OUTPUT_STAGES = (1, 2, "1-bicubic")


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), averaged over the batch and c's dimensions (the released code's form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def wrong_labels(y: Tensor, num_classes: int) -> Tensor:
    """A label other than each of ``y``'s, uniform over the other K - 1 classes (global RNG)."""
    return (y + torch.randint(1, num_classes, y.shape, device=y.device)) % num_classes


class StackGAN(Family):
    name = "stackgan"
    uses_labels = True

    def __init__(self, cfg, spec: DataSpec):
        super().__init__(cfg, spec)
        if not spec.num_classes:
            raise ConfigError(f"family stackgan is conditioned on class labels and data set '{spec.name}' has none; "
                              "use a labelled data set (or a folder with one subfolder per class)")
        self.num_classes = spec.num_classes
        self.stack = cfg.stack
        self.low_size, self.size = stage_sizes(spec.shape, cfg.stack.factor)
        self.z_dim, self.noise = cfg.model.z_dim, cfg.model.noise
        self.obj = OBJECTIVES.get(cfg.loss.name)
        self.output_stage = 2
        self.epoch = 0

    def build(self):
        m, s = self.cfg.model, self.stack
        self.G = StackGenerator(self.z_dim, self.num_classes, self.spec.shape, m.width, s.factor, s.embed_dim, s.c_dim)
        self.D = StackDiscriminator(self.num_classes, self.spec.shape, m.width, s.factor, s.embed_dim, s.c_dim)
        return self.G, self.D

    # -- which stages train ------------------------------------------------------------------
    def begin_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def stages(self) -> tuple[int, ...]:
        """The stages this epoch trains: (1, 2) jointly; staged, (1,) and then (2,)."""
        if self.stack.schedule == "joint":
            return (1, 2)
        return (1,) if self.epoch < self.stack.stage1_epochs else (2,)

    # -- loss terms ---------------------------------------------------------------------------
    def bind(self, forms):
        if forms.one_backward:
            raise ConfigError("family stackgan trains its plain modules: it has no torch.compile or multi-process "
                              "form yet; drop train.compile and run one process")
        super().bind(forms)

    def _generate(self, y: Tensor, grad: bool) -> tuple[dict[int, Tensor], Tensor]:
        """Each trained stage's images for labels ``y`` and their conditions' KL term (0 without ``grad``)."""
        G, stages = self.G, self.stages
        z = sample_latent(len(y), self.z_dim, self.noise, y.device)
        out, kls = {}, []
        with torch.set_grad_enabled(grad), self.train_forms.autocast():
            # staged, stage II: stage I is frozen, in inference mode (its batch norm's running statistics, which
            # stay as they are), so stage II learns to refine the images stage I draws when sampled
            with torch.set_grad_enabled(grad and 1 in stages), in_mode([G.ca1, G.stage1], 1 in stages):
                c1, mu, logvar = G.ca1(y)
                low = G.stage1(z, c1)
            if 1 in stages:
                out[1] = low
                kls.append((mu, logvar))
            if 2 in stages:
                c2, mu, logvar = G.ca2(y)
                out[2] = G.stage2(low, c2)
                kls.append((mu, logvar))
        kl = sum(kl_to_standard_normal(upcast(m), upcast(v)) for m, v in kls) if grad else torch.zeros(())
        return out, kl

    def _reals(self, x: Tensor) -> dict[int, Tensor]:
        return {2: x, 1: F.avg_pool2d(x, self.stack.factor) if 1 in self.stages else None}

    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        """Each trained stage's D loss (the sum: the two Ds share no parameter): real, then fake and mismatched."""
        D, y, smoothing = self.train_forms.D, batch.y, self.cfg.loss.label_smoothing
        fakes, _ = self._generate(y, grad=False)
        reals = self._reals(batch.x)
        y_wrong = wrong_labels(y, self.num_classes) if self.stack.wrong_labels else None
        with self.train_forms.autocast():
            real_term = sum(self.obj.d_real(upcast(D(reals[k], y)), smoothing) for k in fakes)
        if split:
            yield real_term
        with self.train_forms.autocast():
            fake_term = 0.0
            for k, fake in fakes.items():
                term = self.obj.d_fake(upcast(D(fake.to(batch.x.dtype), y)))
                if y_wrong is not None:
                    term = 0.5 * (term + self.obj.d_fake(upcast(D(reals[k], y_wrong))))
                fake_term = fake_term + term
        yield fake_term if split else real_term + fake_term

    def g_loss(self, batch: Batch) -> Tensor:
        """Each trained stage's G loss through its frozen D, plus lambda x the trained conditions' KL."""
        fakes, kl = self._generate(batch.y, grad=True)
        with frozen(self.D), self.train_forms.autocast():
            adv = sum(self.obj.g_loss(upcast(self.train_forms.D(fake, batch.y))) for fake in fakes.values())
        return adv + self.stack.kl_weight * kl

    # -- samples --------------------------------------------------------------------------------
    def sample_inputs(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None,
                      z: Tensor | None = None) -> SampleInputs:
        """Inputs of ``n`` samples: classes ``labels`` (uniform when None), z, and both conditions' noise, drawn
        with ``generator`` in that order. Given ``z`` (a latent walk), the conditions are their means (noise 0),
        so that only z moves."""
        if labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator)
        if z is None:
            z = sample_latent(n, self.z_dim, self.noise, generator=generator)
            eps1 = torch.randn(n, self.stack.c_dim, generator=generator)
            eps2 = torch.randn(n, self.stack.c_dim, generator=generator)
        else:
            eps1 = eps2 = torch.zeros(n, self.stack.c_dim)
        return {"z": z, "y": labels, "eps1": eps1, "eps2": eps2, "pairs": None}

    def forward_G(self, G, inputs: SampleInputs) -> Tensor:
        """Stage II's images; or stage I's (``output_stage``); or with ``inputs["pairs"]`` set, stage I (pixels
        repeated to the full size) and stage II side by side: 2 images per input."""
        pairs = inputs.get("pairs") is not None
        stages = 1 if self.output_stage != 2 and not pairs else 2
        low, high = G(inputs["z"], inputs["y"], inputs["eps1"], inputs["eps2"], stages=stages)
        if pairs:
            big = upsample_nearest(low, self.stack.factor).to(high.dtype)
            return torch.stack([big, high], dim=1).flatten(0, 1)
        if self.output_stage == 1:
            return low
        if self.output_stage == "1-bicubic":
            return F.interpolate(low.float(), size=(self.size, self.size), mode="bicubic", align_corners=False).clamp(-1, 1)
        return high

    def set_output_stage(self, stage) -> None:
        if stage not in OUTPUT_STAGES:
            raise ConfigError(f"--stage must be 1 or 2 (StackGAN's stages), got {stage}")
        if stage != 1 and stage != "1-bicubic" and self.stack.schedule == "staged" and self.epoch < self.stack.stage1_epochs:
            raise ConfigError(f"this run's stage II has not trained yet (it starts after epoch {self.stack.stage1_epochs}; "
                              f"the checkpoint is from epoch {self.epoch}); draw stage I with --stage 1")
        self.output_stage = stage

    def _pair_grid(self, per_row: int, generator: torch.Generator) -> SampleInputs:
        y = torch.arange(self.num_classes).repeat_interleave(per_row)
        inputs = self.sample_inputs(len(y), labels=y, generator=generator)
        inputs["pairs"] = torch.ones(len(y), dtype=torch.bool)
        return inputs

    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        """One class per row, ``n // classes`` (stage I, stage II) pairs per row."""
        return self._pair_grid(max(1, n // self.num_classes), torch.Generator().manual_seed(seed + 12345))

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        return 2 * (len(inputs["z"]) // self.num_classes)

    def eval_samples(self, G, n: int, seed: int, device=None):
        """Classes in turn (0, 1, ..., K-1, 0, ...), the rest from ``seed``: stage II's images, or the
        ``output_stage``'s."""
        y = torch.arange(n) % self.num_classes
        inputs = self.sample_inputs(n, labels=y, generator=torch.Generator().manual_seed(seed))
        return self.generate(G, inputs, device), y

    def report_figures(self, sampler) -> list[Figure]:
        per_row = 4
        inputs = self._pair_grid(per_row, torch.Generator().manual_seed(0))
        names = list(self.spec.class_names or [str(i) for i in range(self.num_classes)])
        return [Figure("samples", self.generate(sampler.G, inputs), 2 * per_row,
                       f"Stage I (left of each pair, {self.low_size}x{self.low_size}, pixels repeated) and stage II "
                       f"({self.size}x{self.size}) for the same z and condition, one class per row (seed 0)", names)]

    # -- export ---------------------------------------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        inputs = self.sample_inputs(n, generator=generator)
        return {"z": inputs["z"], "y": inputs["y"]}

    def export_forward(self, G, inputs: dict[str, Tensor]) -> Tensor:
        """Stage II's image with both conditions at their means (what ``sample`` draws for given latents)."""
        z, y = inputs["z"], inputs["y"]
        eps = z.new_zeros((z.shape[0], self.stack.c_dim))
        return G(z, y, eps, eps)[1]

    def export_meta(self) -> dict:
        from ganforge.families.gan import class_input_meta, latent_input_meta

        return {"inputs": [latent_input_meta(self.z_dim, self.noise), class_input_meta(self.num_classes)],
                "num_classes": self.num_classes, "stages": [self.low_size, self.size],
                "classes": list(self.spec.class_names) if self.spec.class_names else None}

    # -- state saved in checkpoints ------------------------------------------------------------
    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.epoch = state.get("epoch", 0)
