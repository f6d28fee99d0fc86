"""Time a preset's training step with and without one optimisation, taking turns in one process.

    python benchmarks/step_ab.py forms            # ops/conv.py's forms vs torch.nn's
    python benchmarks/step_ab.py measure          # forms chosen by measurement vs by the fixed rules (ops/forms.py)
    python benchmarks/step_ab.py shared           # one backward pass through D over the fake batch vs two calls
    python benchmarks/step_ab.py overrides "train.channels_last=true"   # any override vs the preset as it is

Separate processes of the same configuration differ by up to 15% on this machine (see
docs/benchmarks.md), more than most single optimisations gain; steps of A and B taken
in turn in one process see the same machine, so their difference is what the change
buys. Prints the median ms per step of each over the rounds and the median of the
per-round differences. Settings that hold for the whole process (``train.threads``) cannot be
compared this way: the last trainer built sets them for both; use run_benchmarks.py.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from ganforge.bench import bench_config, step_chunks
from ganforge.ops import forms, reference_forms
from ganforge.train import Trainer


def trainer_for(preset: str, dataset: str, overrides: list[str], run_dir: Path):
    trainer = Trainer(bench_config(preset, dataset=dataset, overrides=overrides), run_dir=run_dir)
    return trainer, step_chunks(trainer)


def take_step(trainer, steps) -> None:
    """The trainer's own step code on the next (step number, index batches) of its first epoch."""
    step, chunk = next(steps)
    trainer.train_step(chunk, step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("change", choices=["forms", "measure", "shared", "overrides"])
    ap.add_argument("overrides", nargs="*", help="for 'overrides': the B side's key=value overrides")
    ap.add_argument("--preset", default="mnist-dcgan")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of both sides")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=4, help="steps per side per round")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        a, a_batches = trainer_for(args.preset, args.dataset, args.set, Path(tmp) / "a")
        if args.change == "overrides":
            b, b_batches = trainer_for(args.preset, args.dataset, [*args.set, *args.overrides], Path(tmp) / "b")
            sides = {"preset": (a, a_batches, contextlib.nullcontext),
                     " ".join(args.overrides): (b, b_batches, contextlib.nullcontext)}
        elif args.change == "forms":
            sides = {"torch.nn forms": (a, a_batches, reference_forms), "ganforge forms": (a, a_batches, contextlib.nullcontext)}
        elif args.change == "measure":
            @contextlib.contextmanager
            def conv_forms(mode):
                before = forms.conv_forms()
                forms.set_conv_forms(mode)
                try:
                    yield
                finally:
                    forms.set_conv_forms(before)

            sides = {"fixed rules": (a, a_batches, lambda: conv_forms("rules")),
                     "measured forms": (a, a_batches, lambda: conv_forms("measure"))}
        else:
            if not a.family.shared_d_backward:
                raise SystemExit(f"{args.preset} does not take the shared backward pass (see LatentGAN.shared_d_backward)")

            @contextlib.contextmanager
            def two_calls():
                a.family.shared_d_backward = False
                try:
                    yield
                finally:
                    a.family.shared_d_backward = True

            sides = {"two gradient calls": (a, a_batches, two_calls), "one shared pass": (a, a_batches, contextlib.nullcontext)}

        times: dict[str, list[float]] = {name: [] for name in sides}
        for trainer, batches, ctx in sides.values():  # warm-up
            with ctx():
                for _ in range(3):
                    take_step(trainer, batches)
        for _ in range(args.rounds):
            for name, (trainer, batches, ctx) in sides.items():
                with ctx():
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        take_step(trainer, batches)
                    times[name].append((time.perf_counter() - t0) / args.steps * 1e3)

    (name_a, ta), (name_b, tb) = times.items()
    diffs = [y - x for x, y in zip(ta, tb)]
    print(f"{args.preset} on {args.dataset}, {args.rounds} rounds of {args.steps} steps per side (ms per step)")
    for name, ts in times.items():
        print(f"  {name:<24} median {statistics.median(ts):7.1f}   rounds {', '.join(f'{t:.0f}' for t in ts)}")
    print(f"  B - A: median {statistics.median(diffs):+.1f} ms per step ({statistics.median(diffs) / statistics.median(ta):+.1%}), "
          f"B faster in {sum(d < 0 for d in diffs)} of {len(diffs)} rounds")


if __name__ == "__main__":
    main()
