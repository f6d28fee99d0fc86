"""Fine-tuning: a new run that starts from another run's weights (``train.init_from``), and FreezeD.

    ganforge train --preset digits-dcgan --dataset folder:~/few --init-from runs/big train.freeze_d=2

The new run takes the source's G, D and EMA weights (its newest checkpoint, or the checkpoint file given),
with fresh optimisers at step 0, epoch 0; a source without EMA gives the new EMA its G. Networks, image size
and family must match the source's: the first field that differs is a one-line error.

FreezeD (Mo et al. 2020, "Freeze the Discriminator"): ``train.freeze_d=N`` keeps D's first N weight layers
(``models.base.d_layers``) as the source trained them. They take no gradient and are not in D's optimiser,
so neither Adam's moments nor weight decay nor WGAN's clipping can move them.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ganforge.config import from_saved
from ganforge.errors import CheckpointError, ConfigError
from ganforge.models.base import d_layers
from ganforge.rundir import latest_checkpoint, load_checkpoint

# Config fields that shape the networks' weights (or what the same weights compute), beyond model.*; a fine-tuned
# run must keep them. model.d_dropout alone may change: dropout has no weights.
FREE_MODEL_FIELDS = ("d_dropout",)
FAMILY_FIELDS = {"infogan": ("info", ("categorical", "continuous")), "stackgan": ("stack", ("factor", "embed_dim", "c_dim")),
                 "pix2pix": ("pix", ("d_layers",)), "cyclegan": ("cycle", ("g_arch", "blocks", "d_layers"))}


def init_point(source: str | Path) -> dict:
    """The checkpoint ``--init-from SOURCE`` names: a checkpoint file, or a run directory's newest checkpoint;
    its ``path`` entry says which file it was."""
    path = Path(source)
    if path.is_file():
        state = load_checkpoint(path)
        state["path"] = str(path)
        return state
    if not path.is_dir():
        raise CheckpointError(f"--init-from {source}: no such run directory or checkpoint file; give a run's folder "
                              "or one of its checkpoints/ckpt_*.pt")
    try:
        return latest_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(f"--init-from {source}: {err}") from None


def check_compatible(source: str, state: dict, cfg, spec) -> None:
    """Refuse, naming the first field that differs, a source run whose networks or data shape are not this run's."""
    there = from_saved(state["config"]).to_dict()
    here = cfg.to_dict()
    fields = [("family", None)] + [("model", k) for k in here["model"] if k not in FREE_MODEL_FIELDS]
    if here["family"] in FAMILY_FIELDS:
        section, keys = FAMILY_FIELDS[here["family"]]
        fields += [(section, k) for k in keys]
    for section, key in fields:
        a, b = (there[section], here[section]) if key is None else (there[section][key], here[section][key])
        if a != b:
            _mismatch(source, section if key is None else f"{section}.{key}", a, b)
    data = state.get("data") or {}
    shape_there, shape_here = list(data.get("shape", [])), list(spec.shape)
    if len(shape_there) == 3 and len(shape_here) == 3:
        if shape_there[0] != shape_here[0]:
            _mismatch(source, "data.channels", shape_there[0], shape_here[0])
        if shape_there[1:] != shape_here[1:]:
            _mismatch(source, "data.image_size", "x".join(map(str, shape_there[1:])), "x".join(map(str, shape_here[1:])))
    elif shape_there != shape_here:
        _mismatch(source, "the data's sample shape", tuple(shape_there), tuple(shape_here))
    if here["model"]["conditional"] and data.get("num_classes", 0) != spec.num_classes:
        _mismatch(source, "the data set's number of classes", data.get("num_classes", 0), spec.num_classes)
    source_there = data.get("source_shape")
    if (tuple(source_there) if source_there else None) != spec.source_shape:
        _mismatch(source, "the translation source's shape", source_there and tuple(source_there), spec.source_shape)


def _mismatch(source: str, field: str, there, here) -> None:
    raise ConfigError(f"--init-from {source}: {field} is {there} there, {here} here; fine-tune with the source run's "
                      "networks and image size (or train from scratch)")


def load_weights(source: str, state: dict, G: nn.Module, D: nn.Module, ema) -> None:
    """The source's G, D and EMA weights into this run's modules, strictly; EMA from G where the source has none."""
    for name, net, weights in (("G", G, state["G"]), ("D", D, state["D"])):
        _load_strict(source, name, net, weights)
    if ema is not None:
        _load_strict(source, "G_ema", ema.shadow, state.get("G_ema") or state["G"])


def _load_strict(source: str, name: str, net: nn.Module, weights: dict) -> None:
    missing, unexpected = _key_difference(net.state_dict(), weights)
    if missing or unexpected:
        what = "; ".join(part for part in (missing and f"missing {', '.join(missing[:3])}",
                                           unexpected and f"unexpected {', '.join(unexpected[:3])}") if part)
        raise ConfigError(f"--init-from {source}: its {name} does not fit this run's ({what}); fine-tune with the "
                          "source run's networks")
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err).splitlines()[0])
        raise ConfigError(f"--init-from {source}: its {name} does not fit this run's ({first[:160]}); fine-tune with "
                          "the source run's networks") from None


def _key_difference(mine: dict, theirs: dict) -> tuple[list[str], list[str]]:
    return sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))


def freeze_d_layers(D: nn.Module, n: int, arch: str) -> list[str]:
    """FreezeD: D's first ``n`` weight layers take no gradient from now on; the names of their modules."""
    if n == 0:
        return []
    layers = d_layers(D)
    if n >= len(layers):
        raise ConfigError(f"train.freeze_d={n}, but D of model.arch={arch} has {len(layers)} weight layers; freeze at "
                          f"most {len(layers) - 1} (something of D must train)")
    for _, params in layers[:n]:
        for p in params:
            p.requires_grad_(False)
    return [name for name, _ in layers[:n]]
