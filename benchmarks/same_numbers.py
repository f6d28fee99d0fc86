"""Does a change alter what ganforge computes? Train and sample every family's presets at two commits.

For each preset: ``ganforge train --preset P --dataset fashion-mnist --steps 40 --seed 3`` (ring8-gan on
its own data), then ``ganforge sample RUN --num 64 --seed 0 --out s.npz``; the two commits' ``arr_0``
must be byte-identical. Bytes differ between CPUs with different kernels, so both commits run here, on
this machine, in this process's environment. Then the new code reads the old commit's run directories:
sample (the same bytes), ``eval``, ``report`` and ``train --resume`` for 10 more steps.

Each ``sample`` runs ``REPEATS`` times in fresh processes: on this machine the conditional presets'
samples come out one of two ways from process to process (a few pixels one grey level apart; the old
commit does the same), so each side is a set of outcomes, and the two sides must share one.

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
REPEATS = 4


def name_at(src: Path, preset: str) -> str | None:
    """The name the tree ``src`` knows ``preset`` by (its old name before a rename), or None if it has none."""
    for name in (preset, OLD_NAMES.get(preset)):
        if name and (src / "ganforge" / "presets" / f"{name}.yaml").is_file():
            return name
    return None


def sample_set(src: Path, run: Path) -> tuple[set[bytes], str]:
    """The distinct ``arr_0`` byte strings of REPEATS ``ganforge sample RUN --num 64 --seed 0`` processes."""
    seen = set()
    for i in range(REPEATS):
        out = run / f"s{i}.npz"
        r = ganforge(src, "sample", str(run), "--num", "64", "--seed", "0", "--out", str(out), "--force")
        if r.returncode:
            return set(), "sample failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
        with np.load(out) as f:
            seen.add(f["arr_0"].tobytes())
    return seen, ""


def compare(a: set[bytes], b: set[bytes]) -> str:
    """``identical`` when both sides drew one and the same outcome; with several outcomes, pass when an outcome
    is shared (the rarer one may not turn up in REPEATS processes of one side) and say so."""
    if a == b and len(a) == 1:
        return "identical"
    if a & b:
        return f"identical (an outcome shared; {len(a)} and {len(b)} distinct in {REPEATS} processes each)"
    return f"DIFFERENT ({len(a)} vs {len(b)} distinct outcomes, none shared)"


def checkout(commit: str, into: Path) -> Path:
    """The tree of ``commit`` under ``into`` (git archive: no worktree left behind)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def ganforge(src: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-m", "ganforge", *args], env=env, capture_output=True, text=True)


def train_and_sample(src: Path, preset: str, dataset: str | None, out: Path) -> tuple[set[bytes], str]:
    data = ["--dataset", dataset] if dataset else []
    r = ganforge(src, "train", "--preset", preset, *data, "--steps", "40", "--seed", "3", "--out", str(out),
                 "train.progress=false")
    if r.returncode:
        return set(), "train failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return sample_set(src, out)


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
            same = compare(a, b) if a and b else f"FAILED ({err_a or err_b})"
            # the new code on the old run directory
            old_run = tmp / f"old-{preset}"
            cells = []
            if a:
                again, err = sample_set(new_src, old_run)
                cells.append(compare(a, again) if again else f"FAILED ({err})")
                r = ganforge(new_src, "eval", str(old_run), "--num", "200", "--json")
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
                r = ganforge(new_src, "report", str(old_run))
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
                r = ganforge(new_src, "train", "--resume", str(old_run), "--steps", "50")
                cells.append("ok" if r.returncode == 0 else "FAILED: " + r.stderr.strip()[-120:])
            else:
                cells = ["-"] * 4
            failed |= not same.startswith("identical") or any(not c.startswith(("ok", "identical")) for c in cells)
            print(f"| {preset} | {same} | " + " | ".join(cells) + " |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
