"""scikit-learn's handwritten digits: 1,797 real 8x8 scans, shipped with the library.

Pixel values are 0..16; they are scaled to uint8 by round(v * 255 / 16), so
16 -> 255. There is no separate test set: both splits return all 1,797 images.
"""

from __future__ import annotations

import numpy as np
import torch

NUM_IMAGES = 1797
CLASS_NAMES = [str(i) for i in range(10)]


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Images (1797, 1, 8, 8) uint8 in 0..255 and labels (1797,) int64."""
    from sklearn.datasets import load_digits as sklearn_digits  # heavy import, only when asked

    bunch = sklearn_digits()
    values = np.asarray(bunch.images, dtype=np.float64)  # (1797, 8, 8), 0..16
    scaled = np.floor(values * 255.0 / 16.0 + 0.5).clip(0, 255).astype(np.uint8)
    x = torch.from_numpy(scaled).unsqueeze(1)  # (N, 8, 8) -> (N, 1, 8, 8)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    return x.contiguous(), y
