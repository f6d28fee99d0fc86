"""Downloads: mirrors, md5 checksums, atomic writes into the cache, safe extraction.

A file is streamed into a hidden temp file next to its final place, its md5 is
checked against the upstream release, and only then is it moved into place
with ``os.replace``. A failed or interrupted download never leaves anything
under the final name. Mirrors are tried in order; ``$GANFORGE_MIRROR`` (a
base URL, optionally containing ``{name}``) is tried before the defaults.
Archives are extracted with :func:`extract_tar`, which writes nothing outside
its target. (Standard library only: no torch here.)
"""

from __future__ import annotations

import copy
import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ganforge.errors import DataError
from ganforge.io import file_hash, new_file_mode

TIMEOUT_S = 30.0
_CHUNK = 1 << 16

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_TAR = "cifar-10-python.tar.gz"

# Default mirrors, tried in order after $GANFORGE_MIRROR.
MIRRORS: dict[str, list[str]] = {
    # the standard Inception-v3 TorchScript file of stylegan2-ada-pytorch's metrics (metrics/features.py)
    "inception": ["https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"],
    # onnxruntime-web from the npm registry, for the pages of `ganforge export --format web` (web.py)
    "onnxruntime-web": ["https://registry.npmjs.org/onnxruntime-web/-/"],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "kmnist": ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

# md5 of the files as published upstream (local copies are checked by structure instead).
MD5: dict[str, dict[str, str]] = {
    "mnist": dict(zip(IDX_FILES, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ))),
    "fashion-mnist": dict(zip(IDX_FILES, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ))),
    "kmnist": dict(zip(IDX_FILES, (
        "bdb82020997e1d708af4cf47b453dcf7",
        "e144d726b3acfaa3e44228e80efcd344",
        "5c965bf0a639b31b8f53240b1b52f4d7",
        "7320c461ea6c1c855c0b718fb2a4b134",
    ))),
    "cifar10": {CIFAR10_TAR: "c58f30108f718f92721af3b95e74349a"},
}


def cache_dir() -> Path:
    """ganforge's cache: ``$GANFORGE_CACHE``, else ``$XDG_CACHE_HOME/ganforge``, else ``~/.cache/ganforge``."""
    if os.environ.get("GANFORGE_CACHE"):
        return Path(os.environ["GANFORGE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "ganforge"
    return Path.home() / ".cache" / "ganforge"


def data_cache_dir(name: str) -> Path:
    """Where data set ``name`` is downloaded to: ``<cache>/data/<name>``."""
    return cache_dir() / "data" / name


def pretty_path(path: Path | str) -> str:
    """``path`` with the home directory written as ``~``, for messages."""
    path = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def default_mirrors(name: str) -> list[str]:
    """Base URLs for ``name``: ``$GANFORGE_MIRROR`` first (``{name}`` is filled in), then the built-in ones,
    which ``GANFORGE_OFFLINE=1`` leaves out (a local mirror still serves)."""
    mirrors = []
    user = os.environ.get("GANFORGE_MIRROR", "").strip()
    if user:
        mirrors.append(user.replace("{name}", name))
    if os.environ.get("GANFORGE_OFFLINE", "").strip() not in ("", "0"):
        return mirrors
    return mirrors + MIRRORS.get(name, [])


def file_md5(path: Path | str) -> str:
    return file_hash(path, "md5")


def _what_to_put(name: str) -> str:
    if name == "cifar10":
        return CIFAR10_TAR
    if name in ("mnist", "fashion-mnist", "kmnist"):
        return "the four files"
    return "the files"


def _url(base: str, filename: str) -> str:
    return base if base.endswith(filename) else base.rstrip("/") + "/" + filename


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


class _Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, printed once otherwise)."""

    def __init__(self, label: str, total: int | None, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.done = 0
        self._last_draw = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and now - self._last_draw > 0.1:
            self._last_draw = now
            self._draw("\r")

    def close(self) -> None:
        if self.enabled:
            self._draw("\r" if self.tty else "")
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self, prefix: str) -> None:
        mb = self.done / 1e6
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            text = f"{self.label} [{bar:<30}] {100 * frac:5.1f}% {mb:.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.label} {mb:.1f} MB"
        sys.stderr.write(prefix + text)
        sys.stderr.flush()


def _fetch_once(url: str, dest: Path, digest_hex: str, timeout: float, label: str, progress: bool,
                algo: str = "md5") -> None:
    """Stream ``url`` into a temp file in ``dest.parent``; check its ``algo`` digest against ``digest_hex``; move
    to ``dest``. Raises on failure."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    ok = False
    try:
        os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; the cached file gets the user's usual mode
        digest = hashlib.new(algo)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            bar = _Progress(label, int(length) if length and length.isdigit() else None, progress)
            try:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
            finally:
                bar.close()
        got = digest.hexdigest()
        if got != digest_hex:
            raise ValueError(f"{algo} mismatch (got {got}, expected {digest_hex})")
        os.replace(tmp, dest)
        ok = True
    finally:
        if not ok:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _fetch_from_mirrors(dest: Path, mirrors: list[str], digest_hex: str, algo: str, timeout: float, label: str,
                        progress: bool) -> str | None:
    """Fetch ``dest.name`` into ``dest`` from the first mirror that serves it with the right digest: None when one
    did, else why none did (each mirror's reason, or that none is configured)."""
    reasons = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reasons.append(f"cannot create {pretty_path(dest.parent)}: {e.strerror or e}")
        mirrors = []
    for base in mirrors:
        url = _url(base, dest.name)
        try:
            _fetch_once(url, dest, digest_hex, timeout, label, progress, algo=algo)
            return None
        except urllib.error.HTTPError as e:
            reasons.append(f"{_host(url)}: HTTP {e.code} {e.reason}")
        except urllib.error.URLError as e:
            reasons.append(f"{_host(url)}: {getattr(e.reason, 'strerror', None) or e.reason}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            reasons.append(f"{_host(url)}: {str(e) or type(e).__name__}")
    return ", ".join(reasons) or "no mirror configured"


def download_file(
    name: str,
    filename: str,
    dest_dir: Path | str,
    *,
    md5: str | None = None,
    mirrors: list[str] | None = None,
    timeout: float = TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download ``filename`` of data set ``name`` into ``dest_dir`` and return its path.

    ``md5`` defaults to the upstream checksum; ``mirrors`` (base URLs, tried in
    order) default to ``$GANFORGE_MIRROR`` then the built-in mirrors. A mirror
    whose file has the wrong md5 is skipped. Raises a one-line ``DataError``
    when every mirror fails.
    """
    dest_dir = Path(dest_dir)
    dest = dest_dir / filename
    if md5 is None:
        try:
            md5 = MD5[name][filename]
        except KeyError:
            raise DataError(f"no checksum known for {name} file {filename}") from None
    mirrors = default_mirrors(name) if mirrors is None else list(mirrors)
    reason = _fetch_from_mirrors(dest, mirrors, md5, "md5", timeout, f"{name} {filename}", progress)
    if reason is None:
        return dest
    raise DataError(
        f"could not download {name} ({filename}): {reason}; "
        f"put {_what_to_put(name)} in {pretty_path(data_cache_dir(name))} or pass --data-dir DIR"
    )


def download_pinned(name: str, filename: str, dest_dir: Path | str, digest: str, *, mirrors: list[str] | None = None,
                    timeout: float = TIMEOUT_S, progress: bool = True, what_to_do: str = "", algo: str = "sha256") -> Path:
    """Download ``filename`` (e.g. network weights) into ``dest_dir`` from ``mirrors`` (default: ``$GANFORGE_MIRROR``
    with ``{name}`` filled in, then the built-in mirrors of ``name``), keeping it only if its ``algo`` digest (hex)
    is ``digest``; atomic, with the user's usual file mode. A one-line ``DataError`` (ending in ``what_to_do``)
    when every mirror fails."""
    dest = Path(dest_dir) / filename
    mirrors = default_mirrors(name) if mirrors is None else list(mirrors)
    reason = _fetch_from_mirrors(dest, mirrors, digest, algo, timeout, filename, progress)
    if reason is None:
        return dest
    raise DataError(f"could not download {filename}: {reason}" + (f"; {what_to_do}" if what_to_do else ""))


def download_files(
    name: str,
    filenames: list[str] | tuple[str, ...],
    dest_dir: Path | str | None = None,
    *,
    md5s: dict[str, str] | None = None,
    mirrors: list[str] | None = None,
    timeout: float = TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download the ``filenames`` of ``name`` not yet in ``dest_dir`` (default: its cache folder)."""
    dest_dir = Path(dest_dir) if dest_dir is not None else data_cache_dir(name)
    for filename in filenames:
        if (dest_dir / filename).is_file():
            continue
        md5 = md5s[filename] if md5s is not None else None
        download_file(name, filename, dest_dir, md5=md5, mirrors=mirrors, timeout=timeout, progress=progress)
    return dest_dir


# ---------------------------------------------------------------------------
# Safe extraction

class UnsafeMember(Exception):
    """An archive member that could write outside the target, or is not a plain file or folder."""


# tarfile's own refusals (Python 3.12, 3.11.4+, 3.10.12+) and ours, where its filters are missing
_REFUSED = (getattr(tarfile, "FilterError", UnsafeMember), UnsafeMember)


def checked_members(tar: tarfile.TarFile, target: Path | str) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, checked before anything is written (for Pythons without ``tarfile.data_filter``).

    Refuses (``UnsafeMember``) anything but regular files and folders (links, devices, FIFOs), absolute
    names, ``..`` components and names that resolve outside ``target`` (through a link already on
    disk). Returns copies without setuid, setgid, sticky or group/other write bits, readable and
    writable by their owner, the current user (not the archive's), as the ``data`` filter leaves them.
    """
    root = os.path.realpath(target)
    checked = []
    for member in tar.getmembers():
        name = member.name
        if not (member.isfile() or member.isdir()):
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise UnsafeMember(f"{name!r} is a {kind}, not a regular file or folder")
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or os.path.isabs(name) or ".." in parts:
            raise UnsafeMember(f"{name!r} is an absolute path or contains '..'")
        dest = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, dest]) != root:
            raise UnsafeMember(f"{name!r} would be written outside {target}")
        safe = copy.copy(member)
        safe.mode = (member.mode & 0o755) | (0o700 if member.isdir() else 0o600)
        if hasattr(os, "getuid"):  # extracting as root would otherwise chown to the archive's owners
            safe.uid, safe.gid, safe.uname, safe.gname = os.getuid(), os.getgid(), "", ""
        checked.append(safe)
    return checked


def extract_tar(tar_path: Path | str, target: Path | str) -> Path:
    """Extract ``tar_path`` into ``target``; nothing is ever written outside ``target``.

    Members that would land outside it (absolute paths, ``..``, links pointing out), device files and
    the like are refused: by tarfile's ``data`` filter where Python has it (3.12, 3.11.4+, 3.10.12+),
    else by :func:`checked_members`, which also refuses every link and checks all members before
    extracting any. Raises ``DataError`` naming the archive.
    """
    tar_path, target = Path(tar_path), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, filter="data")
            else:
                tar.extractall(target, members=checked_members(tar, target))
    except _REFUSED as e:
        raise DataError(f"{tar_path}: unsafe archive member refused ({e})") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{tar_path}: cannot extract ({e})") from None
    return target
