"""A graceful stop on SIGINT / SIGTERM: finish the current step, checkpoint, say how to resume.

    with GracefulStop() as stop:
        while training:
            one_step()
            if stop.requested:
                break
    if stop.requested:
        save_checkpoint()
        stop.exit(run_dir, step)        # raises TrainingInterrupted (exit code 130 or 143)

The first signal only sets a flag; the original handler is put back at once, so a second
Ctrl-C stops immediately (checkpoints are written atomically, so that is safe too).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from ganforge.errors import GanforgeError

_SIGNALS = ("SIGINT", "SIGTERM")


class TrainingInterrupted(GanforgeError):
    """Training stopped by a signal after writing a checkpoint; exit code 128 + signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class GracefulStop:
    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        self.request(signum)
        self._restore()  # a second signal takes the default (immediate) path

    def request(self, signum: int) -> None:
        """Stop as if ``signum`` had arrived (another rank of the job received it)."""
        if self.signum is None:
            self.signum = signum

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread
            for name in _SIGNALS:
                signum = getattr(signal, name)
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def exit(self, run_dir: str | Path, step: int) -> None:
        name = signal.Signals(self.signum).name
        raise TrainingInterrupted(f"stopped by {name} at step {step}; checkpoint saved; "
                                  f"resume with: ganforge train --resume {run_dir}", self.signum)
