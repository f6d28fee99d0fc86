"""Animated GIF of the per-epoch sample grids."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ganforge.io import atomic_path


def save_gif(frames: list[Path], path: str | Path, ms_per_frame: int = 200, hold_last_ms: int = 1500) -> Path | None:
    """Combine PNG frames (in order) into a looping GIF; the last frame is held a little longer."""
    if not frames:
        return None
    images = [Image.open(f).convert("RGB") for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [hold_last_ms]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return Path(path)
