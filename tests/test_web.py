"""``ganforge export --format web``: onnxruntime-web from the npm registry (integrity checked, cached) or a local
copy, and the page in headless Chromium: it loads from a file, draws non-blank images, and its pixels for fixed
latents are the Python samples'."""

import base64
import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.data import to_uint8
from ganforge.errors import DataError
from ganforge.export import export_generator
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from browser import CHROMIUM, Browser
from ganforge import web

pytest.importorskip("onnx", reason="ONNX export is the 'export' extra (pip install 'ganforge[export]')")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
STATUS_ERROR = "document.getElementById('status').dataset.error && document.getElementById('status').textContent"
TINY = {"data.name": "digits", "train.steps": 14, "train.batch_size": 64, "train.progress": False,
        "train.num_samples": 10, "train.threads": 1}


@pytest.fixture(scope="module")
def ort_tgz(tmp_path_factory):
    """The pinned onnxruntime-web tarball, fetched from the npm registry by ganforge's own downloader (sha512 of
    the registry's integrity checked) into a cache of this module's."""
    cache = tmp_path_factory.mktemp("npm-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_CACHE", str(cache))
        mp.setenv("GANFORGE_OFFLINE", "0")
        mp.delenv("GANFORGE_MIRROR", raising=False)
        source, wasm, version = web.ort_web(log=lambda *a: None)
    path = cache / "npm" / web.ORT_WEB_TGZ
    assert version == web.ORT_WEB_VERSION and wasm[:4] == b"\0asm" and "InferenceSession" in source
    assert hashlib.sha512(path.read_bytes()).hexdigest() == web.ORT_WEB_SHA512
    return path


def _page_pixels(page, z: torch.Tensor, second: torch.Tensor | None) -> tuple[dict, float]:
    """Open the page from its file in headless Chromium with the test hook: (its test output, the pixel std of
    the grid it drew on load)."""
    frag = "test=" + base64.b64encode(z.numpy().astype(np.float32).tobytes()).decode()
    if second is not None:
        raw = second.numpy().astype(np.int64 if second.dtype == torch.int64 else np.float32).tobytes()
        frag += "&second=" + base64.b64encode(raw).decode()
    with Browser() as browser:
        browser.open(page.resolve().as_uri() + "#" + frag.replace("+", "%2B"))
        out = browser.wait_for("document.getElementById('test').textContent", error=STATUS_ERROR)
        std = float(browser.evaluate("document.getElementById('status').dataset.std"))
    return json.loads(out), std


@needs_chromium
@pytest.mark.parametrize("preset", ["mnist-cgan-conv", "digits-infogan"])
def test_page_loads_from_a_file_draws_and_matches_python_samples(preset, ort_tgz, tmp_path):
    run = Trainer(resolve(preset, TINY), tmp_path / "run").fit()
    page = tmp_path / "demo.html"
    result = run_cli("export", run, "--format", "web", "--out", page, "--ort", ort_tgz)
    assert result.returncode == 0, result.stderr
    sampler = load_generator(run)
    inputs = sampler.family.export_inputs(6, torch.Generator().manual_seed(11))
    z, second = inputs["z"], next((v for k, v in inputs.items() if k != "z"), None)
    got, std = _page_pixels(page, z, second)
    assert std > 5, "the page's grid is blank"                                  # drawn from seed 0 on load
    expected = to_uint8(sampler.family.export_forward(sampler.G, {k: v for k, v in inputs.items()}).detach())
    pixels = np.asarray(got["pixels"]).reshape(expected.shape)
    # WebAssembly's kernels sum in other orders than PyTorch's: a pixel may round the other way, no further
    assert got["n"] == 6 and np.abs(pixels - expected.numpy().astype(int)).max() <= 1
    assert (pixels == expected.numpy()).mean() > 0.99


@needs_chromium
def test_page_screenshot_shows_the_grid_and_the_walk(ort_tgz, tmp_path):
    run = Trainer(resolve("mnist-cgan-conv", TINY), tmp_path / "run").fit()
    page = tmp_path / "demo.html"
    export_generator(run, "web", page, ort=ort_tgz)
    shot = tmp_path / "shot.png"
    with Browser((900, 700)) as browser:
        browser.open(page.resolve().as_uri())
        browser.wait_for("document.getElementById('status').dataset.std", error=STATUS_ERROR)
        browser.screenshot(shot)
    screen = np.asarray(Image.open(shot).convert("RGB"))
    assert screen.shape[1:] == (900, 3) and screen.shape[0] > 500            # the viewport of a 900x700 window
    assert len(np.unique(screen.reshape(-1, 3), axis=0)) > 50                    # text, controls and samples


def test_ort_from_a_local_mirror_tarball_or_folder_and_the_errors(tmp_path, monkeypatch):
    """A stand-in tarball with the runtime's two files, served over HTTP on loopback, plays the pinned one."""
    pkg = io.BytesIO()
    with tarfile.open(fileobj=pkg, mode="w:gz") as tar:
        for name, data in ((web.ORT_FILES[0], b"export const InferenceSession = 1;"), (web.ORT_FILES[1], b"\0asm-ish")):
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    www = tmp_path / "www" / "onnxruntime-web"
    www.mkdir(parents=True)
    (www / web.ORT_WEB_TGZ).write_bytes(pkg.getvalue())
    monkeypatch.setattr(web, "ORT_WEB_SHA512", hashlib.sha512(pkg.getvalue()).hexdigest())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(tmp_path / "www")))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
        with pytest.raises(DataError, match=f"could not download {web.ORT_WEB_TGZ}: no mirror configured; put "):
            web.ort_web(log=lambda *a: None)                                  # offline, no mirror of one's own
        monkeypatch.setenv("GANFORGE_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/" + "{name}/")
        source, wasm, version = web.ort_web(log=lambda *a: None)
        assert (source, wasm, version) == ("export const InferenceSession = 1;", b"\0asm-ish", web.ORT_WEB_VERSION)
        assert (tmp_path / "cache" / "npm" / web.ORT_WEB_TGZ).read_bytes() == pkg.getvalue()
    finally:
        httpd.shutdown()
        httpd.server_close()

    # --ort: the same tarball, an unpacked package, and what is not one
    assert web.ort_web(www / web.ORT_WEB_TGZ)[1] == b"\0asm-ish"
    with tarfile.open(www / web.ORT_WEB_TGZ) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (tmp_path / "unpacked" / "package" / "package.json").write_text('{"version": "1.31.0"}')
    assert web.ort_web(tmp_path / "unpacked")[2] == "1.31.0"
    other = tmp_path / "other.tgz"
    other.write_bytes(b"something else")
    with pytest.raises(DataError, match=f"is not {web.ORT_WEB_TGZ} \\(sha512 "):
        web.ort_web(other)
    with pytest.raises(DataError, match="is not an onnxruntime-web package: it has no dist/ort.wasm.bundle.min.mjs"):
        web.ort_web(tmp_path / "www")
