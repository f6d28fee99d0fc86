"""Typed run configuration, named presets and ``key.sub=value`` overrides.

A run is described by one :class:`RunConfig`, made of a small dataclass per
component. Presets are YAML files in ``ganforge/presets/`` holding only the
fields that differ from the defaults below. The resolved config is written to
``config.yaml`` in the run directory and into every checkpoint, so a generator
can be rebuilt from either file alone.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ganforge.errors import ConfigError, did_you_mean
from ganforge.train.optim import OPTIMIZERS  # names only: importing it loads no torch


@dataclass
class DataConfig:
    name: str = "digits"            # a registered data set, or folder:PATH
    data_dir: str | None = None     # explicit folder holding the files
    image_size: int | None = None   # resize to this (square) size; None keeps the native size
    channels: int | None = None     # 1 or 3; None keeps the native channels
    download: bool = True           # fetch into the cache when not found locally
    drop_last: bool = True          # drop the last partial batch of each epoch
    shuffle: bool = True            # a new order every epoch; false: the data set's own order every epoch
    pairs: str | None = None        # a pair maker giving each image a translation source (data/pairs.py):
                                    # sr4 | inpaint | inpaint-centre | colorize | edges (paired:PATH needs none)
    unpaired: bool = False          # with data.pairs: sources of the first half, images of the second (CycleGAN)
    domains: str | None = None      # "A,B": two classes of a labelled data set as unpaired domains (CycleGAN)
    xflip: bool = False             # also every image mirrored left-right: twice the images per epoch (photos)
    reader: str = "auto"            # memory: the whole set on the device | stream: each batch read from a pack on
                                    # disk by a background thread | auto: stream packs larger than 1/4 of the memory


@dataclass
class ModelConfig:
    arch: str = "dcgan"             # generator/discriminator pair, see ganforge.models.ARCHS
    z_dim: int = 100                # latent size
    noise: str = "normal"           # latent distribution: normal | uniform (U(-1, 1))
    width: int = 64                 # base channel count (conv archs)
    g_hidden: list[int] = field(default_factory=lambda: [128, 128])  # MLP generator hidden units
    d_hidden: list[int] = field(default_factory=lambda: [128, 128])  # MLP discriminator hidden units
    leaky_slope: float = 0.2        # LeakyReLU negative slope
    d_dropout: float = 0.0          # dropout after D's hidden layers
    spectral_norm: bool = False     # spectral normalisation on D's weight layers
    conditional: bool | str = False  # condition G (and D) on class labels; auto: exactly when the data set has
                                    # classes (a folder with one sub-folder per class), decided when training starts
    labels_after_conv1: bool = False  # cgan-conv: D also gets the label maps beside its first conv layer's output
    attention: int = 0              # resnet: the feature-map side of a SAGAN self-attention block in G and D (0 = off)
    padding: str = "tf"             # 'same' padding of the Keras-derived archs (dcgan-tf, dcgan-keras, dcgan-cifar):
                                    # tf (TensorFlow's, odd pixel after) | symmetric (PyTorch's, runs made before 0.2)


# Objectives whose D loss has a target label for real images, which loss.label_smoothing moves to 1 - s, and
# those without one (an unbounded critic score or a hinge); tests/test_losses.py keeps both in step with losses.py.
SMOOTHABLE_LOSSES = ("ns", "minimax", "lsgan")
UNSMOOTHABLE_LOSSES = ("wgan", "wgan-gp", "hinge")


@dataclass
class LossConfig:
    name: str = "ns"                # objective, see ganforge.losses.OBJECTIVES
    clip: float | None = None       # WGAN weight clipping bound c (critic weights in [-c, c])
    allow_unclipped: bool = False   # allow loss.name=wgan without loss.clip (an unconstrained critic, unless
                                    # something else constrains it, e.g. model.spectral_norm)
    gp_weight: float = 10.0         # WGAN-GP lambda
    r1_weight: float = 0.0          # R1 penalty gamma on real images (0 = off)
    label_smoothing: float = 0.0    # one-sided: real target 1 - s (ns, minimax, lsgan)
    aux_weight: float = 1.0         # weight of the auxiliary classifier loss (ACGAN)


@dataclass
class InfoConfig:
    """InfoGAN's latent codes beside z (family infogan; Chen et al. 2016). Defaults: the paper's MNIST codes."""

    categorical: list[int] = field(default_factory=lambda: [10])  # values of each categorical code (one-hot into G)
    continuous: int = 2             # continuous codes ~ U(-1, 1)
    lambda_cat: float = 1.0         # weight of the categorical codes' cross-entropy (the paper: 1)
    lambda_cont: float = 1.0        # weight of the continuous codes' unit-variance Gaussian -log Q(c|x), i.e.
                                    # 0.5 (c - mu)^2 (the released code: 1 with the variance fixed at 1)


@dataclass
class PixConfig:
    """pix2pix (family pix2pix; Isola et al. 2017): G's loss is adv_weight x the adversarial term + l1_weight x L1."""

    l1_weight: float = 100.0        # lambda of |G(x) - y|_1 (the paper: 100)
    adv_weight: float = 1.0         # the adversarial term's weight; 0 trains the U-Net on L1 alone (no D update)
    d_layers: int = 3               # PatchGAN's stride-2 layers: 3 sees 70x70-pixel patches (the paper), 1 16x16
    dropout: float = 0.5            # in the U-Net's three innermost decoder layers (the paper's noise)


@dataclass
class CycleConfig:
    """CycleGAN (family cyclegan; Zhu et al. 2017): two generators A -> B and B -> A, a PatchGAN D per domain."""

    cycle_weight: float = 10.0      # lambda of the cycle losses |F(G(a)) - a|_1 + |G(F(b)) - b|_1 (the paper: 10)
    identity: float = 0.5           # the identity losses |G(b) - b|_1 + |F(a) - a|_1, weighted identity x cycle_weight
    pool_size: int = 50             # D learns from a pool of this many earlier fakes (0: the newest fakes only)
    g_arch: str = "resnet"          # resnet (the paper's) | unet (pix2pix's)
    blocks: int = 9                 # the ResNet G's residual blocks (the paper: 9 at 256 px, 6 at 128)
    d_layers: int = 3               # PatchGAN's stride-2 layers (3: 70x70 patches)


@dataclass
class StackConfig:
    """StackGAN's two stages (family stackgan; Zhang et al. 2017), a class label in place of the sentence."""

    factor: int = 2                 # stage II's size over stage I's: 2 (14 -> 28, 16 -> 32) or 4
    embed_dim: int = 64             # the label embedding standing in for the paper's text embedding
    c_dim: int = 32                 # the condition c drawn by conditioning augmentation (the paper's N_g; also D's N_d)
    kl_weight: float = 1.0          # lambda of the KL(N(mu, sigma) || N(0, I)) term in G's loss (the paper: 1)
    wrong_labels: bool = True       # D also learns that real images with a wrong label are fake (the paper's
                                    # mismatched pairs): its fake term is the mean of the two
    schedule: str = "staged"        # staged: stage I alone, then stage II on a frozen stage I (the paper) |
                                    # joint: both stages every step, stage II's loss reaching stage I (StackGAN++)
    stage1_epochs: int = 0          # staged: the epochs of stage I alone, before stage II's


@dataclass
class OptimConfig:
    name: str = "adam"              # adam | adam-keras | rmsprop | sgd, see ganforge.train.optim.OPTIMIZERS
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    eps: float = 1e-8               # Keras' Adam uses 1e-7
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    batch_size: int = 64
    epochs: int = 20
    steps: int | None = None        # stop after this many generator updates (overrides epochs)
    minutes: float | None = None    # wall-clock budget for this invocation: checkpoint and stop when spent
    update: str = "alternating"     # alternating (D updates, then G's) | simultaneous (one forward pass for both)
    n_critic: int = 1               # D updates per G update
    extra_d_every: int = 0          # one extra D update every N steps (0 = never)
    extra_d_on: str = "last"        # which of every N steps gets it: last (N-1, 2N-1, ...) | first (0, N, 2N, ...)
    extra_d_batch: str = "next"     # its real batch: next (one more batch of the epoch) | same (the step's batch again)
    g_before_d: bool = False        # G's update before the step's n_critic D updates (an extra D update stays first)
    d_update: str = "joint"         # joint: one D update on a real and a fake batch | split: two, real then fake
    g_mode_for_d: str = "train"     # G drawing D's fakes: train (batch statistics) | eval (running statistics, no dropout)
    g_reuses_d_latents: bool = False  # G's update takes the latents (z, labels) of the step's last D update
    d_bn_for_g: str = "batch"       # D's batch norm in G's update: batch (the fakes' statistics) | running (D's running ones)
    fake_batch: str = "real"        # fakes meeting a real batch in D's update: real (as many) | full (train.batch_size,
                                    # also on an epoch's short last batch: the TensorFlow tutorial's train_step)
    seed: int = 0
    device: str = "cpu"             # cpu | cuda | auto
    precision: str = "fp32"         # fp32 | bf16 | fp16 | auto (bf16 where the hardware has it, else fp32)
    ema: float | None = None        # decay of an exponential moving average of G (None = off)
    ema_warmup: bool = False        # ramp the EMA decay up as (1 + n) / (10 + n) over the first updates
    num_samples: int = 16           # fixed latent vectors drawn every epoch
    checkpoint_every: int = 15      # epochs between checkpoints (the last epoch is always saved)
    keep_checkpoints: int = 3       # keep the last K checkpoints
    log_every: int = 10             # read losses back from the device every N steps
    progress: bool = True           # show a progress bar
    tensorboard: bool = False       # also log to TensorBoard (pip install 'ganforge[tensorboard]')
    # speed (docs/benchmarks.md measures each); none changes what is computed beyond rounding
    joint_d_forward: bool = True    # one D pass over cat(real, fake) when D has no batch norm (CycleGAN: also
                                    # one G call for the translation and identity passes)
    channels_last: bool = False     # NHWC memory format for conv models
    compile: bool = False           # torch.compile G and D (slow first steps; needs a C++ compiler on CPU)
    threads: int | None = None      # torch.set_num_threads (None: PyTorch's default, one per core)
    conv_forms: str = "measure"     # measure: time each convolution's equivalent forms once per shape on this
                                    # machine, keep the fastest (cached on disk); rules: fixed shape rules,
                                    # the same forms on every machine (ops/forms.py)
    sync_bn: bool = False           # with several ranks: batch norm statistics over all ranks' batches
    eval_every: int = 0             # epochs between FID/KID/IS evaluations (0 = off); keeps checkpoints/best.pt
    eval_num: int = 2000            # samples per evaluation during training
    augment: str = ""               # DiffAugment of D's inputs: "translation,cutout" (also color, flip, rot90,
                                    # geometric; bgc = ADA's set), auto (< 10k images); off
    augment_p: float = 1.0          # probability that each transform hits each image
    ada_target: float | None = None  # ADA (Karras et al. 2020): adapt that probability p, from 0, towards
                                    # r_t = E[sign D(real)] = this target (the paper: 0.6); None: a fixed augment_p
    ada_kimg: float = 20.0          # ADA: thousands of real images for p to move from 0 to 1 (the paper: 500 in
                                    # 25M-image runs; CPU runs see 0.1-1M images: docs/small-data.md)
    ada_interval: int = 4           # ADA: D updates between adjustments of p
    init_from: str | None = None    # start from another run's G, D and EMA weights (ganforge train --init-from
                                    # RUN_OR_CHECKPOINT); the checkpoint file it read, once the run has started
    freeze_d: int = 0               # FreezeD (Mo et al. 2020): D's first N weight layers keep the weights of
                                    # train.init_from (models.base.d_layers says what a layer is)
    lr_decay: float | None = None   # both learning rates fall linearly to 0 over this last share of train.epochs
                                    # (CycleGAN: 0.5, the second half); None: constant


@dataclass
class RunConfig:
    preset: str = "custom"
    description: str = ""
    family: str = "gan"             # what is trained: its networks' inputs, losses, samples (ganforge.families)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    info: InfoConfig = field(default_factory=InfoConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    pix: PixConfig = field(default_factory=PixConfig)
    cycle: CycleConfig = field(default_factory=CycleConfig)
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------------------
# Building configs from dictionaries, with type checks and name hints

def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert ints to floats where expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, bool):  # YAML reads off/on/yes/no unquoted as booleans
            raise ConfigError(f"{key} must be a string, got the boolean {str(value).lower()} (YAML reads off, on, yes "
                              f"and no as booleans): quote it, e.g. {key}='\"off\"' on a command line")
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} for {key}")


def _valid_keys(cls, prefix: str = "") -> list[str]:
    keys = []
    for name, tp in _field_types(cls).items():
        if dataclasses.is_dataclass(tp):
            keys += _valid_keys(tp, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _update(obj, values: dict[str, Any], prefix: str = "") -> None:
    types_ = _field_types(type(obj))
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in types_:
            raise ConfigError(f"unknown config key '{key}'{did_you_mean(key, _valid_keys(RunConfig))}")
        tp = types_[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a mapping of its fields, got {value!r}")
            _update(getattr(obj, name), value, f"{key}.")
        else:
            setattr(obj, name, _coerce(value, tp, key))


def from_dict(values: dict[str, Any]) -> RunConfig:
    cfg = RunConfig()
    _update(cfg, values)
    validate(cfg)
    return cfg


# Fields added after runs were made with their old behaviour: a saved config without the field
# computes what it did when it was written, never what the new default computes.
LEGACY_DEFAULTS = {("model", "padding"): "symmetric"}  # ganforge 0.1 padded 'same' layers symmetrically


def from_saved(values: dict[str, Any]) -> RunConfig:
    """The config of an existing run (its config.yaml or a checkpoint), with ``LEGACY_DEFAULTS`` for fields it predates."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for (section, name), old in LEGACY_DEFAULTS.items():
        if isinstance(values.get(section), dict) and name not in values[section]:
            values[section][name] = old
    return from_dict(values)


# ---------------------------------------------------------------------------
# Presets

def _preset_files() -> dict[str, Any]:
    folder = resources.files("ganforge") / "presets"
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def preset_names() -> list[str]:
    return sorted(_preset_files())


# Presets renamed since a release: the old name is a one-line error naming the new one. A stored run's
# ``preset`` field is only a label (from_saved never looks it up), so old runs still load.
RENAMED_PRESETS = {
    "mnist-cgan": "preset 'mnist-cgan' is now 'mnist-projgan' (Miyato & Koyama's projection cGAN); "
                  "Mirza & Osindero's concatenation cGAN is 'mnist-cgan-mlp' or 'mnist-cgan-conv'",
}


def preset_dict(name: str) -> dict[str, Any]:
    files = _preset_files()
    if name in RENAMED_PRESETS and name not in files:
        raise ConfigError(RENAMED_PRESETS[name])
    if name not in files:
        raise ConfigError(f"unknown preset '{name}'{did_you_mean(name, files)}; `ganforge presets` lists them")
    values = yaml.safe_load(files[name].read_text()) or {}
    values["preset"] = name
    return values


def list_presets() -> list[tuple[str, str]]:
    return [(name, preset_dict(name).get("description", "")) for name in preset_names()]


# ---------------------------------------------------------------------------
# key.sub=value overrides

def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"expected key=value, got '{text}' (e.g. train.batch_size=128)")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            pass
    return key, value


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _check_key(key: str) -> None:
    valid = _valid_keys(RunConfig)
    if key not in valid:
        raise ConfigError(f"unknown config key '{key}'{did_you_mean(key, valid)}")


def resolve(preset: str | None = None, overrides: list[str] | dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the preset, then overrides (``["train.epochs=3"]`` or ``{"train.epochs": 3}``)."""
    cfg = RunConfig()
    if preset:
        _update(cfg, preset_dict(preset))
    items = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides or [])
    for key, value in items:
        _check_key(key)
        _update(cfg, _nest(key, value))
    validate(cfg)
    validate_new_run(cfg)
    return cfg


# ---------------------------------------------------------------------------
# Range checks (type checks happen above)

def validate(cfg: RunConfig) -> None:
    t = cfg.train
    positive = {
        "train.batch_size": t.batch_size, "train.n_critic": t.n_critic, "train.num_samples": t.num_samples,
        "train.checkpoint_every": t.checkpoint_every, "train.keep_checkpoints": t.keep_checkpoints,
        "train.log_every": t.log_every, "train.threads": 1 if t.threads is None else t.threads, "model.z_dim": cfg.model.z_dim, "model.width": cfg.model.width,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")
    if t.epochs < 0:
        raise ConfigError(f"train.epochs must be 0 or more, got {t.epochs}")
    if t.steps is not None and t.steps < 1:
        raise ConfigError(f"train.steps must be at least 1, got {t.steps}")
    if t.minutes is not None and t.minutes <= 0:
        raise ConfigError(f"train.minutes must be positive, got {t.minutes}")
    if t.eval_every < 0:
        raise ConfigError(f"train.eval_every must be 0 (off) or more epochs, got {t.eval_every}")
    if t.eval_num < 10:
        raise ConfigError(f"train.eval_num must be at least 10 samples, got {t.eval_num}")
    if not 0.0 <= t.augment_p <= 1.0:
        raise ConfigError(f"train.augment_p must be in [0, 1], got {t.augment_p}")
    _validate_ada(cfg)
    if isinstance(cfg.model.conditional, str) and cfg.model.conditional != "auto":
        raise ConfigError(f"model.conditional must be true, false or auto, got '{cfg.model.conditional}'")
    if t.freeze_d < 0:
        raise ConfigError(f"train.freeze_d must be 0 (off) or more of D's layers, got {t.freeze_d}")
    if t.extra_d_every < 0:
        raise ConfigError(f"train.extra_d_every must be 0 or more, got {t.extra_d_every}")
    choices = {
        "train.update": (t.update, ("alternating", "simultaneous")),
        "train.device": (t.device, ("cpu", "cuda", "auto")),
        "train.precision": (t.precision, ("fp32", "bf16", "fp16", "auto")),
        "train.conv_forms": (t.conv_forms, ("measure", "rules")),
        "train.extra_d_on": (t.extra_d_on, ("last", "first")),
        "train.extra_d_batch": (t.extra_d_batch, ("next", "same")),
        "train.d_update": (t.d_update, ("joint", "split")),
        "train.g_mode_for_d": (t.g_mode_for_d, ("train", "eval")),
        "train.d_bn_for_g": (t.d_bn_for_g, ("batch", "running")),
        "train.fake_batch": (t.fake_batch, ("real", "full")),
        "data.reader": (cfg.data.reader, ("auto", "memory", "stream")),
        "model.noise": (cfg.model.noise, ("normal", "uniform")),
        "model.padding": (cfg.model.padding, ("tf", "symmetric")),
        "g_optim.name": (cfg.g_optim.name, tuple(OPTIMIZERS.names())),
        "d_optim.name": (cfg.d_optim.name, tuple(OPTIMIZERS.names())),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got '{value}'{did_you_mean(value, allowed)}")
    alternating_only = {"train.d_update=split": t.d_update == "split", "train.g_mode_for_d=eval": t.g_mode_for_d == "eval",
                        "train.g_reuses_d_latents=true": t.g_reuses_d_latents, "train.g_before_d=true": t.g_before_d,
                        "train.d_bn_for_g=running": t.d_bn_for_g == "running"}
    for setting, on in alternating_only.items():
        if on and t.update != "alternating":
            raise ConfigError(f"{setting} applies to separate D and G updates; it needs train.update=alternating")
    if t.fake_batch == "full" and cfg.loss.name == "wgan-gp":
        raise ConfigError("train.fake_batch=full can make the fake batch larger than the real one; loss.name=wgan-gp "
                          "pairs them one to one (use train.fake_batch=real)")
    if t.g_reuses_d_latents and t.g_before_d:
        raise ConfigError("train.g_reuses_d_latents=true needs the step's D update before G's; set train.g_before_d=false")
    if t.d_update == "split" and cfg.loss.name == "wgan-gp":
        raise ConfigError("train.d_update=split updates D on one batch at a time; the gradient penalty of loss.name=wgan-gp "
                          "needs both (use train.d_update=joint)")
    from ganforge.families import FAMILIES  # here: the families import this module

    FAMILIES.get(cfg.family)  # one-line error naming the valid ones
    _validate_info(cfg)
    _validate_stack(cfg)
    _validate_translators(cfg)
    if t.precision == "fp16" and t.device == "cpu":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 (or auto) on CPU")
    if t.ema is not None and not 0.0 < t.ema < 1.0:
        raise ConfigError(f"train.ema must be between 0 and 1 (e.g. 0.999), got {t.ema}")
    for key, opt in (("g_optim", cfg.g_optim), ("d_optim", cfg.d_optim)):
        if opt.lr <= 0:
            raise ConfigError(f"{key}.lr must be positive, got {opt.lr}")
        if len(opt.betas) != 2 or not all(0.0 <= b < 1.0 for b in opt.betas):
            raise ConfigError(f"{key}.betas must be two numbers in [0, 1), got {opt.betas}")
    if cfg.data.image_size is not None and cfg.data.image_size < 4:
        raise ConfigError(f"data.image_size must be at least 4, got {cfg.data.image_size}")
    if cfg.data.channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1 or 3, got {cfg.data.channels}")
    if not 0.0 <= cfg.loss.label_smoothing < 0.5:
        raise ConfigError(f"loss.label_smoothing must be in [0, 0.5), got {cfg.loss.label_smoothing}")
    if not 0.0 <= cfg.model.d_dropout < 1.0:
        raise ConfigError(f"model.d_dropout must be in [0, 1), got {cfg.model.d_dropout}")
    if cfg.model.attention < 0:
        raise ConfigError(f"model.attention must be 0 (off) or a feature-map side, got {cfg.model.attention}")
    if cfg.model.attention and cfg.model.arch != "resnet":
        raise ConfigError(f"model.attention is the resnet architecture's self-attention; set model.arch=resnet "
                          f"or model.attention=0 (got model.arch={cfg.model.arch})")


# Objectives whose D decides "real" where its raw output is positive: ADA's r_t = E[sign D(real)] measures how
# sure D is of the reals only there. lsgan's decision is at 0.5 (targets 0 and 1); a Wasserstein critic has no
# decision at all (adding a constant to D changes none of its losses).
ADA_LOSSES = ("ns", "minimax", "hinge")
NO_AUGMENT = ("", "off", "none")


def _validate_ada(cfg: RunConfig) -> None:
    """ADA's settings (``train.ada_*``): a target in (0, 1), a transform policy to apply, a loss whose sign is D's
    decision."""
    t = cfg.train
    if t.ada_kimg <= 0:
        raise ConfigError(f"train.ada_kimg must be positive (thousands of images for p to go 0 -> 1), got {t.ada_kimg}")
    if t.ada_interval < 1:
        raise ConfigError(f"train.ada_interval must be at least 1 D update, got {t.ada_interval}")
    if t.ada_target is None:
        return
    if not 0.0 < t.ada_target < 1.0:
        raise ConfigError(f"train.ada_target must be in (0, 1) (the paper: 0.6), got {t.ada_target}")
    if t.augment.strip() in NO_AUGMENT:
        raise ConfigError("train.ada_target adapts the probability of train.augment's transforms, which is off; set "
                          "train.augment (e.g. translation,cutout, or auto)")
    if cfg.loss.name not in ADA_LOSSES:
        raise ConfigError(f"train.ada_target measures overfitting as E[sign D(real)], which means nothing for loss "
                          f"'{cfg.loss.name}' (its D does not decide at 0); use loss.name one of {', '.join(ADA_LOSSES)}")


# InfoGAN's D loss is an objective plus the codes' term; the objectives below need nothing more from D.
INFOGAN_LOSSES = ("ns", "minimax", "lsgan", "hinge")


def _validate_info(cfg: RunConfig) -> None:
    """InfoGAN's codes (``info.*``) and what family infogan can train; the networks of ``model.arch=infogan``
    (a Q head on D's body) belong to that family alone."""
    info, infogan = cfg.info, cfg.family == "infogan"
    if cfg.model.arch == "infogan" and not infogan:
        raise ConfigError("model.arch=infogan has a Q head for InfoGAN's latent codes; set family=infogan")
    if not infogan:
        return
    if cfg.model.arch != "infogan":
        raise ConfigError(f"family infogan trains model.arch=infogan (D with a Q head), got '{cfg.model.arch}'")
    if cfg.model.conditional is True:
        raise ConfigError("family infogan is unsupervised: its categorical code takes the place of labels; "
                          "set model.conditional=false")
    for i, k in enumerate(info.categorical):
        if k < 2:
            raise ConfigError(f"info.categorical[{i}] must have at least 2 values, got {k}")
    if info.continuous < 0:
        raise ConfigError(f"info.continuous must be 0 or more codes, got {info.continuous}")
    if not info.categorical and not info.continuous:
        raise ConfigError("family infogan needs at least one latent code: set info.categorical (e.g. [10]) "
                          "or info.continuous (e.g. 2)")
    for key in ("lambda_cat", "lambda_cont"):
        if getattr(info, key) < 0:
            raise ConfigError(f"info.{key} must be 0 or more, got {getattr(info, key)}")
    if cfg.loss.name not in INFOGAN_LOSSES:
        raise ConfigError(f"family infogan trains with loss.name one of {', '.join(INFOGAN_LOSSES)}, got "
                          f"'{cfg.loss.name}' (its penalty or weight clipping is not wired for D's Q head)")
    if cfg.loss.r1_weight > 0 or cfg.loss.clip is not None:
        raise ConfigError("family infogan has no R1 penalty or weight clipping; set loss.r1_weight=0 and loss.clip=null")
    if cfg.train.update != "alternating":
        raise ConfigError("family infogan has no simultaneous update; use train.update=alternating")


STACK_SCHEDULES = ("staged", "joint")
STACKGAN_LOSSES = ("ns", "minimax", "lsgan", "hinge")


def _validate_stack(cfg: RunConfig) -> None:
    """StackGAN's stages (``stack.*``) and what family stackgan can train."""
    stack = cfg.stack
    if cfg.model.arch == "stackgan" and cfg.family != "stackgan":
        raise ConfigError("model.arch=stackgan is StackGAN's two-stage networks; set family=stackgan")
    if cfg.family != "stackgan":
        return
    if cfg.model.arch != "stackgan":
        raise ConfigError(f"family stackgan trains model.arch=stackgan (two stages of G and D), got '{cfg.model.arch}'")
    if stack.schedule not in STACK_SCHEDULES:
        raise ConfigError(f"stack.schedule must be one of {', '.join(STACK_SCHEDULES)}, got '{stack.schedule}'")
    if stack.factor not in (2, 4):
        raise ConfigError(f"stack.factor must be 2 or 4 (stage II draws 2-4x stage I's size), got {stack.factor}")
    for key in ("embed_dim", "c_dim"):
        if getattr(stack, key) < 1:
            raise ConfigError(f"stack.{key} must be at least 1, got {getattr(stack, key)}")
    if stack.kl_weight < 0:
        raise ConfigError(f"stack.kl_weight must be 0 or more, got {stack.kl_weight}")
    if stack.stage1_epochs < 0:
        raise ConfigError(f"stack.stage1_epochs must be 0 or more, got {stack.stage1_epochs}")
    if cfg.loss.name not in STACKGAN_LOSSES:
        raise ConfigError(f"family stackgan trains with loss.name one of {', '.join(STACKGAN_LOSSES)}, got '{cfg.loss.name}'")
    if cfg.loss.r1_weight > 0 or cfg.loss.clip is not None:
        raise ConfigError("family stackgan has no R1 penalty or weight clipping; set loss.r1_weight=0 and loss.clip=null")
    if cfg.train.update != "alternating":
        raise ConfigError("family stackgan has no simultaneous update; use train.update=alternating")


TRANSLATOR_ARCHS = ("pix2pix", "cyclegan")         # each the family of the same name
TRANSLATOR_LOSSES = ("ns", "lsgan")
PAIR_MAKERS = ("sr4", "inpaint", "inpaint-centre", "colorize", "edges")  # data/pairs.py (without importing torch)


def _validate_translators(cfg: RunConfig) -> None:
    """Translation data (``data.pairs``, ``data.unpaired``, ``data.domains``) and what families pix2pix and cyclegan
    train (``pix.*``, ``cycle.*``)."""
    d = cfg.data
    if d.pairs is not None and d.pairs not in PAIR_MAKERS:
        raise ConfigError(f"data.pairs must be one of {', '.join(PAIR_MAKERS)}, got '{d.pairs}'{did_you_mean(d.pairs, PAIR_MAKERS)}")
    if cfg.model.arch in TRANSLATOR_ARCHS and cfg.family != cfg.model.arch:
        raise ConfigError(f"model.arch={cfg.model.arch} is {cfg.model.arch}'s networks; set family={cfg.model.arch}")
    if cfg.family not in TRANSLATOR_ARCHS:
        for key, on in (("data.pairs", d.pairs is not None), ("data.unpaired", d.unpaired), ("data.domains", bool(d.domains))):
            if on:
                raise ConfigError(f"{key} makes translation data; family '{cfg.family}' draws from latents "
                                  f"(set family=pix2pix or cyclegan, or drop {key})")
        return
    if cfg.model.arch != cfg.family:
        raise ConfigError(f"family {cfg.family} trains model.arch={cfg.family}, got '{cfg.model.arch}'")
    if cfg.model.conditional is True:
        raise ConfigError(f"family {cfg.family} is conditioned on its source image, not on labels; set model.conditional=false")
    if cfg.train.update != "alternating":
        raise ConfigError(f"family {cfg.family} has no simultaneous update; use train.update=alternating")
    if cfg.train.eval_every:
        raise ConfigError(f"family {cfg.family} is scored on its test images by ganforge eval RUN after training; "
                          "set train.eval_every=0")
    if cfg.train.augment not in ("", "off"):
        raise ConfigError(f"family {cfg.family} has no DiffAugment form (it would shift a source and its output "
                          "apart); set train.augment=off")
    if cfg.loss.r1_weight > 0 or cfg.loss.clip is not None:
        raise ConfigError(f"family {cfg.family} has no R1 penalty or weight clipping; set loss.r1_weight=0 and loss.clip=null")
    if cfg.loss.name not in TRANSLATOR_LOSSES:
        raise ConfigError(f"family {cfg.family} trains with loss.name one of {', '.join(TRANSLATOR_LOSSES)}, got '{cfg.loss.name}'")
    if cfg.family == "cyclegan":
        _validate_cycle(cfg)
        return
    if d.unpaired or d.domains:
        raise ConfigError("family pix2pix learns from pairs; data.unpaired and data.domains are CycleGAN's (set "
                          "family=cyclegan, or drop them)")
    if d.pairs is None and not d.name.startswith("paired:"):
        raise ConfigError(f"family pix2pix learns source -> target pairs; data set '{d.name}' has none: set data.pairs "
                          f"({', '.join(PAIR_MAKERS)}) or use --dataset paired:PATH")
    p = cfg.pix
    for key in ("l1_weight", "adv_weight"):
        if getattr(p, key) < 0:
            raise ConfigError(f"pix.{key} must be 0 or more, got {getattr(p, key)}")
    if p.l1_weight == 0 and p.adv_weight == 0:
        raise ConfigError("pix.l1_weight and pix.adv_weight are both 0: G would learn nothing; set one of them")
    if not 1 <= p.d_layers <= 5:
        raise ConfigError(f"pix.d_layers must be 1 to 5 (3: the paper's 70x70 patches), got {p.d_layers}")
    if not 0 <= p.dropout < 1:
        raise ConfigError(f"pix.dropout must be in [0, 1), got {p.dropout}")


def _validate_cycle(cfg: RunConfig) -> None:
    d, c = cfg.data, cfg.cycle
    if not d.domains and not (d.pairs and d.unpaired) and not d.name.startswith("paired:"):
        raise ConfigError(f"family cyclegan learns between two domains; data set '{d.name}' gives none: set data.domains "
                          "(two classes, e.g. sneaker,ankle-boot), data.pairs with data.unpaired=true, or --dataset "
                          "paired:PATH")
    for key in ("cycle_weight", "identity"):
        if getattr(c, key) < 0:
            raise ConfigError(f"cycle.{key} must be 0 or more, got {getattr(c, key)}")
    if c.pool_size < 0:
        raise ConfigError(f"cycle.pool_size must be 0 or more images, got {c.pool_size}")
    if c.g_arch not in ("resnet", "unet"):
        raise ConfigError(f"cycle.g_arch must be resnet or unet, got '{c.g_arch}'")
    if c.blocks < 0:
        raise ConfigError(f"cycle.blocks must be 0 or more, got {c.blocks}")
    if not 1 <= c.d_layers <= 5:
        raise ConfigError(f"cycle.d_layers must be 1 to 5 (3: the paper's 70x70 patches), got {c.d_layers}")


def validate_new_run(cfg: RunConfig) -> None:
    """Settings that would be silently ignored or would train something other than asked: refused for new
    configs (presets and overrides); a stored run's config is still read, sampled and evaluated as it was."""
    loss = cfg.loss
    if cfg.model.labels_after_conv1 and cfg.model.arch != "cgan-conv":
        raise ConfigError(f"model.labels_after_conv1 applies to model.arch=cgan-conv only, got '{cfg.model.arch}'; drop it")
    if cfg.family != "infogan" and cfg.info != InfoConfig():
        raise ConfigError(f"info.* sets InfoGAN's latent codes; family '{cfg.family}' has none (set family=infogan "
                          "or drop the info.* settings)")
    if cfg.family != "cyclegan" and cfg.cycle != CycleConfig():
        raise ConfigError(f"cycle.* sets CycleGAN's losses and networks; family '{cfg.family}' has none (set "
                          "family=cyclegan or drop the cycle.* settings)")
    if cfg.train.lr_decay is not None and not 0 < cfg.train.lr_decay <= 1:
        raise ConfigError(f"train.lr_decay is the share of the epochs over which the learning rates fall to 0, in (0, 1] "
                          f"(CycleGAN: 0.5), got {cfg.train.lr_decay}")
    if cfg.family != "pix2pix" and cfg.pix != PixConfig():
        raise ConfigError(f"pix.* sets pix2pix's losses and networks; family '{cfg.family}' has none (set family=pix2pix "
                          "or drop the pix.* settings)")
    if cfg.family != "stackgan" and cfg.stack != StackConfig():
        raise ConfigError(f"stack.* sets StackGAN's stages; family '{cfg.family}' has none (set family=stackgan "
                          "or drop the stack.* settings)")
    if cfg.family == "stackgan" and cfg.stack.schedule == "staged":
        t = cfg.train
        if cfg.stack.stage1_epochs < 1:
            raise ConfigError("stack.schedule=staged trains stage II on a trained stage I: set stack.stage1_epochs "
                              "to 1 or more (or stack.schedule=joint)")
        if t.steps is None and cfg.stack.stage1_epochs >= t.epochs:
            raise ConfigError(f"stack.stage1_epochs={cfg.stack.stage1_epochs} leaves none of the run's {t.epochs} "
                              "epochs for stage II; raise train.epochs (--epochs) or lower stack.stage1_epochs")
    if loss.clip is not None and loss.clip <= 0:
        raise ConfigError(f"loss.clip must be positive (e.g. 0.01), got {loss.clip}")
    t = cfg.train
    if t.ada_target is not None and t.augment_p != TrainConfig.augment_p:
        raise ConfigError(f"train.augment_p={t.augment_p} is a fixed probability and train.ada_target adapts it from 0; "
                          "drop one of them")
    for key in ("ada_kimg", "ada_interval"):
        if t.ada_target is None and getattr(t, key) != getattr(TrainConfig, key):
            raise ConfigError(f"train.{key} tunes ADA, which is off; set train.ada_target (e.g. 0.6) or drop it")
    if t.freeze_d and not t.init_from:
        raise ConfigError(f"train.freeze_d={t.freeze_d} keeps D's first layers as a trained run left them; start from "
                          "one with --init-from RUN (train.init_from) or drop it")
    if loss.label_smoothing > 0 and loss.name in UNSMOOTHABLE_LOSSES:
        raise ConfigError(f"loss.label_smoothing has no effect on loss '{loss.name}' (no real-target label to smooth; "
                          f"it applies to {', '.join(SMOOTHABLE_LOSSES)}); drop it")
    if loss.name == "wgan" and loss.clip is None and not loss.allow_unclipped:
        raise ConfigError("loss 'wgan' without loss.clip trains an unconstrained critic: set loss.clip=0.01 "
                          "(Arjovsky et al.) or use loss.name=wgan-gp; pass loss.allow_unclipped=true to train "
                          "without clipping anyway (e.g. with model.spectral_norm=true)")
