"""Loss curves from a run's metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.io import atomic_path


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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
