"""Inception Score (Salimans et al. 2016) from class probabilities.

IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean prediction over the split.
It is high when each prediction is confident (low-entropy p(y|x)) and the
predictions together cover many classes (high-entropy p(y)); it lies in [1, K].
"""

from __future__ import annotations

import numpy as np

from ganforge.metrics._arrays import to_numpy

# How far a row of ``probs`` may sum away from 1 before we assume logits were passed.
ROW_SUM_TOLERANCE = 1e-3


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * log(y), defined as 0 where x == 0 (so 0 log 0 = 0 without an epsilon)."""
    positive = x > 0
    return np.where(positive, x * np.log(np.where(positive, y, 1.0)), 0.0)


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` of exp(E_x KL(p(y|x) || p(y))) from softmax probs (N, K).

    KL(p || q) = sum_k p_k (log p_k - log q_k); terms with p_k = 0 contribute 0,
    and p_k > 0 implies q_k > 0 within a split, so no log ever sees 0 and no
    epsilon is needed. Splits are contiguous chunks of near-equal size
    (``np.array_split``); the std is over splits with ddof=0, as in the original code.
    """
    p = to_numpy(probs, "probs")
    if p.ndim != 2:
        raise ValueError(f"probs: expected a 2-D array (N, K), got shape {tuple(p.shape)}")
    n, k = p.shape
    if k < 1:
        raise ValueError("probs: number of classes is 0")
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if n < splits:
        raise ValueError(f"probs: need at least one sample per split, got {n} samples for {splits} splits")
    if not np.isfinite(p).all():
        raise ValueError("probs: contains NaN or inf")
    if p.min() < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=ROW_SUM_TOLERANCE, rtol=0):
        raise ValueError("probs: rows must be probabilities summing to 1 (apply softmax to logits first)")

    scores = []
    for part in np.array_split(p, splits):
        p_y = part.mean(axis=0, keepdims=True)  # (1, K) marginal over the split
        kl = (_xlogy(part, part) - _xlogy(part, np.broadcast_to(p_y, part.shape))).sum(axis=1)  # (n_split,)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
