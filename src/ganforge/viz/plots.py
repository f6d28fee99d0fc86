"""Loss curves, ADA's augmentation probability and metric curves from a run's metrics.jsonl."""

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


def plot_augment(records: list[dict], path: str | Path, target: float | None = None) -> Path | None:
    """ADA's adjustments (``{"event": "ada"}`` records): the augmentation probability p, and r_t = E[sign D(real)]
    against its target, per step; later records win for repeated steps."""
    by_step = {r["step"]: r for r in records if r.get("event") == "ada"}
    if not by_step:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(sorted(by_step))
    fig, (ax_p, ax_r) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    ax_p.plot(steps, [by_step[s]["p"] for s in steps], color="tab:green")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("augmentation probability p")
    ax_r.plot(steps, [by_step[s]["r_t"] for s in steps], color="tab:orange", linewidth=0.8, label="r_t")
    if target is not None:
        ax_r.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax_r.set_ylim(-1.05, 1.05)
    ax_r.set_ylabel("r_t = E[sign D(real)]")
    ax_r.legend(fontsize=8)
    for ax in (ax_p, ax_r):
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
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
