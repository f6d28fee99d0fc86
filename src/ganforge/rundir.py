"""A run directory and its checkpoints: what training writes, and what sampling, evaluation and reports read.

    RUN/config.yaml                  the resolved configuration
    RUN/reals.png                    a grid of real images (or a scatter of real points)
    RUN/samples/epoch_NNNN.png       the fixed sample inputs drawn after every epoch
    RUN/samples/<key>/epoch_NNNN.png a family's further grids of every epoch (e.g. InfoGAN's traversal_c1)
    RUN/progress.gif                 all epochs' grids as an animation
    RUN/metrics.jsonl                append-only: losses per step, one record per epoch, evaluations, events
    RUN/losses.png                   D and G loss curves
    RUN/augment.png                  with train.ada_target: ADA's augmentation probability p and r_t
    RUN/metrics.png, d_hist.png, d_sorted.png   with train.eval_every: FID curve, D on real vs fake
    RUN/checkpoints/ckpt_<step>.pt   the whole resumable state; best.pt (lowest FID)

Checkpoints are written atomically and loaded strictly (weights only).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from ganforge.errors import CheckpointError
from ganforge.io import append_jsonl, atomic_path, read_jsonl

FORMAT = "ganforge-checkpoint-v1"
_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt_{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def save_checkpoint(state: dict[str, Any], run_dir: str | Path, keep: int = 3) -> Path:
    """Write ``state`` as ckpt_<step>.pt (temp file, fsync, rename) and keep only the last ``keep``."""
    path = write_checkpoint(state, checkpoint_path(run_dir, state["step"]))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def write_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename), e.g. checkpoints/best.pt."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    """Load a checkpoint safely (weights only) or raise a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notes would break the one-line error
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()[0].split(". ")[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a ganforge checkpoint): {reason[:160]}") from None
    except Exception as err:  # e.g. pickle.UnpicklingError for foreign objects
        raise CheckpointError(f"checkpoint {path} is not a ganforge checkpoint: {type(err).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a ganforge checkpoint (format {FORMAT} expected)")
    return state


def latest_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """Load the newest readable checkpoint of a run, falling back to older ones if the newest is damaged."""
    paths = list_checkpoints(run_dir)
    if not paths:
        raise CheckpointError(f"no checkpoint in {checkpoint_dir(run_dir)}; train the run first (or it stopped before its first checkpoint)")
    errors = []
    for path in reversed(paths):
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        if errors:
            print(f"warning: skipped damaged checkpoint(s): {'; '.join(errors)}; using {path.name}", flush=True)
        state["path"] = str(path)
        return state
    raise CheckpointError(errors[0])


def resume_point(run_dir: str | Path) -> dict[str, Any]:
    """What ``--resume`` continues from: the newest readable checkpoint, or, for a run stopped before its
    first checkpoint, its config.yaml (``{"config": ..., "path": None}``: training restarts from step 0,
    which the seed makes identical to the lost work)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist; give the folder a run was written to")
    config = run_dir / "config.yaml"
    if list_checkpoints(run_dir) or not config.is_file():
        return latest_checkpoint(run_dir)
    try:
        values = yaml.safe_load(config.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config} is unreadable ({type(err).__name__}) and the run has no checkpoint; start a new run") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{config} is not a ganforge config and the run has no checkpoint; start a new run")
    print(f"note: {run_dir} has no checkpoint yet; restarting it from step 0 with its config.yaml", flush=True)
    return {"config": values, "path": None}


class RunDir:
    """The paths of one run directory, and its log."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.reals = self.path / "reals.png"
        self.samples = self.path / "samples"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoints = checkpoint_dir(self.path)
        self.best = self.checkpoints / "best.pt"
        self.gif = self.path / "progress.gif"
        self.losses = self.path / "losses.png"
        self.augment = self.path / "augment.png"
        self.metric_curve = self.path / "metrics.png"

    def __str__(self) -> str:
        return str(self.path)

    def sample_grid(self, epoch: int, key: str | None = None) -> Path:
        """The fixed-input grid of an epoch, or with ``key`` a family's further grid (``Family.epoch_figures``)."""
        return (self.samples if key is None else self.samples / key) / f"epoch_{epoch:04d}.png"

    def sample_grids(self) -> list[Path]:
        return sorted(self.samples.glob("epoch_*.png"))

    def log(self, records: list[dict]) -> None:
        """Append records to metrics.jsonl."""
        append_jsonl(self.metrics, records)

    def records(self) -> list[dict]:
        return read_jsonl(self.metrics)

    def list_checkpoints(self) -> list[Path]:
        return list_checkpoints(self.path)

