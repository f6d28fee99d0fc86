"""Does a change alter what ganforge computes? Train and sample every family's presets at two commits.

For each preset: ``ganforge train --preset P --dataset fashion-mnist --steps 40 --seed 3`` (ring8-gan on
its own data), then ``ganforge sample RUN --num 64 --seed 0 --out s.npz``; the two commits' ``arr_0``
must be byte-identical (a renamed preset trains under its old name at the old commit; a preset the old
commit lacks is listed and skipped). Bytes differ between CPUs with different kernels, so both commits run here, on
this machine, in this process's environment. Then the new code reads the old commit's run directories:
sample (the same bytes), ``eval``, ``report`` and ``train --resume`` for 10 more steps.

    python benchmarks/same_numbers.py OLD_COMMIT [NEW_COMMIT]     # NEW_COMMIT: default the working tree

Prints a table; exits 1 if any preset differs or an old run fails to load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PRESETS = {"mnist-gan": "fashion-mnist", "mnist-dcgan": "fashion-mnist", "mnist-acgan": "fashion-mnist",
           "mnist-wgan-gp": "fashion-mnist", "mnist-projgan": "fashion-mnist", "mnist-cgan-mlp": "fashion-mnist",
           "mnist-cgan-conv": "fashion-mnist", "fast-28": "fashion-mnist", "ring8-gan": None}
OLD_NAMES = {"mnist-projgan": "mnist-cgan"}  # renamed presets: new name -> the name older commits know


def name_at(src: Path, preset: str) -> str | None:
    """The name the tree ``src`` knows ``preset`` by (its old name before a rename), or None if it has none."""
    for name in (preset, OLD_NAMES.get(preset)):
        if name and (src / "ganforge" / "presets" / f"{name}.yaml").is_file():
            return name
    return None


def checkout(commit: str, into: Path) -> Path:
    """The tree of ``commit`` under ``into`` (git archive: no worktree left behind)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def ganforge(src: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-m", "ganforge", *args], env=env, capture_output=True, text=True)


def train_and_sample(src: Path, preset: str, dataset: str | None, out: Path) -> tuple[np.ndarray | None, str]:
    data = ["--dataset", dataset] if dataset else []
    r = ganforge(src, "train", "--preset", preset, *data, "--steps", "40", "--seed", "3", "--out", str(out),
                 "train.progress=false")
    if r.returncode:
        return None, "train failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    r = ganforge(src, "sample", str(out), "--num", "64", "--seed", "0", "--out", str(out / "s.npz"))
    if r.returncode:
        return None, "sample failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    with np.load(out / "s.npz") as f:
        return f["arr_0"], ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new", nargs="?", default=None, help="a commit; default: the working tree")
    ap.add_argument("--presets", default=",".join(PRESETS))
    args = ap.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_src = checkout(args.old, tmp / "old")
        new_src = checkout(args.new, tmp / "new") if args.new else ROOT / "src"
        new_name = args.new or "working tree"
        print(f"old: {args.old}   new: {new_name}   python {sys.version.split()[0]}")
        print("| preset | arr_0 old vs new | old run read by new: sample bytes | eval | report | resume +10 steps |")
        print("|---|---|---|---|---|---|")
        for preset in args.presets.split(","):
            dataset = PRESETS.get(preset, "fashion-mnist")
            old_name = name_at(old_src, preset)
            if old_name is None:  # a preset newer than OLD: nothing to compare
                print(f"| {preset} | not in {args.old} | - | - | - | - |", flush=True)
                continue
            a, err_a = train_and_sample(old_src, old_name, dataset, tmp / f"old-{preset}")
            b, err_b = train_and_sample(new_src, preset, dataset, tmp / f"new-{preset}")
            if a is None or b is None:
                same = f"FAILED ({err_a or err_b})"
            else:
                same = "identical" if a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes() else \
                    f"DIFFERENT (max |diff| {np.abs(a.astype(float) - b.astype(float)).max():g})"
            # the new code on the old run directory
            old_run = tmp / f"old-{preset}"
            cells = []
            if a is not None:
                r = ganforge(new_src, "sample", str(old_run), "--num", "64", "--seed", "0", "--out", str(old_run / "s2.npz"))
                if r.returncode:
                    cells.append("FAILED")
                else:
                    with np.load(old_run / "s2.npz") as f:
                        cells.append("identical" if f["arr_0"].tobytes() == a.tobytes() else "DIFFERENT")
                r = ganforge(new_src, "eval", str(old_run), "--num", "200", "--json")
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
                r = ganforge(new_src, "report", str(old_run))
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
                r = ganforge(new_src, "train", "--resume", str(old_run), "--steps", "50")
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
            else:
                cells = ["-"] * 4
            failed |= same != "identical" or any(c not in ("ok", "identical") for c in cells)
            print(f"| {preset} | {same} | " + " | ".join(cells) + " |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
