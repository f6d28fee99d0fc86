import os
import subprocess
import sys
from pathlib import Path

import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache_for_all_fixtures(tmp_path_factory):
    """The same isolation for module- and session-scoped fixtures, which are set up before the function-scoped
    one below: a reference run made in a module fixture and the runs its tests compare with it must share one
    cache (its measured convolution forms, ops/forms.py), and none may touch the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    mp.setenv("GANFORGE_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real cache; never reach the network for data."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")  # built-in internet mirrors are never tried; local servers are
    monkeypatch.setenv("MPLBACKEND", "Agg")


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run `python -m ganforge ARGS` in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ganforge", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
