"""ops/memory.py: glibc's allocator kept from returning a step's memory, checked in real subprocesses by the
page faults the kernel counts (``getrusage``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="mallopt is glibc's")

# Rounds of a step-like pattern: sixteen blocks of 2 MiB allocated, written, freed; the minor page faults
# of rounds 5-9, once the heap has settled (the first rounds touch their pages for the first time, and with
# the thresholds set after start-up a few more rounds settle the blocks that were there before).
PROGRAM = r"""
import json, resource, torch
from ganforge.ops.memory import keep_freed_memory
kept = keep_freed_memory()
def round_():
    blocks = [torch.empty(1 << 19).fill_(1.0) for _ in range(16)]  # 16 blocks of 2 MiB of float32
    del blocks
for _ in range(4):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    round_()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _run(mode: str) -> dict:
    env = {**os.environ, "GANFORGE_MALLOC": mode}
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_without_new_page_faults():
    pages = 5 * 32 * (1 << 20) // os.sysconf("SC_PAGE_SIZE")  # what rounds 5-9 write
    kept = _run("keep")
    assert kept["kept"] is True
    assert kept["faults"] < pages // 20, kept   # the pages of rounds 1-4, reused: (almost) no fresh ones
    default = _run("system")
    assert default["kept"] is False
