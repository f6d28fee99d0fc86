"""The downloader against a real HTTP server on 127.0.0.1 serving files the tests write."""

import functools
import http.server
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ganforge.data import load_dataset
from ganforge.data.cifar import TAR_NAME
from ganforge.data import download as dl
from ganforge.data.download import default_mirrors, download_file, download_files, extract_tar
from ganforge.errors import DataError

from .helpers import make_cifar_tar, make_mnist_split, md5

TRAIN = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www: /good/ holds real MNIST-format files, /bad/ the same names with other bytes."""
    root = tmp_path / "www"
    images, labels = make_mnist_split(root / "good", "train", 12, seed=1)
    make_mnist_split(root / "bad", "train", 12, seed=2)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    md5s = {name: md5(root / "good" / name) for name in TRAIN}
    yield {"base": base, "root": root, "md5s": md5s, "images": images, "labels": labels}
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_md5_lands_in_cache_and_loads(server, isolated_data_env, capsys):
    dest = download_files("mnist", TRAIN, md5s=server["md5s"], mirrors=[server["base"] + "/good/"])
    assert dest == isolated_data_env / "data" / "mnist"
    assert _leftovers(dest) == sorted(TRAIN)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # progress on stderr
    ds = load_dataset("mnist", download=False)
    assert np.array_equal(ds.x[:, 0].numpy(), server["images"])
    assert np.array_equal(ds.y.numpy(), server["labels"])


def test_bad_md5_then_good_mirror(server, tmp_path):
    name = TRAIN[0]
    path = download_file("mnist", name, tmp_path / "d", md5=server["md5s"][name],
                         mirrors=[server["base"] + "/bad/", server["base"] + "/good/"], progress=False)
    assert md5(path) == server["md5s"][name]
    assert _leftovers(tmp_path / "d") == [name]


def test_missing_file_then_good_mirror(server, tmp_path):
    name = TRAIN[1]
    path = download_file("mnist", name, tmp_path / "d", md5=server["md5s"][name],
                         mirrors=[server["base"] + "/nowhere/", server["base"] + "/good/"], progress=False)
    assert path.read_bytes() == (server["root"] / "good" / name).read_bytes()


def test_all_mirrors_bad_leaves_nothing(server, tmp_path):
    name = TRAIN[0]
    with pytest.raises(DataError) as err:
        download_file("mnist", name, tmp_path / "d", md5=server["md5s"][name],
                      mirrors=[server["base"] + "/bad/", server["base"] + "/nowhere/"], progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"could not download mnist ({name}): ")
    assert "md5 mismatch" in msg and "HTTP 404" in msg
    assert "--data-dir DIR" in msg
    assert _leftovers(tmp_path / "d") == []  # neither the final name nor a temp file


def test_server_gone_fails_fast_with_hint(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        download_file("mnist", TRAIN[0], tmp_path / "d", mirrors=[f"http://127.0.0.1:{_closed_port()}/"],
                      progress=False)
    # a refused connection is reported at once, not after the 30 s read timeout (half of it on a busy machine)
    assert time.monotonic() - start < dl.TIMEOUT_S / 2
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("could not download mnist (train-images-idx3-ubyte.gz): 127.0.0.1:")
    assert "refused" in msg and "timed out" not in msg
    assert "put the four files in" in msg and "--data-dir DIR" in msg
    assert _leftovers(tmp_path / "d") == []


def test_load_dataset_downloads_through_env_mirror_and_checks_upstream_md5(server, monkeypatch, isolated_data_env):
    # The served files are valid IDX but not the upstream release, so the md5 check must refuse them.
    monkeypatch.setenv("GANFORGE_MIRROR", server["base"] + "/good/")
    monkeypatch.setitem(dl.MIRRORS, "mnist", [])  # keep the test off the internet
    with pytest.raises(DataError, match=r"could not download mnist \(train-images-idx3-ubyte.gz\): .*md5 mismatch"):
        load_dataset("mnist")
    assert _leftovers(isolated_data_env / "data" / "mnist") == []


def test_mirror_env_goes_first_and_fills_in_name(monkeypatch):
    monkeypatch.setenv("GANFORGE_MIRROR", "http://example.test/data/{name}/")
    monkeypatch.setenv("GANFORGE_OFFLINE", "0")
    mirrors = default_mirrors("mnist")
    assert mirrors[0] == "http://example.test/data/mnist/"
    assert mirrors[1].startswith("https://ossci-datasets.s3.amazonaws.com/mnist")
    assert mirrors[2].startswith("http://yann.lecun.com/")
    assert default_mirrors("inception") == ["http://example.test/data/inception/",
                                            "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"]
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")                                 # only the local mirror is left
    assert default_mirrors("mnist") == ["http://example.test/data/mnist/"]


def test_downloaded_cifar_tar_loads_from_cache(server, isolated_data_env):
    tar = server["root"] / "good" / TAR_NAME
    written = make_cifar_tar(tar, per_batch=2, n_test=2)
    download_file("cifar10", TAR_NAME, isolated_data_env / "data" / "cifar10", md5=md5(tar),
                  mirrors=[server["base"] + "/good"], progress=False)
    ds = load_dataset("cifar10", split="test", download=False)
    assert np.array_equal(ds.x.numpy(), written["test_batch"][0])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_downloaded_files_get_the_umask_mode_not_the_temp_files_0600(server, isolated_data_env, umask):
    """A fresh process with its own umask downloads into the cache, as `ganforge train` would."""
    code = ("import sys; from ganforge.data.download import download_files; "
            "download_files('mnist', sys.argv[1:3], md5s=dict(zip(sys.argv[1:3], sys.argv[3:5])), "
            "mirrors=[sys.argv[5]], progress=False)")
    args = [*TRAIN, *(server["md5s"][n] for n in TRAIN), server["base"] + "/good/"]
    r = subprocess.run([sys.executable, "-c", code, *args], env=os.environ.copy(), capture_output=True, text=True,
                       timeout=120, preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr
    dest = isolated_data_env / "data" / "mnist"
    assert _leftovers(dest) == sorted(TRAIN)
    for name in TRAIN:
        assert stat.S_IMODE(os.stat(dest / name).st_mode) == 0o666 & ~umask, name


# ---------------------------------------------------------------------------
# Extraction where tarfile has no data filter (Python < 3.10.12 / 3.11.4): ganforge's own member check

def _member(name: str, kind: str = "file", target: str = "", data: bytes = b"x", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.mode = mode
    if kind == "file":
        info.size = len(data)
        return info, io.BytesIO(data)
    info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE}[kind]
    info.linkname = target
    return info, None


def _tar(path, members) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(*_member("cifar-10-batches-py", "dir", mode=0o755))
        tar.addfile(*_member("cifar-10-batches-py/ok.txt"))
        for m in members:
            tar.addfile(*m)
    return path


EVIL_NAME = f"ganforge-evil-{os.getpid()}.txt"
UNSAFE = {  # name: (member name, kind, link target)
    "absolute path": (f"/tmp/{EVIL_NAME}", "file", ""),
    "dot-dot": (f"cifar-10-batches-py/../../{EVIL_NAME}", "file", ""),
    "symlink out": ("cifar-10-batches-py/escape", "symlink", f"../../{EVIL_NAME}"),
    "absolute symlink": ("cifar-10-batches-py/escape", "symlink", f"/tmp/{EVIL_NAME}"),
    "symlink inside": ("cifar-10-batches-py/alias", "symlink", "ok.txt"),
    "hard link out": ("cifar-10-batches-py/hard", "hardlink", f"/tmp/{EVIL_NAME}"),
    "fifo": ("cifar-10-batches-py/pipe", "fifo", ""),
    "device": ("cifar-10-batches-py/dev", "chardev", ""),
}


def _written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("case", list(UNSAFE))
def test_without_data_filter_each_unsafe_member_is_refused_before_anything_is_written(tmp_path, monkeypatch, case):
    monkeypatch.delattr(tarfile, "data_filter")  # as on Python 3.10.0-3.10.11 and 3.11.0-3.11.3
    archive = _tar(tmp_path / "evil.tar.gz", [_member(*UNSAFE[case])])
    target = tmp_path / "a" / "b"
    with pytest.raises(DataError, match="unsafe archive member refused") as err:
        extract_tar(archive, target)
    assert str(archive) in str(err.value) and "\n" not in str(err.value)
    assert _written(target) == []  # every member is checked before the first is extracted
    assert not (tmp_path / EVIL_NAME).exists() and not os.path.exists(f"/tmp/{EVIL_NAME}")


def test_without_data_filter_a_link_on_disk_cannot_lead_outside(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter")
    target, outside = tmp_path / "target", tmp_path / "outside"
    outside.mkdir()
    target.mkdir()
    (target / "cifar-10-batches-py").symlink_to(outside)  # left there by something else
    with pytest.raises(DataError, match="would be written outside"):
        extract_tar(_tar(tmp_path / "t.tar.gz", []), target)
    assert _written(outside) == []


def test_without_data_filter_a_good_archive_extracts_loads_and_drops_special_bits(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter")
    archive = tmp_path / TAR_NAME
    written = make_cifar_tar(archive, per_batch=2, n_test=2)
    with tarfile.open(tmp_path / "extra.tar", "w") as tar:
        tar.addfile(*_member("cifar-10-batches-py/tool", mode=0o6777))
    target = extract_tar(archive, tmp_path / "out")
    ds = load_dataset("cifar10", data_dir=str(target), split="test", download=False)
    assert np.array_equal(ds.x.numpy(), written["test_batch"][0])
    extract_tar(tmp_path / "extra.tar", target)
    assert stat.S_IMODE(os.stat(target / "cifar-10-batches-py" / "tool").st_mode) == 0o755  # no setuid/setgid, no o+w


def _python_without_data_filter() -> str | None:
    for name in ("python3.11", "python3.10", "python3"):
        for folder in ("/usr/bin", "/usr/local/bin"):
            exe = shutil.which(name, path=folder)
            if exe and subprocess.run([exe, "-c", "import sys, tarfile; "
                                       "sys.exit(hasattr(tarfile, 'data_filter') or sys.version_info < (3, 10))"],
                                      capture_output=True).returncode == 0:
                return exe
    return None


def test_extraction_on_a_real_python_without_data_filter(tmp_path):
    """The fallback under an interpreter that really lacks the filter (Debian 12's Python 3.11.2, if installed)."""
    exe = _python_without_data_filter()
    if exe is None:
        pytest.skip("no Python 3.10/3.11 without tarfile.data_filter on this machine")
    src = Path(dl.__file__).resolve().parents[2]  # .../src: ganforge/__init__, errors and io need no torch
    code = ("import importlib.util, sys; sys.path.insert(0, sys.argv[1]); "
            "spec = importlib.util.spec_from_file_location('download', sys.argv[2]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "try:\n    m.extract_tar(sys.argv[3], sys.argv[4]); print('extracted')\n"
            "except m.DataError as e:\n    print('refused:', e)")
    good = tmp_path / TAR_NAME
    make_cifar_tar(good, per_batch=2, n_test=2)
    evil = _tar(tmp_path / "evil.tar.gz", [_member(*UNSAFE["dot-dot"]), _member(*UNSAFE["symlink out"])])
    for archive, target, expected in ((good, tmp_path / "good", "extracted"),
                                      (evil, tmp_path / "a" / "b", "refused: ")):
        r = subprocess.run([exe, "-c", code, str(src), dl.__file__, str(archive), str(target)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(expected), r.stdout
    assert "unsafe archive member refused" in r.stdout and "contains '..'" in r.stdout
    assert _written(tmp_path / "a" / "b") == [] and not (tmp_path / EVIL_NAME).exists()
    assert (tmp_path / "good" / "cifar-10-batches-py" / "test_batch").is_file()
