"""Where a preset's training step spends its time: torch.profiler over a few steps, by operation.

    python benchmarks/profile_step.py mnist-dcgan train.precision=fp32 [--steps 4] [--rows 28]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/profile_step.py mnist-acgan

Builds the preset's trainer as ``ganforge bench`` does (MNIST-shaped presets on Fashion-MNIST), takes
3 warm-up steps, then profiles ``--steps`` steps and prints the mean ms per step and the operations
sorted by their own CPU time (the "Self CPU" column is the time an operation spent outside its callees).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from ganforge.bench import bench_config, step_chunks
from ganforge.train import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    ap.add_argument("--dataset", help="default: fashion-mnist for the mnist-* presets, else the preset's own")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rows", type=int, default=28)
    args = ap.parse_args()
    dataset = args.dataset or ("fashion-mnist" if args.preset.startswith("mnist") else None)
    cfg = bench_config(args.preset, dataset=dataset, overrides=args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, run_dir=Path(tmp) / "profile")
        chunks = step_chunks(trainer)
        for _ in range(3):  # warm-up: oneDNN's primitives, the measured convolution forms
            step, chunk = next(chunks)
            trainer.train_step(chunk, step)
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step, chunk = next(chunks)
                trainer.train_step(chunk, step)
        ms = (time.perf_counter() - t0) / args.steps * 1e3
    print(f"{args.preset} {' '.join(args.overrides)}: {ms:.1f} ms per step (batch {cfg.train.batch_size}, "
          f"{trainer.precision}), {args.steps} steps profiled")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))


if __name__ == "__main__":
    main()
