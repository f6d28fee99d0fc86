"""ADA (adaptive discriminator augmentation): the update of p in closed form, clamping, what the family reports,
resume equality, and the settings it refuses."""

import contextlib
import dataclasses
import json

import pytest
import torch

from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train import Trainer
from ganforge.train.augment import AdaptiveAugment, AugmentedD, with_augment

ADA = {"train.augment": "translation,cutout", "train.ada_target": 0.6}


class Seen(torch.nn.Module):
    """A D that returns the images it is given."""

    def forward(self, x, y=None):
        return x


def controller(target=0.6, kimg=0.128, interval=2):
    """A controller over D = identity; kimg=0.128: each real image moves p by 1/128, exact in binary."""
    return AdaptiveAugment(AugmentedD(torch.nn.Identity(), "translation", 1.0), target, kimg, interval)


def logits(*signs):
    """Raw outputs of the given signs and assorted sizes: only their signs may matter."""
    return torch.tensor([s * (0.25 + i) for i, s in enumerate(signs)])


# -- the rule ------------------------------------------------------------------------------------

def test_p_starts_at_0_and_moves_by_the_images_of_an_interval():
    ada = controller()
    assert ada.p == ada.augmented.p == 0.0
    ada.observe(logits(1, 1, 1, -1, 1))            # 5 images
    ada.d_update_done(step=1)
    assert ada.p == 0.0 and ada.records == []      # 1 of 2 D updates: nothing adjusted yet
    ada.observe(logits(1, 1, 1))                   # 3 more: r_t = (4 - 1 + 3) / 8 = 0.75 > 0.6
    ada.d_update_done(step=2)
    assert ada.r_t == 6 / 8
    assert ada.p == ada.augmented.p == 8 / 128     # p + sign(r_t - target) * N / (kimg * 1000)
    assert ada.records == [{"event": "ada", "step": 2, "p": 8 / 128, "r_t": 0.75}]
    ada.observe(logits(1, -1, -1))                 # r_t = -1/3 < 0.6: down by 3 + 2 images
    ada.d_update_done(step=3)
    ada.observe(logits(-1, 1))
    ada.d_update_done(step=4)
    assert ada.r_t == -1 / 5 and ada.p == 3 / 128
    assert [r["step"] for r in ada.take_records()] == [2, 4] and ada.records == []


def test_r_t_at_the_target_leaves_p_alone():
    ada = controller(target=0.5, interval=1)
    ada.observe(logits(1, 1, 1, 1))
    ada.d_update_done(1)
    before = ada.p
    ada.observe(logits(1, 1, 1, -1))                # r_t = 0.5 exactly: sign(0) = 0
    ada.d_update_done(2)
    assert ada.r_t == 0.5 and ada.p == before == 4 / 128


def test_only_the_sign_of_each_output_counts():
    a, b = controller(interval=1), controller(interval=1)
    a.observe(torch.tensor([1e-6, 50.0, -3.0, 2.0]))
    b.observe(torch.tensor([1.0, 1.0, -1.0, 1.0]))
    for ada in (a, b):
        ada.d_update_done(1)
    assert a.r_t == b.r_t == 0.5 and a.p == b.p


def test_p_is_clamped_to_0_and_1():
    ada = controller(kimg=0.004, interval=1)       # 4 images move p by 1
    ada.observe(logits(-1, -1, 1))                 # r_t < target at p = 0: stays 0
    ada.d_update_done(1)
    assert ada.p == 0.0
    for step in range(2, 5):
        ada.observe(logits(1, 1, 1, 1, 1, 1))      # 6 images: +1.5, clamped
        ada.d_update_done(step)
        assert ada.p == ada.augmented.p == 1.0
    ada.observe(logits(-1))                        # 1 image: down by 0.25
    ada.d_update_done(5)
    assert ada.p == 0.75


def test_state_round_trip_continues_mid_interval():
    a, b = controller(interval=3), controller(interval=3)
    for ada in (a, b):
        ada.observe(logits(1, 1, -1))
        ada.d_update_done(1)
    b.load_state_dict(a.state_dict())
    for ada in (a, b):
        for step in (2, 3):
            ada.observe(logits(1, 1))
            ada.d_update_done(step)
    assert a.p == b.p == 7 / 128 and a.r_t == b.r_t == 5 / 7


def test_p_0_leaves_the_images_exactly_as_they_are_and_p_1_does_not():
    cfg = resolve(None, ADA)
    Da = with_augment(Seen(), cfg.train, 100)
    assert isinstance(Da, AugmentedD) and Da.p == 0.0  # augment_p (1.0) is not used with ADA
    x = torch.rand(16, 3, 16, 16) * 1.8 - 0.9
    assert torch.equal(Da(x), x)
    ada = AdaptiveAugment(Da, 0.6, 0.001, 1)
    ada.observe(logits(1, 1))
    ada.d_update_done(1)
    assert Da.p == 1.0 and not torch.equal(Da(x), x)


def test_auto_policy_is_on_for_any_data_size_with_ada():
    cfg = resolve(None, {**ADA, "train.augment": "auto"})
    assert isinstance(with_augment(torch.nn.Identity(), cfg.train, 10**6), AugmentedD)
    assert with_augment(torch.nn.Identity(), resolve(None, {"train.augment": "auto"}).train, 10**6).__class__ is torch.nn.Identity


# -- the family reports D's outputs on the real batch, once per D update ------------------------

def seam(**over):
    """The latent GAN family with seed 000's D (no dropout: two passes agree) at 16x16, reporting into a list."""
    cfg = resolve("mnist-dcgan", {"model.d_dropout": 0.0, "train.batch_size": 8, "train.update": "alternating", **over})
    family = build_family(cfg, DataSpec("x", (1, 16, 16)))
    torch.manual_seed(0)
    G, D = family.build()
    reported = []
    family.bind(TrainingForms(G, D, contextlib.nullcontext, torch.device("cpu"), real_logits=reported.append))
    real = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return family, D, Batch(real), reported


@pytest.mark.parametrize("how", ["joint", "two passes", "split", "both: shared backward", "both: two gradient calls",
                                 "both: one backward"])
def test_the_family_reports_d_on_the_reals(how):
    over = {"train.joint_d_forward": how != "two passes"}
    family, D, batch, reported = seam(**over)
    if how.startswith("both"):
        assert family.shared_d_backward  # seed 000's D takes the shared pass where it is exact
        family.shared_d_backward = how == "both: shared backward"
        if how == "both: one backward":
            family.bind(dataclasses.replace(family.train_forms, one_backward=True))
        family.both(batch, lambda t: t)
    else:
        for loss in family.d_losses(batch, split=how == "split"):
            loss.backward()
    family.g_loss(batch)  # G's pass through D reports nothing
    (r,) = reported
    with torch.no_grad():
        expected = D(batch.x)
    assert r.shape == (8,) and not r.requires_grad
    torch.testing.assert_close(r, expected)


def test_the_loop_counts_every_d_update_of_a_step(tmp_path):
    """n_critic=2, interval 3: adjustments after D updates 3 and 6, i.e. in steps 2 and 3 (1-based)."""
    cfg = resolve("digits-dcgan", {**ADA, "model.width": 8, "model.z_dim": 16, "train.batch_size": 16,
                                   "train.n_critic": 2, "train.ada_interval": 3, "train.progress": False})
    trainer = Trainer(cfg, run_dir=tmp_path / "run")
    batches = trainer.epoch_batches(0)
    for step in range(3):
        trainer.train_step(batches[2 * step:2 * step + 2], step)
    assert [r["step"] for r in trainer.ada.take_records()] == [2, 3]
    assert trainer.ada.updates == 0 and trainer.ada.images == 0


# -- a run: logs, plot, report, and resume equality ----------------------------------------------

TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 64, "train.progress": False, **ADA,
        "train.ada_kimg": 1.0, "train.ada_interval": 3}


def train(out, **over):
    return Trainer(resolve("digits-dcgan", {**TINY, **over}), run_dir=out).fit()


def ada_records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"event": "ada"' in line]


@pytest.mark.parametrize("policy", ["translation,cutout", "bgc"])  # bgc: the resampling transforms too
def test_resumed_run_adapts_and_trains_exactly_as_an_uninterrupted_one(tmp_path, policy):
    full = train(tmp_path / "full", **{"train.steps": 20, "train.augment": policy})
    part = train(tmp_path / "part", **{"train.steps": 7, "train.augment": policy})  # one D update into an interval
    assert load_checkpoint(list_checkpoints(part)[-1])["ada"]["updates"] == 1
    Trainer.resume(part, {"train.steps": 20}).fit()
    a, b = (load_checkpoint(list_checkpoints(run)[-1]) for run in (full, part))
    assert a["ada"]["p"] > 0  # p moved, so the comparison covers augmented steps
    assert a["ada"] == {**b["ada"], "signs": a["ada"]["signs"]} and torch.equal(a["ada"]["signs"], b["ada"]["signs"])
    for part_name in ("G", "D"):
        for k in a[part_name]:
            assert torch.equal(a[part_name][k], b[part_name][k]), f"{part_name}.{k} differs after resume"
    records = ada_records(full)
    assert records == ada_records(part)
    assert [r["step"] for r in records] == [3, 6, 9, 12, 15, 18]  # every 3 D updates
    assert all(-1 <= r["r_t"] <= 1 and 0 <= r["p"] <= 1 for r in records)
    assert (full / "augment.png").is_file()
    assert "ADA: the augmentation probability p" in (full / "report.html").read_text()


# -- what ADA refuses --------------------------------------------------------------------------------

@pytest.mark.parametrize("over, words", [
    ({"train.ada_target": 0.6}, "train.augment's transforms, which is off"),
    ({**ADA, "train.ada_target": 1.0}, "train.ada_target must be in (0, 1)"),
    ({**ADA, "train.ada_target": 0.0}, "train.ada_target must be in (0, 1)"),
    ({**ADA, "loss.name": "lsgan"}, "means nothing for loss 'lsgan'"),
    ({**ADA, "loss.name": "wgan-gp"}, "means nothing for loss 'wgan-gp'"),
    ({**ADA, "train.augment_p": 0.5}, "train.augment_p=0.5 is a fixed probability"),
    ({"train.ada_kimg": 100}, "train.ada_kimg tunes ADA, which is off"),
    ({"train.ada_interval": 8}, "train.ada_interval tunes ADA, which is off"),
    ({**ADA, "train.ada_kimg": 0}, "train.ada_kimg must be positive"),
    ({**ADA, "train.ada_interval": 0}, "train.ada_interval must be at least 1"),
])
def test_settings_ada_refuses(over, words):
    with pytest.raises(ConfigError) as info:
        resolve("digits-dcgan", over)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_family_that_does_not_report_real_outputs_is_refused(tmp_path):
    cfg = resolve("digits-infogan", {**ADA, "train.batch_size": 16, "train.progress": False})
    with pytest.raises(ConfigError, match="family 'infogan' does not report; use family gan"):
        Trainer(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
