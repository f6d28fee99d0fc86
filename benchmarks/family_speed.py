"""Each new family's presets against the same model trained the textbook way, taking turns in one process.

    python benchmarks/family_speed.py                                  # every preset below, this CPU's ISA
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/family_speed.py   # AVX2
    python benchmarks/family_speed.py --presets all --json            # every preset; also one JSON line per row

The textbook way is what the reference implementations run: eager fp32, torch.nn's own convolutions
(``reference_forms``), D's update on the real and the fake batch as two D passes, then G's (CycleGAN: each
generator pass its own call, as the reference code makes them). ganforge's way
is the preset as shipped, and the preset with ``train.precision=auto`` (bf16 autocast where the CPU has
bf16 units, else fp32). All sides train the same networks on the same batches; their steps are taken in
turn (``--steps`` each per round), so every side sees the same machine. StackGAN's staged schedule is
timed in each of its phases (stage I alone; stage II on a frozen stage I).

Prints one row per (preset, phase): ms per step and img/s of each side (medians over the rounds) and the
speed-up over the textbook side, with the ISA and precision each ran with; then the model's GFLOP per
trained image (``ganforge.bench.step_flops`` on the textbook side: torch.nn's forms, the model's own
arithmetic), each side's GFLOP/s, and that as a percentage of this machine's peak in the side's precision
(the higher of benchmarks/peak.py's matrix product and convolution, measured once at the start with the
same threads). ``--json`` also prints one JSON object per row (lines starting with ``{``; the first holds
the peak figures, skipped presets get one each).

Data: image presets train on ``--dataset``, adapted to the preset's own image size and channels (speed
depends on shapes only, as in benchmarks/preset_table.py), where that whole set at that shape stays within
``--max-data-mb`` per side; otherwise on their own data set, and failing that on ``--fallback-dataset``
(digits: 1,797 images, the 64-256 px presets' data in docs/benchmarks.md). Point presets, CycleGAN's
class domains and paired folders keep their own data (it is part of the recipe). Nothing is downloaded
(``GANFORGE_OFFLINE=1`` unless set): a preset with no data here is listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GANFORGE_OFFLINE", "1")  # a data set that is not here is a skipped preset, not a download

import torch

from ganforge.bench import bench_config, step_chunks, step_flops
from ganforge.config import preset_names
from ganforge.data import DATASET_META, load_dataset
from ganforge.io import to_json
from ganforge.ops import reference_forms
from ganforge.train import Trainer
from peak import measure_peak, peak_of  # benchmarks/peak.py, beside this script

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


_SIZES: dict[str, tuple[int, int, int] | str] = {}  # data set -> (images, channels, side), or why it is not here


def native_size(dataset: str) -> tuple[int, int, int] | str:
    """(images, channels, side) of ``dataset``'s training split as stored here, or the reason it cannot load."""
    if dataset not in _SIZES:
        try:
            x = load_dataset(dataset, download=False).x
            _SIZES[dataset] = (len(x), x.shape[1], x.shape[-1])  # (N, C, H, W)
        except Exception as e:  # not on this machine, or its library (scikit-learn for digits) missing
            _SIZES[dataset] = f"{dataset}: {type(e).__name__}: {e}"
    return _SIZES[dataset]


def data_choices(preset: str, dataset: str, fallback: str, max_mb: float) -> tuple[list[str | None], list[str]]:
    """The data sets to try for ``preset``, best first (None: the preset's own), and why others were passed over."""
    data = bench_config(preset).data
    meta = DATASET_META.get(data.name.partition(":")[0])
    if (meta and meta.kind == "points") or data.domains or data.name.startswith("paired:"):
        return [None], []  # 2-D points, two of its classes as domains, or a paired folder: the recipe's own data
    choices, passed = [], []
    for candidate in (dataset, None, fallback):
        if candidate is None or candidate == data.name:
            choices.append(None)
            continue
        size = native_size(candidate)
        if isinstance(size, str):
            passed.append(size)
            continue
        n, channels, side = size
        mb = n * (data.channels or channels) * (data.image_size or side) ** 2 / 2**20
        if mb > max_mb:
            passed.append(f"{candidate}: {n} images at the preset's shape take {mb:.0f} MB per side "
                          f"(--max-data-mb {max_mb:.0f})")
        else:
            choices.append(candidate)
    return list(dict.fromkeys(choices)), passed


def time_steps(trainer, chunks, n: int) -> tuple[float, int]:
    images, t0 = 0, time.perf_counter()
    for _ in range(n):
        step, chunk = next(chunks)
        trainer.train_step(chunk, step)
        images += sum(len(i) for i in chunk)
    return time.perf_counter() - t0, images


def time_sides(sides: dict, rounds: int, steps: int) -> tuple[dict, dict, float]:
    """Median ms per step and img/s of each side, taking turns; and the model's GFLOP per trained image."""
    ms = {k: [] for k in sides}
    rate = {k: [] for k in sides}
    for trainer, chunks, ctx in sides.values():  # warm-up
        with ctx():
            time_steps(trainer, chunks, 2)
    for _ in range(rounds):
        for name, (trainer, chunks, ctx) in sides.items():
            with ctx():
                seconds, images = time_steps(trainer, chunks, steps)
            ms[name].append(seconds / steps * 1e3)
            rate[name].append(images / seconds)
    trainer, chunks, _ = sides["textbook"]  # the model's arithmetic: torch.nn's forms, counted once
    step, chunk = next(chunks)
    gflop_per_img = step_flops(trainer, step, chunk) / sum(len(i) for i in chunk) / 1e9
    return ({k: statistics.median(v) for k, v in ms.items()}, {k: statistics.median(v) for k, v in rate.items()},
            gflop_per_img)


def build_sides(preset: str, data_sets: list[str | None], tmp: Path, epoch: int | None, reasons: list[str]):
    """The three sides on the first data set that builds, and its name; (None, None) if none does."""
    for data in data_sets:
        try:
            sides = {
                "textbook": (*build(preset, data, TEXTBOOK, tmp / "t", epoch), reference_forms),
                "preset": (*build(preset, data, [], tmp / "p", epoch), contextlib.nullcontext),
                "auto": (*build(preset, data, ["train.precision=auto"], tmp / "a", epoch), contextlib.nullcontext),
            }
            return sides, sides["textbook"][0].data.name
        except Exception as e:  # noqa: BLE001 - a data set missing here, or its library: try the next one
            reasons.append(f"{data or 'own data'}: {type(e).__name__}: {e}")
    return None, None


def _rounded(figures: dict) -> dict:
    return {k: None if v is None else round(v, 2) for k, v in figures.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=PRESETS, help=f"preset names, or all (default: {' '.join(PRESETS)})")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--fallback-dataset", default="digits", help="for image presets when --dataset and their own "
                    "data are too large or not here")
    ap.add_argument("--max-data-mb", type=float, default=512, help="largest data set (at the preset's shape) one side holds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="steps per side per round")
    ap.add_argument("--json", action="store_true", help="also print one JSON object per row")
    args = ap.parse_args()
    presets = preset_names() if args.presets == ["all"] else args.presets

    isa = torch.backends.cpu.get_cpu_capability()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "all")
    peak = measure_peak("cpu")
    peaks = {p: peak_of(peak, p) for p in ("fp32", "bf16")}
    print(f"torch {torch.__version__}, ATen {isa}, oneDNN max ISA {onednn}, {torch.get_num_threads()} threads; "
          f"{args.rounds} rounds of {args.steps} steps per side, medians; peak (benchmarks/peak.py) "
          + ", ".join(f"{p} {v:.0f} GFLOP/s" if v else f"{p} not measured" for p, v in peaks.items()))
    if args.json:
        print(to_json({"peak": peak}))
    print("| preset | phase | data | textbook ms/step | preset ms/step | precision=auto ms/step | textbook img/s | "
          "preset img/s | auto img/s | preset / textbook | auto / textbook | preset ran | auto ran | GFLOP/img | "
          "textbook GFLOP/s | preset GFLOP/s | auto GFLOP/s | textbook % peak | preset % peak | auto % peak |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    skipped = []
    for preset in presets:
        choices, passed = data_choices(preset, args.dataset, args.fallback_dataset, args.max_data_mb)
        for label, epoch in phases(preset):
            with tempfile.TemporaryDirectory() as tmp:
                reasons = list(passed)
                sides, data_name = build_sides(preset, choices, Path(tmp), epoch, reasons)
                if sides is None:
                    skipped.append((preset, "; ".join(reasons)))
                    break
                precision = {k: trainer.precision for k, (trainer, _, _) in sides.items()}
                try:
                    med, ips, gflop_per_img = time_sides(sides, args.rounds, args.steps)
                except Exception as e:  # noqa: BLE001 - one preset's failure is a line below the table, not the end
                    skipped.append((preset, f"failed while timing {label or 'its step'}: {type(e).__name__}: {e}"))
                    break
            gflops = {k: gflop_per_img * v for k, v in ips.items()}
            share = {k: 100 * gflops[k] / peaks[precision[k]] if peaks.get(precision[k]) else None for k in sides}
            pct = {k: "-" if v is None else f"{v:.0f}%" for k, v in share.items()}
            print(f"| {preset} | {label or '-'} | {data_name} | {med['textbook']:.1f} | {med['preset']:.1f} | "
                  f"{med['auto']:.1f} | {ips['textbook']:.0f} | {ips['preset']:.0f} | {ips['auto']:.0f} | "
                  f"{med['textbook'] / med['preset']:.2f}x | {med['textbook'] / med['auto']:.2f}x | "
                  f"{precision['preset']} | {precision['auto']} | {gflop_per_img:.4f} | {gflops['textbook']:.1f} | "
                  f"{gflops['preset']:.1f} | {gflops['auto']:.1f} | {pct['textbook']} | {pct['preset']} | "
                  f"{pct['auto']} |", flush=True)
            if args.json:
                print(to_json({"preset": preset, "phase": label or None, "data": data_name, "isa": isa,
                               "onednn_max_isa": onednn, "threads": torch.get_num_threads(),
                               "precision": precision, "ms_per_step": _rounded(med), "img_per_s": _rounded(ips),
                               "gflop_per_img": round(gflop_per_img, 6), "gflop_per_s": _rounded(gflops),
                               "peak_gflop_per_s": peaks, "percent_of_peak": _rounded(share)}), flush=True)
    for preset, reason in skipped:
        print(f"skipped {preset}: {reason}")
        if args.json:
            print(to_json({"preset": preset, "skipped": reason}))


if __name__ == "__main__":
    main()
