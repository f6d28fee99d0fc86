"""Inception Score on predictions whose score is known in closed form."""

import numpy as np
import pytest
import torch

from ganforge.metrics import inception_score


def test_confident_uniform_predictions_give_num_classes():
    k = 10
    labels = np.tile(np.arange(k), 100)  # every contiguous split of 100 holds each class 10 times
    probs = np.eye(k)[labels]
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(k, abs=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_identical_predictions_give_one():
    row = np.array([0.7, 0.2, 0.1, 0.0])
    mean, std = inception_score(np.tile(row, (50, 1)), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_half_classes_used():
    # Confident predictions spread over 4 of 8 classes: IS = 4.
    probs = np.eye(8)[np.tile([0, 2, 4, 6], 25)]
    assert inception_score(probs, splits=1)[0] == pytest.approx(4.0, abs=1e-9)


@pytest.mark.parametrize("splits", [1, 4])
def test_matches_entropy_form(splits):
    # exp(E KL(p(y|x) || p(y))) = exp(H(p(y)) - E H(p(y|x))) per split.
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(6, 0.3), size=400)
    scores = []
    for part in np.array_split(probs, splits):
        p_y = part.mean(0)
        h_marginal = -(p_y * np.log(p_y)).sum()
        h_conditional = -(part * np.log(part)).sum(1).mean()
        scores.append(np.exp(h_marginal - h_conditional))
    mean, std = inception_score(torch.from_numpy(probs), splits=splits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), abs=1e-10)
    assert 1.0 <= mean <= 6.0


def test_validation_errors():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="softmax"):
        inception_score(rng.normal(size=(20, 5)), splits=2)
    with pytest.raises(ValueError, match="per split"):
        inception_score(np.eye(5), splits=10)
    with pytest.raises(ValueError, match="2-D"):
        inception_score(np.ones(5) / 5)
