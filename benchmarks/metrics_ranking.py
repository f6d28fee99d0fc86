"""Do the metrics rank real < blurred < noise? Scores Fashion-MNIST's 10,000 test images, Gaussian-blurred
copies and uniform noise with `ganforge eval --samples ... --json` and prints a Markdown table.

    python benchmarks/metrics_ranking.py [--num 10000] [--sigma 1.0] [--out /tmp/ranking]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data import load_dataset


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 (N, C, H, W) blurred by a separable Gaussian (radius 3 sigma, reflect padding), rounded back."""
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).float()
    c = x.shape[1]
    y = F.pad(x.float(), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along width
    y = F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along height
    return y.round().clamp(0, 255).to(torch.uint8)


def save(path: Path, x: torch.Tensor, y: np.ndarray) -> Path:
    np.savez(path, arr_0=x.permute(0, 2, 3, 1).numpy(), arr_1=y)
    return path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--num", type=int, default=10_000)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--out", default="/tmp/ganforge-ranking")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    test = load_dataset("fashion-mnist", split="test")
    x, y = test.x[:a.num], test.y[:a.num].numpy()
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, tuple(x.shape), dtype=np.uint8))
    sets = {
        "real test images": save(out / "real.npz", x, y),
        f"Gaussian blur sigma={a.sigma:g}": save(out / "blurred.npz", gaussian_blur(x, a.sigma), y),
        "uniform noise": save(out / "noise.npz", noise, y),
    }
    rows = []
    for name, path in sets.items():
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "ganforge", "eval", "--samples", str(path), "--dataset",
                            "fashion-mnist", "--json"], capture_output=True, text=True, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append((name, res, time.perf_counter() - t0))
        print(r.stderr, file=sys.stderr)
    f = rows[0][1]["features"]
    print(f"features: {f['network']} sha256 {f['sha256'][:12]}; {rows[0][1]['n']} samples each vs "
          f"{rows[0][1]['reference_n']} training images\n")
    print("| samples | FID | KID | IS | precision | recall | class acc | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r, s in rows:
        print(f"| {name} | {r['fid']:.4f} | {r['kid']:.4f} +- {r['kid_std']:.4f} | "
              f"{r['is']:.3f} +- {r['is_std']:.3f} | {r['precision']:.4f} | {r['recall']:.4f} | "
              f"{r['class_acc']:.4f} | {s:.0f} |")


if __name__ == "__main__":
    main()
