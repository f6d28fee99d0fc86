"""Top-1 accuracy from probabilities or logits."""

import numpy as np
import pytest
import torch

from ganforge.metrics import class_accuracy


def test_known_accuracy_probs_and_logits_agree():
    logits = np.array([[2.0, 0.1, -1.0], [0.0, 3.0, 1.0], [0.5, 0.2, 0.9], [1.0, 0.0, 0.0]])
    labels = np.array([0, 1, 0, 0])  # row 2 predicts class 2: 3 of 4 correct
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert class_accuracy(logits, labels) == 0.75
    assert class_accuracy(probs, labels) == 0.75
    assert class_accuracy(torch.from_numpy(logits), torch.from_numpy(labels)) == 0.75


def test_validation_errors():
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        class_accuracy(np.zeros((3, 4)), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        class_accuracy(np.zeros((2, 4)), [0, 4])
    with pytest.raises(ValueError, match="2-D"):
        class_accuracy(np.zeros(4), [0])
