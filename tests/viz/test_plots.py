"""viz/plots.py: loss and FID/KID curves from metrics.jsonl records, written as PNG."""

import numpy as np
import pytest
from PIL import Image

from ganforge.viz.plots import _smooth, plot_losses, plot_metric_curve


def _losses(steps, d=lambda s: 1.0 + 0.01 * s, g=lambda s: 2.0 - 0.01 * s):
    return [{"step": s, "d_loss": d(s), "g_loss": g(s)} for s in steps]


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_loss_curves_png(tmp_path):
    records = [{"event": "epoch", "epoch": 1}] + _losses(range(0, 300, 3))
    path = plot_losses(records, tmp_path / "losses.png")
    assert path == tmp_path / "losses.png"
    img = Image.open(path)
    assert img.format == "PNG" and img.size == (700, 350)           # 7 x 3.5 inches at 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses.png"]   # no temp file left


@pytest.mark.parametrize("records", [
    [],
    [{"event": "epoch", "epoch": 1, "step": 10}],                  # no losses logged yet
    [{"step": 1, "d_loss": 0.5}],                                 # a loss pair, half of it
])
def test_no_loss_pair_no_plot(tmp_path, records):
    assert plot_losses(records, tmp_path / "losses.png") is None
    assert list(tmp_path.iterdir()) == []


def test_non_finite_losses_still_plot(tmp_path):
    # metrics.jsonl stores a NaN or infinite loss as null (io.json_safe); a diverged run still gets its curves
    records = _losses(range(120))
    records[40]["d_loss"] = None
    records[41]["g_loss"] = float("nan")
    assert Image.open(plot_losses(records, tmp_path / "nan.png")).size == (700, 350)
    all_null = [{"step": s, "d_loss": None, "g_loss": None} for s in range(5)]
    assert Image.open(plot_losses(all_null, tmp_path / "null.png")).size == (700, 350)


def test_a_later_record_of_a_step_replaces_the_earlier_one(tmp_path):
    # a run resumed from a checkpoint logs steps 20..39 again: the curve shows the values logged last
    first, again = _losses(range(60), d=lambda s: 3.0), _losses(range(60))
    redone = plot_losses(first[:40] + again[20:], tmp_path / "redone.png")
    later_wins = plot_losses(first[:20] + again[20:], tmp_path / "later.png")
    earlier_wins = plot_losses(first[:40] + again[40:], tmp_path / "earlier.png")
    assert np.array_equal(_pixels(redone), _pixels(later_wins))
    assert not np.array_equal(_pixels(redone), _pixels(earlier_wins))


def test_moving_average():
    y = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    assert _smooth(y, 2).tolist() == [1.5, 2.5, 3.5, 5.0]
    assert _smooth(y, 4).tolist() == [2.5, 3.75]
    assert _smooth(y, 1) is y and _smooth(y, 6) is y                # no window, or longer than the curve
    nan = _smooth(np.array([1.0, np.nan, 3.0, 4.0]), 2)
    assert np.isnan(nan[:2]).all() and nan[2] == 3.5               # a NaN blanks only the windows that hold it


def _evals(fids, kids=None):
    out = [{"event": "eval", "step": 100 * (i + 1), "fid": f} for i, f in enumerate(fids)]
    for r, k in zip(out, kids or []):
        r["kid"] = k
    return out


def test_fid_curve_png(tmp_path):
    records = _losses(range(10)) + _evals([80.0, 45.5, 51.0])
    img = Image.open(plot_metric_curve(records, tmp_path / "metrics.png"))
    assert img.format == "PNG" and img.size == (500, 350)


def test_fid_and_kid_side_by_side_only_when_every_evaluation_has_kid(tmp_path):
    both = _evals([80.0, 45.5], kids=[0.05, 0.02])
    assert Image.open(plot_metric_curve(both, tmp_path / "both.png")).size == (900, 350)
    some = _evals([80.0, 45.5], kids=[0.05])
    assert Image.open(plot_metric_curve(some, tmp_path / "some.png")).size == (500, 350)


def test_no_fid_no_plot(tmp_path):
    assert plot_metric_curve([], tmp_path / "a.png") is None
    assert plot_metric_curve(_losses(range(5)), tmp_path / "b.png") is None
    assert plot_metric_curve([{"event": "eval", "step": 1, "fid": None, "kid": 0.1}], tmp_path / "c.png") is None
    assert list(tmp_path.iterdir()) == []


def test_undefined_values_among_the_evaluations_still_plot(tmp_path):
    records = _evals([80.0, float("nan"), 51.0], kids=[0.05, None, 0.02])
    records.insert(1, {"event": "eval", "step": 150, "fid": None})   # null FID: left out of the curve
    assert Image.open(plot_metric_curve(records, tmp_path / "m.png")).size == (900, 350)
