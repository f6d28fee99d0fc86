"""report.html: self-contained, complete, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.train import Trainer
from ganforge.viz.report import build_report
from tiny import TINY_FLAGS, digit_folder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--hide-scrollbars", "--force-device-scale-factor=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = digit_folder(root / "digits")
    cfg = resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{folder}", "train.epochs=3"])
    return Trainer(cfg, run_dir=root / "run").fit()


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]* src="([^"]*)"', page)


def test_report_is_written_at_the_end_and_self_contained(run):
    page = (run / "report.html").read_text()
    srcs = _images(page)
    assert len(srcs) == 5  # reals, samples, GIF, interpolation, losses
    assert all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in srcs)
    assert sum(s.startswith("data:image/gif") for s in srcs) == 1
    assert not re.search(r'(href|src)="(?!data:)', page)  # no external files or links
    for heading in ["Real and generated", "Training progress", "Latent interpolation", "Curves and histograms",
                    "Timings", "Resolved config", "Environment"]:
        assert f"<h2>{heading}</h2>" in page
    assert "finished (3 epochs)" in page and "ckpt_00000012.pt" in page
    assert "<td>3</td><td>12</td>" in page  # the timing table's last epoch row: epoch 3, step 12
    assert "torch" in page and "python" in page and (run / "environment.json").is_file()
    assert "No D-probability histograms" in page


def test_report_includes_evaluation_plots_and_records_when_present(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(copy / "d_hist_final.png")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(copy / "fid_curve.png")
    with open(copy / "metrics.jsonl", "a") as f:
        f.write('{"event": "eval", "step": 12, "fid": 123.456}\n')
    page = build_report(copy)
    assert len(_images(page)) == 7
    assert "d_hist_final.png" in page and "fid_curve.png" in page and "No D-probability" not in page
    assert "<h2>Evaluation</h2>" in page and "123.5" in page


def test_report_command_on_a_run_without_checkpoint(run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.yaml", bare / "config.yaml")
    shutil.copy(run / "reals.png", bare / "reals.png")
    result = run_cli("report", bare, "--out", tmp_path / "r.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert "no checkpoint yet" in page and "No samples: no checkpoint in" in page and len(_images(page)) == 1


def _find(screen: np.ndarray, tile: np.ndarray) -> tuple[int, int] | None:
    """Top-left of an exact copy of ``tile`` (h, w) in ``screen`` (H, W), by matching one row, then all."""
    r = tile.shape[0] // 2
    needle = tile[r].tobytes()
    for y in range(r, screen.shape[0] - tile.shape[0] + r + 1):
        x = screen[y].tobytes().find(needle)
        while x != -1:
            top = y - r
            if np.array_equal(screen[top:top + tile.shape[0], x:x + tile.shape[1]], tile):
                return top, x
            x = screen[y].tobytes().find(needle, x + 1)
    return None


@needs_chromium
def test_report_renders_in_headless_chromium(run, tmp_path):
    url = (run / "report.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    n = len(_images((run / "report.html").read_text()))
    assert f'data-images="{n}/{n}"' in dom.stdout  # the page's onload script: every image decoded

    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--window-size=1280,2400", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, cwd=tmp_path)
    screen = np.asarray(Image.open(shot).convert("RGB"))
    assert screen.shape == (2400, 1280, 3)
    assert len(np.unique(screen.reshape(-1, 3), axis=0)) > 50  # not a blank page
    grey = screen[..., 0]
    reals = np.asarray(Image.open(run / "reals.png").convert("L"))
    at = _find(grey, reals)
    assert at is not None, "the real-image grid is not in the screenshot pixel for pixel"
    assert np.array_equal(screen[at[0]:at[0] + reals.shape[0], at[1]:at[1] + reals.shape[1], 1], reals)
