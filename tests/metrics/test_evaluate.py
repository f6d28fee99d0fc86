"""Samples -> features -> metrics: ranking, same-set scores, mixtures, the eval CLI, runs and training."""

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from conftest import run_cli
from ganforge.config import resolve
from ganforge.data import load_dataset, mixture_centers
from ganforge.errors import ConfigError, DataError
from ganforge.io import read_jsonl
from ganforge.metrics.evaluate import (evaluate_run, feature_net, load_samples_file, reference_features, score_points,
                                      score_samples)
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from ganforge.rundir import list_checkpoints, load_checkpoint

TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 64, "train.progress": False}


def _digits():
    ds = load_dataset("digits")
    return ds.x, ds.y.numpy()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    out = gaussian_filter(x.numpy().astype(np.float64), sigma=(0, 0, sigma, sigma))
    return torch.from_numpy(np.clip(np.round(out), 0, 255).astype(np.uint8))


def fid_of_identical_sets_bound(sigma: np.ndarray) -> float:
    """The largest FID that float64 rounding can leave for two identical feature sets of covariance ``sigma``.

    frechet_distance takes tr((S S)^(1/2)) from the eigenvalues of m = sqrt(S) S sqrt(S) = S^2 (d x d).
    eigh is backward stable, so each computed eigenvalue of m lies within ~d * eps * ||m|| of an exact one
    (Weyl), and frechet_distance zeroes those below d * eps * ||m||. Square roots are not Lipschitz at 0
    (|sqrt(a + b) - sqrt(a)| <= sqrt(|b|) is all that holds), so the d square roots of m's eigenvalues, which
    for a singular S (features that never fire) sit at that level, may each be off by sqrt(2 d eps ||m||)
    = sqrt(2 d eps) ||S||; the traces and the zero mean term err by O(d eps ||S||). FID = tr S + tr S -
    2 tr (S S)^(1/2) is then at most 2 d sqrt(2 d eps) ||S||, twice that to cover the O(d eps) terms.
    """
    d, eps = sigma.shape[0], np.finfo(np.float64).eps
    return 4 * d * np.sqrt(2 * d * eps) * np.linalg.eigvalsh(sigma).max()


def test_real_blurred_noise_rank_in_order_on_digits():
    # sigma 0.5 px: at 8x8 a blur of sigma 1 already wipes out the digits (and scores like noise)
    x, y = _digits()
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, x.shape, dtype=np.uint8))
    real, blur, rand = (score_samples(s, "digits", y, kid_subsets=10) for s in (x, _blur(x, 0.5), noise))
    # the reference is these very images: FID 0 up to rounding (here ~1e-6, from the 16 features that never
    # fire; bounded by ~6e-3, while the blurred images score > 1), precision and recall 1; KID's estimator
    # assumes independent sets, and shared images bias it slightly below 0
    ref = reference_features(feature_net("digits"), "digits")
    assert 0 <= real["fid"] <= fid_of_identical_sets_bound(ref.sigma)
    assert abs(real["kid"]) < 0.01 * rand["kid"]
    assert real["precision"] == 1.0 and real["recall"] == 1.0
    assert real["class_acc"] > 0.97
    for key in ("fid", "kid"):
        assert real[key] < blur[key] < rand[key], key
    assert blur["fid"] > 10 * real["fid"] + 1.0
    for key in ("precision", "class_acc", "is"):
        assert real[key] > blur[key] > rand[key], key
    assert real["recall"] > max(blur["recall"], rand["recall"])
    assert rand["class_acc"] < 0.3
    f = real["features"]
    assert f["network"] == "ganforge-ref/digits" and len(f["sha256"]) == 64 and f["source"] == "shipped"
    assert real["n"] == 1797 and real["reference_n"] == 1797


def test_metrics_subset_and_unknown_name():
    x, _ = _digits()
    r = score_samples(x[:200], "digits", metrics=["fid", "is"])  # no KID: costly, and not asked for
    assert {"fid", "is", "is_std"} <= set(r) and not {"kid", "precision", "class_acc"} & set(r)
    with pytest.raises(ConfigError, match="unknown metric 'fidd'"):
        score_samples(x[:200], "digits", metrics=["fidd"])


def test_bad_inputs_are_one_line_errors(tmp_path):
    x, y = _digits()
    with pytest.raises(DataError, match="at least 10"):
        score_samples(x[:5], "digits")
    with pytest.raises(DataError, match="one label per sample"):
        score_samples(x[:50], "digits", y[:10])
    with pytest.raises(DataError, match="classes 0-9"):
        score_samples(x[:50], "digits", np.full(50, 12))
    np.savez(tmp_path / "f.npz", arr_0=np.zeros((20, 8, 8, 1), np.float32))
    with pytest.raises(DataError, match="uint8"):
        load_samples_file(tmp_path / "f.npz")
    np.savez(tmp_path / "g.npz", images=np.zeros((20, 8, 8, 1), np.uint8))
    with pytest.raises(DataError, match="no arr_0"):
        load_samples_file(tmp_path / "g.npz")


def test_mixture_points_modes_and_distances():
    real = load_dataset("ring8", split="train").x[:5000]
    good = score_points(real, "ring8", kid_subsets=5)
    assert good["modes_covered"] == 8 and good["high_quality"] > 0.98
    assert good["fid"] < 0.01 and good["precision"] > 0.9 and good["recall"] > 0.9
    noise = 0.02 * torch.randn(5000, 2, generator=torch.Generator().manual_seed(0))
    collapsed = score_points(mixture_centers("ring8")[torch.zeros(5000, dtype=torch.long)] + noise, "ring8", kid_subsets=5)
    assert collapsed["modes_covered"] == 1 and collapsed["recall"] < 0.2 and collapsed["fid"] > 1.0
    assert "is" not in good and good["features"]["dim"] == 2
    with pytest.raises(ConfigError, match="mixture"):
        score_points(real, "digits")


def test_eval_cli_on_a_samples_file_prints_json_last(tmp_path):
    x, y = _digits()
    np.savez(tmp_path / "s.npz", arr_0=x[:300].permute(0, 2, 3, 1).numpy(), arr_1=y[:300])
    r = run_cli("eval", "--samples", tmp_path / "s.npz", "--dataset", "digits", "--json",
                env={"OMP_NUM_THREADS": str(torch.get_num_threads())})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"fid", "kid", "is", "precision", "recall", "class_acc", "n", "features"} <= set(out)
    assert out["n"] == 300 and out["features"]["sha256"][:12] in r.stderr  # the human table went to stderr
    # the same images as the command read them, in the same memory layout (the file's (N, 8, 8, 1) images
    # transposed: the channel stride differs from x's, and oneDNN's kernel, and so the features' last bits,
    # follow the layout), on as many threads: the same arithmetic, the same FID to the last bit
    xs, ys = load_samples_file(tmp_path / "s.npz")
    direct = score_samples(xs, "digits", ys, metrics=["fid"])
    assert out["fid"] == direct["fid"]
    plain = run_cli("eval", "--samples", tmp_path / "s.npz", "--dataset", "digits", "--metrics", "fid")
    assert plain.returncode == 0 and "FID" in plain.stdout and "sha256" in plain.stdout
    bad = run_cli("eval", "--samples", tmp_path / "s.npz")
    assert bad.returncode == 2 and "--dataset" in bad.stderr


def _train(out, **over):
    return Trainer(resolve("digits-dcgan", {**TINY, **over}), run_dir=out).fit()


def test_eval_run_logs_and_draws_d_histograms(tmp_path):
    run = _train(tmp_path / "run", **{"train.epochs": 1, "train.batch_size": 256})
    result = evaluate_run(run, num=300, kid_subsets=5, printer=lambda *_: None)
    assert result["n"] == 300 and result["step"] == 7 and "class_acc" not in result
    logged = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("event") == "eval"]
    assert logged[-1]["fid"] == result["fid"] and logged[-1]["checkpoint"] == "ckpt_00000007.pt"
    for name in ("d_hist.png", "d_sorted.png"):
        assert (run / name).stat().st_size > 1000
    r = run_cli("eval", run, "--num", "200", "--metrics", "fid,kid", "--json")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout.splitlines()[-1])) >= {"fid", "kid", "step", "features"}


def test_evaluation_during_training_keeps_best_and_does_not_change_training(tmp_path):
    over = {"train.epochs": 3, "train.eval_num": 100, "train.batch_size": 256}
    plain = _train(tmp_path / "plain", **over)
    evald = _train(tmp_path / "evald", **over, **{"train.eval_every": 1})
    evals = [r for r in read_jsonl(evald / "metrics.jsonl") if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [7, 14, 21] and [r["epoch"] for r in evals] == [1, 2, 3]
    for name in ("metrics.png", "d_hist.png", "d_sorted.png", "checkpoints/best.pt"):
        assert (evald / name).is_file(), name
    best = load_checkpoint(evald / "checkpoints" / "best.pt")
    assert best["best"]["fid"] == min(r["fid"] for r in evals)
    assert best["step"] == best["best"]["step"]
    assert load_generator(evald / "checkpoints" / "best.pt").sample(4, seed=0).shape == (4, 1, 16, 16)
    assert [p.name for p in list_checkpoints(evald)] == ["ckpt_00000021.pt"]  # best.pt is not pruned or resumed
    a, b = load_checkpoint(list_checkpoints(plain)[-1]), load_checkpoint(list_checkpoints(evald)[-1])
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"evaluation changed training: {part}.{k}"


def test_eval_config_is_validated():
    with pytest.raises(ConfigError, match="train.eval_every"):
        resolve("digits-dcgan", {"train.eval_every": -1})
    with pytest.raises(ConfigError, match="train.eval_num"):
        resolve("digits-dcgan", {"train.eval_num": 3})


def test_eval_run_histograms_of_a_conditional_run_score_d_with_labels(tmp_path, monkeypatch):
    """`eval RUN` on a projection cGAN draws D(x, y), class term included, as the in-training evaluator does."""
    from ganforge.data import normalize
    from ganforge.viz import dhist

    cfg = resolve("mnist-projgan", {**TINY, "data.name": "digits", "data.image_size": 16, "train.steps": 3})
    run = Trainer(cfg, run_dir=tmp_path / "run").fit()
    drawn = []
    real_save = dhist.save_d_histograms

    def keep_scores(real, fake, *args, **kwargs):  # the real plotting function, with its inputs kept
        drawn.append((real, fake))
        return real_save(real, fake, *args, **kwargs)

    monkeypatch.setattr(dhist, "save_d_histograms", keep_scores)
    num, seed = 100, 3
    evaluate_run(run, num=num, metrics=["fid"], seed=seed, printer=lambda *_: None)
    (real_scores, fake_scores), = drawn

    D = load_generator(run).family.D  # the checkpoint's D, in eval mode
    labels = torch.arange(num) % 10
    fake = load_generator(run).sample(num, labels=labels.tolist(), seed=seed)
    real = load_dataset("digits", split="train", image_size=16, channels=1)
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:num]
    with torch.no_grad():
        want_real = D(normalize(real.x[idx]), real.y[idx]).double().numpy()
        want_fake = D(fake, labels).double().numpy()
        unlabelled = D(fake, None).double().numpy()
    np.testing.assert_allclose(real_scores, want_real, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fake_scores, want_fake, rtol=1e-5, atol=1e-6)
    assert np.abs(want_fake - unlabelled).max() > 1e-3  # the class term is not negligible here


def test_eval_cli_reads_grey_samples_saved_as_n_h_w(tmp_path):
    x, y = _digits()
    grey = x[:300, 0].numpy()  # (N, H, W) uint8, how MNIST-like arrays are usually saved
    np.savez(tmp_path / "grey.npz", arr_0=grey, arr_1=y[:300])
    r = run_cli("eval", "--samples", tmp_path / "grey.npz", "--dataset", "digits", "--metrics", "fid,class_acc", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    direct = score_samples(x[:300], "digits", y[:300], metrics=["fid", "class_acc"])
    assert out["n"] == 300 and out["class_acc"] == direct["class_acc"]
    assert out["fid"] == pytest.approx(direct["fid"], rel=1e-6)
    loaded, _ = load_samples_file(tmp_path / "grey.npz")
    assert loaded.shape == (300, 1, 8, 8) and torch.equal(loaded, x[:300])


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON (Python's reader accepts them)."""
    def refuse(constant):
        raise ValueError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_eval_json_of_a_mixture_run_without_high_quality_samples_is_valid_json(tmp_path):
    # one step: every sample is still far from the ring's modes, so KL(modes || uniform) is undefined
    run = Trainer(resolve("ring8-gan", {"train.steps": 1, "train.progress": False}), run_dir=tmp_path / "run").fit()
    r = run_cli("eval", run, "--num", "200", "--metrics", "fid", "--json")
    assert r.returncode == 0, r.stderr
    out = _strict_json(r.stdout.strip().splitlines()[-1])
    assert out["high_quality"] == 0.0 and out["kl_modes"] is None and out["modes_covered"] == 0
    logged = [_strict_json(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["event"] == "eval" and logged[-1]["kl_modes"] is None
    _strict_json((run / "environment.json").read_text())
