"""StackGAN on the seam: conditioning augmentation's KL in closed form, the stages' shapes, D's and G's losses
by hand, the staged schedule's frozen stages, bit-identical resume, ``--stage`` and the one-line errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.families.stackgan import kl_to_standard_normal, wrong_labels
from ganforge.losses import OBJECTIVES
from ganforge.metrics.evaluate import evaluate_run
from ganforge.models.base import in_mode, sample_latent
from ganforge.rundir import latest_checkpoint
from ganforge.sampler import load_generator
from ganforge.train import Trainer

DIGITS16 = DataSpec("digits", (1, 16, 16), 10)
# small and fast: digits at 16x16 (stage I 8x8), 14 steps an epoch at batch 128
TINY = {"data.name": "digits", "data.image_size": 16, "model.width": 8, "model.z_dim": 16, "stack.embed_dim": 8,
        "stack.c_dim": 4, "stack.stage1_epochs": 1, "train.epochs": 2, "train.batch_size": 128,
        "train.progress": False, "train.num_samples": 20, "train.precision": "fp32", "train.threads": 1}


def family(spec=DIGITS16, **over):
    fam = build_family(resolve("mnist-stackgan", {**TINY, **over}), spec)
    fam.build()
    fam.bind(TrainingForms(fam.G, fam.D))
    return fam


# -- conditioning augmentation ------------------------------------------------------------------------

def test_kl_term_in_closed_form():
    zero = torch.zeros(3, 4, dtype=torch.float64)
    assert kl_to_standard_normal(zero, zero).item() == 0.0                      # N(0, I) itself
    # mu = 1, sigma^2 = e: 0.5 (1 + e - 1 - 1) per dimension
    mu, logvar = torch.ones(2, 5, dtype=torch.float64), torch.ones(2, 5, dtype=torch.float64)
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(0.5 * (np.e - 1), abs=1e-15)
    # against torch.distributions on random values: the per-dimension mean of KL(N(mu, sigma) || N(0, 1))
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randn(8, 6, generator=g, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).mean()
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(ref.item(), rel=1e-12)


def test_conditioning_augmentation_draws_around_the_labels_mean():
    fam = family()
    ca = fam.G.ca1
    y = torch.tensor([3, 3, 7])
    c, mu, logvar = ca(y, torch.zeros(3, 4))
    assert torch.equal(c, mu) and torch.equal(mu[0], mu[1]) and not torch.equal(mu[0], mu[2])
    eps = torch.randn(3, 4)
    c, mu, logvar = ca(y, eps)
    assert torch.allclose(c, mu + (0.5 * logvar).exp() * eps, rtol=0, atol=1e-6)


def test_wrong_labels_are_never_the_right_ones_and_cover_the_others():
    torch.manual_seed(0)
    y = torch.arange(10).repeat(500)
    w = wrong_labels(y, 10)
    assert not (w == y).any() and w.min() == 0 and w.max() == 9
    counts = torch.bincount(w[y == 4], minlength=10)
    assert counts[4] == 0 and counts[torch.arange(10) != 4].min() > 25   # 500 / 9 = 55.6 each on average


# -- networks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,factor,low", [((1, 28, 28), 2, 14), ((3, 32, 32), 2, 16), ((3, 64, 64), 4, 16)])
def test_stage_shapes(shape, factor, low):
    fam = family(DataSpec("x", shape, 5), **{"stack.factor": factor})
    z, y = torch.randn(3, 16), torch.tensor([0, 2, 4])
    a, b = fam.G(z, y)
    assert a.shape == (3, shape[0], low, low) and b.shape == (3, *shape)
    assert a.abs().max() <= 1 and b.abs().max() <= 1
    assert fam.D(a, y).shape == (3,) and fam.D(b, y).shape == (3,)
    assert fam.G(z, y, stages=1)[1] is None


def test_size_errors():
    with pytest.raises(ConfigError, match="needs an image size divisible by 8 and at least 32, got 28"):
        family(DataSpec("mnist", (1, 28, 28), 10), **{"stack.factor": 4})
    with pytest.raises(ConfigError, match="is conditioned on class labels and data set 'ring8' has none"):
        family(DataSpec("ring8", (1, 16, 16), 0))


# -- losses by hand ---------------------------------------------------------------------------------------

def _manual_fakes(fam, y, stages):
    """The family's draws in its order: z, then stage I's and stage II's condition noise."""
    G = fam.G
    z = sample_latent(len(y), fam.z_dim, fam.noise)
    with in_mode([G.ca1, G.stage1], 1 in stages):          # a frozen stage I draws in inference mode
        c1, mu1, lv1 = G.ca1(y)
        low = G.stage1(z, c1)
    out, kl = {}, 0.0
    if 1 in stages:
        out[1], kl = low, kl_to_standard_normal(mu1, lv1)
    if 2 in stages:
        c2, mu2, lv2 = G.ca2(y)
        out[2] = G.stage2(low, c2)
        kl = kl + kl_to_standard_normal(mu2, lv2)
    return out, kl


@pytest.mark.parametrize("schedule,epoch,stages", [("staged", 0, (1,)), ("staged", 1, (2,)), ("joint", 0, (1, 2))])
def test_d_and_g_losses_by_hand(schedule, epoch, stages):
    fam = family(**{"stack.schedule": schedule})
    fam.begin_epoch(epoch)
    assert fam.stages == stages
    obj = OBJECTIVES.get("ns")
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    reals = {1: F.avg_pool2d(x, 2), 2: x}

    torch.manual_seed(1)
    real_term, fake_term = fam.d_losses(Batch(x, y), split=True)
    torch.manual_seed(1)
    with torch.no_grad():
        fakes, _ = _manual_fakes(fam, y, stages)
        y_wrong = wrong_labels(y, 10)
        want_real = sum(obj.d_real(fam.D(reals[k], y), 0.0) for k in stages)
        want_fake = sum(0.5 * (obj.d_fake(fam.D(fakes[k], y)) + obj.d_fake(fam.D(reals[k], y_wrong))) for k in stages)
    assert (y_wrong != y).all()
    torch.testing.assert_close(real_term.detach(), want_real, rtol=0, atol=0)
    torch.testing.assert_close(fake_term.detach(), want_fake, rtol=0, atol=0)

    torch.manual_seed(2)
    g = fam.g_loss(Batch(x, y))
    torch.manual_seed(2)
    with torch.no_grad():
        fakes, kl = _manual_fakes(fam, y, stages)
        want = sum(obj.g_loss(fam.D(fakes[k], y)) for k in stages) + kl
    torch.testing.assert_close(g.detach(), want, rtol=0, atol=0)
    assert kl > 0


def test_without_wrong_labels_d_fake_term_is_the_plain_one():
    fam = family(**{"stack.wrong_labels": False, "stack.schedule": "joint"})
    obj = OBJECTIVES.get("ns")
    x, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([1, 1, 2, 9])
    torch.manual_seed(3)
    total = next(fam.d_losses(Batch(x, y)))
    torch.manual_seed(3)
    with torch.no_grad():
        fakes, _ = _manual_fakes(fam, y, (1, 2))
        reals = {1: F.avg_pool2d(x, 2), 2: x}
        want = sum(obj.d_real(fam.D(reals[k], y), 0.0) for k in (1, 2)) + sum(obj.d_fake(fam.D(fakes[k], y))
                                                                             for k in (1, 2))
    torch.testing.assert_close(total.detach(), want, rtol=0, atol=0)


# -- training through the unchanged loop ------------------------------------------------------------

def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module, prefix):
    after = module.state_dict()
    return [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]


def test_staged_schedule_freezes_the_stage_it_is_not_training(tmp_path):
    t = Trainer(resolve("mnist-stackgan", {**TINY, "train.steps": 14}), tmp_path / "a")
    G0, D0 = _params(t.G), _params(t.D)
    t.fit()                                                                   # epoch 1: stage I alone
    assert _changed(G0, t.G, "stage1.") and _changed(G0, t.G, "ca1.") and _changed(D0, t.D, "d1.")
    assert not _changed(G0, t.G, "stage2.") and not _changed(G0, t.G, "ca2.") and not _changed(D0, t.D, "d2.")
    G1, D1 = _params(t.G), _params(t.D)
    t2 = Trainer.resume(tmp_path / "a", {"train.steps": 28})
    t2.fit()                                                                  # epoch 2: stage II, stage I frozen
    assert not _changed(G1, t2.G, "stage1.") and not _changed(G1, t2.G, "ca1.") and not _changed(D1, t2.D, "d1.")
    assert _changed(G1, t2.G, "stage2.") and _changed(G1, t2.G, "ca2.") and _changed(D1, t2.D, "d2.")


def test_trains_resumes_bit_identically_draws_pairs_and_samples_each_stage(tmp_path):
    straight = Trainer(resolve("mnist-stackgan", TINY), tmp_path / "straight")
    run = straight.fit()
    first = Trainer(resolve("mnist-stackgan", {**TINY, "train.steps": 20}), tmp_path / "resumed")
    first.fit()                                                               # stops inside epoch 2 (stage II)
    resumed = Trainer.resume(tmp_path / "resumed", {"train.steps": 28})
    resumed.fit()
    for part in ("G", "D"):
        a, b = getattr(straight, part).state_dict(), getattr(resumed, part).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    # the fixed grid: one class per row, (stage I, stage II) pairs; 20 samples -> 2 pairs per row
    from PIL import Image

    grid = np.asarray(Image.open(run / "samples" / "epoch_0002.png"))
    assert grid.shape == ((10 * 17 + 1) * 4, (4 * 17 + 1) * 4)                 # 10 rows x 4 tiles of 16x16, pad 1, x4
    assert 'alt="samples"' in (run / "report.html").read_text()

    # sample --stage 1: stage I's 8x8 images for the same draws as stage II's
    for stage, size in ((1, 8), (2, 16)):
        out = tmp_path / f"stage{stage}.npz"
        result = run_cli("sample", run, "--stage", str(stage), "--num", "5", "--seed", "3", "--out", out)
        assert result.returncode == 0, result.stderr
        assert np.load(out)["arr_0"].shape == (5, size, size, 1)
    sampler = load_generator(run)
    inputs = sampler.family.sample_inputs(5, labels=torch.arange(5) % 10, generator=torch.Generator().manual_seed(3))
    low, high = sampler.G(inputs["z"], inputs["y"], inputs["eps1"], inputs["eps2"])
    from ganforge.data import to_uint8

    assert np.array_equal(np.load(tmp_path / "stage1.npz")["arr_0"], to_uint8(low).permute(0, 2, 3, 1).numpy())
    assert np.array_equal(np.load(tmp_path / "stage2.npz")["arr_0"], to_uint8(high).permute(0, 2, 3, 1).numpy())

    # eval --stage 1 scores stage I upsampled by bicubic interpolation to 16x16
    quiet = {"histograms": False, "printer": lambda *a: None, "metrics": ["class_acc"]}
    one = evaluate_run(run, num=200, stage=1, **quiet)
    two = evaluate_run(run, num=200, **quiet)
    assert one["stage"] == "1 (bicubic to full size)" and "stage" not in two
    assert 0 <= one["class_acc"] <= 1 and 0 <= two["class_acc"] <= 1
    result = run_cli("eval", run, "--stage", "1", "--num", "200", "--metrics", "class_acc")     # with D's histograms
    assert result.returncode == 0 and "class accuracy" in result.stdout, result.stderr
    assert (run / "d_hist.png").is_file()
    s = load_generator(run)
    s.use_stage(1, upsampled=True)
    x, _ = s.family.eval_samples(s.G, 4, 0)
    low, _ = s.G(*[v for k, v in s.family.sample_inputs(4, labels=torch.arange(4), generator=torch.Generator()
                                                          .manual_seed(0)).items() if k != "pairs"], stages=1)
    torch.testing.assert_close(x, F.interpolate(low, size=(16, 16), mode="bicubic", align_corners=False).clamp(-1, 1))


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="stack.schedule=staged trains stage II on a trained stage I: set "
                                          "stack.stage1_epochs to 1 or more"):
        resolve("mnist-stackgan", {**TINY, "stack.stage1_epochs": 0})
    with pytest.raises(ConfigError, match="stack.stage1_epochs=2 leaves none of the run's 2 epochs for stage II"):
        resolve("mnist-stackgan", {**TINY, "stack.stage1_epochs": 2})
    with pytest.raises(ConfigError, match="stack.\\* sets StackGAN's stages; family 'gan' has none"):
        resolve("digits-dcgan", {"stack.factor": 4})
    with pytest.raises(ConfigError, match="stack.schedule must be one of staged, joint, got 'both'"):
        resolve("mnist-stackgan", {**TINY, "stack.schedule": "both"})
    with pytest.raises(ConfigError, match="family stackgan has no simultaneous update"):
        resolve("mnist-stackgan", {**TINY, "train.update": "simultaneous"})

    early = Trainer(resolve("mnist-stackgan", {**TINY, "train.steps": 3}), tmp_path / "early").fit()  # stage I only
    gan = Trainer(resolve("digits-dcgan", {"data.image_size": 8, "model.width": 8, "train.steps": 1,
                                           "train.progress": False}), tmp_path / "gan").fit()
    cases = [
        (["sample", early, "--num", "2"], "ganforge: error: this run's stage II has not trained yet (it starts after "
                                          "epoch 1; the checkpoint is from epoch 0); draw stage I with --stage 1"),
        (["sample", gan, "--stage", "1"], "ganforge: error: --stage picks one of StackGAN's stages; this run's model "
                                          "(family 'gan') has one stage"),
        (["eval", gan, "--stage", "2"], "ganforge: error: --stage picks one of StackGAN's stages; this run's model "
                                        "(family 'gan') has one stage"),
    ]
    for i, (args, message) in enumerate(cases):
        result = run_cli(*args, "--out", tmp_path / f"s{i}.npz") if args[0] == "sample" else run_cli(*args)
        assert result.returncode != 0 and result.stderr.strip().splitlines() == [message], result.stderr
        assert not (tmp_path / f"s{i}.npz").exists()
    assert run_cli("sample", early, "--stage", "1", "--num", "2", "--out", tmp_path / "ok.npz").returncode == 0


def test_folder_preset_trains_on_a_folder_with_one_subfolder_per_class(tmp_path):
    from tiny import digit_folder

    digits = digit_folder(tmp_path / "digits", per_class=4, classes=5)       # 20 real 8x8 digits, read as RGB 32x32
    over = {"data.name": f"folder:{digits}", "model.width": 8, "train.batch_size": 10, "train.epochs": 2,
            "stack.stage1_epochs": 1, "train.progress": False, "train.num_samples": 10, "train.threads": 1}
    t = Trainer(resolve("stackgan32", over), tmp_path / "run")
    run = t.fit()
    assert t.family.spec.shape == (3, 32, 32) and t.family.num_classes == 5 and t.family.low_size == 16
    sampler = load_generator(run)
    assert sampler.sample(3, labels=[0, 2, 4], seed=0).shape == (3, 3, 32, 32)
    sampler.use_stage(1)
    assert sampler.sample(3, labels=[0, 2, 4], seed=0).shape == (3, 3, 16, 16)
    (tmp_path / "flat").mkdir()
    for i, png in enumerate(sorted(digits.rglob("*.png"))[:4]):
        (tmp_path / "flat" / f"{i}.png").write_bytes(png.read_bytes())
    result = run_cli("train", "--preset", "stackgan32", "--dataset", f"folder:{tmp_path / 'flat'}", "--out",
                     tmp_path / "flat-run", "train.batch_size=2")
    assert result.returncode != 0 and result.stderr.strip().splitlines() == [
        f"ganforge: error: family stackgan is conditioned on class labels and data set 'folder:{tmp_path / 'flat'}' "
        "has none; use a labelled data set (or a folder with one subfolder per class)"]
    assert not (tmp_path / "flat-run").exists()
