"""What D says about real and generated images (the D-probability histograms).

Two pictures in the run directory:

    d_hist.png     overlaid histograms of D's output on real and on generated images
    d_sorted.png   both sets of outputs sorted in increasing order, as curves

For the BCE family (ns, minimax) D's logit reads as a probability, sigmoid(logit),
and the x axis is [0, 1]. Other objectives (lsgan, wgan, wgan-gp, hinge) train
an unbounded score, not a probability; their raw outputs are plotted and the
axis says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.data import Dataset, normalize
from ganforge.losses import OBJECTIVES
from ganforge.models.base import split_logits
from ganforge.viz.plots import save_figure


def reads_as_probability(loss_name: str) -> bool:
    """True when D was trained with binary cross-entropy on its logits, so sigmoid(D(x)) = P(real)."""
    return OBJECTIVES.get(loss_name).probability


@torch.no_grad()
def discriminator_scores(D, real: Dataset, fake: torch.Tensor, fake_y: torch.Tensor | None, n: int, seed: int,
                         device="cpu", conditional: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """D's raw outputs (logits) on ``n`` random real images and the first ``n`` generated ones, D in eval mode."""
    D.eval()
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
    xr = real.x[idx]
    xr = normalize(xr) if xr.dtype == torch.uint8 else xr.float()
    yr = real.y[idx] if conditional and real.y is not None else None
    yf = fake_y[:n] if conditional and fake_y is not None else None

    def run(x, y):
        out = []
        for i in range(0, len(x), 500):
            o, _ = split_logits(D(x[i:i + 500].to(device), None if y is None else y[i:i + 500].to(device)))
            out.append(o.float().reshape(-1).cpu())
        return torch.cat(out).double().numpy()

    return run(xr, yr), run(fake[:n], yf)


def save_d_histograms(real_scores, fake_scores, loss_name: str, run_dir: str | Path,
                      title: str | None = None) -> tuple[Path, Path]:
    """Write d_hist.png and d_sorted.png into ``run_dir``; sigmoid only for BCE-family objectives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = np.asarray(real_scores, dtype=np.float64)
    fake = np.asarray(fake_scores, dtype=np.float64)
    prob = reads_as_probability(loss_name)
    if prob:
        real, fake = 1.0 / (1.0 + np.exp(-real)), 1.0 / (1.0 + np.exp(-fake))
        label = "D(x) = sigmoid(logit), probability of 'real'"
        bins = np.linspace(0.0, 1.0, 41)
    else:
        label = f"raw D score ({loss_name}: a critic score, not a probability)"
        lo, hi = min(real.min(), fake.min()), max(real.max(), fake.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    suffix = f" ({title})" if title else ""
    run_dir = Path(run_dir)

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(real, bins=bins, alpha=0.55, color="tab:blue", label=f"real (n={len(real)}, mean {real.mean():.3f})")
    ax.hist(fake, bins=bins, alpha=0.55, color="tab:orange", label=f"generated (n={len(fake)}, mean {fake.mean():.3f})")
    ax.set_xlabel(label)
    ax.set_ylabel("images")
    ax.set_title("D on real vs generated images" + suffix)
    ax.legend(fontsize=8)
    fig.tight_layout()
    hist_path = run_dir / "d_hist.png"
    save_figure(fig, hist_path)

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(np.linspace(0, 1, len(real)), np.sort(real), color="tab:blue", label="real")
    ax.plot(np.linspace(0, 1, len(fake)), np.sort(fake), color="tab:orange", label="generated")
    ax.set_xlabel("rank (share of images with a lower score)")
    ax.set_ylabel("probability of 'real'" if prob else f"raw D score ({loss_name})")
    if prob:
        ax.set_ylim(-0.02, 1.02)
    ax.set_title("D's sorted outputs" + suffix)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    sorted_path = run_dir / "d_sorted.png"
    save_figure(fig, sorted_path)
    return hist_path, sorted_path
