"""Training parity with TensorFlow: seed 000's recipe in the tutorial's own code and in ganforge.

The same 10,000 Fashion-MNIST training images, 20 epochs, several seeds; after every epoch each
run writes 2,000 samples (G in inference mode, as the tutorial's ``generate_and_save_images``),
and both are scored by the same code (``ganforge.metrics.evaluate.score_samples``: FID on the
reference classifier's features against the 60,000 training images). One run of this recipe
proves nothing (its FID swings from epoch to epoch), so the claim is about spreads: ganforge's
curves should lie inside TensorFlow's.

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    python benchmarks/tf_parity_training.py prepare --data /tmp/fm10k
    /tmp/tfvenv/bin/python benchmarks/tf_parity_training.py tf --data /tmp/fm10k --seed 0 --out runs/parity/tf-s0
    python benchmarks/tf_parity_training.py ganforge --data /tmp/fm10k --seed 0 --precision fp32 --out runs/parity/gf-fp32-s0
    python benchmarks/tf_parity_training.py score runs/parity/*
    python benchmarks/tf_parity_training.py plot runs/parity --out docs/parity_seed000
    python benchmarks/tf_parity_training.py first-half runs/parity    # epochs 1-10: the exact rank-sum test

Run one training at a time (they compete for the same cores). ``tf`` imports only TensorFlow
and NumPy (from ``tf_tutorial_step.py``, the tutorial's models); the rest import ganforge.
Each run directory ends up with ``epoch_NN.npz`` (arr_0: uint8 (N, 28, 28)) and ``fid.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NUM_TRAIN, EPOCHS, SAMPLES, BATCH = 10_000, 20, 2_000, 256


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes())


def prepare(args) -> None:
    """The first ``--num`` Fashion-MNIST training images and labels as IDX files in ``--data``."""
    from ganforge.data import load_dataset

    ds = load_dataset("fashion-mnist", split="train")
    x, y = ds.x[:args.num, 0].numpy(), ds.y[:args.num].numpy().astype(np.uint8)
    out = Path(args.data)
    out.mkdir(parents=True, exist_ok=True)
    _write_idx(out / "train-images-idx3-ubyte.gz", x, 0x803)
    _write_idx(out / "train-labels-idx1-ubyte.gz", y, 0x801)
    print(f"{out}: {len(x)} images {x.shape[1:]}")


def _read_images(folder: str) -> np.ndarray:
    with gzip.open(Path(folder) / "train-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    n, h, w = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)


def train_tf(args) -> None:
    """The tutorial's loop: shuffle(60000).batch(256), the two-tape train_step, Adam 1e-4 for both."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(HERE))
    import tensorflow as tf
    from tf_tutorial_step import NOISE_DIM, make_discriminator_model, make_generator_model

    tf.keras.utils.set_random_seed(args.seed)
    images = (_read_images(args.data).astype("float32") - 127.5) / 127.5
    dataset = tf.data.Dataset.from_tensor_slices(images[..., None]).shuffle(60000, seed=args.seed).batch(BATCH)
    generator, discriminator = make_generator_model(), make_discriminator_model()
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(batch):
        noise = tf.random.normal([BATCH, NOISE_DIM])  # the tutorial's: BATCH_SIZE latents, even for the last, short batch
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake = generator(noise, training=True)
            real_output, fake_output = discriminator(batch, training=True), discriminator(fake, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        g_opt.apply_gradients(zip(gen_tape.gradient(gen_loss, generator.trainable_variables), generator.trainable_variables))
        d_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(1000 + args.seed).normal(size=(SAMPLES, NOISE_DIM)).astype("float32")
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        for batch in dataset:
            train_step(batch)
        seconds = time.perf_counter() - t0
        x = np.concatenate([generator(noise[i:i + 500], training=False).numpy() for i in range(0, SAMPLES, 500)])
        np.savez(out / f"epoch_{epoch:02d}.npz", _to_uint8(x[..., 0]))
        print(json.dumps({"epoch": epoch, "seconds": round(seconds, 1), "img_per_s": round(len(images) / seconds, 1)}),
              flush=True)


def train_ganforge(args) -> None:
    """``ganforge train --preset mnist-dcgan`` on the same images, a checkpoint per epoch, then the samples."""
    out = Path(args.out)
    cmd = [sys.executable, "-m", "ganforge", "train", "--preset", "mnist-dcgan", "--dataset", "fashion-mnist",
           "--data-dir", args.data, "--epochs", str(args.epochs), "--out", str(out), f"train.seed={args.seed}",
           f"train.precision={args.precision}", "train.checkpoint_every=1", f"train.keep_checkpoints={args.epochs}",
           "train.progress=false", *args.overrides]
    subprocess.run(cmd, check=True)
    from ganforge.sampler import load_generator
    from ganforge.rundir import list_checkpoints, load_checkpoint

    for path in list_checkpoints(out):
        epoch = load_checkpoint(path)["epoch"]
        G = load_generator(path)
        z = torch_normal(SAMPLES, G.z_dim, 1000 + args.seed)
        np.savez(out / f"epoch_{epoch:02d}.npz", _to_uint8(G.sample(SAMPLES, z=z)[:, 0].numpy()))


def torch_normal(n: int, dim: int, seed: int):
    import torch

    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, dim)).astype("float32"))


def score(args) -> None:
    import torch

    from ganforge.metrics.evaluate import feature_net, score_samples

    net = feature_net("fashion-mnist")
    for run in map(Path, args.runs):
        files = sorted(run.glob("epoch_*.npz"))
        if not files:
            continue
        fids = {}
        for f in files:
            x = torch.from_numpy(np.load(f)["arr_0"]).unsqueeze(1)                  # (N, 1, 28, 28) uint8
            fids[int(f.stem.split("_")[1])] = round(score_samples(x, "fashion-mnist", metrics=["fid"], net=net)["fid"], 2)
        (run / "fid.json").write_text(json.dumps(fids))
        print(run.name, " ".join(f"{v:.0f}" for v in fids.values()))


def _fids(*roots: str | Path) -> dict[str, dict[int, float]]:
    """{run name: {epoch: FID}} of every run directory under ``roots`` that ``score`` has written fid.json in."""
    return {p.parent.name: {int(k): v for k, v in json.loads(p.read_text()).items()}
            for root in roots for p in sorted(Path(root).glob("*/fid.json"))}


def _group(name: str) -> str:
    return name.rsplit("-s", 1)[0]  # tf-s0 -> tf, gf-fp32-s1 -> gf-fp32


def plot(args) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(args.root)
    runs = _fids(root)
    groups: dict[str, list[str]] = {}
    for name in runs:
        groups.setdefault(_group(name), []).append(name)
    labels = {"tf": "TensorFlow tutorial (fp32)", "gf-fp32": "ganforge mnist-dcgan, fp32",
              "gf-auto": "ganforge mnist-dcgan, default (bf16 here)",
              "gf-kadam": "ganforge mnist-dcgan, fp32, Keras' Adam (adam-keras)"}
    colors = {"tf": "black", "gf-fp32": "tab:blue", "gf-auto": "tab:orange", "gf-kadam": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rows = []
    for group, names in sorted(groups.items()):
        epochs = sorted(set.intersection(*(set(runs[n]) for n in names)))
        curves = np.array([[runs[n][e] for e in epochs] for n in names])
        if group == "tf":
            ax.fill_between(epochs, curves.min(0), curves.max(0), color="grey", alpha=0.3, label="TensorFlow: range over seeds")
        for n, c in zip(names, curves):
            ax.plot(epochs, c, color=colors.get(group, "green"), lw=1.2, alpha=0.8,
                    label=labels.get(group, group) if n == names[0] else None)
        last5 = curves[:, -5:]
        rows.append((group, len(names), curves[:, -1], last5.mean(1), curves.min(1)))
    ax.set_xlabel("epoch (10,000 Fashion-MNIST images, batch 256)")
    ax.set_ylabel("FID (reference features, 2,000 samples)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Seed 000's recipe: TensorFlow's tutorial vs ganforge, one line per seed")
    fig.tight_layout()
    fig.savefig(f"{args.out}.png", dpi=110)
    print("| runs | seeds | FID at the last epoch (per seed) | mean FID of the last 5 epochs (per seed) | best epoch's FID (per seed) |")
    print("|---|---:|---|---|---|")
    for group, n, last, mean5, best in rows:
        fmt = lambda a: ", ".join(f"{v:.0f}" for v in a)  # noqa: E731
        print(f"| {labels.get(group, group)} | {n} | {fmt(last)} | {fmt(mean5)} | {fmt(best)} |")
    print("\n| runs | mean FID over epochs 1-10 (per seed) | over epochs 11-20 (per seed) | "
          "epoch-points above / inside / below TensorFlow's range |")
    print("|---|---|---|---|")
    tf_names = groups.get("tf", [])
    for group, names in sorted(groups.items()):
        first = ", ".join(f"{np.mean([runs[n][e] for e in range(1, 11) if e in runs[n]]):.0f}" for n in names)
        second = ", ".join(f"{np.mean([runs[n][e] for e in range(11, 21) if e in runs[n]]):.0f}" for n in names)
        counts = [0, 0, 0]
        for n in names:
            others = [t for t in tf_names if t != n]  # a TensorFlow run against the other TensorFlow seeds
            for e in runs[n]:
                ref = [runs[t][e] for t in others if e in runs[t]]
                if len(ref) >= 2:
                    counts[0 if runs[n][e] > max(ref) else 2 if runs[n][e] < min(ref) else 1] += 1
        print(f"| {labels.get(group, group)} | {first} | {second} | {counts[0]} / {counts[1]} / {counts[2]} |")
    # the last epoch's first 16 samples of each run: one row of a grid per run
    names = [n for g in sorted(groups) for n in groups[g]]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 0.62 * len(names) + 0.3))
    for ax, name in zip(np.atleast_1d(axes), names):
        last = max(runs[name])
        x = np.load(root / name / f"epoch_{last:02d}.npz")["arr_0"][:16]
        ax.imshow(np.concatenate(list(x), axis=1), cmap="gray", vmin=0, vmax=255)
        ax.set_yticks([]), ax.set_xticks([])
        ax.set_ylabel(f"{name}\nepoch {last}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("each run's last epoch: 16 samples per run", fontsize=9)
    fig.tight_layout()
    fig.savefig(f"{args.out}_grids.png", dpi=110)


def _rank_sum_p(a: list[float], b: list[float]) -> tuple[float, float]:
    """The rank sum of ``a`` among ``a + b`` and its exact two-sided p under exchangeability: the share of all
    splits of the pooled values into groups of len(a) and len(b) whose rank sum is at least as far from the
    mean."""
    from itertools import combinations

    pooled = sorted(a + b)
    rank = {v: (pooled.index(v) + 1 + len(pooled) - pooled[::-1].index(v)) / 2 for v in pooled}  # tied: mid-rank
    observed = sum(rank[v] for v in a)
    centre = len(a) * (len(pooled) + 1) / 2
    sums = [sum(c) for c in combinations([rank[v] for v in pooled], len(a))]
    return observed, sum(abs(s - centre) >= abs(observed - centre) - 1e-9 for s in sums) / len(sums)


def first_half(args) -> None:
    """Each run's mean FID over epochs 1-10 (the part of the curve where ganforge was slower), and the exact
    rank-sum test of each ganforge group against TensorFlow's runs."""
    runs = _fids(*args.roots)
    means: dict[str, list[float]] = {}
    for name, fids in sorted(runs.items()):
        if all(e in fids for e in range(1, 11)):
            means.setdefault(_group(name), []).append(float(np.mean([fids[e] for e in range(1, 11)])))
            print(f"{name}: {means[_group(name)][-1]:.1f}")
    tf = means.pop("tf", [])
    print(f"\nTensorFlow: {len(tf)} runs, mean {np.mean(tf):.1f}, range {min(tf):.1f}-{max(tf):.1f}")
    for group, values in means.items():
        rank, p = _rank_sum_p(values, tf)
        n, total = len(values), len(values) + len(tf)
        print(f"{group}: {n} runs, mean {np.mean(values):.1f}, range {min(values):.1f}-{max(values):.1f}; "
              f"rank sum {rank:g} of {n} among {total} (chance {n * (total + 1) / 2:g}), exact two-sided p = {p:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--data", required=True)
    a.add_argument("--num", type=int, default=NUM_TRAIN)
    for name in ("tf", "ganforge"):
        a = sub.add_parser(name)
        a.add_argument("--data", required=True)
        a.add_argument("--seed", type=int, default=0)
        a.add_argument("--epochs", type=int, default=EPOCHS)
        a.add_argument("--out", required=True)
        if name == "ganforge":
            a.add_argument("--precision", default="auto")
            a.add_argument("overrides", nargs="*", metavar="key=value",
                           help="more preset overrides, e.g. g_optim.name=adam-keras d_optim.name=adam-keras")
    a = sub.add_parser("score")
    a.add_argument("runs", nargs="+")
    a = sub.add_parser("first-half")
    a.add_argument("roots", nargs="+", help="folders of run directories holding fid.json")
    a = sub.add_parser("plot")
    a.add_argument("root")
    a.add_argument("--out", required=True)
    args = p.parse_args()
    {"prepare": prepare, "tf": train_tf, "ganforge": train_ganforge, "score": score, "plot": plot,
     "first-half": first_half}[args.cmd](args)


if __name__ == "__main__":
    main()
