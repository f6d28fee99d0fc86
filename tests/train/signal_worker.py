"""``python -m ganforge ARGS``, but the process sends itself a real signal during a chosen step (test_crash.py).

    python signal_worker.py SIGNAL N ARGS...

The signal (SIGKILL, SIGINT, SIGTERM) arrives while step N is being taken, after its update and before
the step is counted, logged or checkpointed: the moment a signal from outside can land in, fixed, so
where the run stops does not depend on how fast this machine trains or how soon a watcher notices.
"""

import os
import signal
import sys

from ganforge.cli import main
from ganforge.train import Trainer

name, at, *args = sys.argv[1:]
signum, at = getattr(signal, name), int(at)
take_step = Trainer.train_step


def step_then_signal(self, chunk):
    out = take_step(self, chunk)
    if self.step + 1 == at:  # self.step counts this step once train_step returns
        os.kill(os.getpid(), signum)
    return out


Trainer.train_step = step_then_signal
raise SystemExit(main(args))
