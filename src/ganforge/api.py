"""The Python entry points behind ``ganforge.train`` and the CLI's ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.config import parse_override, resolve


def override_items(*, dataset=None, data_dir=None, epochs=None, steps=None, minutes=None, seed=None, device=None,
                   checkpoint_every=None, overrides: dict[str, Any] | list[str] | None = None) -> dict[str, Any]:
    """Named options, then ``key=value`` overrides (the last word wins), as one dotted-key dict."""
    items: dict[str, Any] = {}
    named = {"data.name": dataset, "data.data_dir": data_dir, "train.epochs": epochs, "train.steps": steps,
             "train.minutes": minutes, "train.seed": seed, "train.device": device, "train.checkpoint_every": checkpoint_every}
    items.update({k: v for k, v in named.items() if v is not None})
    if isinstance(overrides, dict):
        items.update(overrides)
    else:
        items.update(dict(parse_override(o) for o in overrides or []))
    return items


def train(preset: str, *, dataset=None, data_dir=None, epochs=None, steps=None, seed=None, device=None,
          out=None, resume=None, init_from=None, overrides=None) -> Path:
    """Train ``preset`` into ``out``, continue the run ``resume``, or fine-tune from the run (or checkpoint)
    ``init_from`` (docs/small-data.md)."""
    from ganforge.errors import ConfigError
    from ganforge.train import Trainer

    items = override_items(dataset=dataset, data_dir=data_dir, epochs=epochs, steps=steps, seed=seed,
                           device=device, overrides=overrides)
    if init_from is not None:
        if resume is not None:
            raise ConfigError("init_from starts a new run from another run's weights and resume continues a run; give one")
        items = {"train.init_from": str(init_from), **items}
    if resume is not None:
        return Trainer.resume(resume, items).fit()
    return Trainer(resolve(preset, items), run_dir=out).fit()
