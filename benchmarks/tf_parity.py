"""Function parity with TensorFlow: the seeds' Keras models and ganforge's, given identical weights.

Seed 000 (the TensorFlow DCGAN tutorial), seed 001 (the book's CIFAR-10 DCGAN) and seed 003 (a
Keras DCGAN) are written in TensorFlow with ``padding='same'``. This script builds each document's
G and D in Keras, gives every weight a random value (batch-norm statistics included), runs fixed
inputs through them, loads the same weights into ganforge's models and prints the largest
difference of G(z) and D(x), in inference mode and (for G, and for a D without dropout) in
training mode, where batch norm uses the batch's statistics. Both libraries run once in float64,
where equal functions agree to ~1e-13 (the pass criterion, ``--tolerance``), and once in
float32, where two summation orders of up to 6,400 products per output, through four layers,
differ by rounding (reported). The rows marked ``symmetric`` load the weights into the padding
that ganforge 0.1 used (PyTorch's), to show what the fix changed.

TensorFlow runs in its own virtual environment, never the project's:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    .venv/bin/python benchmarks/tf_parity.py --tf-python /tmp/tfvenv/bin/python

The Keras half (``--keras OUT.npz``) imports only TensorFlow and NumPy; the torch half imports
ganforge. Exit status 1 when a float64 ``tf`` row exceeds ``--tolerance`` (1e-9).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

BATCH = 8
# name -> (ganforge preset, image shape (H, W, C), D has dropout)
MODELS = {"seed000": ("mnist-dcgan", (28, 28, 1), True),
          "seed001-cifar": ("cifar10-dcgan", (32, 32, 3), False),
          "seed003": ("mnist-dcgan-keras", (28, 28, 1), True)}


# --------------------------------------------------------------------------------------------
# The Keras half: the documents' models, written as the documents write them

def keras_models(name: str):
    import tensorflow as tf
    from tensorflow.keras import layers as L

    if name == "seed000":  # the TensorFlow DCGAN tutorial
        G = tf.keras.Sequential([
            L.Input((100,)), L.Dense(7 * 7 * 256, use_bias=False), L.BatchNormalization(), L.LeakyReLU(),
            L.Reshape((7, 7, 256)),
            L.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False), L.BatchNormalization(), L.LeakyReLU(),
            L.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False), L.BatchNormalization(), L.LeakyReLU(),
            L.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh")])
        D = tf.keras.Sequential([
            L.Input((28, 28, 1)), L.Conv2D(64, 5, strides=2, padding="same"), L.LeakyReLU(), L.Dropout(0.3),
            L.Conv2D(128, 5, strides=2, padding="same"), L.LeakyReLU(), L.Dropout(0.3),
            L.Flatten(), L.Dense(1)])
    elif name == "seed001-cifar":  # the book's tf.layers model, in Keras layers with the same defaults
        G = tf.keras.Sequential([
            L.Input((100,)), L.Dense(8 * 8 * 128), L.Reshape((8, 8, 128)), L.BatchNormalization(), L.ReLU(),
            L.Conv2DTranspose(256, 5, strides=2, padding="same"), L.BatchNormalization(), L.ReLU(),
            L.Conv2DTranspose(256, 5, strides=2, padding="same"), L.BatchNormalization(), L.ReLU(),
            L.Conv2DTranspose(256, 5, strides=1, padding="same"), L.BatchNormalization(), L.ReLU(),
            L.Conv2DTranspose(3, 7, strides=1, padding="same", activation="tanh")])
        D = tf.keras.Sequential([
            L.Input((32, 32, 3)), L.Conv2D(64, 5, strides=2, padding="same"), L.LeakyReLU(0.2),
            L.Conv2D(128, 5, strides=2, padding="same"), L.BatchNormalization(), L.LeakyReLU(0.2),
            L.Conv2D(256, 5, strides=1, padding="same"), L.BatchNormalization(), L.LeakyReLU(0.1),
            L.Flatten(), L.Dense(1)])
    else:  # seed 003: activation before batch norm; the sigmoid of its last Dense lives in the loss
        G = tf.keras.Sequential([
            L.Input((100,)), L.Dense(7 * 7 * 256, activation="relu"), L.BatchNormalization(), L.Reshape((7, 7, 256)),
            L.Conv2DTranspose(128, 5, strides=1, padding="same", activation="relu"), L.BatchNormalization(),
            L.Conv2DTranspose(64, 5, strides=2, padding="same", activation="relu"), L.BatchNormalization(),
            L.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")])
        D = tf.keras.Sequential([
            L.Input((28, 28, 1)), L.Conv2D(64, 5, strides=2, padding="same"), L.LeakyReLU(0.2), L.Dropout(0.3),
            L.Conv2D(128, 5, strides=2, padding="same"), L.BatchNormalization(), L.LeakyReLU(0.2), L.Dropout(0.3),
            L.Flatten(), L.Dense(1)])
    return G, D


def _randomise(model, rng) -> list[list[np.ndarray]]:
    """Random values for every weight (biases and batch-norm statistics too); returns them per layer."""
    out = []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kind = type(layer).__name__
        if kind == "BatchNormalization":  # gamma, beta, moving mean, moving variance
            new = [rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(0, 0.2, w.shape)
                   for i, w in enumerate(weights)]
        else:  # kernel (Glorot-scaled), bias
            fan = np.prod(weights[0].shape[:-1])
            new = [rng.normal(0, 1 / np.sqrt(fan), w.shape) if i == 0 else rng.normal(0, 0.1, w.shape)
                   for i, w in enumerate(weights)]
        new = [w.astype(weights[0].dtype) for w in new]
        layer.set_weights(new)
        out.append([kind, *new])
    return out


def keras_side(out: str, dtype: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.backend.set_floatx(dtype)
    rng = np.random.default_rng(0)
    arrays = {"tensorflow": np.array(tf.__version__)}
    for name, (_, shape, _) in MODELS.items():
        G, D = keras_models(name)
        for net, model in (("G", G), ("D", D)):
            for i, (kind, *weights) in enumerate(_randomise(model, rng)):
                arrays[f"{name}/{net}/w{i:02d}/{kind}"] = np.array(len(weights))
                for j, w in enumerate(weights):
                    arrays[f"{name}/{net}/w{i:02d}/{j}"] = w
        z = rng.normal(size=(BATCH, 100)).astype(dtype)
        x = rng.uniform(-1, 1, size=(BATCH, *shape)).astype(dtype)
        arrays[f"{name}/z"], arrays[f"{name}/x"] = z, x
        for training in (False, True):
            arrays[f"{name}/G(z)/{training}"] = G(z, training=training).numpy()
            arrays[f"{name}/D(x)/{training}"] = D(x, training=training).numpy()[:, 0]
    np.savez(out, **arrays)


# --------------------------------------------------------------------------------------------
# The torch half: the same weights in ganforge's models

def _keras_weights(data, name: str, net: str) -> list[tuple[str, list[np.ndarray]]]:
    layers = []
    i = 0
    while True:
        kinds = [k for k in data.files if k.startswith(f"{name}/{net}/w{i:02d}/") and not k[-1].isdigit()]
        if not kinds:
            return layers
        kind = kinds[0].rsplit("/", 1)[1]
        n = int(data[kinds[0]])
        layers.append((kind, [data[f"{name}/{net}/w{i:02d}/{j}"] for j in range(n)]))
        i += 1


def load_keras_weights(module, layers, nhwc_features: tuple[int, int, int] | None, side: str) -> None:
    """Copy Keras weights into ``module``'s layers, in order, converting layouts.

    Keras' dense layers meet images in (H, W, C) order, torch's in (C, H, W): ``nhwc_features``
    (C, H, W) names that shape, and ``side`` says whether the dense layer's output ("G", before a
    reshape) or input ("D", after a flatten) is in that order. Kernels: Conv2D (kh, kw, in, out)
    -> (out, in, kh, kw); Conv2DTranspose (kh, kw, out, in) -> (in, out, kh, kw); no flip, as both
    libraries' transposed convolutions are the adjoint of the same correlation.
    """
    import torch
    from torch import nn

    perm = None
    if nhwc_features is not None:
        c, h, w = nhwc_features
        perm = np.arange(c * h * w).reshape(h, w, c).transpose(2, 0, 1).ravel()  # torch index -> Keras index
    targets = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d,
                                                             nn.BatchNorm2d))]
    if len(targets) != len(layers):
        raise SystemExit(f"{type(module).__name__}: {len(targets)} weight layers, Keras has {len(layers)}")
    with torch.no_grad():
        for m, (kind, weights) in zip(targets, layers):
            t = [torch.from_numpy(np.ascontiguousarray(w)) for w in weights]
            if isinstance(m, nn.Linear):
                kernel = t[0]                                     # (in, out)
                if perm is not None and side == "G" and kernel.shape[1] == len(perm):
                    kernel = kernel[:, perm]
                if perm is not None and side == "D" and kernel.shape[0] == len(perm):
                    kernel = kernel[perm, :]
                m.weight.copy_(kernel.t())
                if m.bias is not None:
                    bias = t[1][perm] if perm is not None and side == "G" and t[1].shape[0] == len(perm) else t[1]
                    m.bias.copy_(bias)
            elif isinstance(m, nn.ConvTranspose2d):
                m.weight.copy_(t[0].permute(3, 2, 0, 1))
                if m.bias is not None:
                    m.bias.copy_(t[1])
            elif isinstance(m, nn.Conv2d):
                m.weight.copy_(t[0].permute(3, 2, 0, 1))
                if m.bias is not None:
                    m.bias.copy_(t[1])
            else:  # batch norm: gamma, beta, moving mean, moving variance
                if perm is not None and side == "G" and t[0].shape[0] == len(perm):
                    t = [v[perm] for v in t]
                m.weight.copy_(t[0]), m.bias.copy_(t[1]), m.running_mean.copy_(t[2]), m.running_var.copy_(t[3])


def torch_side(paths: dict[str, str], tolerance: float) -> int:
    import torch

    worst = {}
    for dtype, path in paths.items():
        data = np.load(path)
        if dtype == "float64":
            print(f"TensorFlow {data['tensorflow']} vs ganforge with torch {torch.__version__}, batch {BATCH}, "
                  f"{torch.backends.cpu.get_cpu_capability()}; max |difference| (max |output| for scale)\n")
            print("| model | padding | dtype | G(z) inference | G(z) training | D(x) inference | D(x) training |")
            print("|---|---|---|---:|---:|---:|---:|")
        worst[dtype] = _compare(data, getattr(torch, dtype), dtype)
    verdict = "within" if worst["float64"] <= tolerance else "ABOVE"
    print(f"\nlargest difference with TensorFlow's padding: {worst['float64']:.1e} in float64 ({verdict} the tolerance "
          f"{tolerance:g}), {worst['float32']:.1e} in float32")
    return 0 if worst["float64"] <= tolerance else 1


def _compare(data, dtype, dtype_name: str) -> float:
    import torch
    from torch import nn

    from ganforge.config import resolve
    from ganforge.models import build_models
    from ganforge.models.layers import Reshape

    worst = 0.0
    for name, (preset, (h, w, c), d_dropout) in MODELS.items():
        for padding in ("tf", "symmetric"):
            cfg = resolve(preset, {"model.padding": padding})
            G, D = build_models(cfg.model, (c, h, w))
            G, D = G.to(dtype), D.to(dtype)
            for m in [*G.modules(), *D.modules()]:
                if isinstance(m, nn.LeakyReLU):  # Keras keeps the slope as a float32 constant, 0.3 -> 0.30000001192...
                    m.negative_slope = float(np.float32(m.negative_slope))
            reshape = next(m for m in G.modules() if isinstance(m, Reshape)).shape
            flatten = next(i for i, m in enumerate(D.net) if isinstance(m, nn.Flatten))
            with torch.no_grad():
                flat_in = tuple(D.net[:flatten].eval()(torch.zeros(1, c, h, w, dtype=dtype)).shape[1:])  # before Flatten
            load_keras_weights(G, _keras_weights(data, name, "G"), tuple(reshape), "G")
            load_keras_weights(D, _keras_weights(data, name, "D"), flat_in, "D")
            z = torch.from_numpy(data[f"{name}/z"])
            x = torch.from_numpy(data[f"{name}/x"]).permute(0, 3, 1, 2).contiguous()     # NHWC -> NCHW
            cells = []
            for training in (False, True):
                with torch.no_grad():
                    g = G.train(training)(z).permute(0, 2, 3, 1).numpy()
                    ref = data[f"{name}/G(z)/{training}"]
                    diff = float(np.abs(g - ref).max())
                    cells.append(f"{diff:.1e} ({np.abs(ref).max():.2f})")
                    worst = max(worst, diff) if padding == "tf" else worst
            for training in (False, True):
                if training and d_dropout:
                    cells.append("dropout")
                    continue
                with torch.no_grad():
                    d = D.train(training)(x).numpy()
                    ref = data[f"{name}/D(x)/{training}"]
                    diff = float(np.abs(d - ref).max())
                    cells.append(f"{diff:.1e} ({np.abs(ref).max():.2f})")
                    worst = max(worst, diff) if padding == "tf" else worst
            print(f"| {name} (`{preset}`) | {padding} | {dtype_name} | " + " | ".join(cells) + " |")
    return worst


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tf-python", help="a Python with TensorFlow (its own venv)")
    p.add_argument("--keras", nargs=2, metavar=("OUT.npz", "DTYPE"), help=argparse.SUPPRESS)  # under --tf-python
    p.add_argument("--tolerance", type=float, default=1e-9, help="largest float64 difference that passes")
    args = p.parse_args()
    if args.keras:
        keras_side(*args.keras)
        return 0
    if not args.tf_python:
        p.error("--tf-python is required (a Python whose environment has TensorFlow)")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {dtype: os.path.join(tmp, f"keras-{dtype}.npz") for dtype in ("float64", "float32")}
        for dtype, out in paths.items():
            subprocess.run([args.tf_python, __file__, "--keras", out, dtype], check=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        return torch_side(paths, args.tolerance)


if __name__ == "__main__":
    sys.exit(main())
