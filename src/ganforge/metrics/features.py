"""Feature networks for the sample-quality metrics.

Standard Inception weights cannot be downloaded everywhere, and Inception is a
poor judge of 28x28 grey digits anyway, so ganforge trains a small reference
classifier per data set and reads

    features(x)  the penultimate layer (128 numbers)  -> FID, KID, precision/recall
    probs(x)     the softmax over the data set's classes -> IS, class accuracy

Weights for the data sets available everywhere (Fashion-MNIST, digits) ship in
``ganforge/assets/`` with their sha256 and test accuracy in ``classifiers.json``,
so two users' scores are comparable; every score carries the network's hash.
Other data sets get a classifier trained on first use (or by
``ganforge classifier train --dataset NAME``), cached under
``<cache>/classifiers/`` with the data's fingerprint in the file name.

Inception features are an optional extra for users who have the standard
TorchScript weights file (``inception-2015-12-05.pt``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.data import DATASET_META, Dataset, adapt_images, cache_dir, data_fingerprint, load_dataset, normalize
from ganforge.errors import CheckpointError, ConfigError, DataError, GanforgeError
from ganforge.io import atomic_path, file_hash, to_json

FORMAT = "ganforge-classifier-v1"
FEATURE_DIM = 128
MANIFEST = "classifiers.json"
# Held-out share for data sets without a test split (digits): a fixed permutation, seed 0.
HOLDOUT_SHARE = 0.25
TRAIN_SEED = 0
# Epochs per data set when training; small data sets need more passes.
DEFAULT_EPOCHS = {"digits": 40, "fashion-mnist": 4, "mnist": 3, "kmnist": 4, "cifar10": 10}


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

class ReferenceNet(nn.Module):
    """Three conv blocks and a 128-unit hidden layer: small enough to train on a CPU in minutes.

    (B, C, H, W) in [-1, 1] -> conv 16 -> pool -> conv 32 -> pool -> conv 64 -> pool
    -> (B, 64, h, w), h = w <= 3 -> flatten -> 128 (ReLU: the features) -> num_classes logits.
    Each pool halves the size (floor) while it is at least 2: 28 -> 14 -> 7 -> 3, 8 -> 4 -> 2 -> 1.
    About 100k weights (0.4 MB) at 28x28.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = in_shape
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        for c_in, c_out in ((c, 16), (16, 32), (32, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))  # (B, c_out, h, w) -> (B, c_out, h // 2, w // 2)
                h, w = h // 2, w // 2
        self.body = nn.Sequential(*layers)
        side = min(h, w, 3)
        self.pool = nn.AdaptiveAvgPool2d(side)  # (B, 64, h, w) -> (B, 64, side, side); identity at 28x28
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, FEATURE_DIM), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.pool(self.body(x)))  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))  # (B, num_classes) logits


# ---------------------------------------------------------------------------------------------
# A loaded feature network, as the evaluator sees it
# ---------------------------------------------------------------------------------------------

@dataclass
class FeatureNet:
    """A feature extractor with its identity: what it is and the sha256 of its weights file."""

    name: str                       # e.g. "ganforge-ref/fashion-mnist"
    sha256: str
    in_shape: tuple[int, int, int]  # what images are adapted to before the network sees them
    module: nn.Module
    test_acc: float | None = None
    source: str = ""                # "shipped", "cache" or "inception"
    path: str = ""
    resize: str = "bilinear-antialias"  # how images reach in_shape: see RESIZE_MODES (Inception) and _prepare

    def describe(self) -> dict:
        out = {"network": self.name, "sha256": self.sha256, "dim": self.dim, "source": self.source,
               "resize": self.resize}
        if self.test_acc is not None:
            out["test_acc"] = self.test_acc
        return out

    @property
    def dim(self) -> int:
        return 2048 if self.source == "inception" else FEATURE_DIM

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def _prepare(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> the network's input: resized (bilinear, antialiased) and in [-1, 1]."""
        if self.source == "inception":
            x = adapt_images(x_uint8, channels=3)
            if self.resize == "pil-bicubic":
                return resize_pil_bicubic(x, 299)
            return x  # legacy-tf: the module resizes (bilinear) and scales by itself
        c, h, w = self.in_shape
        size = None if tuple(x_uint8.shape[2:]) == (h, w) else h
        if size is not None and (h != w or x_uint8.shape[2] != x_uint8.shape[3]):
            raise DataError(f"samples are {x_uint8.shape[2]}x{x_uint8.shape[3]} but the feature network needs {h}x{w}")
        return normalize(adapt_images(x_uint8, image_size=size, channels=c))

    @torch.no_grad()
    def __call__(self, x_uint8: torch.Tensor, batch_size: int = 500, device="cpu") -> tuple[np.ndarray, np.ndarray]:
        """Features (N, D) float64 and softmax probabilities (N, K) float64 of uint8 images (N, C, H, W)."""
        if x_uint8.dtype != torch.uint8 or x_uint8.dim() != 4:
            raise DataError(f"expected uint8 images (N, C, H, W), got {x_uint8.dtype} {tuple(x_uint8.shape)}")
        self.module.to(device).eval()
        feats, probs = [], []
        for i in range(0, x_uint8.shape[0], batch_size):
            xb = self._prepare(x_uint8[i:i + batch_size]).to(device)
            f, p = _run(self.module, xb, self.source == "inception")
            feats.append(f.double().cpu())
            probs.append(p.double().cpu())
        if not feats:
            raise DataError("no images to score")
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def _run(module: nn.Module, x: torch.Tensor, inception: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if not inception:
        f = module.features(x)
        return f, F.softmax(module.head(f).double(), dim=1)
    f = module(x, return_features=True)  # (B, 2048) pool features
    p = module(x, no_output_bias=True)   # (B, 1008) class probabilities
    if not torch.allclose(p.double().sum(dim=1), torch.ones(len(p), dtype=torch.float64), atol=1e-3):
        p = F.softmax(p.double(), dim=1)
    return f, p


# ---------------------------------------------------------------------------------------------
# Fingerprints, file names, hashes
# ---------------------------------------------------------------------------------------------

def file_sha256(path: str | Path) -> str:
    return file_hash(path, "sha256")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:60] or "data"


def classifier_cache_path(name: str, fingerprint: str) -> Path:
    return cache_dir() / "classifiers" / f"{_slug(name)}-{fingerprint[:16]}.pt"


def _assets():
    return resources.files("ganforge") / "assets"


def shipped_manifest() -> dict:
    """``assets/classifiers.json``: data set name -> file, sha256, test accuracy, fingerprint."""
    f = _assets() / MANIFEST
    return json.loads(f.read_text()) if f.is_file() else {}


# ---------------------------------------------------------------------------------------------
# Reference data: what the classifier is trained and tested on
# ---------------------------------------------------------------------------------------------

def native_shape(name: str) -> tuple[int, ...] | None:
    meta = DATASET_META.get(name.partition(":")[0])
    return meta.shape if meta is not None else None


def reference_splits(name: str, data_dir=None, image_size=None, channels=None, download=True) -> tuple[Dataset, Dataset]:
    """(train, test) at the data set's native shape. Sets without a test split get a fixed 25% hold-out.

    ``image_size`` / ``channels`` apply only to data sets with no native shape (``folder:PATH``).
    """
    if native_shape(name) is not None:
        image_size = channels = None
    train = load_dataset(name, data_dir=data_dir, split="train", download=download,
                         image_size=image_size, channels=channels)
    if train.kind != "image":
        raise ConfigError(f"'{name}' holds 2-D points; they are scored directly, without a feature network")
    if not train.num_classes:
        if name.startswith("paired:"):
            raise DataError(f"'{name}' has no class labels, so no reference classifier can be trained on it; score "
                            "with --features inception (FID, KID, IS; PSNR and L1 come with them), or --metrics "
                            "psnr for PSNR and L1 alone")
        raise DataError(f"'{name}' has no class labels, so no reference classifier can be trained on it; "
                        "put images in one sub-folder per class")
    if name.partition(":")[0] in ("digits", "folder", "pack"):  # one split only: hold out a share of it
        return _holdout(train)
    test = load_dataset(name, data_dir=data_dir, split="test", download=download)
    return train, test


def _holdout(ds: Dataset) -> tuple[Dataset, Dataset]:
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    n_test = max(1, int(round(len(ds) * HOLDOUT_SHARE)))
    te, tr = perm[:n_test].sort().values, perm[n_test:].sort().values

    def part(idx):
        return Dataset(ds.name, ds.x[idx], ds.y[idx], ds.num_classes, ds.class_names, ds.kind)

    return part(tr), part(te)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def accuracy(net: nn.Module, x_uint8: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(x_uint8), batch_size):
        logits = net(normalize(x_uint8[i:i + batch_size]))
        correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(x_uint8)


def train_classifier(train: Dataset, test: Dataset, epochs: int, seed: int = TRAIN_SEED,
                     batch_size: int = 128, lr: float = 2e-3, log=print) -> tuple[ReferenceNet, float]:
    """Train a ReferenceNet with Adam and a cosine-decayed learning rate; return it and its test accuracy.

    Deterministic given ``seed``: initialisation, shuffling and dropout draw from seeded generators.
    Augmentation: one random shift per batch of up to 1 px (1/28 of the size), replicate padding.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ReferenceNet(tuple(train.shape), train.num_classes)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        n = len(train)
        steps_per_epoch = max(1, n // batch_size)
        total = epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        shift = max(1, train.shape[1] // 28)
        for epoch in range(epochs):
            net.train()
            perm = torch.randperm(n, generator=gen)
            running = 0.0
            for s in range(steps_per_epoch):
                idx = perm[s * batch_size:(s + 1) * batch_size]
                x = _random_shift(normalize(train.x[idx]), shift, gen)
                loss = F.cross_entropy(net(x), train.y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += float(loss.detach())
            acc = accuracy(net, test.x, test.y)
            log(f"classifier epoch {epoch + 1}/{epochs}: loss {running / steps_per_epoch:.4f}, test accuracy {acc:.4f}")
    net.eval()
    return net, acc


def _random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate the whole batch by one random (dy, dx) in [-shift, shift], replicate padding."""
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=gen))
    h, w = x.shape[2:]
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    return padded[:, :, shift + dy:shift + dy + h, shift + dx:shift + dx + w]


def save_classifier(net: ReferenceNet, path: str | Path, *, dataset: str, fingerprint: str, test_acc: float,
                    epochs: int) -> str:
    """Write the weights (atomically) and return the file's sha256."""
    state = {
        "format": FORMAT, "dataset": dataset, "in_shape": list(net.in_shape), "num_classes": net.num_classes,
        "fingerprint": fingerprint, "test_acc": test_acc, "epochs": epochs, "seed": TRAIN_SEED,
        "torch": str(torch.__version__), "state_dict": net.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return file_sha256(path)


def load_classifier_file(path: str | Path) -> tuple[ReferenceNet, dict]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"classifier weights {path} are unreadable ({type(err).__name__}); "
                              "delete the file and run `ganforge classifier train`") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganforge reference classifier ({FORMAT} expected)")
    with torch.random.fork_rng(devices=[]):  # building the module draws initial weights: keep the caller's RNG
        net = ReferenceNet(tuple(state["in_shape"]), state["num_classes"])
    net.load_state_dict(state["state_dict"], strict=True)
    return net.eval(), state


def classifier_for(name: str, data_dir=None, image_size=None, channels=None, *, train_if_missing: bool = True,
                   retrain: bool = False, epochs: int | None = None, log=print) -> FeatureNet:
    """The reference classifier of data set ``name``: shipped weights, else the cache, else train one."""
    key = name.partition(":")[0]
    shipped = shipped_manifest().get(name)
    if shipped is not None and not retrain:
        path = _assets() / shipped["file"]
        with resources.as_file(path) as p:
            digest = file_sha256(p)
            if digest != shipped["sha256"]:
                raise CheckpointError(f"shipped classifier {shipped['file']} is damaged (sha256 {digest[:12]}, "
                                      f"expected {shipped['sha256'][:12]}); reinstall ganforge")
            net, state = load_classifier_file(p)
        return FeatureNet(f"ganforge-ref/{name}", digest, tuple(state["in_shape"]), net, state["test_acc"],
                          "shipped", str(path))

    train, test = reference_splits(name, data_dir, image_size, channels)
    fp = data_fingerprint(train, test)
    path = classifier_cache_path(name, fp)
    if path.is_file() and not retrain:
        net, state = load_classifier_file(path)
        return FeatureNet(f"ganforge-ref/{name}", file_sha256(path), tuple(state["in_shape"]), net,
                          state["test_acc"], "cache", str(path))
    if not train_if_missing:
        raise GanforgeError(f"no reference classifier for '{name}' yet; run `ganforge classifier train --dataset {name}`")
    epochs = epochs or DEFAULT_EPOCHS.get(key, 10)
    log(f"training the reference classifier for {name} ({len(train)} train / {len(test)} test images, "
        f"{epochs} epochs); cached in {path}")
    net, acc = train_classifier(train, test, epochs, log=log)
    digest = save_classifier(net, path, dataset=name, fingerprint=fp, test_acc=acc, epochs=epochs)
    return FeatureNet(f"ganforge-ref/{name}", digest, tuple(train.shape), net, acc, "cache", str(path))


# ---------------------------------------------------------------------------------------------
# Inception (optional)
# ---------------------------------------------------------------------------------------------

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/" + INCEPTION_FILE
INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"  # 95,607,719 bytes

# How images reach Inception's 299x299: clean-fid's PIL bicubic on the uint8 pixels (each channel as a float
# image, the result not rounded), or the TorchScript module's own bilinear resize, which stylegan2-ada-pytorch's
# metrics (and the legacy TensorFlow FID code it reproduces) use.
RESIZE_MODES = ("pil-bicubic", "legacy-tf")


def resize_pil_bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (B, C, size, size) in [0, 255]: PIL's bicubic resize (a = -0.5, its support
    widened when shrinking), applied to each channel of the uint8 values as a float image and clipped to
    [0, 255], as clean-fid does; torch's antialiased bicubic is that filter."""
    x = x.float()
    if tuple(x.shape[2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 255)


def fetch_inception(log=print) -> Path:
    """The standard Inception file in the cache, downloaded on first use (mirrors: ``$GANFORGE_MIRROR`` with
    {name} = inception, then NVIDIA's; sha256 checked before it is kept; atomic)."""
    from ganforge.data.download import download_pinned, pretty_path

    path = cache_dir() / INCEPTION_FILE
    if path.is_file():
        return path
    log(f"downloading {INCEPTION_FILE} (96 MB, once) into {pretty_path(cache_dir())}")
    return download_pinned("inception", INCEPTION_FILE, cache_dir(), INCEPTION_SHA256,
                           what_to_do=f"put {INCEPTION_FILE} (from {INCEPTION_URL}) in {pretty_path(cache_dir())} "
                                      "or pass --inception-weights PATH")


def inception_net(weights: str | Path | None, allow_unknown: bool = False, resize: str = "pil-bicubic",
                  log=print) -> FeatureNet:
    """Inception-v3 features from the standard TorchScript file (as used by stylegan2-ada-pytorch).

    The module takes RGB images (B, 3, H, W) in 0..255, resizes them to 299x299 itself (bilinear) unless
    they are that size, and returns the 2048 pool features with ``return_features=True``. ``resize``: see
    ``RESIZE_MODES``. Without ``weights`` the file is downloaded into the cache on first use. The file must
    have the known sha256 (``INCEPTION_SHA256``) before it is loaded: scores from another network are not
    the published kind, and a TorchScript file is code. ``allow_unknown`` loads another file anyway.
    """
    if resize not in RESIZE_MODES:
        raise ConfigError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got '{resize}'")
    if weights is None:
        weights = fetch_inception(log)
    weights = Path(weights)
    if not weights.is_file():
        raise ConfigError(f"Inception weights file {weights} does not exist; pass the path of {INCEPTION_FILE}")
    digest = file_sha256(weights)
    name = "inception-v3"
    if digest != INCEPTION_SHA256:
        if not allow_unknown:
            raise CheckpointError(f"{weights} is not the known {INCEPTION_FILE} (sha256 {digest}, expected "
                                  f"{INCEPTION_SHA256}); get that file from {INCEPTION_URL}, or pass "
                                  f"--allow-unknown-inception to score with this one anyway")
        warnings.warn(f"{weights} is not the known {INCEPTION_FILE} (sha256 {digest[:12]}); "
                      "its scores are not comparable with published ones", stacklevel=2)
        name = "inception-v3 (unknown file)"
    try:
        module = torch.jit.load(str(weights), map_location="cpu").eval()
    except Exception as err:
        raise CheckpointError(f"{weights} is not a TorchScript Inception file ({type(err).__name__}); "
                              f"use the standard {INCEPTION_FILE}") from None
    return FeatureNet(name, digest, (3, 299, 299), module, None, "inception", str(weights), resize)


# ---------------------------------------------------------------------------------------------
# Shipping weights with the package (maintainers): python -m ganforge.metrics.features NAME...
# ---------------------------------------------------------------------------------------------

def ship_classifier(name: str, epochs: int | None = None, log=print) -> dict:
    """Train the classifier of ``name`` and write it into ganforge/assets/ with its manifest entry."""
    train, test = reference_splits(name, download=False)
    epochs = epochs or DEFAULT_EPOCHS.get(name, 10)
    net, acc = train_classifier(train, test, epochs, log=log)
    assets = Path(str(_assets()))
    file = f"classifier-{_slug(name)}.pt"
    fp = data_fingerprint(train, test)
    digest = save_classifier(net, assets / file, dataset=name, fingerprint=fp, test_acc=acc, epochs=epochs)
    manifest = shipped_manifest()
    manifest[name] = {"file": file, "sha256": digest, "test_acc": round(acc, 6), "test_images": len(test),
                      "train_images": len(train), "epochs": epochs, "seed": TRAIN_SEED, "data_fingerprint": fp,
                      "in_shape": list(train.shape), "feature_dim": FEATURE_DIM, "torch": str(torch.__version__)}
    with atomic_path(assets / MANIFEST) as tmp:
        tmp.write_text(to_json(dict(sorted(manifest.items())), indent=2) + "\n")
    for f in (assets / file, assets / MANIFEST):
        f.chmod(0o644)  # package data: readable by everyone (temp files start as 0600)
    log(f"{name}: test accuracy {acc:.4f}, sha256 {digest} -> {assets / file}")
    return manifest[name]


if __name__ == "__main__":
    import sys
    import time

    for arg in sys.argv[1:]:
        t0 = time.perf_counter()
        ship_classifier(arg)
        print(f"{arg}: {time.perf_counter() - t0:.0f} s", flush=True)
