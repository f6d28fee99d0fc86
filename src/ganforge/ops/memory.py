"""The C library's allocator told to keep a training step's freed memory for the next step (Linux, glibc).

A training step allocates and frees the same activations and gradients every step. glibc serves
each allocation above its mmap threshold (128 KiB at first, raised as large blocks are freed) with a
fresh ``mmap`` and returns the memory on ``free``, and it trims the heap's free top back to the system
(``M_TRIM_THRESHOLD``, 128 KiB at first); either way the next step touches new pages and the kernel
zero-fills each one on its first write. Seed 000's bf16 step (batch 256) took about 18,600 such page
faults, some 70 MB, per step. With blocks up to 32 MiB served from the heap (glibc's largest
``M_MMAP_THRESHOLD`` on 64-bit) and the heap trimmed only above 1 GiB of free top, the step reuses
the pages it freed: 447 -> 413 ms (median of three processes each, AMD EPYC, bf16), peak resident
memory unchanged (613-620 and 606-609 MB; docs/benchmarks.md, "On an AMD EPYC with AVX512-BF16").

It changes where memory comes from, never a number the step computes. It is process-wide, so it is
done where ganforge owns the process's work (``Trainer`` on the CPU), once; ``GANFORGE_MALLOC=system``
leaves the C library's defaults alone.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20                      # glibc's ceiling on 64-bit: HEAP_MAX_SIZE / 2
TRIM_THRESHOLD = 1 << 30

_state: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module doc), once per process; whether they are set.

    False, and nothing done, where ``GANFORGE_MALLOC=system``, off Linux, under another C library, or
    where ``mallopt`` refuses a value.
    """
    global _state
    if _state is None:
        _state = False
        if (os.environ.get("GANFORGE_MALLOC", "").lower() != "system" and sys.platform.startswith("linux")
                and platform.libc_ver()[0] == "glibc"):
            mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
            if mallopt is not None:
                mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
                _state = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD,
                                                                                    TRIM_THRESHOLD) == 1
    return _state
