"""Rebuild a trained generator from a run directory (or a checkpoint) and draw samples."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganforge.config import from_saved
from ganforge.errors import CheckpointError, ConfigError
from ganforge.models import build_models
from ganforge.models.base import sample_latent
from ganforge.train.checkpoint import latest_checkpoint, load_checkpoint


class Sampler(nn.Module):
    """A generator plus what it needs to draw samples: latent size, distribution and classes."""

    def __init__(self, G: nn.Module, noise: str, class_names: list[str] | None = None):
        super().__init__()
        self.G = G.eval().requires_grad_(False)
        self.noise = noise
        self.class_names = class_names

    @property
    def num_classes(self) -> int:
        return self.G.num_classes

    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    @torch.no_grad()
    def sample(self, n: int, labels=None, seed: int | None = None, batch_size: int = 500,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples in [-1, 1], shape (n, C, H, W) (or (n, 2) for points), on the CPU.

        ``labels``: None (random classes for a conditional model), one int for every sample, or a
        sequence of ``n`` ints. ``seed`` makes the draw repeatable. ``z`` gives the latents directly.
        """
        device = next(self.G.parameters()).device
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        y = self._labels(n, labels, gen)
        if z is None:
            z = sample_latent(n, self.z_dim, self.noise, generator=gen)
        out = []
        for i in range(0, n, batch_size):
            zb = z[i:i + batch_size].to(device)
            yb = None if y is None else y[i:i + batch_size].to(device)
            out.append(self.G(zb, yb).float().cpu())
        return torch.cat(out) if out else torch.empty(0, *self.G.out_shape)

    def _labels(self, n: int, labels, gen) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ConfigError("this generator is unconditional; drop --class / labels")
            return None
        if labels is None:
            return torch.randint(0, self.num_classes, (n,), generator=gen)
        y = torch.full((n,), int(labels)) if isinstance(labels, int) else torch.as_tensor(labels, dtype=torch.long)
        if y.shape != (n,):
            raise ConfigError(f"expected {n} labels, got shape {tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
            bad = int(y.max()) if y.max() >= self.num_classes else int(y.min())
            raise ConfigError(f"class {bad} is out of range: this model has classes 0-{self.num_classes - 1}")
        return y

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, y)


def load_generator(run_dir: str | Path, device: str | torch.device = "cpu", ema: bool = True) -> Sampler:
    """The generator of a run's newest checkpoint (its EMA weights when the run kept them and ``ema``)."""
    path = Path(run_dir)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; give a run directory or a checkpoint file")
    state = load_checkpoint(path) if path.is_file() else latest_checkpoint(path)
    cfg = from_saved(state["config"])
    data = state["data"]
    num_classes = data["num_classes"] if cfg.model.conditional else 0
    G, _ = build_models(cfg.model, tuple(data["shape"]), num_classes)
    weights = state["G_ema"] if ema and state.get("G_ema") is not None else state["G"]
    G.load_state_dict(weights, strict=True)
    return Sampler(G.to(device), cfg.model.noise, data.get("class_names") if num_classes else None)
