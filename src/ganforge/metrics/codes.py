"""How well an unsupervised categorical code matches the data's classes (InfoGAN's ``code_acc``).

Samples are drawn for every value of the code and classified; the code's values carry no class names,
so each value is matched to one class by the one-to-one assignment that gets the most samples right
(the Hungarian method: scipy's ``linear_sum_assignment`` on the confusion counts), and ``code_acc``
is the share of samples whose class is their code value's match. Chen et al. (2016) report 5% error
on MNIST this way.
"""

from __future__ import annotations

import numpy as np

from ganforge.metrics._arrays import to_numpy


def code_confusion(probs_or_logits, codes, num_codes: int | None = None) -> np.ndarray:
    """Counts (num_codes, K): entry [v, k] is the number of samples with code value v classified as class k
    (the argmax of their row of (N, K) probabilities or logits). ``num_codes`` defaults to max(codes) + 1."""
    scores = to_numpy(probs_or_logits, "probs_or_logits")
    c = to_numpy(codes, "codes", dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"probs_or_logits: expected a 2-D array (N, K), got shape {tuple(scores.shape)}")
    if c.ndim != 1 or c.shape[0] != scores.shape[0]:
        raise ValueError(f"codes: expected one code value per sample ({scores.shape[0]},), got shape {tuple(c.shape)}")
    if len(c) == 0:
        raise ValueError("need at least 1 sample, got 0")
    if np.isnan(scores).any():
        raise ValueError("probs_or_logits: contains NaN")
    v = num_codes if num_codes is not None else int(c.max()) + 1
    if not (np.all(c == np.round(c)) and c.min() >= 0 and c.max() < v):
        raise ValueError(f"codes must be integer values in [0, {v}), got range [{c.min()}, {c.max()}]")
    counts = np.zeros((v, scores.shape[1]), dtype=np.int64)
    np.add.at(counts, (c.astype(np.int64), scores.argmax(axis=1)), 1)
    return counts


def code_accuracy(probs_or_logits, codes, num_codes: int | None = None) -> tuple[float, list[int | None]]:
    """(share correct, the class matched to each code value) under the best one-to-one assignment of code
    values to classes: max over assignments a of sum_v counts[v, a(v)] / N. With more code values than classes
    the unmatched values' samples count as wrong (their match is None)."""
    from scipy.optimize import linear_sum_assignment  # here: scipy is only needed for this metric

    counts = code_confusion(probs_or_logits, codes, num_codes)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    match: list[int | None] = [None] * counts.shape[0]
    for r, k in zip(rows, cols):
        match[int(r)] = int(k)
    return float(counts[rows, cols].sum() / counts.sum()), match
