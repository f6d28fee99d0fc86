"""``ganforge export``: a run's generator as a file that runs without ganforge (TorchScript or ONNX).

The exported generator has the plain calling convention: it takes named tensors with a dynamic batch
size (``z`` (B, z_dim) alone for an unconditional model; ``z`` and ``y`` (B,) int64 classes for a
conditional one; ``z`` and ``codes`` (B, number of codes) for InfoGAN, the categorical codes' values as
numbers then the continuous codes) and returns NCHW images in [-1, 1] (or (B, 2) points): the values
ganforge's own ``Sampler.sample(n, z=z, ...)`` draws for the same inputs. Each family says what its
inputs are (``Family.export_inputs``, ``export_forward``, ``export_meta``); this module traces the
generator in inference mode with torch.nn's own layer forms (``ops.reference_forms``), so the CPU
fast paths export as the plain operations they equal.

What a user needs to drive the file is stored in it as JSON (``ganforge.json``: inputs with their
shapes, dtypes and distributions, the classes and their names, InfoGAN's codes, the output's shape,
range and layout, the run it came from): in TorchScript as an extra file
(``torch.jit.load(path, _extra_files={"ganforge.json": ""})``), in ONNX as the model's metadata
property ``ganforge`` (``onnx.load(path).metadata_props``; onnxruntime: ``session.get_modelmeta()
.custom_metadata_map``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch import nn

from ganforge.errors import ConfigError, GanforgeError
from ganforge.io import atomic_path

FORMATS = {"torchscript": (".pt", ".ts", ".pth"), "onnx": (".onnx",), "web": (".html",)}
META_KEY = "ganforge.json"


class _Exported(nn.Module):
    """The family's generator behind positional inputs named ``names`` (one or two)."""

    def __init__(self, family, G: nn.Module, names: list[str]):
        super().__init__()
        self.family, self.G, self.names = family, G, list(names)

    def _call(self, *args):
        return self.family.export_forward(self.G, dict(zip(self.names, args)))


class _One(_Exported):
    def forward(self, a):
        return self._call(a)


class _Two(_Exported):
    def forward(self, a, b):
        return self._call(a, b)


def exported_module(sampler) -> tuple[nn.Module, dict[str, torch.Tensor], dict]:
    """(module, example inputs by name, metadata) for a ``Sampler``'s generator."""
    family = sampler.family
    examples = family.export_inputs(2, torch.Generator().manual_seed(0))
    if len(examples) not in (1, 2):
        raise GanforgeError(f"family '{family.name}' has {len(examples)} generator inputs; export takes one or two")
    module = (_One if len(examples) == 1 else _Two)(family, sampler.G, list(examples)).eval()
    out_shape = list(family.spec.shape)
    family_meta = family.export_meta()
    meta = {
        "format": "ganforge-generator/1",
        "family": family.name,
        "inputs": family_meta["inputs"],
        "output": {"name": "images" if len(out_shape) == 3 else "points", "shape": ["B", *out_shape],
                   "dtype": "float32", "range": [-1.0, 1.0], "layout": "NCHW" if len(out_shape) == 3 else "N2",
                   "to_uint8": "round((clamp(x, -1, 1) + 1) * 127.5)"},
        **{k: v for k, v in family_meta.items() if k != "inputs"},
    }
    return module, examples, meta


def _trace(module: nn.Module, examples: dict[str, torch.Tensor]):
    """TorchScript by tracing (torch 2.13 calls torch.jit deprecated; its files still load in C++ and Python
    without the model's code, which is what this format is for)."""
    import warnings

    from ganforge.ops import reference_forms

    with torch.no_grad(), reference_forms(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation, and TracerWarning on shape checks that hold for any batch
        return torch.jit.trace(module, tuple(examples.values()), check_trace=False)


def _onnx_bytes(module: nn.Module, examples: dict[str, torch.Tensor], output: str) -> bytes:
    try:
        import onnx  # noqa: F401  (the exporter writes through it)
        import onnxscript  # noqa: F401
    except ImportError:
        raise GanforgeError("ONNX export needs the onnx and onnxscript packages: pip install 'ganforge[export]'") from None
    import contextlib
    import logging
    import warnings

    from ganforge.ops import reference_forms

    batch = torch.export.Dim("batch", min=1)
    buf = io.BytesIO()
    quiet = contextlib.redirect_stdout(io.StringIO())  # the exporter prints its progress
    with torch.no_grad(), reference_forms(), warnings.catch_warnings(), quiet:
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(module, tuple(examples.values()), input_names=list(examples),
                                    output_names=[output], dynamic_shapes=tuple({0: batch} for _ in examples),
                                    dynamo=True, verbose=False, optimize=True)
        program.save(buf)
    return buf.getvalue()


def onnx_model(module: nn.Module, examples: dict[str, torch.Tensor], meta: dict):
    """The ONNX model (``onnx.ModelProto``) of an exported module, ``meta`` stored under the key ``ganforge``."""
    import onnx

    model = onnx.load_from_string(_onnx_bytes(module, examples, meta["output"]["name"]))
    entry = model.metadata_props.add()
    entry.key, entry.value = "ganforge", json.dumps(meta, indent=1)
    return model


def export_generator(run: str | Path, fmt: str, out: str | Path, force: bool = False, ort: str | Path | None = None,
                     log=print) -> dict:
    """Write the generator of ``run``'s newest checkpoint (EMA weights when kept) to ``out`` as ``fmt``
    (``torchscript``, ``onnx``, or ``web``: a page that runs the ONNX file with onnxruntime-web, ``ort`` a local
    copy of it); returns the metadata stored with it."""
    from ganforge.rundir import latest_checkpoint, load_checkpoint
    from ganforge.sampler import sampler_from_checkpoint

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    out = Path(out)
    if out.suffix.lower() not in FORMATS[fmt]:
        raise ConfigError(f"--out {out}: a {fmt} file ends in {' or '.join(FORMATS[fmt])}")
    if out.is_dir():
        raise GanforgeError(f"--out {out} is a folder; name the file to write")
    if out.exists() and not force:
        raise GanforgeError(f"{out} already exists; choose another --out or pass --force to replace it")
    if ort is not None and fmt != "web":
        raise ConfigError("--ort gives onnxruntime-web for --format web; drop it")
    path = Path(run)
    if not path.exists():
        raise GanforgeError(f"{path} does not exist; give a run directory or a checkpoint file")
    state = load_checkpoint(path) if path.is_file() else latest_checkpoint(path)
    sampler = sampler_from_checkpoint(state)
    sampler.use_stage(None)
    module, examples, meta = exported_module(sampler)
    meta.update({"preset": state["config"].get("preset"), "data": state["config"]["data"]["name"],
                 "step": state["step"], "epoch": state["epoch"],
                 "weights": "G_ema" if state.get("G_ema") is not None else "G"})
    text = json.dumps(meta, indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "web":
        from ganforge.web import ort_web, page

        source, wasm, version = ort_web(ort, log=log)  # before the export: a missing runtime fails fast
        html = page(onnx_model(module, examples, meta).SerializeToString(), meta, source, wasm, version)
        with atomic_path(out) as tmp:
            tmp.write_text(html, encoding="utf-8")
    elif fmt == "torchscript":
        traced = _trace(module, examples)
        import warnings

        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(traced, str(tmp), _extra_files={META_KEY: text})
    else:
        import onnx

        with atomic_path(out) as tmp:
            onnx.save(onnx_model(module, examples, meta), str(tmp))
    return meta


def read_metadata(path: str | Path) -> dict:
    """The ``ganforge.json`` stored in an exported file."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props["ganforge"])
    import warnings

    extra = {META_KEY: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra[META_KEY])
