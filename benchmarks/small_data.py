"""Small data (docs/small-data.md): ADA vs no augmentation vs fixed DiffAugment on 1,000 images, and
fine-tuning vs training from scratch, as FID curves.

    python benchmarks/small_data.py ada --train pack:ada1k --reference pack:fm32rgb10k --steps 3000
    python benchmarks/small_data.py finetune --source pack:clothes --train pack:shoes1k --reference pack:shoesall
    python benchmarks/small_data.py overfit --train pack:ada1k --reference pack:fm32rgb10k --variants none,ada
    python benchmarks/small_data.py plot --variants none,ada --png ada.png

Every run trains ``--preset`` (default fast-32) for ``--steps`` steps with a checkpoint every
``--every`` epochs (kept), two runs at a time, one thread each (``--jobs``); then every checkpoint's EMA
generator draws ``--num`` samples (``ganforge sample``) scored by ``ganforge eval --samples`` against
``--reference``: a data set the training images were drawn from, larger than them, so a G that
reproduces its 1,000 training images scores no better than one that draws new ones of their kind.
Prints one table row per checkpoint: run, step, images seen, training seconds (the run's epoch records
summed), FID, KID; the JSON of every row goes to ``--out``/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GANFORGE = [sys.executable, "-m", "ganforge"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(cmd: list[str]) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV)
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout


def train(args, name: str, dataset: str, steps: int, *overrides: str, flags: tuple = ()) -> Path:
    out = Path(args.out) / name
    if not (out / "report.html").is_file():
        run([*GANFORGE, "train", *flags, "--preset", args.preset, "--dataset", dataset, "--steps", steps, "--out", out,
             "train.threads=1", "train.progress=false", "train.minutes=null", f"train.checkpoint_every={args.every}",
             "train.keep_checkpoints=1000", f"train.seed={args.seed}", *overrides])
    return out


def score(args, run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    epochs = [r for r in records if r.get("event") == "epoch"]
    rows = []
    for ckpt in sorted((run_dir / "checkpoints").glob("ckpt_*.pt")):
        step = int(ckpt.stem.split("_")[1])
        samples = run_dir / f"samples-{step}.npz"
        if not samples.is_file():
            run([*GANFORGE, "sample", ckpt, "--num", args.num, "--out", samples, "--seed", 1])
        result = json.loads(run([*GANFORGE, "eval", "--samples", samples, "--dataset", args.reference,
                                 "--metrics", "fid,kid", "--json"]).strip().splitlines()[-1])
        seconds = sum(r["seconds"] for r in epochs if r["step"] <= step)
        rows.append({"run": run_dir.name, "step": step, "seconds": round(seconds, 1), "fid": result["fid"],
                     "kid": result["kid"]})
    return rows


def report(args, rows: list[dict]) -> None:
    with open(Path(args.out) / "results.jsonl", "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| run | step | training s | FID | KID |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['step']} | {r['seconds']:.0f} | {r['fid']:.2f} | {r['kid']:.2f} |", flush=True)


def ada(args) -> None:
    policy = args.policy
    variants = {
        "none": ["train.augment=none"],
        "diffaugment": [f"train.augment={policy}"],
        "ada": [f"train.augment={policy}", f"train.ada_target={args.target}"],
        "ada-bgc": ["train.augment=bgc", f"train.ada_target={args.target}"],
    }
    chosen = args.variants.split(",")
    unknown = sorted(set(chosen) - set(variants))
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)} (valid: {', '.join(variants)})")
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = list(pool.map(lambda name: train(args, name, args.train, args.steps, *variants[name]), chosen))
        rows = [r for rs in pool.map(lambda d: score(args, d), dirs) for r in rs]
    report(args, rows)


def finetune(args) -> None:
    source = train(args, "source", args.source, args.source_steps)
    runs = {"scratch": (), "finetune": ("--init-from", str(source))}
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = list(pool.map(lambda kv: train(args, kv[0], args.train, args.steps, flags=kv[1]), runs.items()))
        rows = [r for rs in pool.map(lambda d: score(args, d), [source, *dirs]) for r in rs]
    report(args, rows)


def d_outputs(args, run_dir: Path) -> list[dict]:
    """D's raw outputs at every checkpoint of ``run_dir`` on the training images, on as many images of the
    reference set that it was not trained on, and on as many of G's: the ADA paper's overfitting picture
    (its Figure 1). D is in training mode on batches of one kind, as the training steps show it a real or a
    generated batch; nothing is augmented. And how many of the EMA G's samples lie nearer (in pixels) to a
    training image than to any held-out one."""
    import torch

    from ganforge.data import load_dataset, normalize
    from ganforge.rundir import load_checkpoint
    from ganforge.sampler import load_family, sampler_from_checkpoint

    torch.set_num_threads(1)
    train_x = load_dataset(args.train).x
    seen = {bytes(img.numpy()) for img in train_x}
    held = torch.stack([img for img in load_dataset(args.reference).x if bytes(img.numpy()) not in seen])
    held = held[torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:len(train_x)]]
    train_f, held_f = normalize(train_x), normalize(held)                     # [-1, 1], as D and G see images
    rows = []
    for ckpt in sorted((run_dir / "checkpoints").glob("ckpt_*.pt")):
        state = load_checkpoint(ckpt)
        family = load_family(state)
        family.G.load_state_dict(state["G"])
        family.D.load_state_dict(state["D"])
        family.G.train(), family.D.train()
        gen = torch.Generator().manual_seed(1)

        def mean_output(images=None) -> tuple[float, float]:
            outs = []
            with torch.no_grad():
                for i in range(0, len(train_x) - 63, 64):
                    if images is None:
                        x = family.G(torch.randn(64, family.G.z_dim, generator=gen))
                    else:
                        x = images[i:i + 64]
                    outs.append(family.D(x).float().flatten())
            o = torch.cat(outs)
            return o.mean().item(), o.sign().mean().item()

        (tr, tr_sign), (ho, ho_sign), (fk, _) = mean_output(train_f), mean_output(held_f), mean_output()
        # Copying: for the EMA G's samples, is the nearest image (pixels, L2) a training one or a held-out one?
        # Half and half when G draws new images of the kind; towards 1 when it reproduces its training set.
        samples = sampler_from_checkpoint(state).sample(len(train_x), seed=2).flatten(1)
        near_train = torch.cdist(samples, train_f.flatten(1)).min(1).values
        near_held = torch.cdist(samples, held_f.flatten(1)).min(1).values
        rows.append({"run": run_dir.name, "step": int(ckpt.stem.split("_")[1]), "d_train": tr, "d_heldout": ho,
                     "d_generated": fk, "r_train": tr_sign, "r_heldout": ho_sign,
                     "nearer_train": (near_train < near_held).float().mean().item()})
    return rows


def overfit(args) -> None:
    rows = [r for name in args.variants.split(",") for r in d_outputs(args, Path(args.out) / name)]
    with open(Path(args.out) / "d_outputs.jsonl", "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| run | step | D on training images | D on held-out images | D on generated | sign, training | sign, held-out "
          "| samples nearer a training image |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['step']} | {r['d_train']:.2f} | {r['d_heldout']:.2f} | {r['d_generated']:.2f} | "
              f"{r['r_train']:.2f} | {r['r_heldout']:.2f} | {r['nearer_train']:.2f} |", flush=True)


def plot(args) -> None:
    """FID against steps for every run in ``--out``/results.jsonl (its newest row per run and step), and
    beside it D's outputs on training and held-out images from d_outputs.jsonl when ``overfit`` has run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def newest(path: Path) -> dict:
        rows = {}
        for line in open(path) if path.is_file() else []:
            r = json.loads(line)
            rows[(r["run"], r["step"])] = r
        return rows

    fids, outputs = newest(Path(args.out) / "results.jsonl"), newest(Path(args.out) / "d_outputs.jsonl")
    runs = [name for name in args.variants.split(",") if any(run == name for run, _ in fids)]
    fig, axes = plt.subplots(1, 2 if outputs else 1, figsize=(11 if outputs else 6, 4), squeeze=False)
    for name in runs:
        steps = sorted(step for run, step in fids if run == name)
        line, = axes[0][0].plot(steps, [fids[name, s]["fid"] for s in steps], marker=".", label=name)
        steps = sorted(step for run, step in outputs if run == name)
        if outputs and steps:
            axes[0][1].plot(steps, [outputs[name, s]["d_train"] for s in steps], color=line.get_color(),
                            label=f"{name}: training images")
            axes[0][1].plot(steps, [outputs[name, s]["d_heldout"] for s in steps], color=line.get_color(), ls="--",
                            label=f"{name}: held-out images")
    axes[0][0].set(xlabel="step", ylabel="FID (lower is better)", title=args.title or "FID against steps")
    axes[0][0].legend()
    if outputs:
        axes[0][1].axhline(0, color="grey", lw=0.5)
        axes[0][1].set(xlabel="step", ylabel="mean raw D output (no augmentation)", title="D on real images")
        axes[0][1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")
    if args.grids:
        from PIL import Image, ImageDraw

        tiles = []
        for name in args.variants.split(","):
            newest_grid = sorted((Path(args.out) / name / "samples").glob("epoch_*.png"))[-1]
            tile = Image.open(newest_grid).convert("RGB").resize((384, 384), Image.Resampling.LANCZOS)
            labelled = Image.new("RGB", (384, 404), "white")
            labelled.paste(tile, (0, 20))
            ImageDraw.Draw(labelled).text((4, 4), f"{name}, {newest_grid.stem.replace('_', ' ')}", fill="black")
            tiles.append(labelled)
        sheet = Image.new("RGB", (sum(t.width + 8 for t in tiles) - 8, 404), "white")
        for i, t in enumerate(tiles):
            sheet.paste(t, (i * (384 + 8), 0))
        sheet.save(args.grids)
        print(f"wrote {args.grids}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["ada", "finetune", "overfit", "plot"],
                   help="overfit: D's raw outputs on training, held-out and generated images at each checkpoint")
    p.add_argument("--train", help="the small data set trained on (all but plot)")
    p.add_argument("--reference", help="the data set FID is measured against (all but plot)")
    p.add_argument("--source", help="finetune: the other data the source run trains on")
    p.add_argument("--preset", default="fast-32")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--source-steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=20, help="epochs between checkpoints")
    p.add_argument("--num", type=int, default=5000, help="samples per checkpoint")
    p.add_argument("--policy", default="color,translation,cutout", help="the transforms (DiffAugment's for small data)")
    p.add_argument("--target", type=float, default=0.6)
    p.add_argument("--variants", default="none,diffaugment,ada,ada-bgc",
                   help="ada: which runs (none; diffaugment: --policy at p = 1; ada: ADA on --policy; "
                        "ada-bgc: ADA on the paper's blit, geometric and colour transforms)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="runs/small-data")
    p.add_argument("--png", default="small_data.png", help="plot: the figure's file")
    p.add_argument("--title", help="plot: the FID panel's title")
    p.add_argument("--grids", help="plot: also this PNG of each run's newest sample grid, side by side")
    args = p.parse_args()
    if args.what != "plot" and not (args.train and args.reference):
        p.error(f"{args.what} needs --train and --reference")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    {"ada": ada, "finetune": finetune, "overfit": overfit, "plot": plot}[args.what](args)


if __name__ == "__main__":
    main()
