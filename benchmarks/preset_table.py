"""Every preset on one data set with one step budget: wall time and the last sample grid.

    python benchmarks/preset_table.py --dataset fashion-mnist --steps 100 --out benchmarks/out/table [PRESET ...]

Runs the presets one after another in this process (image presets on ``--dataset``, point presets on
their own data), and prints one line per preset: seconds for the whole run (data loading, training,
grids, checkpoint), seconds per generator step, the last losses and where the sample grid is. Timings
on a shared machine are noisy; compare runs made side by side.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ganforge.config import preset_names, resolve
from ganforge.data import DATASET_META
from ganforge.io import read_jsonl, to_json
from ganforge.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("presets", nargs="*", help="default: all")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/table"))
    args = p.parse_args()
    for name in args.presets or preset_names():
        cfg = resolve(name)
        points = DATASET_META.get(cfg.data.name.partition(":")[0]) and DATASET_META[cfg.data.name.partition(":")[0]].kind == "points"
        over = {"train.steps": args.steps, "train.progress": False, "train.num_samples": 100 if cfg.model.conditional else 64}
        if points:
            over["train.num_samples"] = 1000
        else:
            over["data.name"] = args.dataset
        run_dir = args.out / name
        t0 = time.perf_counter()
        Trainer(resolve(name, over), run_dir=run_dir).fit()
        seconds = time.perf_counter() - t0
        last = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "d_loss" in r][-1]
        grid = sorted((run_dir / "samples").glob("epoch_*.png"))[-1]
        print("TABLE " + to_json({"preset": name, "data": cfg.data.name if points else args.dataset, "steps": args.steps,
                                     "seconds": round(seconds, 1), "s_per_step": round(seconds / args.steps, 3),
                                     "d_loss": round(last["d_loss"], 3), "g_loss": round(last["g_loss"], 3),
                                     "grid": str(grid)}), flush=True)


if __name__ == "__main__":
    main()
