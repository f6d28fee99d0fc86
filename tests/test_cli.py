"""The command line, run as a user would: real subprocesses."""

import numpy as np
import pytest

from conftest import needs_fashion, run_cli


def one_line_error(result, *words):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_presets_and_datasets_list():
    presets = run_cli("presets")
    assert presets.returncode == 0
    assert "mnist-dcgan" in presets.stdout and "TensorFlow DCGAN tutorial" in presets.stdout
    datasets = run_cli("datasets")
    assert datasets.returncode == 0
    for name in ("mnist", "fashion-mnist", "kmnist", "cifar10", "digits", "folder:PATH", "ring8", "grid25"):
        assert name in datasets.stdout
    assert "1x28x28" in datasets.stdout and "3x32x32" in datasets.stdout


def test_unknown_preset(tmp_path):
    one_line_error(run_cli("train", "--preset", "mnist-dcgn", "--out", tmp_path / "r"), "unknown preset 'mnist-dcgn'", "mnist-dcgan")
    assert not (tmp_path / "r").exists()


def test_unknown_key(tmp_path):
    one_line_error(run_cli("train", "--out", tmp_path / "r", "train.epoch=3"), "unknown config key 'train.epoch'", "train.epochs")


def test_missing_data_offline_says_where_to_put_files(tmp_path):
    r = run_cli("train", "--preset", "mnist-dcgan", "--out", tmp_path / "r", "data.download=false",
                env={"GANFORGE_CACHE": str(tmp_path / "cache"), "GANFORGE_DATA_DIR": str(tmp_path / "none")})
    one_line_error(r, "mnist", "--data-dir")


def test_debug_shows_the_traceback(tmp_path):
    r = run_cli("train", "--debug", "--preset", "nope", "--out", tmp_path / "r")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_train_then_sample_npz_and_pngs(tmp_path):
    run = tmp_path / "run"
    r = run_cli("train", "--steps", "3", "--out", run, "model.width=8", "train.progress=false")
    assert r.returncode == 0, r.stderr
    assert (run / "checkpoints").is_dir()
    s = run_cli("sample", run, "--num", "7", "--out", tmp_path / "s.npz")
    assert s.returncode == 0, s.stderr
    arr = np.load(tmp_path / "s.npz")
    assert arr["arr_0"].shape == (7, 16, 16, 1) and arr["arr_0"].dtype == np.uint8
    assert "arr_1" not in arr.files
    p = run_cli("sample", run, "--num", "3", "--out", tmp_path / "pngs")
    assert p.returncode == 0 and len(list((tmp_path / "pngs").glob("*.png"))) == 3
    # an existing output is not overwritten without --force
    before = (tmp_path / "s.npz").read_bytes()
    one_line_error(run_cli("sample", run, "--num", "2", "--out", tmp_path / "s.npz"), "already exists")
    assert (tmp_path / "s.npz").read_bytes() == before
    # --class on an unconditional model is refused
    one_line_error(run_cli("sample", run, "--num", "2", "--class", "3", "--out", tmp_path / "c.npz"), "unconditional")


def test_sample_from_run_without_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(run_cli("sample", tmp_path / "empty", "--out", tmp_path / "x.npz"), "no checkpoint")


@needs_fashion
def test_seed_000_on_fashion_mnist_then_500_samples(tmp_path):
    """The issue's acceptance check: 20 steps of mnist-dcgan on Fashion-MNIST, then 500 samples."""
    run = tmp_path / "R"
    r = run_cli("train", "--preset", "mnist-dcgan", "--dataset", "fashion-mnist", "--steps", "20", "--out", run,
                "train.progress=false")
    assert r.returncode == 0, r.stderr
    s = run_cli("sample", run, "--num", "500", "--out", tmp_path / "s.npz")
    assert s.returncode == 0, s.stderr
    arr = np.load(tmp_path / "s.npz")["arr_0"]
    assert arr.shape == (500, 28, 28, 1) and arr.dtype == np.uint8


def test_npz_suffix_in_any_case_and_report_out_needs_force(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "--steps", "2", "--out", run, "model.width=8", "train.progress=false").returncode == 0
    s = run_cli("sample", run, "--num", "5", "--out", tmp_path / "UPPER.NPZ")
    assert s.returncode == 0, s.stderr
    assert np.load(tmp_path / "UPPER.NPZ")["arr_0"].shape == (5, 16, 16, 1)
    # the run's own report.html is refreshed on every call
    own = run / "report.html"
    own.write_text("stale")
    assert run_cli("report", run).returncode == 0 and own.read_text().startswith("<!DOCTYPE html>")
    # a file the user named is replaced only with --force
    mine = tmp_path / "mine.html"
    mine.write_text("my own page")
    one_line_error(run_cli("report", run, "--out", mine), "mine.html already exists", "--force")
    assert mine.read_text() == "my own page"
    r = run_cli("report", run, "--out", mine, "--force")
    assert r.returncode == 0, r.stderr
    assert mine.read_text().startswith("<!DOCTYPE html>")
