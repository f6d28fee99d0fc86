"""Loss curves from a run's metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.io import atomic_path


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < k:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def plot_losses(records: list[dict], path: str | Path) -> Path | None:
    """Plot D and G loss per step (raw, faint, and a moving average); later records win for repeated steps."""
    by_step = {r["step"]: r for r in records if "d_loss" in r and "g_loss" in r}
    if not by_step:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(sorted(by_step))
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    k = max(1, len(steps) // 50)
    for key, color, label in (("d_loss", "tab:red", "D"), ("g_loss", "tab:blue", "G")):
        y = np.array([by_step[s][key] for s in steps], dtype=float)
        ax.plot(steps, y, color=color, alpha=0.25, linewidth=0.8)
        ys = _smooth(y, k)
        ax.plot(steps[len(steps) - len(ys):], ys, color=color, label=f"{label} loss")
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_metric_curve(records: list[dict], path: str | Path) -> Path | None:
    """FID (and KID, when logged) of the evaluations during training, against the step."""
    evals = {r["step"]: r for r in records if r.get("event") == "eval" and r.get("fid") is not None}
    if not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(sorted(evals))
    fid = np.array([evals[s]["fid"] for s in steps], dtype=float)
    has_kid = all("kid" in evals[s] for s in steps)
    fig, axes = plt.subplots(1, 2 if has_kid else 1, figsize=(9 if has_kid else 5, 3.5), dpi=100, squeeze=False)
    ax = axes[0, 0]
    ax.plot(steps, fid, "o-", color="tab:purple")
    best = int(fid.argmin())
    ax.plot(steps[best], fid[best], "*", color="tab:red", markersize=12, label=f"best {fid[best]:.3g} (step {steps[best]})")
    ax.set_xlabel("generator step")
    ax.set_ylabel("FID (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if has_kid:
        kid = np.array([evals[s]["kid"] for s in steps], dtype=float)
        axes[0, 1].plot(steps, kid, "o-", color="tab:green")
        axes[0, 1].set_xlabel("generator step")
        axes[0, 1].set_ylabel("KID (lower is better)")
        axes[0, 1].ticklabel_format(axis="y", useOffset=False)
        axes[0, 1].grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
