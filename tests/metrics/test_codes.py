"""code_acc: categorical code values matched one-to-one to classes (Hungarian), on hand-made predictions."""

import numpy as np
import pytest
import torch

from ganforge.metrics import code_accuracy, code_confusion


def one_hot_predictions(classes, k: int) -> np.ndarray:
    """Probabilities that put everything on ``classes`` (N,), over k classes."""
    return np.eye(k)[np.asarray(classes)]


def test_a_permutation_of_the_classes_scores_one():
    perm = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5]                 # code value v always draws class perm[v]
    codes = np.arange(200) % 10
    acc, match = code_accuracy(one_hot_predictions([perm[v] for v in codes], 10), codes)
    assert acc == 1.0 and match == perm


def test_a_known_confusion_gives_the_hand_computed_value():
    """10 samples per code value of 3. Confusion (rows: code values, columns: classes):
        code 0: [2, 8, 0]    code 1: [0, 6, 4]    code 2: [5, 0, 5]
    The six one-to-one assignments get 13, 6, 13, 17, 0, 11 right; the best, 0->1, 1->2, 2->0, gets
    8 + 4 + 5 = 17 of 30. (Each code's own best class would send codes 0 and 1 both to class 1.)"""
    rows = {0: [0] * 2 + [1] * 8, 1: [1] * 6 + [2] * 4, 2: [2] * 5 + [0] * 5}
    codes = np.repeat([0, 1, 2], 10)
    classes = rows[0] + rows[1] + rows[2]
    probs = one_hot_predictions(classes, 3) * 0.9 + 0.1 / 3  # softmax-like rows: the argmax is what counts
    assert code_confusion(probs, codes).tolist() == [[2, 8, 0], [0, 6, 4], [5, 0, 5]]
    acc, match = code_accuracy(probs, codes)
    assert acc == pytest.approx(17 / 30, abs=1e-15) and match == [1, 2, 0]
    # logits and torch tensors give the same answer
    acc_t, _ = code_accuracy(torch.log(torch.as_tensor(probs)), torch.as_tensor(codes))
    assert acc_t == acc


def test_more_code_values_than_classes_leave_some_unmatched():
    """Codes 0, 1, 2 over 2 classes: codes 0 and 2 draw class 0, code 1 class 1; one of 0 and 2 (4 and 3
    samples) must go unmatched, so the best is 4 + 5 = 9 of 12 with code 2 unmatched."""
    codes = np.array([0] * 4 + [1] * 5 + [2] * 3)
    classes = [0] * 4 + [1] * 5 + [0] * 3
    acc, match = code_accuracy(one_hot_predictions(classes, 2), codes)
    assert acc == 9 / 12 and match == [0, 1, None]


def test_bad_inputs():
    with pytest.raises(ValueError, match="one code value per sample"):
        code_accuracy(np.eye(3), [0, 1])
    with pytest.raises(ValueError, match="integer values"):
        code_accuracy(np.eye(3), [0, 1, 1.5])
    with pytest.raises(ValueError, match="integer values in \\[0, 2\\)"):
        code_confusion(np.eye(3), [0, 1, 2], num_codes=2)
