"""pix2pix: the pair makers, the U-Net and PatchGAN, the losses in closed form, training, resume,
evaluation on test pairs, paired folders, and ``ganforge translate`` in a real subprocess."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.data import load_dataset, normalize
from ganforge.data.pairs import EDGE_THRESHOLD, HOLE_FILL, hole_boxes, make_sources
from ganforge.errors import ConfigError, DataError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.metrics.evaluate import evaluate_run
from ganforge.models.pix2pix import PatchDiscriminator, UNetGenerator, patch_receptive_field, unet_depth
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train import Trainer

TINY = {"data.name": "digits", "data.image_size": 8, "model.width": 8, "train.batch_size": 16,
        "train.progress": False, "train.num_samples": 4, "train.precision": "fp32"}


# -- pair makers ---------------------------------------------------------------------------------

def test_sr4_source_is_the_mean_of_each_4x4_block_rounded():
    x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8) * 3
    src = make_sources(x, "sr4")
    assert src.shape == (1, 1, 2, 2) and src.dtype == torch.uint8
    blocks = x[0, 0].double().view(2, 4, 2, 4).mean((1, 3))
    assert torch.equal(src[0, 0], blocks.round().to(torch.uint8))
    with pytest.raises(DataError, match="divisible by 4"):
        make_sources(torch.zeros(1, 1, 10, 10, dtype=torch.uint8), "sr4")


def test_inpaint_holes_are_grey_half_side_squares_centred_or_fixed_per_seed():
    x = torch.full((6, 1, 28, 28), 7, dtype=torch.uint8)
    centre = make_sources(x, "inpaint-centre")
    assert (centre[:, :, 7:21, 7:21] == HOLE_FILL).all() and (centre == HOLE_FILL).sum() == 6 * 14 * 14
    a, b, c = (make_sources(x, "inpaint", seed=s) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)                   # deterministic per (seed, image)
    assert ((a == HOLE_FILL).flatten(1).sum(1) == 14 * 14).all()         # each hole whole, inside the image
    boxes = hole_boxes(1000, 28, 28, centre=False, seed=0)
    assert boxes.min() == 0 and boxes.max() == 14                         # every place a 14x14 hole can be


def test_colorize_source_is_the_luminance_and_needs_rgb():
    x = torch.tensor([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30], dtype=torch.uint8).view(4, 3, 1, 1)
    grey = make_sources(x, "colorize")
    expected = [round(0.299 * 255), round(0.587 * 255), round(0.114 * 255), round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]
    assert grey.shape == (4, 1, 1, 1) and grey.flatten().tolist() == expected
    with pytest.raises(DataError, match="needs RGB images"):
        make_sources(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), "colorize")


def test_edges_are_black_on_a_step_and_white_elsewhere():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    x[..., 4:] = 255                                                      # a vertical black-to-white step
    e = make_sources(x, "edges")[0, 0]
    assert (e[:, 3:5] == 0).all()                                         # the two columns beside the step
    assert (e[:, :3] == 255).all() and (e[:, 5:] == 255).all()
    faint = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    faint[..., 4:] = int(EDGE_THRESHOLD) - 1                              # a step below the threshold: no edge
    assert (make_sources(faint, "edges") == 255).all()


# -- networks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size, depth", [(28, 2), (32, 5), (64, 6), (256, 8), (8, 3)])
def test_unet_halves_while_even_and_keeps_the_size(size, depth):
    assert unet_depth(size) == depth
    G = UNetGenerator(1, 3, size, width=4)
    assert G.depth == depth and len(G.down) == len(G.up) == depth
    out = G(torch.randn(2, 1, size, size))
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    dropouts = [m for m in G.up.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == min(3, depth - 1)                             # the three innermost decoder layers


@pytest.mark.parametrize("layers, field", [(1, 16), (2, 34), (3, 70)])
def test_each_patch_logit_sees_its_receptive_field(layers, field):
    """The pixels that reach one logit (non-zero gradient) span the receptive field the paper names (70x70)."""
    assert patch_receptive_field(layers) == field
    D = PatchDiscriminator(2, width=4, layers=layers).eval()
    torch.nn.init.constant_(D.net[0].weight, 0.01)                      # every tap non-zero
    x = torch.randn(1, 2, 96, 96, requires_grad=True)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    out[0, 0, i, j].backward()
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 <= field and cols.max() - cols.min() + 1 <= field
    assert rows.max() - rows.min() + 1 >= field - 3                       # zero padding may trim an edge tap


# -- losses in closed form -----------------------------------------------------------------------

def _family(**over):
    cfg = resolve("fashion-sr4-pix2pix", {**TINY, **over})
    data = load_dataset("digits", image_size=8, pairs=cfg.data.pairs)
    fam = build_family(cfg, DataSpec.of(data))
    torch.manual_seed(0)
    G, D = fam.build()
    fam.bind(TrainingForms(G, D))
    return fam, Batch(normalize(data.x[:16]), None, normalize(data.source[:16]))


def test_losses_are_halved_cross_entropy_and_adversarial_plus_100_l1():
    fam, batch = _family()
    G, D = fam.G.eval(), fam.D.eval()                                   # no dropout, running statistics: repeatable
    src = F.interpolate(batch.source, size=(8, 8), mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.equal(fam.condition(batch.source), src)
    with torch.no_grad():
        fake = G(src)
        r, f = D(torch.cat([src, batch.x], 1)), D(torch.cat([src, fake], 1))
    (d_loss,) = list(fam.d_losses(batch))
    expected_d = 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean())   # -log D(x, y) - log(1 - D(x, G(x))), halved
    torch.testing.assert_close(d_loss.detach(), expected_d, rtol=1e-6, atol=1e-7)
    g_loss = fam.g_loss(batch)
    expected_g = F.softplus(-f).mean() + 100 * (fake - batch.x).abs().mean()
    torch.testing.assert_close(g_loss.detach(), expected_g, rtol=1e-6, atol=1e-6)
    real_term, fake_term = fam.d_losses(batch, split=True)             # two train_on_batch-like halves
    torch.testing.assert_close((real_term + fake_term).detach(), expected_d, rtol=1e-6, atol=1e-7)


def test_l1_only_baseline_leaves_d_out():
    fam, batch = _family(**{"pix.adv_weight": 0.0})
    G = fam.G.eval()
    calls = []
    fam.D.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        fake = G(fam.condition(batch.source))
    torch.testing.assert_close(fam.g_loss(batch).detach(), 100 * (fake - batch.x).abs().mean(), rtol=1e-6, atol=1e-6)
    (d_loss,) = list(fam.d_losses(batch))
    assert float(d_loss.detach()) == 0.0 and not calls


@pytest.mark.parametrize("over, message", [
    ({"family": "gan", "model.arch": "dcgan", "pix.l1_weight": 100.0, "data.pairs": "sr4"}, "data.pairs makes translation data"),
    ({"data.pairs": None}, "learns source -> target pairs"),
    ({"data.pairs": "sr8"}, "must be one of sr4, inpaint"),
    ({"pix.d_layers": 0}, "pix.d_layers must be 1 to 5"),
    ({"pix.l1_weight": 0.0, "pix.adv_weight": 0.0}, "would learn nothing"),
    ({"loss.name": "wgan-gp"}, "loss.name one of ns, lsgan"),
    ({"train.update": "simultaneous"}, "no simultaneous update"),
    ({"train.eval_every": 1}, "ganforge eval RUN"),
])
def test_settings_are_checked(over, message):
    with pytest.raises(ConfigError, match=message):
        resolve("fashion-sr4-pix2pix", over)


# -- training, resume, evaluation ----------------------------------------------------------------

def test_trains_resumes_identically_and_is_scored_on_test_pairs(tmp_path):
    over = {**TINY, "data.pairs": "inpaint"}
    full = Trainer(resolve("fashion-sr4-pix2pix", {**over, "train.steps": 6}), tmp_path / "full").fit()
    part = Trainer(resolve("fashion-sr4-pix2pix", {**over, "train.steps": 3}), tmp_path / "part").fit()
    Trainer.resume(part, {"train.steps": 6}).fit()
    a, b = (load_checkpoint(list_checkpoints(run)[-1]) for run in (full, part))
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"
    assert a["data"]["source_shape"] == [1, 8, 8]
    grid = np.asarray(Image.open(full / "samples" / "epoch_0001.png"))
    assert grid.shape[1] > grid.shape[0] * 2                             # (source, output, target) triples per row

    result = evaluate_run(full, num=100, metrics=["fid", "class_acc"])
    test = load_dataset("digits", image_size=8, split="test", pairs="inpaint")
    from ganforge.sampler import sampler_from_checkpoint

    sampler = sampler_from_checkpoint(a)
    out = sampler.family.generate(sampler.G, {"source": normalize(test.source[:100])})
    from ganforge.data import to_uint8
    from ganforge.families.pix2pix import psnr

    assert result["psnr"] == pytest.approx(float(psnr(to_uint8(out), test.x[:100]).mean()), rel=1e-9)
    assert result["n"] == 100 and 0 <= result["class_acc"] <= 1


# -- paired folders ------------------------------------------------------------------------------

def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_paired_folders_a_b_and_side_by_side(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8), rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    for i in range(3):
        _save(tmp_path / "ab" / "A" / f"{i}.png", a[i])
        _save(tmp_path / "ab" / "B" / f"{i}.png", b[i])
        _save(tmp_path / "side" / f"{i}.png", np.concatenate([a[i], b[i]], 1))
    for name in ("ab", "side"):
        ds = load_dataset(f"paired:{tmp_path / name}")
        assert torch.equal(ds.source, torch.from_numpy(a).permute(0, 3, 1, 2)), name
        assert torch.equal(ds.x, torch.from_numpy(b).permute(0, 3, 1, 2)), name
    (tmp_path / "ab" / "B" / "2.png").unlink()
    with pytest.raises(DataError, match="in only one of A/ and B/"):
        load_dataset(f"paired:{tmp_path / 'ab'}")
    _save(tmp_path / "onlya" / "A" / "0.png", a[0])
    with pytest.raises(DataError, match="no B/"):
        load_dataset(f"paired:{tmp_path / 'onlya'}")
    _save(tmp_path / "odd" / "0.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(DataError, match="twice as wide as tall"):
        load_dataset(f"paired:{tmp_path / 'odd'}")


# -- ganforge translate (real subprocesses) ---------------------------------------------------------

@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr")
    over = {**TINY, "data.image_size": 16, "train.steps": 2}               # 4x4 -> 16x16
    return Trainer(resolve("fashion-sr4-pix2pix", over), root / "run").fit()


def test_translate_files_folders_and_npz_as_the_model_does(sr_run, tmp_path):
    small = np.random.default_rng(1).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    for i, img in enumerate(small):
        _save(tmp_path / "in" / f"img{i}.png", img)
    _save(tmp_path / "in_big" / "big.png", np.random.default_rng(2).integers(0, 256, (10, 6), dtype=np.uint8))
    np.savez(tmp_path / "in.npz", small)

    r = run_cli("translate", sr_run, "--input", tmp_path / "in", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    from ganforge.rundir import latest_checkpoint
    from ganforge.sampler import sampler_from_checkpoint
    from ganforge.data import to_uint8

    sampler = sampler_from_checkpoint(latest_checkpoint(sr_run))
    expected = to_uint8(sampler.family.generate(sampler.G, {"source": normalize(torch.from_numpy(small)[:, None])}))
    for i in range(3):
        got = np.asarray(Image.open(tmp_path / "out" / f"img{i}.png"))
        assert got.shape == (16, 16) and np.array_equal(got, expected[i, 0].numpy())
    r = run_cli("translate", sr_run, "--input", tmp_path / "in.npz", "--out", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "out.npz")["arr_0"][..., 0], expected[:, 0].numpy())

    r = run_cli("translate", sr_run, "--input", tmp_path / "in_big", "--out", tmp_path / "tiled", "--fit", "tile")
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(tmp_path / "tiled" / "big.png")).shape == (40, 24)     # 10x6 enlarged x4
    r = run_cli("translate", sr_run, "--input", tmp_path / "in_big", "--out", tmp_path / "resized")
    assert np.asarray(Image.open(tmp_path / "resized" / "big.png")).shape == (16, 16)


def test_translate_bad_input_is_one_line_and_overwrites_nothing(sr_run, tmp_path):
    _save(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "junk.png").write_text("not an image")
    _save(tmp_path / "in" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "out").mkdir()
    _save(tmp_path / "out" / "a.png", np.full((3, 3), 9, np.uint8))
    cases = [
        (["--input", tmp_path / "rgb.png", "--out", tmp_path / "o1"], "is a colour image"),
        (["--input", tmp_path / "junk.png", "--out", tmp_path / "o2"], "not an image PIL can read"),
        (["--input", tmp_path / "in", "--out", tmp_path / "out"], "already exists"),
        (["--input", tmp_path / "in", "--out", tmp_path / "o3", "--direction", "b2a"], "translates one way"),
        (["--input", tmp_path / "nothing", "--out", tmp_path / "o4"], "does not exist"),
    ]
    for args, message in cases:
        r = run_cli("translate", sr_run, *args)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert np.asarray(Image.open(tmp_path / "out" / "a.png")).tolist() == [[9] * 3] * 3   # left as it was
    r = run_cli("sample", sr_run, "--out", tmp_path / "s.npz")
    assert r.returncode != 0 and "use ganforge translate" in r.stderr


def test_train_on_a_folder_without_pairs_is_one_line(tmp_path):
    (tmp_path / "pairs" / "A").mkdir(parents=True)
    _save(tmp_path / "pairs" / "A" / "0.png", np.zeros((8, 8), np.uint8))
    r = run_cli("train", "--preset", "pix2pix256", "--dataset", f"paired:{tmp_path / 'pairs'}", "--steps", "1",
                "--out", tmp_path / "run")
    assert r.returncode != 0 and "has A/ but no B/" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_paired_folder_run_is_scored_by_psnr_without_a_classifier(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        a = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        _save(tmp_path / "pf" / "A" / f"{i}.png", a)
        _save(tmp_path / "pf" / "B" / f"{i}.png", 255 - a)
    with pytest.raises(ConfigError, match="pix.d_layers=3 needs images of at least 24 pixels"):
        Trainer(resolve("pix2pix256", {"data.name": f"paired:{tmp_path / 'pf'}", "data.image_size": 16}), tmp_path / "r0")
    over = {"data.name": f"paired:{tmp_path / 'pf'}", "data.image_size": 24, "model.width": 4, "train.steps": 1,
            "train.batch_size": 4, "train.progress": False, "train.num_samples": 2}
    run = Trainer(resolve("pix2pix256", over), tmp_path / "run").fit()
    r = run_cli("eval", run, "--num", "12")
    assert r.returncode != 0 and "--metrics psnr" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("eval", run, "--num", "12", "--metrics", "psnr", "--json")
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(result) >= {"psnr", "l1"} and "fid" not in result and result["n"] == 12
