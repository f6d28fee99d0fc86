"""Rebuild a trained generator from a run directory (or a checkpoint) and draw samples."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganforge.config import from_saved
from ganforge.errors import CheckpointError, ConfigError
from ganforge.families import DataSpec, Family, build_family
from ganforge.rundir import latest_checkpoint, load_checkpoint


class Sampler(nn.Module):
    """A generator plus its family, which knows what one sample is (a latent draw, and a class when conditional).

    ``sample``, ``z_dim``, ``noise`` and classes are those of latent families; ``family.generate(G, inputs)``
    draws from any family.
    """

    def __init__(self, G: nn.Module, family: Family):
        super().__init__()
        self.G = G.eval().requires_grad_(False)
        self.family = family
        self.noise = getattr(family, "noise", None)
        self.class_names = list(family.spec.class_names) if family.spec.class_names and self.num_classes else None

    @property
    def num_classes(self) -> int:
        return getattr(self.family, "num_classes", 0)

    @property
    def z_dim(self) -> int | None:
        return getattr(self.family, "z_dim", None)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.family.spec.shape

    @property
    def code_names(self) -> list[str]:
        """The names of the model's latent codes (InfoGAN's ``cat``, ``c1``, ...); empty for other families."""
        return list(getattr(self.family, "code_names", []))

    def use_stage(self, stage: int | None, upsampled: bool = False) -> None:
        """Draw from StackGAN's stage ``stage`` (1 or 2; None: the last) from now on; stage I's images at their
        own size, or ``upsampled`` to the full size (bicubic). A one-line error for other families' runs given a
        stage, and for a stage that has not trained yet."""
        if not hasattr(self.family, "set_output_stage"):
            if stage is not None:
                raise ConfigError(f"--stage picks one of StackGAN's stages; this run's model (family "
                                  f"'{self.family.name}') has one stage")
            return
        stage = 2 if stage is None else stage
        self.family.set_output_stage("1-bicubic" if stage == 1 and upsampled else stage)

    def sample(self, n: int, labels=None, seed: int | None = None, batch_size: int = 500,
               z: torch.Tensor | None = None, codes: dict | None = None) -> torch.Tensor:
        """``n`` samples in [-1, 1], shape (n, C, H, W) (or (n, 2) for points), on the CPU.

        ``labels``: None (random classes for a conditional model), one int for every sample, or a
        sequence of ``n`` ints. ``seed`` makes the draw repeatable. ``z`` gives the latents directly.
        ``codes``: ``{name: value}`` fixes latent codes of a model that has them (InfoGAN: ``{"cat": 3, "c1": 0.5}``).
        """
        if self.family.translates:
            raise ConfigError(f"a '{self.family.name}' model translates images; use ganforge translate RUN --input "
                              "FILE|DIR|FILE.npz --out DIR|FILE.npz")
        if not hasattr(self.family, "sample_inputs"):
            raise ConfigError(f"a '{self.family.name}' model does not draw samples from latents")
        if codes and not self.code_names:
            raise ConfigError(f"--code fixes InfoGAN's latent codes; this run's model (family '{self.family.name}') "
                              "has none")
        if n == 0:
            return torch.empty(0, *self.out_shape)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        extra = {"codes": codes} if codes else {}
        inputs = self.family.sample_inputs(n, self._labels(n, labels), generator=gen, z=z, **extra)
        return self.family.generate(self.G, inputs, chunk=batch_size)

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ConfigError("this generator is unconditional; drop --class / labels")
            return None
        if labels is None:
            return None  # drawn by the family
        y = torch.full((n,), int(labels)) if isinstance(labels, int) else torch.as_tensor(labels, dtype=torch.long)
        if y.shape != (n,):
            raise ConfigError(f"expected {n} labels, got shape {tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
            bad = int(y.max()) if y.max() >= self.num_classes else int(y.min())
            raise ConfigError(f"class {bad} is out of range: this model has classes 0-{self.num_classes - 1}")
        return y

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, y)


def load_family(state: dict) -> Family:
    """The family of a checkpoint, with its networks built (initial weights, drawn from the global RNG as
    ganforge 0.1 did, to be overwritten) and its own state restored."""
    family = build_family(from_saved(state["config"]), DataSpec.from_state(state["data"]))
    family.build()
    family.load_state_dict(state)
    return family


def load_generator(run_dir: str | Path, device: str | torch.device = "cpu", ema: bool = True) -> Sampler:
    """The generator of a run's newest checkpoint (its EMA weights when the run kept them and ``ema``)."""
    path = Path(run_dir)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; give a run directory or a checkpoint file")
    return sampler_from_checkpoint(load_checkpoint(path) if path.is_file() else latest_checkpoint(path), device, ema)


def sampler_from_checkpoint(state: dict, device: str | torch.device = "cpu", ema: bool = True) -> Sampler:
    """The generator of a loaded checkpoint (its EMA weights when it kept them and ``ema``)."""
    family = load_family(state)
    weights = state["G_ema"] if ema and state.get("G_ema") is not None else state["G"]
    family.G.load_state_dict(weights, strict=True)
    family.D.load_state_dict(state["D"], strict=True)
    family.D.to(device).eval()
    return Sampler(family.G.to(device), family)
