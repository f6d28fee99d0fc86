"""The downloader against a real HTTP server on 127.0.0.1 serving files the tests write."""

import functools
import http.server
import socket
import threading
import time

import numpy as np
import pytest

from ganforge.data import load_dataset
from ganforge.data.cifar import TAR_NAME
from ganforge.data import download as dl
from ganforge.data.download import default_mirrors, download_file, download_files
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
    mirrors = default_mirrors("mnist")
    assert mirrors[0] == "http://example.test/data/mnist/"
    assert mirrors[1].startswith("https://ossci-datasets.s3.amazonaws.com/mnist")
    assert mirrors[2].startswith("http://yann.lecun.com/")


def test_downloaded_cifar_tar_loads_from_cache(server, isolated_data_env):
    tar = server["root"] / "good" / TAR_NAME
    written = make_cifar_tar(tar, per_batch=2, n_test=2)
    download_file("cifar10", TAR_NAME, isolated_data_env / "data" / "cifar10", md5=md5(tar),
                  mirrors=[server["base"] + "/good"], progress=False)
    ds = load_dataset("cifar10", split="test", download=False)
    assert np.array_equal(ds.x.numpy(), written["test_batch"][0])
