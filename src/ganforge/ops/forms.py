"""Which form computes each convolution: measured on this machine once, or fixed rules.

Each of a convolution's three computations (output, input gradient, weight gradient) has
equivalent forms (ops/conv.py) whose speed depends on the CPU, its ISA, the thread count, the
precision and the layer's shape. With ``train.conv_forms=measure`` (the default), the first
time a computation of a new shape runs, each form that applies is timed on the real operands
(one warm-up call, then ``ROUNDS`` calls of each in turn, the fastest call counting) and the
fastest is kept, as ``torch.backends.cudnn.benchmark`` does on a GPU; oneDNN's own form unless
another beats it by more than ``MARGIN_MS``, what the detour through ganforge's autograd function
costs (on tiny layers a faster kernel can lose that back). The choices are kept in
``<cache>/conv-forms/<machine>.json``, one file per (CPU model, ATen ISA, oneDNN's and MKL's ISA
limits, torch version, thread count), so later runs on the same machine measure nothing, and a
different CPU or torch measures afresh. ``train.conv_forms=rules`` takes the fixed shape rules
of ops/conv.py instead: the same forms on every machine, for exact reproducibility across
machines. Every form computes the same sums, so the choice changes results by rounding only
(tests/ops/test_forms.py checks each form against torch.nn in float64).

What was chosen, and the timings behind it: ``chosen_forms()``, printed by ``ganforge bench``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import threading
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Callable

import torch

MODES = ("measure", "rules")
ROUNDS = 3  # timed calls of each form after its warm-up call
MARGIN_MS = 0.05  # another form must beat the first (oneDNN's) by more: what routing a call through ganforge's
                  # autograd function costs in Python, which the timing of the computation alone leaves out

_mode = os.environ.get("GANFORGE_CONV_FORMS", "measure")  # a process-wide default; training sets train.conv_forms
_lock = threading.Lock()
_choices: dict[str, str] = {}           # file:key -> form, as read from the files or measured
_used: dict[str, str] = {}              # key -> form, of the computations this process ran
_timings: dict[str, dict[str, float]] = {}  # computation key -> {form: ms}, measured in this process
_loaded: set[Path] = set()


def set_conv_forms(mode: str) -> None:
    """``measure`` (time the forms of each new shape, keep the fastest) or ``rules`` (fixed shape rules)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"conv_forms must be one of {', '.join(MODES)}, got {mode!r}")
    _mode = mode


def conv_forms() -> str:
    if _mode not in MODES:  # a bad GANFORGE_CONV_FORMS
        from ganforge.errors import ConfigError

        raise ConfigError(f"GANFORGE_CONV_FORMS must be one of {', '.join(MODES)}, got '{_mode}'")
    return _mode


@functools.lru_cache(maxsize=None)
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows: in the forms' machine key, bench
    results and report.html."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What the speed of a form depends on besides the shape: a different value measures afresh."""
    return {"cpu": cpu_name(), "aten_isa": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "all"),
            "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "all"), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


@functools.lru_cache(maxsize=64)
def _cache_file(cache: str, threads: int, onednn: str, mkl: str) -> Path:
    digest = hashlib.sha256(json.dumps(machine(), sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache) / "conv-forms" / f"{digest}.json"


def machine_id() -> tuple:
    """A cheap stand-in for ``cache_file()`` in per-call lookups: what can change within one process
    (the cache folder's variable, then what ``cache_file`` is keyed by)."""
    return (os.environ.get("GANFORGE_CACHE"), torch.get_num_threads(), os.environ.get("ONEDNN_MAX_CPU_ISA", "all"),
            os.environ.get("MKL_ENABLE_INSTRUCTIONS", "all"))


def cache_file() -> Path:
    """``<cache>/conv-forms/<digest of machine()>.json``."""
    from ganforge.data.download import cache_dir

    return _cache_file(str(cache_dir()), *machine_id()[1:])


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return dict(data.get("forms", {}))
    except (OSError, ValueError, AttributeError):
        return {}  # missing or damaged: measured again and rewritten


def _load(path: Path) -> None:
    if path not in _loaded:
        _loaded.add(path)
        for key, form in _read(path).items():
            _choices.setdefault(f"{path.name}:{key}", form)


def _save(path: Path, key: str, form: str) -> None:
    """Add one choice to the file (merged with what other processes wrote meanwhile); never fatal."""
    from ganforge.io import atomic_path

    try:
        forms = _read(path)
        forms[key] = form
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"machine": machine(), "forms": forms}, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only cache: the choice holds for this process


def choose(key: str, forms: dict[str, Callable[[], torch.Tensor]]) -> tuple[str, torch.Tensor | None]:
    """The form to compute ``key`` by, among ``forms`` (name -> a call computing it; the first is the default).

    Returns (form, result): ``result`` is the computation's value when it was just measured (the chosen
    form's last call), else None and the caller computes it.
    """
    names = list(forms)
    if len(names) == 1:
        return names[0], None
    path = cache_file()
    full = f"{path.name}:{key}"
    with _lock:
        _load(path)
        form = _choices.get(full)
    if form in forms:
        _used[key] = form
        return form, None
    best, results, ms = _measure(forms)
    with _lock:
        _choices[full] = _used[key] = best
        _timings[key] = ms
        if _rank() in (None, 0):  # under torchrun rank 0 alone writes (the file holds the plans all ranks took)
            _save(path, key, best)
    return best, results[best]


def _measure(forms: dict[str, Callable[[], torch.Tensor]]) -> tuple[str, dict[str, torch.Tensor], dict[str, float]]:
    results, warm = {}, {}
    for name, fn in forms.items():  # warm-up: oneDNN builds its primitives
        t0 = time.perf_counter()
        results[name] = fn()
        warm[name] = (time.perf_counter() - t0) * 1e3
    best_ms = {name: float("inf") for name in forms}
    # another form 4x slower than the fastest already, by more than 10 ms, is not timed again (it cannot win);
    # oneDNN's (the first) always is: its first call also builds its kernels
    first = next(iter(forms))
    timed = {name: fn for name, fn in forms.items()
             if name == first or warm[name] <= max(4 * min(warm.values()), 10.0)}
    for _ in range(ROUNDS):  # in turn, so that the machine's state changes hit every form alike
        for name, fn in timed.items():
            t0 = time.perf_counter()
            results[name] = fn()
            best_ms[name] = min(best_ms[name], (time.perf_counter() - t0) * 1e3)
    best = min(best_ms, key=best_ms.get)
    if best_ms[first] - best_ms[best] <= MARGIN_MS:
        best = first
    return best, results, best_ms


_AGREE: ContextVar[bool] = ContextVar("ganforge_forms_agree", default=False)


@contextlib.contextmanager
def agreed(enabled: bool = True):
    """Inside the block (a training step under torchrun), every rank takes rank 0's plan for each new layer
    shape, which rank 0 alone reads from its file or measures: ranks that chose apart would round their
    gradients apart, and a run and its resumed copy could differ. The ranks run the same layers on the
    same shapes inside a step, so each new shape is one broadcast that all of them make."""
    token = _AGREE.set(enabled and _rank() is not None)
    try:
        yield
    finally:
        _AGREE.reset(token)


def agreeing() -> bool:
    return _AGREE.get()


def agree(plan: Callable[[], tuple]) -> tuple:
    """``plan()`` on rank 0, handed to every rank, inside ``agreed``; ``plan()`` alone elsewhere."""
    if not _AGREE.get():
        return plan()
    import torch.distributed as dist

    box = [plan() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return tuple(box[0])


def _rank() -> int | None:
    """This process's rank under torch.distributed, or None when there is no process group."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else None


def chosen_forms() -> dict[str, str]:
    """The forms of the computations this process ran (read from the cache file or measured): key -> form."""
    with _lock:
        return dict(_used)


def measured_timings() -> dict[str, dict[str, float]]:
    """The computations this process measured: key -> {form: fastest call in ms}."""
    with _lock:
        return {k: dict(v) for k, v in _timings.items()}


def forget() -> None:
    """Drop this process's choices (the cache file stays): the next use reads the file again."""
    from ganforge.ops import conv

    with _lock:
        conv._PLANS.clear()
        _choices.clear()
        _used.clear()
        _timings.clear()
        _loaded.clear()
