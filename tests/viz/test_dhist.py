"""Seed 003's D histograms: probabilities only for BCE-family objectives."""

import numpy as np
import pytest
from PIL import Image

from ganforge.viz.dhist import reads_as_probability, save_d_histograms


@pytest.mark.parametrize("loss, expected", [("ns", True), ("minimax", True), ("lsgan", False),
                                            ("wgan", False), ("wgan-gp", False), ("hinge", False)])
def test_only_bce_objectives_read_as_probabilities(loss, expected):
    assert reads_as_probability(loss) is expected


@pytest.mark.parametrize("loss", ["ns", "wgan"])
def test_histogram_and_sorted_curves_are_written(tmp_path, loss):
    rng = np.random.default_rng(0)
    paths = save_d_histograms(rng.normal(2, 1, 500), rng.normal(-2, 1, 300), loss, tmp_path, title="test")
    assert [p.name for p in paths] == ["d_hist.png", "d_sorted.png"]
    for p in paths:
        w, h = Image.open(p).size
        assert (w, h) == (600, 350)
