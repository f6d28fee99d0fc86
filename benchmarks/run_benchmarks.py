"""Run ``ganforge bench`` over presets and speed options, interleaved, and write docs/benchmarks.md.

    python benchmarks/run_benchmarks.py --dataset fashion-mnist --rounds 3 \
        [--tf-python /tmp/tfvenv/bin/python] [--only NAME ...] [--out docs/benchmarks.md]

Every configuration runs once per round, in turn (A, B, C, A, B, C, ...), each
in a fresh process, so that a machine shared with other work slows them all
alike; the table reports the median over rounds of each run's median window.
``--tf-python`` adds the TensorFlow tutorial's step (benchmarks/tf_tutorial_step.py),
run by an interpreter that has TensorFlow, as the reference row.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (preset, overrides, what it shows)
CONFIGS: dict[str, tuple[str, list[str], str]] = {
    "examples-style": ("mnist-dcgan", ["train.update=alternating", "train.joint_d_forward=false"],
                       "seed 000's model trained like pytorch/examples: D step then G step, eager fp32"),
    "fp32": ("mnist-dcgan", [], "the preset as shipped: simultaneous update, one D pass over real+fake, fp32"),
    "fp32-two-d-passes": ("mnist-dcgan", ["train.joint_d_forward=false"], "as fp32, D called on real and fake separately"),
    "fp32-channels-last": ("mnist-dcgan", ["train.channels_last=true"], "as fp32, NHWC memory format"),
    "fp32-1-thread": ("mnist-dcgan", ["train.threads=1"], "as fp32, one intra-op thread"),
    "bf16": ("mnist-dcgan", ["train.precision=bf16"], "as fp32 under bf16 autocast"),
    "bf16-channels-last": ("mnist-dcgan", ["train.precision=bf16", "train.channels_last=true"], "bf16 + NHWC"),
    "bf16-compile": ("mnist-dcgan", ["train.precision=bf16", "train.compile=true"], "bf16 + torch.compile"),
    "digits-dcgan": ("digits-dcgan", [], "the default job (16x16 Radford DCGAN, batch 64)"),
}
TF = "tensorflow-tutorial"


def run_one(name: str, args) -> dict | None:
    if name == TF:
        cmd = [args.tf_python, str(HERE / "tf_tutorial_step.py"), "--steps", str(args.steps), "--json"]
    else:
        preset, overrides, _ = CONFIGS[name]
        dataset = [] if preset == "digits-dcgan" else ["--dataset", args.dataset]
        cmd = [sys.executable, "-m", "ganforge", "bench", "--preset", preset, *dataset, "--steps", str(args.steps),
               "--windows", str(args.windows), "--json", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"  {name}: failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}", flush=True)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {name:<20} train {result['train_img_per_s']:8.1f} img/s  sample {result['sample_img_per_s']:8.1f} img/s"
          + (f"  {result['gflop_per_s']:.1f} GFLOP/s" if "gflop_per_s" in result else ""), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist", help="data set for the MNIST-shaped presets")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--only", nargs="*", help=f"configurations to run (default all): {', '.join(CONFIGS)}")
    ap.add_argument("--tf-python", help="a Python interpreter with TensorFlow, to time the tutorial's step too")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()

    names = list(args.only or CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}; choose from {', '.join(CONFIGS)}")
    if args.tf_python:
        names.insert(0, TF)
    results: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        for name in names:
            out = run_one(name, args)
            if out:
                results[name].append(out)
        write_table(results, args, rounds_done=r + 1)  # after every round: an interrupted run keeps its table


def write_table(results: dict[str, list[dict]], args, rounds_done: int) -> None:
    med = {n: statistics.median(r["train_img_per_s"] for r in rs) for n, rs in results.items() if rs}
    ref = med.get(TF)
    any_gf = next((rs[0] for n, rs in results.items() if rs and n != TF), None)
    lines = [
        "# Benchmarks",
        "",
        "Written by `benchmarks/run_benchmarks.py`; re-run it to measure your machine. Training img/s is the",
        f"median over {rounds_done} interleaved rounds (A, B, C, A, B, C, ...) of each run's median window of",
        f"`ganforge bench --steps {args.steps} --windows {args.windows}` (after warm-up steps); MNIST-shaped presets ran on "
        f"`{args.dataset}` (the same 28x28x1 shape as MNIST).",
        "",
        f"- machine: {any_gf['device_name'] if any_gf else platform.processor()}, {platform.system()} {platform.machine()}",
        f"- software: torch {any_gf['torch'] if any_gf else '?'}, ganforge {any_gf['ganforge'] if any_gf else '?'}"
        + (f", tensorflow {results[TF][0]['tensorflow']}" if results.get(TF) else ""),
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "| configuration | what | train img/s | vs TF tutorial | generate img/s | GFLOP/img | GFLOP/s | windows (img/s) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, rs in results.items():
        if not rs:
            continue
        what = "the TensorFlow tutorial's `@tf.function` step, batch 256" if name == TF else CONFIGS[name][2]
        ips = med[name]
        gen = statistics.median(r["sample_img_per_s"] for r in rs)
        vs = f"{ips / ref:.2f}x" if ref else "-"
        gflop = f"{rs[0]['gflop_per_img']:.3f}" if "gflop_per_img" in rs[0] else "-"
        gfs = f"{statistics.median(r['gflop_per_s'] for r in rs):.0f}" if "gflop_per_s" in rs[0] else "-"
        runs = ", ".join(f"{r['train_img_per_s']:.0f}" for r in rs)
        lines.append(f"| {name} | {what} | {ips:.0f} | {vs} | {gen:.0f} | {gflop} | {gfs} | {runs} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
