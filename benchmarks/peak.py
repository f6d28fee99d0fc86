"""This machine's attainable peak GFLOP/s: a large matrix product and a 3x3 convolution, fp32 and bf16.

    python benchmarks/peak.py                      # a table, torch's current thread count
    python benchmarks/peak.py --json               # one JSON object (the same figures)
    OMP_NUM_THREADS=1 python benchmarks/peak.py    # one core
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/peak.py   # AVX2 class
    python benchmarks/peak.py --device cuda

Two kernels that run near a machine's limit: a 2048 x 2048 matrix product (2 n^3 FLOPs) and a 3x3
convolution 128 -> 128 channels, padding 1, over a batch of 64 images of 32 x 32 (2 B H W Cin Cout 9
FLOPs), the shape of a GAN's middle layers. The convolution is timed in the default (NCHW) layout and in
channels-last; ``conv`` is the faster of the two, the attainable figure. Each is the median of
``--repeats`` timings after warm-up calls. bf16 is measured where the hardware multiplies bf16: on CUDA,
and on CPUs whose ATen capability in effect is AVX512 and whose /proc/cpuinfo lists avx512_bf16 (an AVX2
setting, or a CPU without bf16 units, would time a conversion path, not a peak). The ISA reported is the
one in effect: ATen's ``get_cpu_capability()`` (lowered by ATEN_CPU_CAPABILITY), ONEDNN_MAX_CPU_ISA
(oneDNN's convolutions and bf16 matrix products) and MKL_ENABLE_INSTRUCTIONS (MKL's fp32 matrix product,
which the other two leave at AVX-512); "all" when unset. CUDA fp32 is true fp32 unless TF32 is switched
on (reported).

``measure_peak()`` is the same measurement for other scripts (benchmarks/family_speed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

MATMUL_N = 2048
CONV_BATCH, CONV_CHANNELS, CONV_SIZE = 64, 128, 32


def cpu_has_bf16_units() -> bool:
    """Whether ATen runs its AVX512 kernels here and the CPU has the AVX512-BF16 instructions."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def measures_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16_units()


def _median_seconds(fn, device: torch.device, warmup: int, repeats: int) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_gflops(dtype: torch.dtype, device: torch.device, warmup: int = 2, repeats: int = 5) -> float:
    a = torch.randn(MATMUL_N, MATMUL_N, device=device).to(dtype)
    b = torch.randn(MATMUL_N, MATMUL_N, device=device).to(dtype)
    seconds = _median_seconds(lambda: torch.mm(a, b), device, warmup, repeats)
    return 2 * MATMUL_N**3 / seconds / 1e9


def conv_gflops(dtype: torch.dtype, device: torch.device, channels_last: bool, warmup: int = 2,
                repeats: int = 5) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    c, s = CONV_CHANNELS, CONV_SIZE
    x = torch.randn(CONV_BATCH, c, s, s, device=device).to(dtype).contiguous(memory_format=fmt)  # (64, 128, 32, 32)
    w = (torch.randn(c, c, 3, 3, device=device) / (3 * c**0.5)).to(dtype).contiguous(memory_format=fmt)
    with torch.no_grad():
        seconds = _median_seconds(lambda: F.conv2d(x, w, padding=1), device, warmup, repeats)  # -> (64, 128, 32, 32)
    return 2 * CONV_BATCH * s * s * c * c * 9 / seconds / 1e9


def measure_peak(device: str | torch.device = "cpu", warmup: int = 2, repeats: int = 5) -> dict:
    """GFLOP/s of the matrix product and the convolution in fp32 and (where measured) bf16, with the ISA in
    effect and the thread count; ``"bf16"`` is None where bf16 is not measured."""
    device = torch.device(device)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "isa": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "all"),
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "all"),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        result["tf32"] = torch.backends.cuda.matmul.allow_tf32
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16 if measures_bf16(device) else None}
    for name, dtype in dtypes.items():
        if dtype is None:
            result[name] = None
            continue
        nchw = conv_gflops(dtype, device, False, warmup, repeats)
        nhwc = conv_gflops(dtype, device, True, warmup, repeats)
        result[name] = {"matmul": round(matmul_gflops(dtype, device, warmup, repeats), 1),
                        "conv": round(max(nchw, nhwc), 1),
                        "conv_nchw": round(nchw, 1), "conv_channels_last": round(nhwc, 1)}
    return result


def peak_of(result: dict, precision: str) -> float | None:
    """The higher of the two kernels' GFLOP/s in ``precision`` (fp32 or bf16), or None where not measured."""
    figures = result.get(precision)
    return max(figures["matmul"], figures["conv"]) if figures else None


def format_table(r: dict) -> str:
    lines = [f"peak on {r['device']}: ATen {r['isa']}, oneDNN max ISA {r['onednn_max_isa']}, "
             f"MKL instructions {r['mkl_instructions']}, {r['threads']} threads"
             + (f", TF32 {'on' if r['tf32'] else 'off'}" if "tf32" in r else ""),
             "| precision | matmul 2048^2 GFLOP/s | conv 3x3 128->128 GFLOP/s | conv NCHW | conv channels-last |",
             "|---|---:|---:|---:|---:|"]
    for name in ("fp32", "bf16"):
        f = r[name]
        lines.append(f"| {name} | " + (" | ".join(f"{f[k]:.1f}" for k in ("matmul", "conv", "conv_nchw",
                                                                             "conv_channels_last"))
                                       if f else "not measured (no bf16 units in effect) | - | - | -") + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--repeats", type=int, default=5, help="timings per kernel; the median is reported")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls before them")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be at least 1 and --warmup at least 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")
    result = measure_peak(args.device, args.warmup, args.repeats)
    print(json.dumps(result) if args.json else format_table(result))


if __name__ == "__main__":
    main()
