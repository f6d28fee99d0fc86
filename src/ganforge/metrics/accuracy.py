"""Top-1 classification accuracy, e.g. of a reference classifier on class-conditional samples."""

from __future__ import annotations

import numpy as np

from ganforge.metrics._arrays import to_numpy


def class_accuracy(probs_or_logits, labels) -> float:
    """Share of rows whose argmax matches the label: mean_i 1[argmax_k s_ik == y_i].

    ``probs_or_logits`` is (N, K); softmax is monotone, so probabilities and logits
    give the same answer. ``labels`` is (N,) integer class indices in [0, K).
    """
    scores = to_numpy(probs_or_logits, "probs_or_logits")
    y = to_numpy(labels, "labels", dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"probs_or_logits: expected a 2-D array (N, K), got shape {tuple(scores.shape)}")
    if y.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array (N,), got shape {tuple(y.shape)}")
    n, k = scores.shape
    if n == 0:
        raise ValueError("probs_or_logits: need at least 1 sample, got 0")
    if y.shape[0] != n:
        raise ValueError(f"got {n} predictions but {y.shape[0]} labels")
    if np.isnan(scores).any():
        raise ValueError("probs_or_logits: contains NaN")
    if not (np.all(y == np.round(y)) and y.min() >= 0 and y.max() < k):
        raise ValueError(f"labels must be integer class indices in [0, {k}), got range [{y.min()}, {y.max()}]")
    return float((scores.argmax(axis=1) == y.astype(np.int64)).mean())
