"""The documents' training loops as written: which update comes when, on which batch, from which
latents, with G and D in which mode; and a resumed run of each equals an uninterrupted one."""

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import resolve
from ganforge.data import load_dataset, normalize
from ganforge.errors import ConfigError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.models.base import Discriminator, Generator
from ganforge.train import Trainer
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train.optim import build_optimizer
from ganforge.train.schedule import Schedule
from ganforge.train.steps import Stepper

TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 16, "train.progress": False, "train.num_samples": 4}
# seed 001's CIFAR-10 loop: `if steps % 2 == 0` D; then G; then D; all on x_train[start:end]
BOOK_CIFAR = {key: getattr(resolve("cifar10-dcgan").train, key.split(".")[1])
              for key in ("train.extra_d_every", "train.extra_d_on", "train.extra_d_batch", "train.g_before_d")}


def test_cifar10_dcgan_preset_is_the_books_loop():
    cfg = resolve("cifar10-dcgan")
    assert BOOK_CIFAR == {"train.extra_d_every": 2, "train.extra_d_on": "first", "train.extra_d_batch": "same",
                          "train.g_before_d": True}
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.data.shuffle) == (500, 100, False)


def test_seed_000_preset_draws_a_full_batch_of_latents_every_step():
    t = resolve("mnist-dcgan").train
    assert (t.update, t.fake_batch, t.batch_size) == ("simultaneous", "full", 256)
    assert resolve("mnist-dcgan").data.drop_last is False                 # tf.data keeps the short last batch


def test_seed_001_mlp_and_seed_002_presets_take_the_documents_loops():
    for name in ("mnist-gan", "mnist-gan-minimax", "mnist-lsgan", "mnist-wgan"):
        assert resolve(name).train.epochs == 1000, name                    # num_epochs = 1000
    for name in ("mnist-gan", "mnist-gan-minimax", "mnist-lsgan"):       # feed_dict = {x: ..., z: batch_noise}
        t = resolve(name).train
        assert (t.update, t.n_critic, t.g_reuses_d_latents) == ("alternating", 1, True), name
    t = resolve("mnist-acgan").train
    assert (t.d_update, t.g_mode_for_d, t.g_reuses_d_latents, t.d_bn_for_g) == ("split", "eval", True, "running")
    default = resolve("digits-dcgan")
    assert (default.train.d_update, default.train.g_mode_for_d, default.train.g_reuses_d_latents,
            default.train.d_bn_for_g, default.train.extra_d_on, default.data.shuffle) == ("joint", "train", False, "batch",
                                                                                       "last", True)


def record_updates(trainer):
    """Wrap the stepper: every update as ("D", step, real batch) or ("G", step, None). ``Stepper.step`` calls
    its updates through ``self``, so these instance attributes see every one."""
    log, stepper = [], trainer.stepper
    d_step, g_step = stepper.d_step, stepper.g_step

    def d(batch):
        log.append(("D", trainer.step, batch.x.clone()))
        return d_step(batch)

    def g(batch):
        log.append(("G", trainer.step, None))
        return g_step(batch)

    stepper.d_step, stepper.g_step = d, g
    return log


@pytest.mark.parametrize("schedule, expected", [
    # the book: an extra D update on steps 0, 2, 4 before G, on the step's batch; batch k on step k
    (BOOK_CIFAR, [("D", 0, 0), ("G", 0), ("D", 0, 0), ("G", 1), ("D", 1, 1), ("D", 2, 2), ("G", 2), ("D", 2, 2),
                  ("G", 3), ("D", 3, 3), ("D", 4, 4), ("G", 4), ("D", 4, 4)]),
    # ganforge's default: the extra D update on steps 1, 3 (every 2nd), on a batch of its own, D before G
    ({"train.extra_d_every": 2}, [("D", 0, 0), ("G", 0), ("D", 1, 1), ("D", 1, 2), ("G", 1), ("D", 2, 3), ("G", 2),
                                  ("D", 3, 4), ("D", 3, 5), ("G", 3), ("D", 4, 6), ("G", 4)]),
])
def test_extra_d_update_falls_on_its_steps_and_batch(tmp_path, schedule, expected):
    trainer = Trainer(resolve("digits-dcgan", {**TINY, **schedule, "data.shuffle": False, "train.steps": 5}),
                      run_dir=tmp_path / "run")
    log = record_updates(trainer)
    trainer.fit()
    x = normalize(load_dataset("digits", image_size=16).x)
    assert [(kind, step) for kind, step, _ in log] == [e[:2] for e in expected]
    for (kind, _, real), e in zip(log, expected):
        if kind == "D":   # unshuffled: batch k is images 16k .. 16k + 15 of the data set
            assert torch.equal(real, x[16 * e[2]:16 * (e[2] + 1)])
    state = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])
    d_updates = sum(kind == "D" for kind, _, _ in log)
    assert state["opt_d"]["state"][0]["step"].item() == d_updates and state["opt_g"]["state"][0]["step"].item() == 5


def test_an_epoch_of_the_books_loop_takes_one_batch_per_step(tmp_path):
    """1797 digits in batches of 16: 112 steps an epoch, whichever steps take an extra D update."""
    trainer = Trainer(resolve("digits-dcgan", {**TINY, **BOOK_CIFAR, "train.epochs": 1}), run_dir=tmp_path / "run")
    log = record_updates(trainer)
    trainer.fit()
    assert trainer.step == 112 and sum(kind == "D" for kind, _, _ in log) == 112 + 56


# -- seed 002: the Keras ACGAN's updates --------------------------------------------------

def train_on(family, G, D):
    """A Stepper training ``family`` through the plain G and D themselves: one CPU process, no autocast, no scaler."""
    family.G, family.D = G, D  # the plain modules the family freezes and reads batch norm from
    family.bind(TrainingForms(G, D, contextlib.nullcontext, torch.device("cpu"), one_backward=False, scaled=False))
    cfg = family.cfg
    return Stepper(family, build_optimizer(G.parameters(), cfg.g_optim), build_optimizer(D.parameters(), cfg.d_optim),
                   Schedule(cfg.train))


def acgan_stepper(**over):
    """Seed 002's ACGAN at 28x28 with 10 classes; its G update draws train.batch_size = 16 latents."""
    cfg = resolve("mnist-acgan", {"train.batch_size": 16, **over})
    family = build_family(cfg, DataSpec(cfg.data.name, (1, 28, 28), 10))
    torch.manual_seed(0)
    return train_on(family, *family.build())


@pytest.fixture(scope="module")
def digits28():
    ds = load_dataset("digits", image_size=28)
    return normalize(ds.x[:16]), ds.y[:16]


def bn_buffers(module):
    return [b.clone() for m in module.modules() if isinstance(m, nn.BatchNorm2d) for b in (m.running_mean, m.running_var)]


def test_split_d_update_is_two_train_on_batch_calls(digits28):
    """generator.predict, then D.train_on_batch(imgs, [valid, labels]), then D.train_on_batch(gen_imgs,
    [fake, sampled_labels]), written out by hand on copies of the same models, dropout included."""
    s = acgan_stepper()
    for _ in range(2):  # run in the models' running statistics and Adam's moments first
        s.d_step(Batch(*digits28))
    G, D = copy.deepcopy(s.G), copy.deepcopy(s.D)
    opt_d = build_optimizer(D.parameters(), s.family.cfg.d_optim)
    opt_d.load_state_dict(copy.deepcopy(s.opt_d.state_dict()))  # its own moments, not views of the stepper's
    real, labels = digits28

    torch.manual_seed(7)
    loss = s.d_step(Batch(real, labels))

    torch.manual_seed(7)
    noise, sampled = torch.randn(16, 100), torch.randint(0, 10, (16,))
    G.eval()
    with torch.no_grad():
        gen_imgs = G(noise, sampled)                                  # generator.predict
    G.train()
    losses = []
    for x, validity_target, y in ((real, 1.0, labels), (gen_imgs, 0.0, sampled)):   # two train_on_batch calls
        opt_d.zero_grad()
        validity, classes = D(x)
        bce = F.binary_cross_entropy_with_logits(validity, torch.full_like(validity, validity_target))
        total = bce + F.cross_entropy(classes, y)                     # binary + sparse categorical cross-entropy
        total.backward()
        opt_d.step()
        losses.append(total.item())

    for (name, a), b in zip(s.D.state_dict().items(), D.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=f"D.{name}")
    assert loss.item() == pytest.approx(sum(losses), rel=1e-6)
    assert s.opt_d.state_dict()["state"][0]["step"].item() == 2 * 3  # two optimiser steps per D update
    assert torch.equal(s.family.d_latents[0], noise) and torch.equal(s.family.d_latents[1], sampled)


class LinearG(Generator):
    def __init__(self):
        super().__init__(2, (3,))
        self.lin = nn.Linear(2, 3)

    def forward(self, z, y=None):
        return self.lin(z)


class LinearD(Discriminator):
    def __init__(self):
        super().__init__((3,))
        self.lin = nn.Linear(3, 1)

    def forward(self, x, y=None):
        return self.lin(x).squeeze(1)


@pytest.mark.parametrize("loss_name", ["ns", "lsgan", "wgan"])
def test_split_d_update_in_closed_form(loss_name):
    """D(x) = w.x + b with SGD: the real update, then the fake one at the new weights, against float64 maths."""
    cfg = resolve("mnist-gan", {"loss.name": loss_name, "train.d_update": "split", "d_optim.name": "sgd",
                                "d_optim.lr": 0.5, "d_optim.betas": [0.0, 0.999],
                                "model.z_dim": 2,  # LinearG's latent: the family draws model.z_dim of them
                                "loss.allow_unclipped": loss_name == "wgan"})  # the closed form has no clipping
    torch.manual_seed(3)
    G, D = LinearG(), LinearD()
    s = train_on(build_family(cfg, DataSpec(cfg.data.name, (3,))), G, D)
    real = torch.randn(5, 3)
    w, b = D.lin.weight.detach().double().squeeze(0), D.lin.bias.detach().double()
    torch.manual_seed(4)
    s.d_step(Batch(real))
    torch.manual_seed(4)
    fake = G(torch.rand(5, 2) * 2 - 1).detach().double()             # the preset's z ~ U(-1, 1)

    def dloss_dlogit(logits, is_real):                                # derivative of the loss term per logit, times n
        if loss_name == "ns":
            return -torch.sigmoid(-logits) if is_real else torch.sigmoid(logits)
        if loss_name == "lsgan":
            return (logits - 1) if is_real else logits
        return -torch.ones_like(logits) if is_real else torch.ones_like(logits)

    for x, is_real in ((real.double(), True), (fake, False)):        # real first, then fake at the updated weights
        g = dloss_dlogit(x @ w + b, is_real) / len(x)
        w, b = w - 0.5 * (g @ x), b - 0.5 * g.sum()
    torch.testing.assert_close(D.lin.weight.detach().double().squeeze(0), w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(D.lin.bias.detach().double(), b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fake_batch", ["full", "real"])
def test_simultaneous_step_on_a_short_batch_draws_the_latents_asked_for(fake_batch):
    """The TensorFlow tutorial's train_step draws BATCH_SIZE latents even for the epoch's short last batch:
    with train.fake_batch=full, 5 real images meet 8 fakes; D's loss averages each side over its own count.
    Both updates (SGD, D(x) = w.x + b, G(z) = Az + c) against float64 maths."""
    cfg = resolve("mnist-gan", {"train.update": "simultaneous", "train.g_reuses_d_latents": False,
                                "train.fake_batch": fake_batch, "train.batch_size": 8, "model.z_dim": 2,
                                "g_optim.name": "sgd", "g_optim.lr": 0.5, "g_optim.betas": [0.0, 0.999],
                                "d_optim.name": "sgd", "d_optim.lr": 0.5, "d_optim.betas": [0.0, 0.999]})
    torch.manual_seed(3)
    G, D = LinearG(), LinearD()
    s = train_on(build_family(cfg, DataSpec(cfg.data.name, (3,))), G, D)
    zs = []
    G.register_forward_pre_hook(lambda m, args: zs.append(args[0].detach().double()))
    real = torch.randn(5, 3)
    A, c = G.lin.weight.detach().double(), G.lin.bias.detach().double()
    w, b = D.lin.weight.detach().double().squeeze(0), D.lin.bias.detach().double()
    s.step(0, [Batch(real)])
    (z,) = zs
    assert z.shape == ((8, 2) if fake_batch == "full" else (5, 2))
    x, fake = real.double(), z @ A.T + c
    r, f = x @ w + b, fake @ w + b
    g_r, g_f = -torch.sigmoid(-r) / len(r), torch.sigmoid(f) / len(f)   # d L_D / d logit, each side its own mean
    g_g = -torch.sigmoid(-f) / len(f)                                    # non-saturating G: d L_G / d logit
    dfake = g_g[:, None] * w[None, :]                                   # d L_G / d G(z)
    expect = {"D.w": w - 0.5 * (g_r @ x + g_f @ fake), "D.b": b - 0.5 * (g_r.sum() + g_f.sum()),
              "G.A": A - 0.5 * dfake.T @ z, "G.c": c - 0.5 * dfake.sum(0)}
    got = {"D.w": D.lin.weight.squeeze(0), "D.b": D.lin.bias, "G.A": G.lin.weight, "G.c": G.lin.bias}
    for name, value in expect.items():
        torch.testing.assert_close(got[name].detach().double(), value, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("fake_batch", ["full", "real"])
def test_d_update_on_a_short_batch_meets_the_fakes_asked_for(fake_batch):
    cfg = resolve("mnist-gan", {"train.fake_batch": fake_batch, "train.batch_size": 8, "model.z_dim": 2,
                                "train.g_reuses_d_latents": False})
    G, D = LinearG(), LinearD()
    s = train_on(build_family(cfg, DataSpec(cfg.data.name, (3,))), G, D)
    zs = []
    G.register_forward_pre_hook(lambda m, args: zs.append(args[0].shape))
    s.step(0, [Batch(torch.randn(5, 3))])
    assert zs == [(8 if fake_batch == "full" else 5, 2), (8, 2)]        # D's fakes, then G's (always a full batch)


def mode_log(module):
    """Records, on every forward call of ``module``, the training flag of each of its submodules."""
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append({n: c.training for n, c in m.named_modules()}))
    return seen


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_g_draws_d_fakes_in_the_mode_asked_for(digits28, mode):
    s = acgan_stepper(**{"train.g_mode_for_d": mode})
    seen = mode_log(s.G)
    before = bn_buffers(s.G)
    s.d_step(Batch(*digits28))
    assert all(flag == (mode == "train") for flag in seen[0].values())
    unchanged = all(torch.equal(a, b) for a, b in zip(before, bn_buffers(s.G)))
    assert unchanged == (mode == "eval")          # predict() leaves G's running statistics alone
    assert s.G.training and all(m.training for m in s.G.modules())   # and G trains again afterwards
    s.g_step(Batch(*digits28))
    assert all(seen[1].values())                  # G's own update: batch statistics
    assert not all(torch.equal(a, b) for a, b in zip(before, bn_buffers(s.G)))


@pytest.mark.parametrize("bn", ["running", "batch"])
def test_d_batch_norm_in_g_update(digits28, bn):
    """Keras' combined model holds D frozen (trainable = False): its batch norm runs on the running
    statistics and leaves them alone, while its dropout still drops."""
    s = acgan_stepper(**{"train.d_bn_for_g": bn})
    s.d_step(Batch(*digits28))
    seen = mode_log(s.D)
    before = bn_buffers(s.D)
    s.g_step(Batch(*digits28))
    (flags,) = seen
    assert {n: f for n, f in flags.items() if "body." in n and isinstance(s.D.get_submodule(n), nn.BatchNorm2d)} \
        == {"body.7": bn == "batch", "body.11": bn == "batch"}
    assert all(f for n, f in flags.items() if isinstance(s.D.get_submodule(n), nn.Dropout))
    assert all(torch.equal(a, b) for a, b in zip(before, bn_buffers(s.D))) == (bn == "running")
    assert all(m.training for m in s.D.modules())


@pytest.mark.parametrize("reuse", [True, False])
def test_g_update_on_the_latents_of_d_update(digits28, reuse):
    s = acgan_stepper(**{"train.g_reuses_d_latents": reuse})
    inputs = []
    s.G.register_forward_pre_hook(lambda m, args: inputs.append([a.clone() for a in args]))
    s.d_step(Batch(*digits28))
    s.g_step(Batch(*digits28))
    (z_d, y_d), (z_g, y_g) = inputs
    assert (torch.equal(z_d, z_g) and torch.equal(y_d, y_g)) == reuse
    s.g_step(Batch(*digits28))   # a second G update with no D update between: new latents
    assert not torch.equal(inputs[2][0], z_g)


@pytest.mark.parametrize("over, message", [
    ({"train.update": "simultaneous", "train.d_update": "split"}, "needs train.update=alternating"),
    ({"train.update": "simultaneous", "train.g_mode_for_d": "eval"}, "needs train.update=alternating"),
    ({"train.g_reuses_d_latents": True, "train.g_before_d": True}, "set train.g_before_d=false"),
    ({"train.d_update": "split", "loss.name": "wgan-gp"}, "gradient penalty"),
    ({"train.extra_d_on": "middle"}, "must be one of last, first"),
    ({"train.fake_batch": "full", "train.update": "simultaneous", "loss.name": "wgan-gp"}, "pairs them one to one"),
    ({"train.fake_batch": "half"}, "must be one of real, full"),
    ({"train.d_updates": "split"}, "unknown config key 'train.d_updates'.*train.d_update"),
])
def test_schedule_options_are_checked(over, message):
    with pytest.raises(ConfigError, match=message):
        resolve("digits-dcgan", over)


# -- resume equals an uninterrupted run, with the documents' schedules ----------------------

@pytest.mark.parametrize("preset, over", [
    ("cifar10-dcgan", {"data.name": "digits", "train.batch_size": 4, "train.num_samples": 4}),   # resumed at an odd step
    ("mnist-acgan", {"data.name": "digits", "train.batch_size": 16, "train.num_samples": 10}),
    ("mnist-gan", {"data.name": "digits", "train.num_samples": 4}),
])
def test_resume_with_the_documents_schedules_equals_an_uninterrupted_run(tmp_path, preset, over):
    over = {**over, "train.progress": False}
    full = Trainer(resolve(preset, {**over, "train.steps": 6}), run_dir=tmp_path / "full").fit()
    part = Trainer(resolve(preset, {**over, "train.steps": 3}), run_dir=tmp_path / "part").fit()
    Trainer.resume(part, {"train.steps": 6}).fit()
    a, b = (load_checkpoint(list_checkpoints(run)[-1]) for run in (full, part))
    assert a["step"] == b["step"] == 6
    for part_name in ("G", "D"):
        for k in a[part_name]:
            assert torch.equal(a[part_name][k], b[part_name][k]), f"{part_name}.{k} differs after resume"
    for opt in ("opt_g", "opt_d"):
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), f"{opt}[{i}].{k} differs after resume"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
