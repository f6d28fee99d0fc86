"""FID against training wall-clock minutes for candidate recipes (docs/recipes.md).

Each candidate trains in segments of ``--segment`` minutes inside one process; after every
segment the newest checkpoint is scored with ``evaluate_run`` (FID etc., ``--num`` samples) and
a ``{"event": "bench", ...}`` record is appended to the run's metrics.jsonl. Only the segments
are timed (``train_s``: wall-clock of ``Trainer.fit``, which includes its checkpoint and sample
grids; ``cpu_s``: process CPU time over the same calls), so evaluation never eats training time.

    python benchmarks/recipes.py run seed000 --out runs/bench --dataset fashion-mnist --epochs 5
    python benchmarks/recipes.py run fast-28 --out runs/bench --dataset fashion-mnist --minutes 6
    python benchmarks/recipes.py plot runs/bench --out docs/recipes_fid.png

``run`` stops after ``--minutes`` of timed training or ``--epochs`` epochs, whichever comes first.
Set OMP_NUM_THREADS and run one candidate at a time: they compete for the same cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# name -> (preset, overrides); "fast-28" is the shipped preset itself.
CANDIDATES: dict[str, tuple[str, dict]] = {
    "seed000": ("mnist-dcgan", {}),
    "seed000-fp32": ("mnist-dcgan", {"train.precision": "fp32"}),
    "seed000-bf16": ("mnist-dcgan", {"train.precision": "bf16"}),
    "dcgan-w64": ("custom", {"model.arch": "dcgan", "model.width": 64, "train.batch_size": 64}),
    "dcgan-w64-ema": ("custom", {"model.arch": "dcgan", "model.width": 64, "train.batch_size": 64,
                                 "train.ema": 0.999, "train.ema_warmup": True}),
    "dcgan-w32-ema": ("custom", {"model.arch": "dcgan", "model.width": 32, "train.batch_size": 64,
                                 "train.ema": 0.999, "train.ema_warmup": True}),
    "hinge-sn-w64-ema": ("custom", {"model.arch": "dcgan", "model.width": 64, "train.batch_size": 64,
                                    "train.ema": 0.999, "train.ema_warmup": True, "loss.name": "hinge", "model.spectral_norm": True,
                                    "g_optim.betas": [0.0, 0.9], "d_optim.betas": [0.0, 0.9]}),
    "dcgan-w64-ema-b128": ("custom", {"model.arch": "dcgan", "model.width": 64, "train.batch_size": 128,
                                      "train.ema": 0.999, "train.ema_warmup": True}),
    "dcgan-w64-ema-bf16": ("custom", {"model.arch": "dcgan", "model.width": 64, "train.batch_size": 64,
                                      "train.ema": 0.999, "train.ema_warmup": True, "train.precision": "bf16"}),
    "dcgan-w32-ema-bf16": ("custom", {"model.arch": "dcgan", "model.width": 32, "train.batch_size": 64,
                                      "train.ema": 0.999, "train.ema_warmup": True, "train.precision": "bf16"}),
    "fast-28": ("fast-28", {}),
    "fast-28-fp32": ("fast-28", {"train.precision": "fp32"}),
}


def _config(name: str, dataset: str, epochs: int, extra: list[str]):
    from ganforge.config import parse_override, resolve

    if name not in CANDIDATES:
        raise SystemExit(f"unknown candidate {name!r}; one of {', '.join(CANDIDATES)}")
    preset, values = CANDIDATES[name]
    overrides = {**values, "data.name": dataset, "train.epochs": epochs, "train.progress": False,
                 "train.checkpoint_every": 10_000, "train.keep_checkpoints": 1}
    overrides.update(dict(map(parse_override, extra)))
    if preset == "custom":
        overrides.setdefault("data.image_size", 28 if dataset != "digits" else 16)
        overrides.setdefault("data.channels", 1)
        overrides.setdefault("train.num_samples", 64)
    return resolve(None if preset == "custom" else preset, overrides)


def run(args) -> None:
    import torch

    from ganforge.io import append_jsonl, to_json
    from ganforge.metrics.evaluate import evaluate_run
    from ganforge.train.trainer import Trainer

    cfg = _config(args.candidate, args.dataset, args.epochs, args.set)
    cfg.preset = args.candidate
    run_dir = Path(args.out) / args.candidate
    train_s = cpu_s = 0.0
    trainer = Trainer(cfg, run_dir)
    print(f"{args.candidate}: torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}", flush=True)
    while True:
        left = args.minutes * 60 - train_s
        seg = min(args.segment * 60, left)
        trainer.cfg.train.minutes = seg / 60
        w0, c0 = time.perf_counter(), time.process_time()
        trainer.fit()
        train_s += time.perf_counter() - w0
        cpu_s += time.process_time() - c0
        result = evaluate_run(run_dir, num=args.num, metrics=["fid", "kid", "is", "class_acc"], histograms=False,
                              log=False, printer=lambda *_: None)
        record = {"event": "bench", "candidate": args.candidate, "step": result["step"], "epoch": trainer.epoch,
                  "batch_in_epoch": trainer.progress.batch_in_epoch, "train_s": round(train_s, 2), "cpu_s": round(cpu_s, 2),
                  "load": round(os.getloadavg()[0], 2), "num": args.num,
                  **{k: result[k] for k in ("fid", "kid", "is", "class_acc") if k in result}}
        append_jsonl(run_dir / "metrics.jsonl", [record])
        print(to_json(record), flush=True)
        if train_s >= args.minutes * 60 - 1 or trainer.epoch >= cfg.train.epochs:
            break
        trainer = Trainer.resume(run_dir, {"train.minutes": args.segment})


def plot(args) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganforge.io import read_jsonl

    runs = sorted(p for p in Path(args.runs).iterdir() if (p / "metrics.jsonl").is_file()
                  and (not args.only or p.name in args.only))
    labels = {"train_s": "training wall-clock minutes (evaluation excluded)",
              "cpu_s": "training CPU minutes of the process (evaluation excluded)",
              "step": "G steps"}
    fig, axes = plt.subplots(1, len(args.axes), figsize=(6 * len(args.axes), 4.6), sharey=True, squeeze=False)
    axes = axes[0]
    rows = []
    for p in runs:
        recs = [r for r in read_jsonl(p / "metrics.jsonl") if r.get("event") == "bench"]
        if not recs:
            continue
        fid = [r["fid"] for r in recs]
        for ax, key in zip(axes, args.axes):
            ax.plot([r[key] / (1 if key == "step" else 60) for r in recs], fid, marker="o", ms=3, label=p.name,
                    lw=2.4 if p.name in args.bold else 1.2)
        last = recs[-1]
        rows.append(f"| {p.name} | {last['train_s'] / 60:.1f} | {last['cpu_s'] / 60:.2f} | {last['step']} | "
                    f"{min(fid):.1f} | {last['fid']:.1f} | {last['kid']:.2f} | {last.get('is', float('nan')):.2f} |")
    for ax, key in zip(axes, args.axes):
        ax.set_xlabel(labels[key])
        if args.xmax is not None:
            ax.set_xlim(0, args.xmax)
    axes[0].set_ylabel("FID (ganforge reference features, lower is better)")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print("| candidate | train min | CPU min | G steps | best FID | last FID | last KID | last IS |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("candidate")
    r.add_argument("--out", required=True)
    r.add_argument("--dataset", default="fashion-mnist")
    r.add_argument("--minutes", type=float, default=1e9, help="timed training budget")
    r.add_argument("--epochs", type=int, default=10_000)
    r.add_argument("--segment", type=float, default=1.0, help="minutes between evaluations")
    r.add_argument("--num", type=int, default=5000, help="samples per evaluation")
    r.add_argument("--set", nargs="*", default=[], metavar="key=value", help="extra config overrides")
    q = sub.add_parser("plot")
    q.add_argument("runs")
    q.add_argument("--out", required=True)
    q.add_argument("--title", default="Fashion-MNIST 28x28: FID vs training time")
    q.add_argument("--bold", nargs="*", default=["fast-28"])
    q.add_argument("--axes", nargs="+", default=["train_s", "cpu_s"], choices=["train_s", "cpu_s", "step"],
                   help="x axes, one panel each")
    q.add_argument("--xmax", type=float, help="right end of the x axes")
    q.add_argument("--only", nargs="*", help="run names to draw (default: every run under RUNS)")
    args = p.parse_args()
    run(args) if args.cmd == "run" else plot(args)


if __name__ == "__main__":
    main()
