"""Training-step parity with TensorFlow: seed 000's tutorial step and ganforge's, from identical weights.

tf_parity.py shows that the two libraries' G and D compute the same function; this script checks that a
*training step* does the same thing: the same weights (tf_parity's random ones), the same real batches
and latents, dropout off (the masks come from different generators by nature), in float64, for
``--steps`` steps of the tutorial's two-tape simultaneous update with Keras' Adam(1e-4) on one side and
ganforge's own step (``Stepper.step`` of the ``mnist-dcgan`` preset: family, fused simultaneous update,
torch's Adam with the preset's settings) on the other. It prints, after each step, the largest weight
difference of G and D relative to the largest weight. Equal arithmetic agrees to ~1e-13 in float64;
a different update rule shows as a difference that grows from the first step.

``--adam keras`` trains ganforge's side with ``adam-keras`` (train/optim.py): Keras adds epsilon to sqrt(v)
before the bias correction, so its effective epsilon is eps / sqrt(1 - beta2^t), 31.6 x eps at the first
step; and with the hyper-parameters rounded to float32, as Keras keeps them (beta2 = 0.999 is 0.99900001
there, which moves sqrt(1 - beta2) by 6e-6). With both, any difference left is elsewhere.

    .venv/bin/python benchmarks/tf_step_parity.py --tf-python /tmp/tfvenv/bin/python [--adam keras]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BATCH, NOISE = 16, 100


def keras_side(out: str, steps: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    sys.path.insert(0, str(HERE))
    from tf_parity import _randomise, keras_models

    tf.keras.backend.set_floatx("float64")
    rng = np.random.default_rng(0)
    G, D = keras_models("seed000")
    for layer in D.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0
    arrays = {}
    for net, model in (("G", G), ("D", D)):
        for i, (kind, *weights) in enumerate(_randomise(model, rng)):
            arrays[f"seed000/{net}/w{i:02d}/{kind}"] = np.array(len(weights))
            for j, w in enumerate(weights):
                arrays[f"seed000/{net}/w{i:02d}/{j}"] = w
    xs = rng.uniform(-1, 1, size=(steps, BATCH, 28, 28, 1))
    zs = rng.normal(size=(steps, BATCH, NOISE))
    arrays["x"], arrays["z"] = xs, zs
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)

    def step(batch, noise):
        with tf.GradientTape() as gt, tf.GradientTape() as dt:
            fake = G(noise, training=True)
            real_out, fake_out = D(batch, training=True), D(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        g_opt.apply_gradients(zip(gt.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        d_opt.apply_gradients(zip(dt.gradient(d_loss, D.trainable_variables), D.trainable_variables))

    for k in range(steps):
        step(tf.constant(xs[k]), tf.constant(zs[k]))
        for net, model in (("G", G), ("D", D)):
            i = 0
            for layer in model.layers:
                weights = layer.get_weights()
                if weights:
                    for j, w in enumerate(weights):
                        arrays[f"after{k}/{net}/w{i:02d}/{j}"] = w
                    i += 1
    np.savez(out, **arrays)


def torch_side(path: str, adam: str) -> None:
    import torch
    from torch import nn

    import ganforge.families.gan as gan_family
    from ganforge.config import resolve
    from ganforge.families import Batch, DataSpec, TrainingForms, build_family
    from ganforge.models.layers import Reshape
    from ganforge.train.optim import build_optimizer
    from ganforge.train.schedule import Schedule
    from ganforge.train.steps import Stepper

    sys.path.insert(0, str(HERE))
    from tf_parity import _keras_weights, load_keras_weights

    data = np.load(path)
    over = {"model.d_dropout": 0.0, "train.precision": "fp32"}
    if adam == "keras":
        # Keras' update rule, and its hyper-parameters as Keras holds them: float32 variables
        f32 = [float(np.float32(v)) for v in (1e-4, 0.9, 0.999, 1e-7)]
        for side in ("g_optim", "d_optim"):
            over.update({f"{side}.name": "adam-keras", f"{side}.lr": f32[0], f"{side}.betas": f32[1:3], f"{side}.eps": f32[3]})
    cfg = resolve("mnist-dcgan", over)
    family = build_family(cfg, DataSpec("fashion-mnist", (1, 28, 28), 10))
    G, D = family.build()
    G, D = G.double(), D.double()
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, nn.LeakyReLU):  # Keras keeps the slope as a float32 constant
            m.negative_slope = float(np.float32(m.negative_slope))
    reshape = next(m for m in G.modules() if isinstance(m, Reshape)).shape
    flatten = next(i for i, m in enumerate(D.net) if isinstance(m, nn.Flatten))
    with torch.no_grad():
        flat_in = tuple(D.net[:flatten].eval()(torch.zeros(1, 1, 28, 28, dtype=torch.float64)).shape[1:])
    D.train()
    load_keras_weights(G, _keras_weights(data, "seed000", "G"), tuple(reshape), "G")
    load_keras_weights(D, _keras_weights(data, "seed000", "D"), flat_in, "D")
    family.bind(TrainingForms(G, D))
    opt_g, opt_d = build_optimizer(G.parameters(), cfg.g_optim), build_optimizer(D.parameters(), cfg.d_optim)
    stepper = Stepper(family, opt_g, opt_d, Schedule(cfg.train))
    zs = [torch.from_numpy(z) for z in data["z"]]
    gan_family.sample_latent = lambda n, *a, **k: zs.pop(0)[:n]            # the Keras side's latents, in order

    def keras_after(k: int, net: str, module) -> list[torch.Tensor]:
        """The Keras weights after step k, through ganforge's module (its own weights put back afterwards)."""
        twin = module
        state = {n: t.clone() for n, t in twin.state_dict().items()}
        layers = [(kind, [data[f"after{k}/{net}/w{i:02d}/{j}"] for j in range(len(ws))])
                  for i, (kind, ws) in enumerate(_keras_weights(data, "seed000", net))]
        load_keras_weights(twin, layers, tuple(reshape) if net == "G" else flat_in, net)
        out = [t.clone() for t in twin.parameters()]
        twin.load_state_dict(state)
        return out

    print(f"torch {torch.__version__}, float64, batch {BATCH}, dropout off; torch Adam as {adam}: "
          "max |ganforge - TensorFlow| / max |weight| after each step")
    print("| step | G | D |")
    print("|---:|---:|---:|")
    for k in range(len(data["x"])):
        x = torch.from_numpy(data["x"][k]).permute(0, 3, 1, 2).contiguous()
        stepper.step(k, [Batch(x)])
        cells = []
        for net, module in (("G", G), ("D", D)):
            ref = keras_after(k, net, module)
            ours = [p.detach().clone() for p in module.parameters()]
            diff = max(float((a - b).abs().max()) for a, b in zip(ours, ref))
            if os.environ.get("PARITY_DEBUG"):
                names = [n for n, _ in module.named_parameters()]
                print(net, [(n, f"{float((a - b).abs().max()):.1e}") for n, a, b in zip(names, ours, ref)])
            scale = max(float(b.abs().max()) for b in ref)
            cells.append(f"{diff / scale:.1e}")
        print(f"| {k + 1} | {cells[0]} | {cells[1]} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tf-python", help="a Python with TensorFlow (its own venv)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--adam", choices=["torch", "keras"], default="torch")
    ap.add_argument("--keras", metavar="OUT.npz", help=argparse.SUPPRESS)     # the TensorFlow half, under --tf-python
    args = ap.parse_args()
    if args.keras:
        keras_side(args.keras, args.steps)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "keras.npz")
        subprocess.run([args.tf_python, __file__, "--keras", out, "--steps", str(args.steps)], check=True)
        torch_side(out, args.adam)


if __name__ == "__main__":
    main()
