"""ganforge: train, evaluate and sample generative adversarial networks on image data.

    import ganforge
    run = ganforge.train("digits-dcgan", epochs=5, out="runs/demo")
    G = ganforge.load_generator(run)
    images = G.sample(16, seed=0)          # (16, 1, 16, 16) in [-1, 1]
"""

from __future__ import annotations

__version__ = "0.2.0"

from typing import Any


def train(preset: str = "digits-dcgan", *, dataset: str | None = None, data_dir: str | None = None,
          epochs: int | None = None, steps: int | None = None, seed: int | None = None,
          device: str | None = None, out: str | None = None, resume: str | None = None,
          init_from: str | None = None, overrides: dict[str, Any] | list[str] | None = None):
    """Train a preset (with optional ``{"dotted.key": value}`` overrides); returns the run directory. ``init_from``:
    start from another run's weights (fine-tuning)."""
    from ganforge.api import train as _train

    return _train(preset, dataset=dataset, data_dir=data_dir, epochs=epochs, steps=steps, seed=seed,
                  device=device, out=out, resume=resume, init_from=init_from, overrides=overrides)


def load_generator(run_dir, device: str = "cpu", ema: bool = True):
    """Rebuild a run's generator; ``.sample(n, labels=None, seed=None)`` gives images in [-1, 1]."""
    from ganforge.sampler import load_generator as _load

    return _load(run_dir, device=device, ema=ema)


__all__ = ["__version__", "train", "load_generator"]
