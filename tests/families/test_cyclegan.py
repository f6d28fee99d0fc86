"""CycleGAN: unpaired domains, the image pool, the losses in closed form (the paper's scale), the fakes of
G's step reused by D, the learning-rate decay, resume with the pool, evaluation both ways, translate --direction."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.data import load_dataset, normalize, to_uint8
from ganforge.errors import ConfigError, DataError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.families.cyclegan import ImagePool
from ganforge.metrics.evaluate import evaluate_run
from ganforge.rundir import latest_checkpoint, list_checkpoints, load_checkpoint
from ganforge.sampler import sampler_from_checkpoint
from ganforge.train import Trainer

TINY = {"data.name": "digits", "data.image_size": 8, "data.domains": "0,1", "model.width": 4, "cycle.blocks": 1,
        "train.batch_size": 4, "train.progress": False, "train.num_samples": 2, "train.precision": "fp32"}


# -- data -------------------------------------------------------------------------------------------

def test_domains_are_two_classes_unpaired_and_halves_never_meet_their_own_source():
    ds = load_dataset("fashion-mnist", domains="sneaker,ankle-boot")
    full = load_dataset("fashion-mnist")
    assert ds.domain_classes == (7, 9) and len(ds) == len(ds.source) == 6000
    assert set(ds.y.tolist()) == {9}
    assert torch.equal(ds.x, full.x[full.y == 9]) and torch.equal(ds.source.sort(0).values, full.x[full.y == 7].sort(0).values)
    digits = load_dataset("digits", domains="0,1")                         # 178 zeros, 182 ones: the zeros repeat
    assert len(digits) == 182 and len(torch.unique(digits.source.flatten(1), dim=0)) == 178
    with pytest.raises(DataError, match="no class 'slipper'"):
        load_dataset("fashion-mnist", domains="sneaker,slipper")
    with pytest.raises(ConfigError, match="must name two classes"):
        load_dataset("digits", domains="0")
    halves = load_dataset("digits", pairs="edges", unpaired=True)
    paired = load_dataset("digits", pairs="edges")
    assert len(halves) == len(paired) // 2
    assert torch.equal(halves.source, paired.source[:len(halves)]) and torch.equal(halves.x, paired.x[len(halves):2 * len(halves)])


# -- the pool -----------------------------------------------------------------------------------------

def test_pool_fills_then_shows_an_older_fake_half_of_the_time():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1)
    assert torch.equal(pool.query(first), first)                           # filling: the new fakes themselves
    shown_old, n = 0, 2000
    for i in range(n):
        new = torch.full((1, 1), 100.0 + i)
        out = pool.query(new)
        stored = torch.cat(pool.images)
        if out.item() != new.item():
            shown_old += 1
            assert new.item() in stored                                   # the new one took the old one's place
        assert len(pool.images) == 4
    assert abs(shown_old / n - 0.5) < 4 * (0.25 / n) ** 0.5               # a fair coin, within 4 sigma
    assert torch.equal(ImagePool(0).query(first), first)


# -- losses in closed form ----------------------------------------------------------------------------

def _family(**over):
    cfg = resolve("fashion-shoes-cyclegan", {**TINY, **over})
    data = load_dataset("digits", image_size=8, domains="0,1")
    fam = build_family(cfg, DataSpec.of(data))
    torch.manual_seed(0)
    G, D = fam.build()
    fam.bind(TrainingForms(G, D))
    return fam, Batch(normalize(data.x[:4]), None, normalize(data.source[:4]))


@pytest.mark.parametrize("g_arch, joint", [("resnet", True), ("resnet", False), ("unet", True)])
def test_losses_are_the_papers_least_squares_cycle_and_identity(g_arch, joint):
    """With instance norm (ResNet G) the translation and identity passes share one call; a U-Net with batch norm
    keeps them apart (its outputs depend on the batch): the same closed form either way."""
    fam, batch = _family(**{"cycle.pool_size": 0, "cycle.g_arch": g_arch, "train.joint_d_forward": joint})
    assert fam.batch_identity == (g_arch == "resnet" and joint)
    G, D = fam.G, fam.D
    a, b = batch.source, batch.x
    with torch.no_grad():
        fb, fa = G["a2b"](a), G["b2a"](b)
        adv = ((D["b"](fb) - 1) ** 2).mean() + ((D["a"](fa) - 1) ** 2).mean()             # MSELoss, no 1/2
        cycle = (G["b2a"](fb) - a).abs().mean() + (G["a2b"](fa) - b).abs().mean()
        idt = (G["a2b"](b) - b).abs().mean() + (G["b2a"](a) - a).abs().mean()
    torch.testing.assert_close(fam.g_loss(batch).detach(), adv + 10 * cycle + 0.5 * 10 * idt, rtol=1e-5, atol=1e-6)
    (d_loss,) = list(fam.d_losses(batch))                                  # on the fakes of that G step
    with torch.no_grad():
        expected = sum(0.5 * (((D[d](real) - 1) ** 2).mean() + (D[d](fake) ** 2).mean())
                       for d, real, fake in (("b", b, fb), ("a", a, fa)))
    torch.testing.assert_close(d_loss.detach(), expected, rtol=1e-5, atol=1e-6)


def test_d_takes_the_fakes_of_gs_step_and_draws_its_own_otherwise():
    for g_first, forwards in ((True, 0), (False, 2)):
        fam, batch = _family(**{"train.g_before_d": g_first})
        fam.g_loss(batch)
        calls = []
        hooks = [g.register_forward_hook(lambda *a: calls.append(1)) for g in fam.G.values()]
        list(fam.d_losses(batch))
        assert len(calls) == forwards
        for h in hooks:
            h.remove()


def test_learning_rates_fall_linearly_over_the_last_share_of_the_epochs(tmp_path):
    t = Trainer(resolve("fashion-shoes-cyclegan", {**TINY, "train.epochs": 4, "train.lr_decay": 0.5}), tmp_path / "r")
    rates = []
    for epoch in range(4):
        t._set_learning_rates(epoch)
        rates.append([g["lr"] for opt in (t.opt_g, t.opt_d) for g in opt.param_groups])
    assert [r[0] for r in rates] == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 / 3])
    assert all(len(set(r)) == 1 for r in rates)                            # G's and D's alike


@pytest.mark.parametrize("over, message", [
    ({"data.domains": None}, "learns between two domains"),
    ({"cycle.g_arch": "vit"}, "resnet or unet"),
    ({"cycle.pool_size": -1}, "0 or more images"),
    ({"train.lr_decay": 1.5}, "in \\(0, 1\\]"),
    ({"family": "pix2pix", "model.arch": "pix2pix"}, "data.unpaired and data.domains are CycleGAN's"),
    ({"family": "pix2pix", "model.arch": "pix2pix", "data.domains": None, "data.pairs": "sr4"}, "cycle.\\* sets CycleGAN"),
])
def test_settings_are_checked(over, message):
    with pytest.raises(ConfigError, match=message):
        resolve("fashion-shoes-cyclegan", over)


# -- training, resume, evaluation, translate -------------------------------------------------------------

def test_resume_with_the_pool_equals_an_uninterrupted_run(tmp_path):
    over = {**TINY, "cycle.pool_size": 3}                                  # full after one step: swaps from then on
    full = Trainer(resolve("fashion-shoes-cyclegan", {**over, "train.steps": 6}), tmp_path / "full").fit()
    part = Trainer(resolve("fashion-shoes-cyclegan", {**over, "train.steps": 3}), tmp_path / "part").fit()
    assert load_checkpoint(list_checkpoints(part)[-1])["pools"]["a"].shape == (3, 1, 8, 8)
    Trainer.resume(part, {"train.steps": 6}).fit()
    a, b = (load_checkpoint(list_checkpoints(run)[-1]) for run in (full, part))
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"
    for d in ("a", "b"):
        assert torch.equal(a["pools"][d], b["pools"][d])


@pytest.fixture(scope="module")
def shoes_run(tmp_path_factory):
    return Trainer(resolve("fashion-shoes-cyclegan", {**TINY, "train.steps": 2}), tmp_path_factory.mktemp("c") / "r").fit()


def test_eval_scores_each_direction_against_the_target_class(shoes_run):
    state = latest_checkpoint(shoes_run)
    test = load_dataset("digits", image_size=8, split="test", domains="0,1")
    for direction, src, cls in (("a2b", test.source, 1), ("b2a", test.x, 0)):
        r = evaluate_run(shoes_run, num=100, metrics=["class_acc"], direction=direction)
        sampler = sampler_from_checkpoint(state)
        sampler.family.set_direction(direction)
        out = to_uint8(sampler.family.generate(sampler.G, {"source": normalize(src[:100])}))
        from ganforge.metrics.evaluate import score_samples

        expected = score_samples(out, "digits", [cls] * 100, ["class_acc"])["class_acc"]
        assert r["direction"] == direction and r["class_acc"] == pytest.approx(expected)
        back = "b2a" if direction == "a2b" else "a2b"
        sampler.family.set_direction(back)
        rec = to_uint8(sampler.family.generate(sampler.G, {"source": normalize(out)}))
        assert r["cycle_l1"] == pytest.approx(float((rec.double() - src[:100].double()).abs().mean()))


def test_translate_both_directions(shoes_run, tmp_path):
    imgs = load_dataset("digits").x[:3, 0].numpy()
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    sampler = sampler_from_checkpoint(latest_checkpoint(shoes_run))
    for direction in ("a2b", "b2a"):
        r = run_cli("translate", shoes_run, "--input", tmp_path, "--out", tmp_path / direction, "--direction", direction)
        assert r.returncode == 0, r.stderr
        sampler.family.set_direction(direction)
        expected = to_uint8(sampler.family.generate(sampler.G, {"source": normalize(torch.from_numpy(imgs)[:, None])}))
        got = np.stack([np.asarray(Image.open(tmp_path / direction / f"{i}.png")) for i in range(3)])
        assert np.array_equal(got, expected[:, 0].numpy()), direction


def test_domains_flag_names_the_data_set_and_its_two_classes(tmp_path):
    r = run_cli("train", "--preset", "fashion-shoes-cyclegan", "--domains", "digits:3,8", "data.image_size=8",
                "train.batch_size=4", "model.width=4", "cycle.blocks=1", "--steps", "1", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    state = latest_checkpoint(tmp_path / "run")
    assert (state["config"]["data"]["name"], state["config"]["data"]["domains"]) == ("digits", "3,8")
    r = run_cli("train", "--preset", "fashion-shoes-cyclegan", "--domains", "digits", "--out", tmp_path / "bad")
    assert r.returncode != 0 and "--domains takes DATASET:A,B" in r.stderr and len(r.stderr.strip().splitlines()) == 1
