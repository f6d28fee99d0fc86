"""``ganforge bench``: how fast a preset trains and samples on this machine.

Builds the preset's real trainer (data, models, optimisers, precision,
wrappers), takes a few warm-up steps, then times ``windows`` windows of
training steps and reports the median img/s, so one slow window (another
process on the machine, a page fault) does not move the figure. FLOPs of one
step are counted once with PyTorch's FLOP counter (matrix products and
convolutions, forward and backward), giving the achieved GFLOP/s.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from itertools import cycle
from pathlib import Path

import torch

from ganforge import __version__
from ganforge.api import override_items
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.ops.forms import chosen_forms, cpu_name


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _windows(fn, n_windows: int, per_window: int, device) -> list[float]:
    """img/s of each of ``n_windows`` windows of ``per_window`` calls to ``fn`` (each returns its image count)."""
    rates = []
    for _ in range(n_windows):
        _sync(device)
        t0 = time.perf_counter()
        images = sum(fn() for _ in range(per_window))
        _sync(device)  # CPU work is synchronous; a GPU is waited for
        rates.append(images / (time.perf_counter() - t0))
    return rates


def step_flops(trainer, step: int, chunk) -> int:
    """FLOPs of one eager training step of ``trainer``'s models (convolutions and matrix products), counted
    in torch.nn's own forms of the convolutions (``ganforge.ops`` computes some with extra zero taps)."""
    import dataclasses

    from torch.utils.flop_counter import FlopCounterMode

    from ganforge.ops import reference_forms
    from ganforge.train.steps import Stepper

    family, trained = trainer.family, trainer.family.train_forms
    family.bind(dataclasses.replace(trained, G=trainer.G, D=trainer.D, one_backward=False, scaled=False,
                                    real_logits=None))  # a counted step is no step of ADA's
    eager = Stepper(family, trainer.opt_g, trainer.opt_d, trainer.schedule)
    counter = FlopCounterMode(display=False)
    # The total alone is wanted: without the per-module tracker, whose backward hooks fail inside the
    # torch.autograd.grad of a gradient penalty (R1, WGAN-GP) on torch 2.13 ("A leaf node was passed to
    # _will_engine_execute_node"); every FLOP is still counted under "Global".
    counter.mod_tracker = _NoModules()
    try:
        with counter, reference_forms():
            eager.step(step, [trainer.batch(idx) for idx in chunk])
    finally:
        family.bind(trained)
    return counter.get_total_flops()


class _NoModules:
    """A stand-in for FlopCounterMode's module tracker: every count goes to "Global" only."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


def bench_config(preset: str, *, dataset: str | None = None, device: str | None = None, overrides=None):
    """``preset`` with the overrides, as benchmarks run it (no progress bar)."""
    items = override_items(dataset=dataset, device=device, overrides=overrides)
    items.setdefault("train.progress", False)
    return resolve(preset, items)


def step_chunks(trainer):
    """An endless cycle over the first epoch's steps: (step number, that step's index batches), as training
    takes them (the schedule's extra D updates included)."""
    return cycle(list(trainer.schedule.steps_in(trainer.epoch_batches(0), start_step=0)))


def run_bench(preset: str, *, dataset: str | None = None, steps: int = 30, windows: int = 5,
              warmup: int | None = None, device: str | None = None, overrides=None) -> dict:
    """Time ``preset``'s training and sampling; returns the figures as a dict (see ``ganforge bench --json``)."""
    from ganforge.train import Trainer

    if steps < 1 or windows < 1:
        raise ConfigError(f"--steps and --windows must be at least 1, got {steps} and {windows}")
    cfg = bench_config(preset, dataset=dataset, device=device, overrides=overrides)
    t = cfg.train
    windows = min(windows, steps)
    per_window = steps // windows
    warmup = warmup if warmup is not None else (4 if t.compile else 3)

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, run_dir=Path(tmp) / "bench")  # writes nothing until fit()
        dev = trainer.device
        chunks = step_chunks(trainer)

        # -- training: the trainer's own steps; images counted on every rank (the whole job's rate) --
        def train_once() -> int:
            step, chunk = next(chunks)
            trainer.train_step(chunk, step)
            return sum(len(idx) for idx in chunk) * trainer.world_size

        for _ in range(warmup):
            train_once()
        train_rates = _windows(train_once, windows, per_window, dev)

        # -- sampling (eval mode, no autograd, the trainer's precision) ----
        family, G = trainer.family, trainer.G.eval()
        gen = torch.Generator().manual_seed(0)
        inputs = (family.export_inputs(t.batch_size, gen) if family.translates      # a batch of source images
                  else family.sample_inputs(t.batch_size, generator=gen))
        inputs = {k: None if v is None else v.to(dev) for k, v in inputs.items()}

        def sample_once() -> int:
            with torch.inference_mode(), trainer.autocast():
                family.forward_G(G, inputs)
            return t.batch_size

        sample_once()
        sample_rates = _windows(sample_once, windows, per_window, dev)
        G.train()

        forms_chosen = chosen_forms() if t.conv_forms == "measure" else {}  # before the counted step's own
        step, chunk = next(chunks)
        images_per_step = sum(len(idx) for idx in chunk)
        flops = step_flops(trainer, step, chunk)
        result_device = device_name(dev)

    train_ips = statistics.median(train_rates)
    gflop_per_img = flops / images_per_step / 1e9
    return {
        "ganforge": __version__, "torch": torch.__version__,
        "preset": cfg.preset, "dataset": cfg.data.name, "batch_size": t.batch_size, "update": t.update,
        "precision": trainer.precision, "device": str(dev), "device_name": result_device,
        "threads": torch.get_num_threads(), "processes": trainer.world_size,
        "options": {"joint_d_forward": t.joint_d_forward, "channels_last": t.channels_last, "compile": t.compile},
        "isa": {"aten": torch.backends.cpu.get_cpu_capability(), "onednn_max": os.environ.get("ONEDNN_MAX_CPU_ISA", "all")},
        "conv_forms": t.conv_forms, "forms_chosen": forms_chosen,
        "steps": per_window * windows, "windows": windows, "warmup": warmup,
        "train_img_per_s": round(train_ips, 1),
        "train_windows": [round(r, 1) for r in train_rates],
        "sample_img_per_s": round(statistics.median(sample_rates), 1),
        "gflop_per_img": round(gflop_per_img, 6),
        "gflop_per_s": round(gflop_per_img * train_ips, 3),
    }


def format_result(r: dict) -> str:
    opts = ", ".join(k for k, v in r["options"].items() if v) or "none"
    lo, hi = min(r["train_windows"]), max(r["train_windows"])
    return "\n".join([
        f"ganforge bench: {r['preset']} on {r['dataset']}, batch {r['batch_size']}, {r['update']} update, "
        f"{r['precision']}, options: {opts}" + (f", {r['processes']} processes" if r["processes"] > 1 else ""),
        f"device    {r['device']}: {r['device_name']}",
        f"cpu isa   ATen {r['isa']['aten']}, oneDNN up to {r['isa']['onednn_max']}; convolution forms: "
        f"{r['conv_forms']}" + (f" ({_tally(r['forms_chosen'])})" if r["forms_chosen"] else ""),
        f"train     {r['train_img_per_s']:8.0f} img/s   median of {r['windows']} windows "
        f"({lo:.0f}-{hi:.0f}) after {r['warmup']} warm-up steps",
        f"compute   {r['gflop_per_img']:.3f} GFLOP/img -> {r['gflop_per_s']:.1f} GFLOP/s",
        f"generate  {r['sample_img_per_s']:8.0f} img/s",
    ])


def _tally(chosen: dict[str, str]) -> str:
    """'12 computations: 7 onednn, 3 gemm, 2 phased'."""
    counts: dict[str, int] = {}
    for form in chosen.values():
        counts[form] = counts.get(form, 0) + 1
    return f"{len(chosen)} computations: " + ", ".join(f"{n} {f}" for f, n in sorted(counts.items(), key=lambda i: -i[1]))
