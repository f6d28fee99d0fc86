"""``ganforge export --format web``: one static HTML page that generates in the browser, no server, no Python.

The page (``assets/demo.html``) embeds the run's ONNX generator, its metadata, and onnxruntime-web's
WebAssembly build, all as base64, and loads them from memory: the runtime's ES module through a blob URL,
its .wasm as ``env.wasm.wasmBinary``, one thread (a page opened from a file is not cross-origin isolated).
So it works opened from disk, offline. It shows a grid of samples from a seed, a "new seed" button, a
latent walk, and class or code controls.

onnxruntime-web comes from the npm registry at a pinned version, its tarball checked against the
registry's sha512 integrity before it is kept, and cached beside the data sets (``<cache>/npm/``); or
from a path the user gives (``--ort``): that tarball (checked the same way) or an unpacked package folder.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tarfile
from importlib import resources
from pathlib import Path

from ganforge.errors import ConfigError, DataError

ORT_WEB_VERSION = "1.30.0"
ORT_WEB_TGZ = f"onnxruntime-web-{ORT_WEB_VERSION}.tgz"
# the npm registry's dist.integrity of that tarball ("sha512-q0y+JrrtukXSzsBW..."), as hex
ORT_WEB_SHA512 = ("ab4cbe26baedba45d2cec05610c71c55fa97db92d19a8b171c5f8269126683ca"
                  "590a5cdc57bb2f35ce2b298de32f4d956fb42644c0ecd528a0a91e025c07ca61")
ORT_FILES = ("dist/ort.wasm.bundle.min.mjs", "dist/ort-wasm-simd-threaded.wasm")  # the runtime and its WebAssembly


def _from_tarball(path: Path) -> tuple[str, bytes]:
    from ganforge.io import file_hash

    digest = file_hash(path, "sha512")
    if digest != ORT_WEB_SHA512:
        raise DataError(f"{path} is not {ORT_WEB_TGZ} (sha512 {digest[:16]}..., expected {ORT_WEB_SHA512[:16]}...); "
                        f"give that tarball from the npm registry or an unpacked onnxruntime-web package folder")
    with tarfile.open(path, "r:gz") as tar:
        source, wasm = (tar.extractfile(f"package/{name}").read() for name in ORT_FILES)
    return source.decode("utf-8"), wasm


def _from_folder(path: Path) -> tuple[str, bytes, str]:
    root = path / "package" if (path / "package").is_dir() else path
    if root.name == "dist":
        root = root.parent
    missing = [name for name in ORT_FILES if not (root / name).is_file()]
    if missing:
        raise DataError(f"{path} is not an onnxruntime-web package: it has no {', '.join(missing)} "
                        f"(onnxruntime-web {ORT_WEB_VERSION} or later, unpacked)")
    version = json.loads((root / "package.json").read_text()).get("version", "?") if (root / "package.json").is_file() else "?"
    return (root / ORT_FILES[0]).read_text(encoding="utf-8"), (root / ORT_FILES[1]).read_bytes(), version


def ort_web(path: str | Path | None = None, log=print) -> tuple[str, bytes, str]:
    """(the runtime's ES module source, its WebAssembly bytes, its version): from ``path`` (a tarball or an unpacked
    package), else the cache, downloading the pinned tarball into it on first use."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            return _from_folder(path)
        if not path.is_file():
            raise ConfigError(f"--ort {path} does not exist; give {ORT_WEB_TGZ} or an unpacked onnxruntime-web folder")
        return (*_from_tarball(path), ORT_WEB_VERSION)
    from ganforge.data.download import cache_dir, download_pinned, pretty_path

    folder = cache_dir() / "npm"
    tgz = folder / ORT_WEB_TGZ
    if not tgz.is_file():
        log(f"downloading {ORT_WEB_TGZ} (33 MB, once) into {pretty_path(folder)}")
        download_pinned("onnxruntime-web", ORT_WEB_TGZ, folder, ORT_WEB_SHA512, algo="sha512",
                        what_to_do=f"put {ORT_WEB_TGZ} (https://registry.npmjs.org/onnxruntime-web/-/{ORT_WEB_TGZ}) "
                                   f"in {pretty_path(folder)} or pass --ort PATH")
    return (*_from_tarball(tgz), ORT_WEB_VERSION)


def _about(meta: dict) -> str:
    run = f"{meta.get('preset') or meta['family']}, step {meta['step']}, trained on {meta['data']}"
    shape = "x".join(map(str, meta["output"]["shape"][2:]))
    what = {"gan": "a GAN generator", "infogan": "an InfoGAN generator", "stackgan": "a StackGAN generator (stage II)"}
    return (f"{what.get(meta['family'], 'a generator')} ({run}; {shape} images), running in this page with "
            "onnxruntime-web: no server, no Python.")


def page(model: bytes, meta: dict, ort_source: str, ort_wasm: bytes, ort_version: str) -> str:
    """The page's HTML: ``assets/demo.html`` with the model, its metadata and the runtime filled in."""
    template = resources.files("ganforge").joinpath("assets/demo.html").read_text(encoding="utf-8")
    title = f"ganforge: {meta.get('preset') or meta['family']}"
    fills = {
        "__TITLE__": html.escape(title),
        "__ABOUT__": html.escape(_about(meta)),
        "__META__": json.dumps(meta).replace("</", "<\\/"),
        "__ORT_VERSION__": html.escape(ort_version),
        "__ORT_SOURCE__": ort_source.replace("</script", "<\\/script"),
        "__ORT_WASM__": base64.b64encode(ort_wasm).decode("ascii"),
        "__MODEL__": base64.b64encode(model).decode("ascii"),
    }
    out = io.StringIO()
    rest = template
    while rest:  # one pass, so nothing filled in is scanned again
        hits = [(rest.find(key), key) for key in fills if rest.find(key) >= 0]
        if not hits:
            out.write(rest)
            break
        at, key = min(hits)
        out.write(rest[:at])
        out.write(fills[key])
        rest = rest[at + len(key):]
    return out.getvalue()
