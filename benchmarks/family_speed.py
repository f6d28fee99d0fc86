"""Each new family's presets against the same model trained the textbook way, taking turns in one process.

    python benchmarks/family_speed.py                                  # every preset below, this CPU's ISA
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/family_speed.py   # the AVX2 class

The textbook way is what the reference implementations run: eager fp32, torch.nn's own convolutions
(``reference_forms``), D's update on the real and the fake batch as two D passes, then G's (CycleGAN: each
generator pass its own call, as the reference code makes them). ganforge's way
is the preset as shipped, and the preset with ``train.precision=auto`` (bf16 autocast where the CPU has
bf16 units, else fp32). All sides train the same networks on the same batches; their steps are taken in
turn (``--steps`` each per round), so every side sees the same machine. StackGAN's staged schedule is
timed in each of its phases (stage I alone; stage II on a frozen stage I).

Prints one row per (preset, phase): ms per step and img/s of each side (medians over the rounds) and the
speed-up over the textbook side, with the ISA and precision each ran with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganforge.bench import bench_config, step_chunks
from ganforge.ops import reference_forms
from ganforge.train import Trainer

PRESETS = ["mnist-cgan-mlp", "mnist-cgan-conv", "mnist-infogan", "mnist-stackgan", "fashion-sr4-pix2pix",
           "fashion-shoes-cyclegan"]
TEXTBOOK = ["train.precision=fp32", "train.joint_d_forward=false", "train.update=alternating",
            "train.channels_last=false"]


def phases(preset: str) -> list[tuple[str, int | None]]:
    """(label, epoch to time) per phase: StackGAN's staged schedule has two."""
    if preset.endswith("stackgan"):
        cfg = bench_config(preset)
        if cfg.stack.schedule == "staged":
            return [("stage I", 0), ("stage II", cfg.stack.stage1_epochs)]
    return [("", None)]


def build(preset: str, dataset: str, overrides: list[str], tmp: Path, epoch: int | None):
    trainer = Trainer(bench_config(preset, dataset=dataset, overrides=overrides), run_dir=tmp)
    if epoch is not None:
        trainer.family.begin_epoch(epoch)
    return trainer, step_chunks(trainer)


def time_steps(trainer, chunks, n: int) -> tuple[float, int]:
    images, t0 = 0, time.perf_counter()
    for _ in range(n):
        step, chunk = next(chunks)
        trainer.train_step(chunk, step)
        images += sum(len(i) for i in chunk)
    return time.perf_counter() - t0, images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=PRESETS)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="steps per side per round")
    args = ap.parse_args()

    isa = torch.backends.cpu.get_cpu_capability()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "all")
    print(f"torch {torch.__version__}, ATen {isa}, oneDNN max ISA {onednn}, {torch.get_num_threads()} threads; "
          f"{args.rounds} rounds of {args.steps} steps per side, medians")
    print("| preset | phase | textbook ms/step | preset ms/step | precision=auto ms/step | textbook img/s | "
          "preset img/s | auto img/s | preset / textbook | auto / textbook | auto ran |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for preset in args.presets:
        for label, epoch in phases(preset):
            with tempfile.TemporaryDirectory() as tmp:
                sides = {
                    "textbook": (*build(preset, args.dataset, TEXTBOOK, Path(tmp) / "t", epoch), reference_forms),
                    "preset": (*build(preset, args.dataset, [], Path(tmp) / "p", epoch), contextlib.nullcontext),
                    "auto": (*build(preset, args.dataset, ["train.precision=auto"], Path(tmp) / "a", epoch),
                             contextlib.nullcontext),
                }
                auto_precision = sides["auto"][0].precision
                ms = {k: [] for k in sides}
                rate = {k: [] for k in sides}
                for trainer, chunks, ctx in sides.values():  # warm-up
                    with ctx():
                        time_steps(trainer, chunks, 2)
                for _ in range(args.rounds):
                    for name, (trainer, chunks, ctx) in sides.items():
                        with ctx():
                            seconds, images = time_steps(trainer, chunks, args.steps)
                        ms[name].append(seconds / args.steps * 1e3)
                        rate[name].append(images / seconds)
            med = {k: statistics.median(v) for k, v in ms.items()}
            ips = {k: statistics.median(v) for k, v in rate.items()}
            print(f"| {preset} | {label or '-'} | {med['textbook']:.1f} | {med['preset']:.1f} | {med['auto']:.1f} | "
                  f"{ips['textbook']:.0f} | {ips['preset']:.0f} | {ips['auto']:.0f} | "
                  f"{med['textbook'] / med['preset']:.2f}x | {med['textbook'] / med['auto']:.2f}x | "
                  f"{auto_precision} |", flush=True)


if __name__ == "__main__":
    main()
