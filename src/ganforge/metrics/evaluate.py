"""Samples -> features -> every metric, for a run, a samples file, or a training run in progress.

    result = score_samples(x_uint8, "fashion-mnist", labels=y)   # dict: fid, kid, is, precision, recall, ...
    result = evaluate_run("runs/fm", num=10_000)                   # samples G, scores, logs to metrics.jsonl

Real features come from the reference split (the training images; all images for
data sets without a test split), are computed once per (network, data) pair and
cached under ``<cache>/features/``. FID uses all of them; KID and precision/recall
use a fixed random subset of at most ``REF_SUBSET`` (seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganforge.data import Dataset, cache_dir, load_dataset, mixture_centers, mixture_std, to_uint8
from ganforge.errors import ConfigError, DataError
from ganforge.io import atomic_path
from ganforge.metrics.accuracy import class_accuracy
from ganforge.metrics.codes import code_accuracy
from ganforge.metrics.features import FeatureNet, _slug, classifier_for, data_fingerprint, inception_net
from ganforge.metrics.fid import feature_statistics, frechet_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.mixtures import mixture_quality
from ganforge.metrics.precision_recall import precision_recall
from ganforge.registry import Registry
from ganforge.rundir import RunDir, latest_checkpoint, load_checkpoint

REF_SUBSET = 10_000      # real features kept for KID and precision/recall
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
TRAIN_KID_SUBSETS = 20   # cheaper KID for evaluations during training
IS_SPLITS = 10
PR_K = 3
PR_MAX = 10_000          # at most this many samples per side in precision/recall
MIN_SAMPLES = 10
MIXTURES = ("ring8", "grid25")


# ---------------------------------------------------------------------------------------------
# Real reference features
# ---------------------------------------------------------------------------------------------

@dataclass
class Reference:
    mu: np.ndarray      # (D,)
    sigma: np.ndarray   # (D, D)
    subset: np.ndarray  # (<= REF_SUBSET, D), random order
    n: int              # images behind mu and sigma
    fingerprint: str


def _reference_dataset(name, data_dir=None, image_size=None, channels=None) -> Dataset:
    from ganforge.metrics.features import native_shape

    if native_shape(name) is not None:
        image_size = channels = None
    return load_dataset(name, data_dir=data_dir, split="train", image_size=image_size, channels=channels)


def reference_features(net: FeatureNet, name: str, data_dir=None, image_size=None, channels=None,
                       device="cpu", log=print) -> Reference:
    """Statistics of the real training images' features, cached per network hash, resize mode (Inception's) and
    data fingerprint."""
    ds = _reference_dataset(name, data_dir, image_size, channels)
    fp = data_fingerprint(ds)
    mode = f"-{net.resize}" if net.source == "inception" else ""
    path = cache_dir() / "features" / f"{_slug(name)}-{net.short_hash}{mode}-{fp[:12]}.npz"
    if path.is_file():
        with np.load(path) as f:
            return Reference(f["mu"], f["sigma"], f["subset"], int(f["n"]), fp)
    log(f"computing reference features of {len(ds)} {name} images (cached in {path})")
    feats, _ = net(ds.x, device=device)
    mu, sigma = feature_statistics(feats)
    order = np.random.default_rng(0).permutation(len(feats))[:REF_SUBSET]
    subset = feats[order]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, subset=subset, n=len(feats))
    return Reference(mu, sigma, subset, len(feats), fp)


# ---------------------------------------------------------------------------------------------
# Metrics, by name
# ---------------------------------------------------------------------------------------------

@dataclass
class Context:
    feats: np.ndarray               # (N, D) sample features
    probs: np.ndarray | None        # (N, K) softmax, None for points
    labels: np.ndarray | None       # (N,) intended classes, when known
    ref: Reference
    seed: int = 0
    kid_subsets: int = KID_SUBSETS
    codes: np.ndarray | None = None  # (N,) the categorical latent code each sample was drawn with (InfoGAN)


METRICS: Registry[Callable[[Context], dict]] = Registry("metric")


@METRICS.register("fid", "Frechet distance of Gaussian fits to real and sample features (float64)")
def _fid(c: Context) -> dict:
    return {"fid": frechet_distance(*feature_statistics(c.feats), c.ref.mu, c.ref.sigma)}


@METRICS.register("kid", "unbiased MMD^2, cubic polynomial kernel, mean and std over 100 subsets of 1,000 "
                         "(20 during training)")
def _kid(c: Context) -> dict:
    size = min(KID_SUBSET_SIZE, len(c.feats), len(c.ref.subset))
    mean, std = kernel_inception_distance(c.ref.subset, c.feats, c.kid_subsets, size, seed=c.seed)
    return {"kid": mean, "kid_std": std}


@METRICS.register("is", "exp E KL(p(y|x) || p(y)) from the classifier's softmax, 10 splits")
def _is(c: Context) -> dict:
    if c.probs is None:
        return {}
    mean, std = inception_score(c.probs, splits=min(IS_SPLITS, len(c.probs)))
    return {"is": mean, "is_std": std}


@METRICS.register("pr", "precision and recall with k=3 nearest-neighbour manifolds (Kynkaanniemi et al.)")
def _pr(c: Context) -> dict:
    m = min(len(c.feats), len(c.ref.subset), PR_MAX)
    precision, recall = precision_recall(c.ref.subset[:m], c.feats[:m], k=PR_K)
    return {"precision": precision, "recall": recall}


@METRICS.register("class_acc", "share of samples the reference classifier assigns to their intended class")
def _class_acc(c: Context) -> dict:
    if c.probs is None or c.labels is None:
        return {}
    return {"class_acc": class_accuracy(c.probs, c.labels)}


@METRICS.register("code_acc", "InfoGAN: share of samples whose class is their categorical code's, each code value "
                               "matched to one class by the best one-to-one assignment (Hungarian)")
def _code_acc(c: Context) -> dict:
    if c.probs is None or c.codes is None:
        return {}
    acc, match = code_accuracy(c.probs, c.codes)
    return {"code_acc": acc, "code_classes": match}


def check_metrics(names) -> list[str]:
    names = list(names) if names else METRICS.names()
    for n in names:
        METRICS.get(n)  # one-line error for an unknown name
    return names


def _run_metrics(ctx: Context, names) -> dict:
    out: dict = {}
    for n in check_metrics(names):
        out.update(METRICS.get(n)(ctx))
    return out


# ---------------------------------------------------------------------------------------------
# Scoring samples
# ---------------------------------------------------------------------------------------------

def feature_net(dataset: str, features: str = "reference", inception_weights=None, data_dir=None,
                image_size=None, channels=None, log=print, allow_unknown_inception: bool = False,
                resize: str | None = None) -> FeatureNet:
    if features == "inception":
        return inception_net(inception_weights, allow_unknown=allow_unknown_inception, resize=resize or "pil-bicubic",
                             log=log)
    if features != "reference":
        raise ConfigError(f"unknown feature network '{features}' (valid: reference, inception)")
    if resize is not None:
        raise ConfigError("--resize sets how images reach Inception (--features inception); the reference "
                          "classifiers resize one way (bilinear, antialiased): drop it")
    return classifier_for(dataset, data_dir, image_size, channels, log=log)


def score_samples(x, dataset: str, labels=None, metrics=None, *, net: FeatureNet | None = None,
                  features: str = "reference", inception_weights=None, allow_unknown_inception: bool = False,
                  data_dir=None, image_size=None, channels=None, device="cpu", seed: int = 0,
                  kid_subsets: int = KID_SUBSETS, codes=None, resize: str | None = None, log=print) -> dict:
    """Score uint8 images (N, C, H, W) (or float points (N, 2)) against data set ``dataset``.

    ``labels`` (N,) are the intended classes of conditional samples (for class accuracy); ``codes`` (N,)
    the categorical latent code values the samples were drawn with (InfoGAN, for code accuracy).
    Returns fid, kid (+ kid_std), is (+ is_std), precision, recall, class_acc (with labels), code_acc and
    code_classes (with codes), n, dataset, reference_n and features (network name, sha256, feature size).
    """
    names = check_metrics(metrics)
    x = torch.as_tensor(x)
    if len(x) < MIN_SAMPLES:
        raise DataError(f"need at least {MIN_SAMPLES} samples to score, got {len(x)}")
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    if y is not None and y.shape != (len(x),):
        raise DataError(f"got {len(x)} samples but labels of shape {y.shape}; arr_1 must hold one label per sample")
    if x.dim() == 2:
        return score_points(x, dataset, names, seed, kid_subsets)
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise DataError(f"expected uint8 images (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    net = net or feature_net(dataset, features, inception_weights, data_dir, image_size, channels, log,
                             allow_unknown_inception, resize)
    ref = reference_features(net, dataset, data_dir, image_size, channels, device, log)
    feats, probs = net(x, device=device)
    if y is not None and (y.min() < 0 or y.max() >= probs.shape[1]):
        raise DataError(f"labels must be classes 0-{probs.shape[1] - 1} of {dataset}, got {y.min()}-{y.max()}")
    reference = net.source != "inception"  # class-based metrics need the data set's own classes
    codes = None if codes is None or not reference else np.asarray(codes, dtype=np.int64)
    if codes is not None and codes.shape != (len(x),):
        raise DataError(f"got {len(x)} samples but codes of shape {codes.shape}")
    ctx = Context(feats, probs, y if reference else None, ref, seed, kid_subsets, codes)
    result = _run_metrics(ctx, names)
    protocol = {"samples": len(x), "reference": f"{dataset} training split, all {ref.n} images",
                "features": net.name, "resize": net.resize}
    return {**result, "n": len(x), "dataset": dataset, "reference_n": ref.n, "features": net.describe(),
            "protocol": protocol}


def score_points(x, dataset: str, metrics=None, seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict:
    """2-D samples against a mixture: FID/KID/precision/recall on the coordinates, plus mode coverage."""
    if dataset not in MIXTURES:
        raise ConfigError(f"2-D point samples can only be scored against a mixture ({', '.join(MIXTURES)}), not '{dataset}'")
    pts = np.asarray(torch.as_tensor(x, dtype=torch.float64))
    real = load_dataset(dataset, split="test").x.double().numpy()
    mu, sigma = feature_statistics(real)
    order = np.random.default_rng(0).permutation(len(real))[:REF_SUBSET]
    ref = Reference(mu, sigma, real[order], len(real), "")
    names = [n for n in check_metrics(metrics) if n not in ("is", "class_acc")]
    result = _run_metrics(Context(pts, None, None, ref, seed, kid_subsets), names)
    quality = mixture_quality(pts, mixture_centers(dataset), mixture_std(dataset))
    result.update({k: quality[k] for k in ("modes_covered", "high_quality", "kl_modes")})
    result["modes"] = len(mixture_centers(dataset))
    return {**result, "n": len(pts), "dataset": dataset, "reference_n": len(real),
            "features": {"network": "identity (2-D coordinates)", "sha256": None, "dim": 2}}


def load_samples_file(path: str | Path) -> tuple[torch.Tensor, np.ndarray | None]:
    """``arr_0`` uint8 (N, H, W, C) or grey (N, H, W) images, or float (N, 2) points; ``arr_1`` optional
    labels -> (NCHW, labels)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"samples file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "arr_0" not in f:
                raise DataError(f"{path} has no arr_0 (found {', '.join(f.files) or 'nothing'}); "
                                "save images as arr_0 (uint8 N,H,W,C) and labels as arr_1")
            x = f["arr_0"]
            y = f["arr_1"] if "arr_1" in f else None
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not a readable .npz file ({str(err).splitlines()[0][:120]})") from None
    if x.ndim == 2 and x.shape[1] == 2:
        return torch.from_numpy(x.astype(np.float32)), y
    if x.ndim == 3:
        x = x[..., None]  # grey images saved as (N, H, W), as MNIST-like arrays usually are -> (N, H, W, 1)
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise DataError(f"arr_0 must be images (N, H, W, C) with C = 1 or 3, grey images (N, H, W), "
                        f"or points (N, 2); got shape {x.shape}")
    if x.dtype != np.uint8:
        raise DataError(f"arr_0 must be uint8 (0..255), got {x.dtype}; convert with ((np.clip(x, -1, 1) + 1) * 127.5).round().astype(np.uint8)")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), y


# ---------------------------------------------------------------------------------------------
# Scoring a run
# ---------------------------------------------------------------------------------------------

def evaluate_run(run: str | Path, num: int = 10_000, metrics=None, *, seed: int = 0, device="cpu",
                 features: str = "reference", inception_weights=None, allow_unknown_inception: bool = False,
                 histograms: bool = True,
                 kid_subsets: int = KID_SUBSETS, stage: int | None = None, resize: str | None = None,
                 direction: str | None = None, log: bool = True, printer=print) -> dict:
    """Sample ``num`` images from a run's newest checkpoint (or a checkpoint file), score them,
    append the result to the run's metrics.jsonl and draw D's histograms (d_hist.png, d_sorted.png)."""
    from ganforge.config import from_saved
    from ganforge.sampler import sampler_from_checkpoint

    if num < MIN_SAMPLES:
        raise ConfigError(f"--num must be at least {MIN_SAMPLES}, got {num}")
    path = Path(run)
    state = load_checkpoint(path) if path.is_file() else latest_checkpoint(path)
    ckpt = path if path.is_file() else Path(state["path"])
    run_dir = RunDir(ckpt.parent.parent)  # RUN_DIR/checkpoints/ckpt_<step>.pt
    cfg = from_saved(state["config"])
    sampler = sampler_from_checkpoint(state, device=device)
    sampler.use_stage(stage, upsampled=True)
    family = sampler.family
    if direction is not None:
        if not getattr(family, "directions", None):
            raise ConfigError(f"--direction picks one of a CycleGAN's two generators; this run's model (family "
                              f"'{family.name}') has one")
        family.set_direction(direction)
    x, y = family.eval_samples(sampler.G, num, seed)
    codes = family.eval_codes(num)
    d = cfg.data
    if metrics and "psnr" in metrics:   # a translator's PSNR and L1 against its targets, always reported with the rest
        if not family.translates:
            raise ConfigError("--metrics psnr compares translations with their targets; this run's model (family "
                              f"'{family.name}') draws from latents")
        metrics = [m for m in metrics if m != "psnr"]
    if metrics is not None and not metrics:
        result = {"n": len(x), "dataset": d.name}
    elif x.dim() == 2:
        result = score_points(x, d.name, metrics, seed, kid_subsets)
    else:
        result = score_samples(to_uint8(x), d.name, None if y is None else y.tolist(), metrics, features=features,
                               inception_weights=inception_weights, allow_unknown_inception=allow_unknown_inception,
                               data_dir=d.data_dir, image_size=d.image_size,
                               channels=d.channels, device=device, seed=seed, kid_subsets=kid_subsets,
                               codes=None if codes is None else codes.numpy(), resize=resize, log=printer)
    if x.dim() == 4:
        result.update(family.eval_scores(to_uint8(x)))
    result = {"step": state["step"], "epoch": state["epoch"], "checkpoint": ckpt.name,
              **({"stage": "1 (bicubic to full size)" if stage == 1 else "2"} if stage is not None else {}), **result}
    if histograms and not family.translates:  # a translator's D judges (source, image) pairs
        from ganforge.viz.dhist import discriminator_scores, save_d_histograms

        real = load_dataset(d.name, data_dir=d.data_dir, split="train", image_size=d.image_size, channels=d.channels)
        n = min(1000, num, len(real))
        conditional = family.uses_labels and real.y is not None  # D(x, y): the projection's class term, StackGAN's condition
        scores = discriminator_scores(family.D, real, x[:n], None if y is None else y[:n], n, seed, device,
                                      conditional=conditional)
        save_d_histograms(*scores, cfg.loss.name, run_dir.path, title=f"step {state['step']}")
    if log and run_dir.path.is_dir():
        run_dir.log([{"event": "eval", **result}])
    return result


# ---------------------------------------------------------------------------------------------
# During training
# ---------------------------------------------------------------------------------------------

class TrainingEvaluator:
    """Every ``train.eval_every`` epochs: score ``train.eval_num`` samples, log them, plot the metric curve and
    D's histograms. The trainer hands it a sample function, D and the data; it decides about ``best.pt`` from
    the ``best`` flag of the returned record.

    Whatever evaluation draws, training's RNG stays put, and D's mode is restored afterwards, so a run with
    evaluation trains exactly like one without.
    """

    def __init__(self, cfg, data: Dataset, device):
        self.cfg, self.data, self.device = cfg, data, device
        self.net: FeatureNet | None = None

    def due(self, epoch: int) -> bool:
        every = self.cfg.train.eval_every
        return bool(every) and epoch % every == 0

    def __call__(self, samples, D, run: RunDir, step: int, epoch: int, codes=None) -> dict:
        """``samples(n)`` -> (images in [-1, 1], their intended classes or None); ``codes(n)`` -> the categorical
        latent code of each of those samples or None (``Family.eval_codes``); returns the logged record."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self._evaluate(samples, D, run, step, epoch, codes)

    def _evaluate(self, samples, D, run: RunDir, step: int, epoch: int, codes=None) -> dict:
        from ganforge.viz.dhist import discriminator_scores, save_d_histograms
        from ganforge.viz.plots import plot_metric_curve

        cfg, d = self.cfg, self.cfg.data
        x, y = samples(cfg.train.eval_num)
        c = codes(cfg.train.eval_num) if codes is not None else None
        if x.dim() == 2:
            result = score_points(x, d.name, seed=0, kid_subsets=TRAIN_KID_SUBSETS)
        else:
            if self.net is None:
                self.net = classifier_for(d.name, d.data_dir, d.image_size, d.channels)
            result = score_samples(to_uint8(x), d.name, None if y is None else y.numpy(), net=self.net,
                                   data_dir=d.data_dir, image_size=d.image_size, channels=d.channels,
                                   device=self.device, kid_subsets=TRAIN_KID_SUBSETS,
                                   codes=None if c is None else c.numpy(), log=print)
        # D on real vs generated (the D-probability histograms); D's mode is restored afterwards
        was = D.training
        n = min(1000, len(x))
        scores = discriminator_scores(D, self.data, x[:n], None if y is None else y[:n], n, cfg.train.seed,
                                      self.device, conditional=cfg.model.conditional and self.data.y is not None)
        D.train(was)
        save_d_histograms(*scores, cfg.loss.name, run.path, title=f"epoch {epoch}, step {step}")

        record = {"event": "eval", "step": step, "epoch": epoch, **result}
        previous = [r["fid"] for r in run.records() if r.get("event") == "eval" and r.get("fid") is not None]
        if "fid" in result and (not previous or result["fid"] < min(previous)):
            record["best"] = True
        run.log([{k: v for k, v in record.items() if k != "best"}])
        plot_metric_curve(run.records(), run.metric_curve)
        shown = "  ".join(f"{k} {result[k]:.4g}" for k in ("fid", "kid", "is", "precision", "recall", "class_acc",
                                                            "code_acc", "modes_covered", "high_quality") if k in result)
        print(f"eval at epoch {epoch}: {shown}" + ("  (best so far)" if record.get("best") else ""), flush=True)
        return record
