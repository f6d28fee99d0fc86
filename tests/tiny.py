"""Tiny real runs for the crash, checkpoint, CLI-error and report tests.

The data are real: scikit-learn's handwritten digits written out as 8x8 PNG files, one
sub-folder per class, so a folder:PATH run has labels and a 4-step epoch at batch 16.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

TINY_FLAGS = ["model.width=8", "model.z_dim=16", "train.batch_size=16", "train.progress=false",
              "data.image_size=8", "train.num_samples=16"]


def digit_folder(root: Path, per_class: int = 8, classes: int = 8) -> Path:
    """``per_class`` real digits of each of ``classes`` classes as PNGs in root/<digit>/NNN.png."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for c in range(classes):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
        images = d.images[d.target == c][:per_class]
        for i, img in enumerate(images):
            Image.fromarray(np.clip(img * 16, 0, 255).astype(np.uint8), "L").save(root / str(c) / f"{i:03d}.png")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
