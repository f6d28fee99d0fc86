"""Time every convolution of a preset's models in torch.nn's form and in ganforge's (ops/conv.py).

    python benchmarks/conv_forms.py --preset mnist-dcgan --precision bf16 [--dataset fashion-mnist] [--rounds 7]

For each Conv2d / ConvTranspose2d of G and D, at the preset's batch size and image
shape: the forward pass alone, and forward + backward (weight gradient, plus the
input gradient where the layer's input needs one in training). torch.nn and ganforge
take turns within each round, in one process, and the table shows the median of the
rounds in ms, with the form each computation takes (``ops/conv.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from ganforge.config import resolve
from ganforge.data import DATASET_META
from ganforge.models import build_models
from ganforge.ops import Conv2d, ConvTranspose2d, input_grad_form, reference_forms, transposed_form


def layer_inputs(G, D, batch: int, z_dim: int) -> list[tuple[str, nn.Module, tuple]]:
    """(name, layer, input shape) of every convolution, found by running G and D once."""
    found = []
    hooks = [m.register_forward_hook(lambda m, a, out, name=name: found.append((name, m, tuple(a[0].shape))))
             for prefix, model in (("G", G), ("D", D)) for name, m in model.named_modules(prefix=prefix)
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    y = torch.arange(batch) % G.num_classes if G.num_classes else None
    with torch.no_grad():
        D(G(torch.randn(batch, z_dim), y), y)
    for h in hooks:
        h.remove()
    return found


def form_of(layer, shape) -> str:
    if isinstance(layer, ConvTranspose2d):
        return transposed_form(shape, layer.weight.shape, layer.stride, layer.padding, layer.output_padding,
                               layer.dilation, layer.groups)
    if isinstance(layer, Conv2d):
        return "onednn / " + input_grad_form(shape, layer.weight.shape, layer.stride, layer.padding, layer.dilation,
                                             layer.groups)
    return "torch.nn"


def timed(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="mnist-dcgan")
    ap.add_argument("--dataset", default=None, help="data set whose image shape to use (default: the preset's)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3, help="calls per timing")
    args = ap.parse_args()

    cfg = resolve(args.preset, {"data.name": args.dataset} if args.dataset else None)
    channels, size = DATASET_META[cfg.data.name].shape[0], DATASET_META[cfg.data.name].shape[1]
    shape = (channels, cfg.data.image_size or size, cfg.data.image_size or size)
    G, D = build_models(cfg.model, shape, 10)
    batch = cfg.train.batch_size
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    print(f"{args.preset}, {shape}, batch {batch}, {args.precision}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds (ms)")
    print(f"| layer | input | form (forward / input grad) | forward torch.nn | forward ganforge | "
          f"fwd+bwd torch.nn | fwd+bwd ganforge | fwd+bwd speed-up |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, layer, in_shape in layer_inputs(G, D, batch, cfg.model.z_dim):
        x = torch.randn(in_shape, requires_grad=True)  # as for the fake batch: every input needs a gradient

        def forward():
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                return layer(x)

        def both():
            y = forward()
            torch.autograd.grad(y, [x, *layer.parameters()], torch.ones_like(y))

        rows = {"fwd": ([], []), "both": ([], [])}
        for fn in (forward, both):
            fn()
            with reference_forms():
                fn()
        for _ in range(args.rounds):
            for key, fn in (("fwd", forward), ("both", both)):
                with reference_forms():
                    rows[key][0].append(timed(fn, args.reps))
                rows[key][1].append(timed(fn, args.reps))
        (f_ref, f_new), (b_ref, b_new) = ([statistics.median(v) for v in rows[k]] for k in ("fwd", "both"))
        print(f"| {name} | {'x'.join(map(str, in_shape))} | {form_of(layer, in_shape)} | {f_ref:.2f} | {f_new:.2f} "
              f"| {b_ref:.2f} | {b_new:.2f} | {b_ref / b_new:.2f}x |")


if __name__ == "__main__":
    main()
