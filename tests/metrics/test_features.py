"""The reference classifier: shipped weights, their accuracy, determinism, the cache, Inception's error."""

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import needs_fashion, run_cli
from ganforge.data import load_dataset, normalize
from ganforge.errors import ConfigError, DataError
from ganforge.metrics.features import (FEATURE_DIM, ReferenceNet, accuracy, classifier_for, file_sha256,
                                       inception_net, load_classifier_file, reference_splits, shipped_manifest,
                                       train_classifier)

ASSETS = Path(__file__).resolve().parents[2] / "src" / "ganforge" / "assets"

# Accuracies the shipped networks must reach on their held-out images (the README states them).
STATED = {"digits": 0.97, "fashion-mnist": 0.90}


def test_manifest_lists_small_files_whose_hashes_match():
    manifest = shipped_manifest()
    assert set(manifest) == {"digits", "fashion-mnist"}
    for name, entry in manifest.items():
        path = ASSETS / entry["file"]
        assert path.stat().st_size < 2_000_000
        assert file_sha256(path) == entry["sha256"]
        assert entry["feature_dim"] == FEATURE_DIM


def assert_accuracy_is_the_networks(module: nn.Module, test, acc: float, recorded: float) -> float:
    """``acc`` (``accuracy``, float32) is the network's own accuracy, and that is the ``recorded`` one.

    The network's own decisions are those of its float64 copy (the float32 weights exactly). The float32
    logits differ from them by rounding: about one unit roundoff (2^-24) of the largest logit in one
    summation order (measured: 0.3), at most K times that in any order, K the longest sum (576 terms;
    the same argument as tests/train/test_steps.py). Only an image whose best two float64 logits lie
    within twice that of each other can be decided otherwise, so ``acc`` differs from the float64
    accuracy by at most the share of such images (none, for both shipped networks: they agree exactly).
    """
    x = normalize(test.x)
    with torch.no_grad():
        exact = copy.deepcopy(module).double().eval()(x.double())
        logits = torch.cat([module(x[i:i + 1000]) for i in range(0, len(x), 1000)]).double()
    terms = max(m.weight[0].numel() + 1 for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    tau = terms * 2.0 ** -24 * exact.abs().max().item()
    assert (logits - exact).abs().max() <= tau  # float32 at rounding level (a wrong kernel is far off)
    best_two = exact.topk(2, dim=1).values
    undecided = int((best_two[:, 0] - best_two[:, 1] <= 2 * tau).sum())
    acc64 = (exact.argmax(1) == test.y).double().mean().item()
    assert abs(acc - acc64) <= undecided / len(x)
    assert abs(acc64 - recorded) <= 5e-7  # the manifest keeps 6 decimals
    return acc64


def test_shipped_digits_classifier_reaches_its_stated_accuracy():
    net = classifier_for("digits")
    assert net.source == "shipped"
    _, test = reference_splits("digits")
    acc = accuracy(net.module, test.x, test.y)
    recorded = shipped_manifest()["digits"]["test_acc"]
    assert assert_accuracy_is_the_networks(net.module, test, acc, recorded) >= STATED["digits"]
    assert len(test) == 449  # fixed 25% hold-out of 1,797


@needs_fashion
def test_shipped_fashion_classifier_reaches_its_stated_accuracy():
    net = classifier_for("fashion-mnist")
    test = load_dataset("fashion-mnist", split="test")
    acc = accuracy(net.module, test.x, test.y)
    recorded = shipped_manifest()["fashion-mnist"]["test_acc"]
    assert assert_accuracy_is_the_networks(net.module, test, acc, recorded) >= STATED["fashion-mnist"]


def test_features_and_probabilities_shapes_and_resizing():
    net = classifier_for("digits")
    x = load_dataset("digits").x[:50]
    feats, probs = net(x)
    assert feats.shape == (50, FEATURE_DIM) and probs.shape == (50, 10)
    assert feats.dtype == np.float64 and (feats >= 0).all()  # post-ReLU features
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    # the same images upscaled to 16x16 (as the digits-dcgan preset trains) are resized back to 8x8
    # first; the round trip blurs them, and 41 of these 50 (0.82) keep their predicted class
    big = load_dataset("digits", image_size=16).x[:50]
    feats16, probs16 = net(big)
    assert feats16.shape == (50, FEATURE_DIM)
    assert (probs16.argmax(1) == probs.argmax(1)).mean() >= 0.75


def test_training_is_deterministic_for_a_seed():
    train, test = reference_splits("digits")
    train.x, train.y = train.x[:512], train.y[:512]
    a, acc_a = train_classifier(train, test, epochs=2, log=lambda *_: None)
    b, acc_b = train_classifier(train, test, epochs=2, log=lambda *_: None)
    assert acc_a == acc_b
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def _class_folder(root: Path, per_class: int = 40) -> Path:
    """Real digits written as PNGs, one sub-folder per class."""
    ds = load_dataset("digits")
    for c in range(3):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i, img in enumerate(ds.x[ds.y == c][:per_class]):
            Image.fromarray(img[0].numpy()).save(d / f"{i}.png")
    return root


def test_cli_trains_caches_and_reuses_a_classifier_for_a_folder(tmp_path):
    folder = _class_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    env = {"GANFORGE_CACHE": str(cache)}
    r = run_cli("classifier", "train", "--dataset", f"folder:{folder}", "--epochs", "2", env=env)
    assert r.returncode == 0, r.stderr
    files = list((cache / "classifiers").glob("folder*.pt"))
    assert len(files) == 1
    digest = file_sha256(files[0])
    assert digest in r.stdout
    net, state = load_classifier_file(files[0])
    assert isinstance(net, ReferenceNet) and state["in_shape"] == [1, 8, 8] and state["num_classes"] == 3
    # info reuses the cached file (the fingerprint of the same images gives the same name)
    info = run_cli("classifier", "info", "--dataset", f"folder:{folder}", env=env)
    assert info.returncode == 0 and digest in info.stdout and "cache" in info.stdout


def test_info_without_a_trained_classifier_says_what_to_run(tmp_path):
    folder = _class_folder(tmp_path / "imgs", per_class=5)
    r = run_cli("classifier", "info", "--dataset", f"folder:{folder}", env={"GANFORGE_CACHE": str(tmp_path / "c")})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "ganforge classifier train --dataset" in r.stderr


def test_inception_without_weights_is_a_one_line_error(tmp_path):
    # GANFORGE_OFFLINE (set for every test) leaves out the built-in internet mirror, and no other is configured
    with pytest.raises(DataError, match="could not download inception-2015-12-05.pt: no mirror configured; put "
                                        "inception-2015-12-05.pt .* or pass --inception-weights PATH"):
        inception_net(None)
    with pytest.raises(ConfigError, match="does not exist"):
        inception_net(tmp_path / "missing.pt")
    np.savez(tmp_path / "s.npz", arr_0=np.zeros((20, 8, 8, 1), np.uint8))
    r = run_cli("eval", "--samples", tmp_path / "s.npz", "--dataset", "digits", "--features", "inception")
    assert r.returncode == 2 and r.stderr.startswith("ganforge: error:") and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_damaged_classifier_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="unreadable"):
        load_classifier_file(bad)


class _TinyInception(torch.nn.Module):
    """A stand-in with the real file's interface: uint8 RGB in, 2048 features or 1008 probabilities out."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Linear(3 * 4 * 4, 2048)
        self.logits = torch.nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False) -> torch.Tensor:
        h = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1)   # (B, 3, H, W) -> (B, 48)
        f = torch.relu(self.features(h))                            # -> (B, 2048)
        if return_features:
            return f
        return torch.softmax(self.logits(f), dim=1)                  # -> (B, 1008)


def test_inception_file_with_another_sha256_is_refused_unless_allowed(tmp_path):
    known = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"  # stylegan2-ada-pytorch's file
    url = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
    torch.manual_seed(0)
    weights = tmp_path / "inception-2015-12-05.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # newer torch deprecates TorchScript; the real file is one
        torch.jit.script(_TinyInception()).save(str(weights))
    digest = file_sha256(weights)
    assert digest != known
    np.savez(tmp_path / "s.npz", arr_0=load_dataset("digits").x[:200].permute(0, 2, 3, 1).numpy())
    args = ["eval", "--samples", tmp_path / "s.npz", "--dataset", "digits", "--features", "inception",
            "--inception-weights", weights, "--metrics", "fid", "--json"]

    refused = run_cli(*args)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("ganforge: error: ") and f"sha256 {digest}" in line
    for words in (f"expected {known}", url, "--allow-unknown-inception"):
        assert words in line

    allowed = run_cli(*args, "--allow-unknown-inception")
    assert allowed.returncode == 0, allowed.stderr
    out = json.loads(allowed.stdout.strip().splitlines()[-1])
    assert out["features"] == {"network": "inception-v3 (unknown file)", "sha256": digest, "dim": 2048,
                               "source": "inception", "resize": "pil-bicubic"}
    assert out["fid"] >= 0.0
    assert f"is not the known inception-2015-12-05.pt (sha256 {digest[:12]})" in allowed.stderr


# -- Inception: download on first use, resizing, the protocol recorded ---------------------------------

def _pil_bicubic_reference(x_uint8: torch.Tensor, size: int) -> np.ndarray:
    """clean-fid's "clean" resize, written out: each channel of the uint8 image as a float32 PIL image ('F'),
    resized with PIL's bicubic filter, clipped to [0, 255], not rounded."""
    from PIL import Image

    return np.stack([np.stack([np.asarray(Image.fromarray(c.astype(np.float32), mode="F")
                                          .resize((size, size), Image.BICUBIC)).clip(0, 255) for c in img])
                     for img in x_uint8.numpy()])


@pytest.mark.parametrize("size", [299, 17, 64])
def test_pil_bicubic_resize_matches_pil_on_real_and_random_images(size):
    from ganforge.metrics.features import resize_pil_bicubic

    digits = load_dataset("digits").x[:16].repeat(1, 3, 1, 1)                      # real 8x8 digits, as RGB
    noise = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for x in (digits, noise):
        got = resize_pil_bicubic(x, size)
        assert got.dtype == torch.float32 and got.shape == (len(x), 3, size, size)
        # Both sides evaluate the same separable filter in float32, in other orders: per output, two passes of
        # at most 16 taps whose |weights| sum under 1.3 over values up to 255, each operation off by at most
        # 2^-24 of that (2 x 16 x 255 x 1.3 x 2^-24 = 6.3e-4), and the weights themselves rounded differently:
        # within 3x that, 2e-3 grey levels.
        np.testing.assert_allclose(got.numpy(), _pil_bicubic_reference(x, size), rtol=0, atol=2e-3)


def test_inception_downloads_once_from_a_mirror_checks_sha256_and_records_the_protocol(tmp_path, monkeypatch):
    import functools
    import http.server
    import threading

    from ganforge.metrics import features as feat
    from ganforge.metrics.evaluate import score_samples

    www = tmp_path / "www"
    (www / "good" / "inception").mkdir(parents=True)
    (www / "bad" / "inception").mkdir(parents=True)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_TinyInception()).save(str(www / "good" / "inception" / feat.INCEPTION_FILE))
    (www / "bad" / "inception" / feat.INCEPTION_FILE).write_bytes(b"not the network")
    stand_in = file_sha256(www / "good" / "inception" / feat.INCEPTION_FILE)
    monkeypatch.setattr(feat, "INCEPTION_SHA256", stand_in)                    # the stand-in plays the pinned file

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        cache = tmp_path / "cache"
        monkeypatch.setenv("GANFORGE_CACHE", str(cache))
        monkeypatch.setenv("GANFORGE_MIRROR", base + "/bad/{name}/")            # wrong bytes: refused, nothing kept
        with pytest.raises(DataError, match="sha256 mismatch"):
            feat.inception_net(None)
        assert not (cache / feat.INCEPTION_FILE).exists() and not [p for p in cache.glob(".*") if p.is_file()]

        monkeypatch.setenv("GANFORGE_MIRROR", base + "/good/{name}/")
        said = []
        net = feat.inception_net(None, log=said.append)
        path = cache / feat.INCEPTION_FILE
        assert path.is_file() and file_sha256(path) == stand_in and len(said) == 1
        assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())        # the user's usual mode
        monkeypatch.setenv("GANFORGE_MIRROR", base + "/missing/{name}/")        # cached: never fetched again
        assert feat.inception_net(None, log=said.append).sha256 == net.sha256 and len(said) == 1

        x = load_dataset("digits").x[:100]
        quiet = {"features": "inception", "metrics": ["fid"], "log": lambda *a: None}
        clean = score_samples(x, "digits", **quiet)
        legacy = score_samples(x, "digits", resize="legacy-tf", **quiet)
        assert clean["protocol"] == {"samples": 100, "reference": "digits training split, all 1797 images",
                                     "features": "inception-v3", "resize": "pil-bicubic"}
        assert legacy["protocol"]["resize"] == "legacy-tf" and clean["fid"] != legacy["fid"]
        cached = sorted(p.name for p in (cache / "features").glob("digits-*.npz"))
        assert len(cached) == 2 and any("-pil-bicubic-" in n for n in cached) and any("-legacy-tf-" in n for n in cached)
        with pytest.raises(ConfigError, match="--resize sets how images reach Inception"):
            score_samples(x, "digits", metrics=["fid"], resize="legacy-tf", log=lambda *a: None)
    finally:
        httpd.shutdown()
        httpd.server_close()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
