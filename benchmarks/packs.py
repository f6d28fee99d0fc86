"""Packs at scale: peak memory of training from a 1,000,000-image pack vs a 50,000-image one, and img/s of
training from a pack vs the in-memory data set.

    python benchmarks/packs.py memory --images 1000000 50000 --steps 300     # peak RSS, /usr/bin/time -v
    python benchmarks/packs.py speed --rounds 3                               # one epoch each, interleaved
    python benchmarks/packs.py alternate --rounds 3                           # in one process, 150-step blocks

``memory`` builds 32x32x3 packs (Fashion-MNIST resized to 32x32 and coloured: copy k of the 60,000 images is
tinted with colour k, so a million images are all different) in ``--dir`` if they are not there, then trains
``--preset`` for ``--steps`` steps from each with ``data.reader=stream`` (and ``memory`` for comparison) in a
fresh process under ``/usr/bin/time -v``, and prints the peak resident memory of each.
``speed`` trains ``mnist-dcgan`` for one epoch on fashion-mnist as loaded whole, then from a pack of it read by
the reader thread (data.reader=stream) and held in memory, in interleaved rounds, and prints each run's img/s
from its epoch record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ganforge.data import load_dataset
from ganforge.data import pack as packing


def coloured_fashion(count: int) -> packing.PackSource:
    """``count`` 32x32 RGB images: Fashion-MNIST's 60,000 at 32x32, copy k tinted with colour k."""
    base = load_dataset("fashion-mnist", image_size=32, channels=1).x[:, 0].numpy()  # (60000, 32, 32)
    labels = load_dataset("fashion-mnist").y.numpy()
    rng = np.random.default_rng(0)
    tints = rng.uniform(0.3, 1.0, size=(count // len(base) + 1, 3, 1, 1)).astype(np.float32)
    tints[0] = 1.0  # copy 0: grey

    def items(start):
        for i in range(start, count):
            k, j = divmod(i, len(base))
            yield (base[j][None].astype(np.float32) * tints[k]).round().astype(np.uint8), int(labels[j]), f"{k}:{j}"

    names = list(load_dataset("fashion-mnist").class_names)
    return packing.PackSource(f"fashion-mnist coloured x{count}", count, (3, 32, 32), names, f"coloured-{count}", items,
                              {"size": 32, "channels": 3, "fit": "stretch"})


def peak_rss(cmd: list[str]) -> tuple[float, str]:
    """Run ``cmd`` under /usr/bin/time -v: (its peak resident set in MiB, its stdout's last line)."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return kib / 1024, proc.stdout.strip().splitlines()[-1]


def memory(args) -> None:
    root = Path(args.dir)
    rows = []
    for count in args.images:
        out = root / f"coloured32-{count}"
        if not (out / packing.MANIFEST).is_file():
            packing.pack(coloured_fashion(count), out)
        for reader in args.readers:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "ganforge", "train", "--preset", args.preset, "--dataset", f"pack:{out}",
                       "--steps", str(args.steps), "--out", f"{tmp}/run", f"data.reader={reader}", "train.progress=false"]
                mib, last = peak_rss(cmd)
                records = [json.loads(line) for line in open(f"{tmp}/run/metrics.jsonl")]
            steps = max(r.get("step", 0) for r in records)
            rows.append((count, reader, steps, mib))
            print(f"  {count} images, {reader}: {mib:.0f} MiB ({last})", flush=True)
    print(f"\n{args.preset}, {args.steps} steps, torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')} threads\n")
    print("| pack | data.reader | steps | peak resident memory |")
    print("|---|---|---:|---:|")
    for count, reader, steps, mib in rows:
        print(f"| {count:,} images, 32x32x3 ({count * 3072 / 2**30:.2f} GiB) | {reader} | {steps} | {mib:,.0f} MiB |")


def speed(args) -> None:
    root = Path(args.dir)
    fm = root / "fashion-mnist-28"
    if not (fm / packing.MANIFEST).is_file():
        packing.pack(packing.dataset_source("fashion-mnist", "train", None, None), fm)
    variants = [("fashion-mnist, loaded whole", "fashion-mnist", "memory"),
                ("pack, data.reader=stream", f"pack:{fm}", "stream"),
                ("pack, data.reader=memory", f"pack:{fm}", "memory")]
    results: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for r in range(args.rounds):
        for name, dataset, reader in variants[r % 3:] + variants[:r % 3]:  # each variant first in one round of three
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "ganforge", "train", "--preset", args.preset, "--dataset", dataset,
                       "--epochs", "1", "--out", f"{tmp}/run", f"data.reader={reader}", "train.progress=false"]
                subprocess.run(cmd, check=True, capture_output=True)
                (epoch,) = [json.loads(line) for line in open(f"{tmp}/run/metrics.jsonl") if '"event": "epoch"' in line]
            results[name].append(epoch["img_per_s"])
            print(f"  round {r + 1}: {name}: {epoch['img_per_s']:.1f} img/s", flush=True)
    base = np.median(results[variants[0][0]])
    print(f"\n{args.preset}, one epoch of Fashion-MNIST, torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}, {os.environ.get('OMP_NUM_THREADS', 'default')} threads\n")
    print("| data | img/s, each round | median | vs loaded whole |")
    print("|---|---|---:|---:|")
    for name, values in results.items():
        med = float(np.median(values))
        print(f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | {med:.1f} | {med / base:.3f} |")


def alternate(args) -> None:
    """In one process: the same trainer's steps on Fashion-MNIST as loaded whole and on its pack read into memory,
    alternated in blocks of ``--block`` steps (what is left when process-level differences are taken out)."""
    import time

    from ganforge.config import resolve
    from ganforge.train import Trainer

    fm = Path(args.dir) / "fashion-mnist-28"
    if not (fm / packing.MANIFEST).is_file():
        packing.pack(packing.dataset_source("fashion-mnist", "train", None, None), fm)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(resolve(args.preset, {"data.name": "fashion-mnist", "train.progress": False}), run_dir=f"{tmp}/r")
        whole, packed = trainer.x, packing.read_images(packing.read_manifest(fm))
        assert torch.equal(whole, packed)
        batches, k = trainer.epoch_batches(0), 0

        def block(x, n):
            nonlocal k
            trainer.x, start = x, time.perf_counter()
            for idx in batches[k:k + n]:
                trainer.train_step([idx])
            k += n
            return n * len(batches[0]) / (time.perf_counter() - start)

        block(whole, 30)  # warm-up
        print(f"{args.preset}, blocks of {args.block} steps, torch {torch.__version__}, "
              f"{torch.backends.cpu.get_cpu_capability()}\n")
        print("| round | loaded whole, img/s | pack in memory, img/s | ratio |")
        print("|---:|---:|---:|---:|")
        for r in range(args.rounds):
            a, b = block(whole, args.block), block(packed, args.block)
            print(f"| {r + 1} | {a:.0f} | {b:.0f} | {b / a:.3f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--images", type=int, nargs="+", default=[1_000_000, 50_000])
    m.add_argument("--readers", nargs="+", default=["stream", "memory"])
    m.add_argument("--steps", type=int, default=300)
    m.add_argument("--preset", default="fast-32")
    m.add_argument("--dir", default="/tmp/ganforge-packs")
    s = sub.add_parser("speed")
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--preset", default="mnist-dcgan")
    s.add_argument("--dir", default="/tmp/ganforge-packs")
    a = sub.add_parser("alternate")
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--block", type=int, default=150)
    a.add_argument("--preset", default="fast-28")
    a.add_argument("--dir", default="/tmp/ganforge-packs")
    args = p.parse_args()
    {"memory": memory, "speed": speed, "alternate": alternate}[args.what](args)


if __name__ == "__main__":
    main()
