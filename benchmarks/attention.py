"""SAGAN's self-attention written out against PyTorch's fused kernel (ops/attention.py), alone, at a preset's shapes.

    python benchmarks/attention.py                    # resnet128's layer: batch 32, 64x64, 64 channels
    python benchmarks/attention.py --batch 64 --side 32 --channels 128   # resnet64's

Queries at every pixel (C/8 wide), keys and values at the 2x2-pooled grid (C/8 and C/2 wide), as
``models/resnet.py: SelfAttention`` hands them over. Prints the fastest of ``--repeats`` calls of the
forward pass and of the backward pass for each form, in ms, and the largest difference of their outputs.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganforge.ops import attention, reference_forms


def _time(fn, q, k, v, grad, repeats):
    fwd, bwd = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(q, k, v)
        t1 = time.perf_counter()
        out.backward(grad)
        fwd.append(t1 - t0)
        bwd.append(time.perf_counter() - t1)
    return out.detach(), 1e3 * min(fwd), 1e3 * min(bwd)


def written_out(q, k, v):
    with reference_forms():
        return attention(q, k, v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--side", type=int, default=64, help="feature-map side where the attention sits")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    n, m = args.side ** 2, (args.side // 2) ** 2
    d, e = max(1, args.channels // 8), max(1, args.channels // 2)
    q, k, v = (torch.randn(size, generator=gen).requires_grad_() for size in
               ((args.batch, n, d), (args.batch, m, d), (args.batch, m, e)))
    grad = torch.randn(args.batch, n, e, generator=gen)
    print(f"attention: batch {args.batch}, {n} queries x {m} keys, widths {d}/{e}, fp32, "
          f"{torch.get_num_threads()} threads, ATen {torch.backends.cpu.get_cpu_capability()}")
    print("| form | forward ms | backward ms |\n|---|---:|---:|")
    outs = {}
    for name, fn in (("written out", written_out), ("fused (ops/attention.py)", attention)):
        outs[name], fwd, bwd = _time(fn, q, k, v, grad, args.repeats)
        print(f"| {name} | {fwd:.0f} | {bwd:.0f} |")
    a, b = outs.values()
    print(f"largest |difference| of the outputs: {(a - b).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
