"""How long a preset takes for its whole length (its epochs on its own data set) on this machine.

    OMP_NUM_THREADS=1 python benchmarks/preset_length.py mnist-gan --epochs 1 2
    OMP_NUM_THREADS=1 python benchmarks/preset_length.py cifar10-dcgan --steps 2 12 --dataset fashion-mnist

After one warm-up step, trains the preset twice in this process, for the shorter and the longer
length given (steps or epochs), on ``--dataset`` (any data set of the right size once resized: speed depends on shapes
only), and divides the difference of their times by the difference of their lengths: start-up,
data loading and the final grid, GIF and report cancel out, epoch ends stay in with ``--epochs``.
Prints wall and CPU seconds per step, and both extrapolated to the preset's ``train.epochs`` on its
own data set (MNIST 60,000 images, CIFAR-10 50,000). With one thread, CPU seconds are what an
idle core takes; wall seconds on a shared machine are longer.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

from ganforge.config import resolve
from ganforge.train import Trainer

TRAIN_IMAGES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_run(preset: str, overrides: dict) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(resolve(preset, overrides), run_dir=f"{tmp}/run")
        wall, cpu = time.perf_counter(), cpu_seconds()
        trainer.fit()
        return time.perf_counter() - wall, cpu_seconds() - cpu, trainer.step


def steps_per_epoch(cfg, images: int) -> float:
    """G updates in one epoch of ``images``: each step takes n_critic batches, plus one more on the steps
    with an extra D update on a batch of its own."""
    t = cfg.train
    extra = 1.0 / t.extra_d_every if t.extra_d_every and t.extra_d_batch == "next" else 0.0
    batches = images // t.batch_size if cfg.data.drop_last else -(-images // t.batch_size)
    return batches / (t.n_critic + extra)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset")
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, nargs=2, metavar=("SHORT", "LONG"))
    length.add_argument("--epochs", type=int, nargs=2, metavar=("SHORT", "LONG"))
    p.add_argument("--dataset", default="fashion-mnist")
    args = p.parse_args()
    key, (short, long) = ("train.steps", args.steps) if args.steps else ("train.epochs", args.epochs)
    base = {"data.name": args.dataset, "train.progress": False}
    timed_run(args.preset, {**base, "train.steps": 1})  # one-time costs (lazy imports, first kernels) off the clock
    (w1, c1, s1), (w2, c2, s2) = (timed_run(args.preset, {**base, key: n}) for n in (short, long))
    per_step_wall, per_step_cpu = (w2 - w1) / (s2 - s1), (c2 - c1) / (s2 - s1)
    cfg = resolve(args.preset)
    total_steps = cfg.train.epochs * steps_per_epoch(cfg, TRAIN_IMAGES[cfg.data.name])
    print(json.dumps({
        "preset": args.preset, "dataset": args.dataset, "timed_steps": s2 - s1,
        "wall_s_per_step": round(per_step_wall, 4), "cpu_s_per_step": round(per_step_cpu, 4),
        "full_length": f"{cfg.train.epochs} epochs of {cfg.data.name}, {total_steps:,.0f} steps",
        "full_wall_h": round(total_steps * per_step_wall / 3600, 2), "full_cpu_h": round(total_steps * per_step_cpu / 3600, 2),
        "load_average": float(open("/proc/loadavg").read().split()[0]),
    }))


if __name__ == "__main__":
    main()
