"""Run ``ganforge bench`` over presets and speed options, interleaved, and update docs/benchmarks.md.

    python benchmarks/run_benchmarks.py --dataset fashion-mnist --rounds 3 [--isa native avx2] \
        [--tf-python /tmp/tfvenv/bin/python] [--baseline-src DIR] [--only NAME ...] [--out docs/benchmarks.md]

Every configuration runs once per round, in turn (A, B, C, A, B, C, ...), each
in a fresh process, so that a machine shared with other work slows them all
alike; the table reports the median over rounds of each run's median window.
``--tf-python`` adds the TensorFlow tutorial's step (benchmarks/tf_tutorial_step.py),
run by an interpreter that has TensorFlow, as the reference row. ``--baseline-src``
adds rows that run an older ganforge (e.g. ``git worktree add /tmp/base COMMIT`` and
``--baseline-src /tmp/base/src``) for before/after figures. The table replaces the
text between the markers ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` of ``--out``
(``--table NAME``, default ``main``), or is appended to it. ``--isa native avx2`` runs every row twice: with
all the CPU has, and held to the AVX2 class of CPU (no AVX-512, no bf16), so one machine measures both; each
row's ratio to TensorFlow is taken against TensorFlow under the same ISA.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (preset, overrides, what it shows); "ddp-" rows run under torchrun, one thread per process
CONFIGS: dict[str, tuple[str, list[str], str]] = {
    "shipped": ("mnist-dcgan", [], "mnist-dcgan as shipped: precision auto (bf16 where the CPU has it), simultaneous update"),
    "fp32": ("mnist-dcgan", ["train.precision=fp32"], "as shipped, fp32"),
    "examples-style": ("mnist-dcgan", ["train.update=alternating", "train.precision=fp32"],
                       "seed 000's model trained like pytorch/examples: D step then G step, eager fp32"),
    "bf16-1-thread": ("mnist-dcgan", ["train.threads=1"], "as shipped, one intra-op thread"),
    "bf16-channels-last": ("mnist-dcgan", ["train.channels_last=true"], "as shipped + NHWC"),
    "bf16-compile": ("mnist-dcgan", ["train.compile=true"], "as shipped + torch.compile (one backward per step)"),
    "ddp-2x1": ("mnist-dcgan", ["train.batch_size=128"],
                "torchrun, 2 processes x 1 thread, 128 images per rank (the same 256 per step), gloo"),
    "ddp-2x1-sync-bn": ("mnist-dcgan", ["train.batch_size=128", "train.sync_bn=true"],
                        "as ddp-2x1 with G's batch norm over both ranks' 256 images (the single-process statistics)"),
    "digits-dcgan": ("digits-dcgan", [], "the default job (16x16 Radford DCGAN, batch 64)"),
    "rules": ("mnist-dcgan", ["train.conv_forms=rules"], "as shipped, convolution forms by the fixed shape rules"),
    "fp32-rules": ("mnist-dcgan", ["train.precision=fp32", "train.conv_forms=rules"],
                   "fp32, convolution forms by the fixed shape rules"),
    "fp32-channels-last": ("mnist-dcgan", ["train.precision=fp32", "train.channels_last=true"], "fp32 + NHWC"),
    "fp32-ddp-2x1": ("mnist-dcgan", ["train.batch_size=128", "train.precision=fp32"],
                     "fp32, torchrun, 2 processes x 1 thread, 128 images per rank"),
}
BASELINE = {"baseline-fp32": ["train.precision=fp32"], "baseline-bf16": ["train.precision=bf16"]}
TF = "tensorflow-tutorial"
# the instruction sets a row can run with: this CPU's own, or the AVX2 class (no AVX-512, no bf16) that
# oneDNN (PyTorch's and TensorFlow's), ATen's kernels and MKL's matrix products are held to
ISAS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                               "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}


def run_one(row: str, args) -> dict | None:
    """Run one row, ``NAME@ISA``, in a fresh process."""
    name, _, isa = row.partition("@")
    env = {**os.environ, **ISAS[isa]}
    if name == TF:
        cmd = [args.tf_python, str(HERE / "tf_tutorial_step.py"), "--steps", str(args.steps),
               "--windows", str(args.windows), "--json"]
    else:
        if name in BASELINE:
            preset, overrides = "mnist-dcgan", BASELINE[name]
            env["PYTHONPATH"] = str(Path(args.baseline_src).resolve())
        else:
            preset, overrides, _ = CONFIGS[name]
        dataset = [] if preset == "digits-dcgan" else ["--dataset", args.dataset]
        launcher = [sys.executable, "-m"]
        if name.startswith("ddp-"):
            launcher += ["torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
            env["OMP_NUM_THREADS"] = "1"
        cmd = [*launcher, "ganforge", "bench", "--preset", preset, *dataset, "--steps", str(args.steps),
               "--windows", str(args.windows), "--json", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        print(f"  {row}: failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}", flush=True)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["isa_row"] = isa
    print(f"  {row:<26} train {result['train_img_per_s']:8.1f} img/s  sample {result['sample_img_per_s']:8.1f} img/s"
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
    ap.add_argument("--baseline-src", help="the src/ folder of another ganforge checkout, for before/after rows")
    ap.add_argument("--isa", nargs="+", choices=list(ISAS), default=["native"],
                    help="instruction sets to run every row with: this CPU's own, and/or the AVX2 class")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--table", default="main", help="name of the table's markers in --out")
    args = ap.parse_args()

    names = list(args.only or CONFIGS)
    unknown = [n for n in names if n not in CONFIGS and n not in BASELINE]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}; choose from {', '.join([*CONFIGS, *BASELINE])}")
    if any(n in BASELINE for n in names) and not args.baseline_src:
        sys.exit("the baseline-* rows need --baseline-src DIR")
    if args.baseline_src and not any(n in BASELINE for n in names):
        names[1:1] = list(BASELINE)
    if args.tf_python:
        names.insert(0, TF)
    rows = [f"{n}@{isa}" for isa in args.isa for n in names]
    results: dict[str, list[dict]] = {row: [] for row in rows}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        for row in rows:
            out = run_one(row, args)
            if out:
                results[row].append({**out, "round": r})
        write_table(results, args, rounds_done=r + 1)  # after every round: an interrupted run keeps its table


def _commit(src: str) -> str:
    """The git commit of another checkout's src/ folder, for the table (or the folder itself)."""
    proc = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"commit {proc.stdout.strip()}" if proc.returncode == 0 else src


def write_table(results: dict[str, list[dict]], args, rounds_done: int) -> None:
    START, END = f"<!-- table:{args.table} -->", f"<!-- /table:{args.table} -->"
    med = {n: statistics.median(r["train_img_per_s"] for r in rs) for n, rs in results.items() if rs}
    tf_rows = {row.partition("@")[2]: row for row in results if row.startswith(TF + "@") and results[row]}
    any_gf = next((rs[0] for n, rs in results.items() if rs and not n.startswith(TF)), None)
    any_tf = next((results[r][0] for r in tf_rows.values()), None)
    lines = [
        START,
        "Written by `benchmarks/run_benchmarks.py`. Training img/s is the median over "
        f"{rounds_done} interleaved rounds (A, B, C, A, B, C, ...) of each run's median window of",
        f"`ganforge bench --steps {args.steps} --windows {args.windows}` (after warm-up steps); MNIST-shaped presets ran on "
        f"`{args.dataset}` (the same 28x28x1 shape as MNIST). ISA `avx2`: oneDNN, ATen and MKL held to AVX2 "
        "(`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2`), TensorFlow's oneDNN too; "
        "`native`: everything the CPU has. Each ratio to TensorFlow is within one ISA and one round.",
        "",
        f"- machine: {any_gf['device_name'] if any_gf else platform.processor()}, {platform.system()} {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"- software: torch {any_gf['torch'] if any_gf else '?'}, ganforge {any_gf['ganforge'] if any_gf else '?'}"
        + (f", tensorflow {any_tf['tensorflow']}" if any_tf else ""),
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "| configuration | ISA | precision | what | train img/s | vs TF tutorial | generate img/s | GFLOP/img | GFLOP/s "
        "| per round (img/s) | vs TF per round |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row, rs in results.items():
        if not rs:
            continue
        name, _, isa = row.partition("@")
        what = ("the TensorFlow tutorial's `@tf.function` step, batch 256" if name == TF else
                f"ganforge at {_commit(args.baseline_src)}, {name.split('-')[1]}" if name in BASELINE
                else CONFIGS[name][2])
        ips = med[row]
        tf_row = tf_rows.get(isa)
        ref = med.get(tf_row) if tf_row else None
        gen = statistics.median(r["sample_img_per_s"] for r in rs)
        vs = f"{ips / ref:.2f}x" if ref else "-"
        gflop = f"{rs[0]['gflop_per_img']:.3f}" if "gflop_per_img" in rs[0] else "-"
        gfs = f"{statistics.median(r['gflop_per_s'] for r in rs):.0f}" if "gflop_per_s" in rs[0] else "-"
        runs = ", ".join(f"{r['train_img_per_s']:.0f}" for r in rs)
        per_round = "-"
        if ref:  # the ratio within each round in which TF ran too
            tf_round = {t["round"]: t["train_img_per_s"] for t in results[tf_row]}
            per_round = ", ".join(f"{r['train_img_per_s'] / tf_round[r['round']]:.2f}"
                                  for r in rs if r["round"] in tf_round)
        isa_seen = rs[0].get("isa", {}).get("aten", "") if name != TF else ""
        isa_cell = isa + (f" ({isa_seen})" if isa_seen else "")
        lines.append(f"| {name} | {isa_cell} | {rs[0].get('precision', 'fp32')} | {what} | {ips:.0f} | {vs} | {gen:.0f} "
                     f"| {gflop} | {gfs} | {runs} | {per_round} |")
    lines.append(END)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    table = "\n".join(lines)
    if START in text and END in text:
        text = text[:text.index(START)] + table + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
