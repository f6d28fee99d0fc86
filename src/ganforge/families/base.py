"""The seam between the training loop and a GAN family's maths.

The loop (``train/``) owns the schedule (which update when, n_critic, extra D updates,
alternating or simultaneous), precision, processes, EMA, checkpoints, logs, signals and time
budgets. It never sees a latent: it hands a family :class:`Batch` es of data and asks for losses.

A family owns everything else: which networks it builds, how a batch becomes their inputs, D's
and G's losses with every extra term, what one sample is and what a grid of samples shows.
The anchor is stylegan2-ada-pytorch's ``training/loss.py``, whose ``accumulate_gradients`` is
the only thing its loop calls. Here the loop calls, per update:

    for loss in family.d_losses(batch, split):  ...  # D's update(s): backward, optimiser step,
        family.after_d_update()                        # then e.g. WGAN's weight clipping
    loss = family.g_loss(batch)                        # G's update
    d_loss, g_loss = family.both(batch, scale)         # a simultaneous update: gradients left in .grad

and, to draw what a run shows, ``family.fixed_inputs`` / ``family.generate``.
docs/architecture.md says how to add a family.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from ganforge.config import RunConfig

Tensor = torch.Tensor
SampleInputs = dict  # name -> tensor (or None): what G is called with, e.g. {"z": (N, z_dim), "y": (N,)}


@dataclass
class Batch:
    """One batch of training data, on the training device."""

    x: Tensor                      # (B, C, H, W) images in [-1, 1], or (B, 2) points
    y: Tensor | None = None        # (B,) class labels, when the family asked for them
    source: Tensor | None = None   # (B, C', H', W') in [-1, 1]: what a translator is given for each target x

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass
class Figure:
    """A grid of images the report shows: ``images`` (N, C, H, W) in [-1, 1], ``columns`` per row."""

    key: str                       # "samples", "interpolation", ...
    images: Tensor
    columns: int
    caption: str
    row_labels: list[str] | None = None


@dataclass(frozen=True)
class DataSpec:
    """What a family needs to know of its data set to build its networks (also stored in checkpoints)."""

    name: str
    shape: tuple[int, ...]         # per sample: (C, H, W) or (2,)
    num_classes: int = 0           # 0: unlabelled
    class_names: tuple[str, ...] | None = None
    source_shape: tuple[int, ...] | None = None  # a translation task's per-sample source shape (C', H', W')

    @classmethod
    def of(cls, dataset) -> "DataSpec":
        names = tuple(dataset.class_names) if dataset.class_names else None
        source = tuple(dataset.source.shape[1:]) if getattr(dataset, "source", None) is not None else None
        return cls(dataset.name, tuple(dataset.shape), dataset.num_classes, names, source)

    @classmethod
    def from_state(cls, data: dict) -> "DataSpec":
        """From a checkpoint's ``data`` entry."""
        names, source = data.get("class_names"), data.get("source_shape")
        return cls(data["name"], tuple(data["shape"]), data.get("num_classes", 0), tuple(names) if names else None,
                   tuple(source) if source else None)

    def to_state(self) -> dict:
        state = {"name": self.name, "shape": list(self.shape), "num_classes": self.num_classes,
                 "class_names": list(self.class_names) if self.class_names else None}
        if self.source_shape is not None:  # only translation runs carry it (older checkpoints stay as they were)
            state["source_shape"] = list(self.source_shape)
        return state


@dataclass
class TrainingForms:
    """What the loop hands a family before training: the forms of G and D it trains (wrapped for DDP,
    compiled, augmented; the plain modules stay the family's) and the precision's autocast."""

    G: nn.Module
    D: nn.Module
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    device: torch.device = torch.device("cpu")
    one_backward: bool = False     # gradients must arrive through one backward() per update (DDP, compiled)
    scaled: bool = False           # a GradScaler scales the losses (fp16)
    real_logits: Callable[[Tensor], None] | None = None  # given D's raw outputs on each real batch of D's loss
                                                         # (ADA's r_t), by families that report them


class Family:
    """A kind of GAN. Subclasses implement the methods below; ``families/gan.py`` is the reference one."""

    name = "?"
    uses_labels = False            # whether its batches carry class labels (the loop loads them)
    simultaneous = False           # whether it implements ``both`` (train.update=simultaneous)
    translates = False             # whether G maps images to images (``ganforge translate``) instead of latents
    reports_real_logits = False    # whether D's losses hand D's outputs on reals to ``report_real_logits`` (ADA)

    def __init__(self, cfg: RunConfig, spec: DataSpec):
        self.cfg, self.spec = cfg, spec
        self.G = self.D = None     # the plain modules, once built
        self.train_forms: TrainingForms | None = None
        self.fixed: SampleInputs | None = None  # the inputs of the grid drawn after every epoch

    # -- networks ----------------------------------------------------------------------------
    def build(self) -> tuple[nn.Module, nn.Module]:
        """Build (G, D): G is everything the G optimiser updates and EMA averages, D everything D's optimiser
        updates (one network each, or an ``nn.ModuleDict`` of several, e.g. CycleGAN's two of each)."""
        raise NotImplementedError

    def bind(self, forms: TrainingForms) -> None:
        """Train through ``forms`` from now on."""
        self.train_forms = forms

    # -- losses (called by the loop; each returns a scalar to minimise) ------------------------
    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        """D's loss on ``batch`` and generated data: one loss, or with ``split`` the real-batch term and then
        the fake-batch term, each taken after the update on the one before (a generator: the loop updates D
        between the two)."""
        raise NotImplementedError

    def after_d_update(self) -> None:
        """Runs after every D optimiser step (WGAN's weight clipping)."""

    def report_real_logits(self, logits: Tensor) -> None:
        """Called by ``d_losses`` and ``both`` with D's raw outputs on each real batch (of the D loss only, not a
        penalty's extra passes): they go to the loop's ``TrainingForms.real_logits`` (ADA), if it asked."""
        if self.train_forms is not None and self.train_forms.real_logits is not None:
            self.train_forms.real_logits(logits.detach())

    def g_loss(self, batch: Batch) -> Tensor:
        """G's loss, back-propagated through a D that receives no gradient."""
        raise NotImplementedError

    def both(self, batch: Batch, scale: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """A simultaneous update: G's and D's losses from one generated batch, with dL_G/dG left in G's
        ``.grad`` and dL_D/dD in D's (``scale`` applied to each loss before its backward pass)."""
        raise NotImplementedError(f"family '{self.name}' has no simultaneous update; use train.update=alternating")

    # -- samples -------------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        """The inputs of the grid drawn after every epoch (saved with the run, so resumes draw the same);
        ``data``: the training set (``ganforge.data.Dataset``), for families whose inputs are images."""
        raise NotImplementedError

    def eval_samples(self, G: nn.Module, n: int, seed: int, device=None) -> tuple[Tensor, Tensor | None]:
        """``n`` samples to score, drawn from ``seed`` alone: (images, the classes they were asked for or None)."""
        raise NotImplementedError

    def eval_scores(self, samples_uint8: Tensor) -> dict:
        """Scores of ``eval_samples``' images (uint8) beyond the distribution metrics: a translator's PSNR against
        its targets; none for families that draw from latents."""
        return {}

    def eval_codes(self, n: int) -> Tensor | None:
        """The categorical latent code of each of ``eval_samples``' ``n`` samples (InfoGAN's, for ``code_acc``),
        or None for families without one."""
        return None

    def begin_epoch(self, epoch: int) -> None:
        """Called before each epoch's first step (``epoch`` 0-based, also when a resumed run re-enters one):
        for families whose training changes by epoch (StackGAN's staged schedule)."""

    def epoch_figures(self, G: nn.Module, device=None) -> list[Figure]:
        """Grids the loop draws after every epoch beside the fixed-input grid (``samples/<key>/epoch_NNNN.png``),
        e.g. InfoGAN's code traversals; drawn from fixed inputs, so they use no random numbers."""
        return []

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        """Images per row of that grid (None: square)."""
        return None

    def grid_images(self, outputs: Tensor, inputs: SampleInputs) -> Tensor:
        """What that grid shows of G's ``outputs`` for ``inputs``: the outputs themselves, or e.g. a translator's
        (input, output, target) triples."""
        return outputs

    def generate(self, G: nn.Module, inputs: SampleInputs, device=None, chunk: int = 500) -> Tensor:
        """G's images for ``inputs`` in inference mode, ``chunk`` at a time, as float32 on the CPU; G's own
        mode is restored afterwards."""
        device = device if device is not None else next(G.parameters()).device
        n = next(len(v) for v in inputs.values() if v is not None)
        was = G.training
        G.eval()
        out = []
        with torch.no_grad():
            for i in range(0, n, chunk):
                part = {k: None if v is None else v[i:i + chunk].to(device) for k, v in inputs.items()}
                out.append(self.forward_G(G, part).float().cpu())
        G.train(was)
        return torch.cat(out)

    def forward_G(self, G: nn.Module, inputs: SampleInputs) -> Tensor:
        """G called on one chunk of inputs."""
        return G(**inputs)

    def report_figures(self, sampler) -> list[Figure]:
        """The grids the run's report shows, drawn by ``sampler`` (``ganforge.sampler.Sampler``) from the final
        generator; figures of images only (a family of 2-D points shows its per-epoch scatter plots instead)."""
        return []

    # -- export (ganforge export: export.py) ---------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Example inputs of the exported generator for ``n`` samples, by name, in the order it takes them
        (one or two tensors, batch first)."""
        from ganforge.errors import GanforgeError

        raise GanforgeError(f"a '{self.name}' model cannot be exported yet")

    def export_forward(self, G: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        """What the exported generator computes from its inputs: the values ``generate`` gives for them."""
        return self.forward_G(G, inputs)

    def export_meta(self) -> dict:
        """What a user needs to drive the exported file: ``inputs`` (name, shape, dtype and meaning of each)
        and anything more (classes, codes)."""
        return {"inputs": []}

    # -- state saved in checkpoints beside the networks -----------------------------------------
    def state_dict(self) -> dict:
        """The family's entries of a checkpoint (at its top level, beside ``G``, ``D``, ...)."""
        return {"fixed": self.fixed}

    def load_state_dict(self, state: dict) -> None:
        """Restore from a whole checkpoint."""
        self.fixed = state["fixed"]
