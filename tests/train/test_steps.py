"""One D / one G update on real components: clipping, penalties, the auxiliary classifier,
and the speed-minded forms of the steps against the plain formulation."""

import contextlib
import copy
import dataclasses
import os

import pytest
import torch
import torch.nn.functional as F

from ganforge.config import resolve
from ganforge.data import load_dataset, normalize
from ganforge.errors import ConfigError
from ganforge.families import Batch, DataSpec, TrainingForms, build_family
from ganforge.models import build_models
from ganforge.models.base import has_batch_statistics
from ganforge.ops import reference_forms
from ganforge.train import Trainer
from ganforge.train.optim import build_optimizer
from ganforge.train.schedule import Schedule
from ganforge.train.steps import Stepper


def train_on(family, G, D, opt_g, opt_d, one_backward=False):
    """A Stepper training ``family`` through the plain G and D themselves: one CPU process, no autocast, no scaler."""
    family.G, family.D = G, D  # the plain modules the family clips, freezes and reads batch norm from
    family.bind(TrainingForms(G, D, contextlib.nullcontext, torch.device("cpu"), one_backward, scaled=False))
    return Stepper(family, opt_g, opt_d, Schedule(family.cfg.train))


def stepper_for(preset, shape, num_classes=0, **over):
    cfg = resolve(preset, over)
    family = build_family(cfg, DataSpec(cfg.data.name, shape, num_classes))
    torch.manual_seed(0)
    G, D = family.build()
    opt_g, opt_d = build_optimizer(G.parameters(), cfg.g_optim), build_optimizer(D.parameters(), cfg.d_optim)
    return train_on(family, G, D, opt_g, opt_d)


def stepper_of(cfg, G, D, opt_g, opt_d, one_backward=False):
    """A Stepper for models built outside a family (copies, another D), with ``cfg``'s family at SHAPE."""
    family = build_family(cfg, DataSpec(cfg.data.name, SHAPE))
    return train_on(family, G, D, opt_g, opt_d, one_backward)


# Two forms of a step that sum the same terms in another order (a joint D pass, one shared backward pass,
# another memory layout) are compared in float64, never in float32: which float32 element trips a
# hand-picked tolerance depends on the CPU's kernels. Seed 000's logits and gradients (all below 0.1)
# computed in float32 differ from float64 by at most 1.2 x 2^-24 (measured): one order's rounding. Any
# order's worst case is at most K times a typical one for sums of K <= 6,400 terms (G's 256 -> 128 layer
# at stride 1: 256 x 5 x 5; Higham, Accuracy and Stability of Numerical Algorithms, 4.2: K u sum|terms|,
# against ~sqrt(K) u for random rounding), and values up to O(1) scale it by 10, so in float64 two forms
# differ by at most 10 x 6.4e3 x 1.2 x 2^-53 ~ 9e-12 (measured: below 2e-15). A wrong term or a step
# applied twice differs by 1e-4 or more.
F64_ATOL = 1e-11


def adam_atol(opt_cfg, steps: int) -> float:
    """How far rounding can move two forms' parameters apart in ``steps`` Adam steps.

    Adam moves a parameter by lr * m / (sqrt(v) + eps): a change d in its gradient changes the move by at
    most ~2 * lr / eps * d (where |gradient| ~ eps; by less elsewhere). So parameters whose gradients are
    near zero can differ by ~lr after a float32 gradient difference of eps; in float64 the bound below is
    at most 1.2e-6 for these presets, while a wrong gradient moves a parameter by ~lr = 1e-4 per step.
    """
    return steps * 2 * opt_cfg.lr / opt_cfg.eps * F64_ATOL


@pytest.fixture
def float64():
    """Models, latents, data and optimiser states in float64 inside the test."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.fixture(scope="module")
def digits28():
    ds = load_dataset("digits", image_size=28)
    return normalize(ds.x[:32]), ds.y[:32]


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_clipping_keeps_every_critic_weight_in_range(digits28, update):
    s = stepper_for("mnist-wgan", (1, 28, 28), **{"train.update": update})
    with torch.no_grad():
        for p in s.D.parameters():
            p.mul_(100.0)                     # start far outside [-c, c]
    assert max(p.abs().max().item() for p in s.D.parameters()) > 0.5
    real, _ = digits28
    for _ in range(3):
        if update == "alternating":
            s.d_step(Batch(real))
        else:
            s.simultaneous_step(Batch(real))
        assert max(p.abs().max().item() for p in s.D.parameters()) <= 0.01
        assert min(p.min().item() for p in s.D.parameters()) >= -0.01


def test_wgan_gp_step_adds_lambda_times_penalty(digits28):
    """With a zeroed critic, D = 0 everywhere: the Wasserstein term is 0 and the penalty is (0 - 1)^2 = 1."""
    s = stepper_for("mnist-wgan-gp", (1, 28, 28))
    with torch.no_grad():
        for p in s.D.parameters():
            p.zero_()
    real, _ = digits28
    assert s.d_step(Batch(real)).item() == pytest.approx(10.0)


def test_acgan_d_loss_adds_cross_entropy_of_both_batches(digits28, float64):
    s = stepper_for("mnist-acgan", (1, 28, 28), 10)
    s.D.eval()                                # no dropout: the loss is a deterministic function of the inputs
    real, y = digits28
    real = real.double()
    fake = s.G(torch.randn(32, 100), y.flip(0)).detach()
    loss, _, _ = s.family._d_loss(real, y, fake, y.flip(0))
    r, r_cls = s.D(real)
    f, f_cls = s.D(fake)
    expected = (F.softplus(-r).mean() + F.softplus(f).mean()
                + F.cross_entropy(r_cls, y) + F.cross_entropy(f_cls, y.flip(0)))
    assert loss.dtype == torch.float64
    assert abs(loss.item() - expected.item()) <= F64_ATOL


def test_g_step_moves_only_the_generator(digits28):
    s = stepper_for("mnist-gan", (1, 28, 28), **{"train.batch_size": 16})  # G's update draws 16 latents
    d_before = [p.clone() for p in s.D.parameters()]
    g_before = [p.clone() for p in s.G.parameters()]
    real, _ = digits28
    s.g_step(Batch(real[:16]))
    assert all(torch.equal(a, b) for a, b in zip(d_before, s.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, s.G.parameters()))


# -- speed-minded steps compute what the plain formulation computes ---------------------

SHAPE = (1, 16, 16)


def seed000(**over):
    """Seed 000's model and optimisers at 16x16; dropout off so that two passes can be compared."""
    cfg = resolve("mnist-dcgan", {"model.d_dropout": 0.0, "train.batch_size": 8, **over})
    torch.manual_seed(0)
    G, D = build_models(cfg.model, SHAPE)
    opt = lambda m, o: torch.optim.Adam(m.parameters(), lr=o.lr, betas=tuple(o.betas), eps=o.eps)  # noqa: E731
    return cfg, G, D, opt(G, cfg.g_optim), opt(D, cfg.d_optim)


def real_batch(n=8):
    return torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_joint_d_forward_is_used_only_without_batch_norm_and_matches_two_passes(float64):
    cfg, G, D, og, od = seed000()
    assert not has_batch_statistics(D) and has_batch_statistics(G)
    joint = stepper_of(cfg, G, D, og, od).family
    split = stepper_of(resolve("mnist-dcgan", {"train.joint_d_forward": False}), G, D, og, od).family
    assert joint.joint_d and not split.joint_d
    real, fake = real_batch(), torch.tanh(torch.randn(8, *SHAPE))
    r1, _, f1, _ = joint._d_outputs(real, None, fake, None)
    r2, _, f2, _ = split._d_outputs(real, None, fake, None)
    assert r1.shape == f1.shape == (8,)
    assert r1.dtype == torch.float64
    torch.testing.assert_close(r1, r2, atol=F64_ATOL, rtol=0)
    torch.testing.assert_close(f1, f2, atol=F64_ATOL, rtol=0)
    # the Radford DCGAN's D has batch norm: one pass over cat(real, fake) would change its output
    radford = resolve("digits-dcgan")
    _, D_bn = build_models(radford.model, SHAPE)
    assert not stepper_of(radford, G, D_bn, og, od).family.joint_d


def two_tape_reference(cfg, G, D, og, od, real):
    """Seed 000's step as the TensorFlow tutorial writes it: two gradient tapes, both applied."""
    z = torch.randn(real.shape[0], cfg.model.z_dim)
    fake = G(z)
    r, f = D(real), D(fake)
    d_loss = F.softplus(-r).mean() + F.softplus(f).mean()   # -log s(r) - log(1 - s(f))
    g_loss = F.softplus(-f).mean()                           # -log s(f)
    g_grads = torch.autograd.grad(g_loss, list(G.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(d_loss, list(D.parameters()))
    for p, g in zip([*G.parameters(), *D.parameters()], [*g_grads, *d_grads]):
        p.grad = g
    og.step()
    od.step()
    return d_loss.detach(), g_loss.detach()


@pytest.mark.parametrize("joint, one_backward, shared", [(True, False, True), (True, False, False),
                                                         (False, False, False), (True, True, False)])
def test_simultaneous_step_equals_the_two_tape_update(joint, one_backward, shared, float64):
    cfg, G, D, og, od = seed000(**{"train.joint_d_forward": joint})
    ref = [copy.deepcopy(m) for m in (G, D)]
    ref_opts = [torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-7) for m in ref]
    stepper = stepper_of(cfg, G, D, og, od)
    family = stepper.family
    assert not family.train_forms.one_backward  # plain modules; DDP-wrapped ones take the one-backward path
    assert family.shared_d_backward  # seed 000's D: no batch norm, ganforge's own layers
    family.bind(dataclasses.replace(family.train_forms, one_backward=one_backward))
    family.shared_d_backward = shared
    for step in range(2):
        real = real_batch() * (0.5 + step / 4)
        torch.manual_seed(100 + step)
        d, g = stepper.simultaneous_step(Batch(real))
        torch.manual_seed(100 + step)
        d_ref, g_ref = two_tape_reference(cfg, *ref, *ref_opts, real)
        assert d.dtype == torch.float64
        torch.testing.assert_close(d, d_ref, atol=F64_ATOL, rtol=0)
        torch.testing.assert_close(g, g_ref, atol=F64_ATOL, rtol=0)
    for mine, theirs, opt_cfg in ((G, ref[0], cfg.g_optim), (D, ref[1], cfg.d_optim)):
        assert (opt_cfg.lr, opt_cfg.eps) == (1e-4, 1e-7)  # as ref_opts
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, atol=adam_atol(opt_cfg, 2), rtol=0, msg=name)
    assert all(p.requires_grad for p in D.parameters())  # D is unfrozen again


@pytest.mark.parametrize("loss, forms", [("ns", "ganforge"), ("minimax", "ganforge"), ("lsgan", "ganforge"),
                                         ("hinge", "ganforge"), ("wgan", "ganforge"), ("ns", "torch.nn")])
def test_one_backward_through_d_gives_both_losses_gradients(loss, forms, float64):
    """The shared backward pass through D over the fake batch against the two gradient calls, per objective,
    and with torch.nn's forms of the convolutions (how ``ganforge bench`` counts FLOPs)."""
    over = {"loss.name": loss, "loss.label_smoothing": 0.1 if loss == "ns" else 0.0, "model.d_dropout": 0.3,
            "loss.allow_unclipped": loss == "wgan"}  # raw gradients of the critic loss, no clipping in the way
    cfg, G, D, og, od = seed000(**over)
    twin = [copy.deepcopy(m) for m in (G, D)]
    twin_opts = [build_optimizer(m.parameters(), c) for m, c in zip(twin, (cfg.g_optim, cfg.d_optim))]
    shared = stepper_of(cfg, G, D, og, od)
    calls = stepper_of(cfg, *twin, *twin_opts)
    calls.family.shared_d_backward = False
    assert shared.family.shared_d_backward
    real = real_batch()
    losses = []
    for stepper in (shared, calls):
        torch.manual_seed(7)  # the same latents and dropout masks
        with reference_forms() if forms == "torch.nn" else contextlib.nullcontext():
            losses.append(stepper.simultaneous_step(Batch(real)))
    torch.testing.assert_close(losses[0], losses[1], atol=0, rtol=0)
    for mine, theirs in zip((G, D), twin):
        assert sum(p.grad.abs().sum() for p in mine.parameters()) > 0
        for (name, a), b in zip(mine.named_parameters(), theirs.parameters()):
            torch.testing.assert_close(a.grad, b.grad, atol=F64_ATOL, rtol=0, msg=name)


def test_shared_backward_only_where_it_is_exact():
    cfg = resolve("mnist-dcgan")
    _, G, D, og, od = seed000()
    assert stepper_of(cfg, G, D, og, od).family.shared_d_backward
    _, D_sn = build_models(resolve("mnist-dcgan", {"model.spectral_norm": True}).model, SHAPE)
    assert not stepper_of(cfg, G, D_sn, og, od).family.shared_d_backward  # a parametrized weight
    _, D_bn = build_models(resolve("digits-dcgan").model, SHAPE)
    assert not stepper_of(cfg, G, D_bn, og, od).family.shared_d_backward  # batch norm mixes samples
    r1 = resolve("mnist-dcgan", {"loss.r1_weight": 1.0})
    assert not stepper_of(r1, G, D, og, od).family.shared_d_backward  # a penalty on D's input gradient


def test_g_step_leaves_d_without_gradients():
    cfg, G, D, og, od = seed000(**{"train.update": "alternating"})
    stepper = stepper_of(cfg, G, D, og, od)
    stepper.d_step(Batch(real_batch()))
    od.zero_grad(set_to_none=True)
    stepper.g_step(Batch(real_batch()))  # G's update draws train.batch_size = 8 latents
    assert all(p.grad is None for p in D.parameters())
    assert all(p.grad is not None for p in G.parameters())
    assert all(p.requires_grad for p in D.parameters())


TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 32, "train.progress": False, "train.log_every": 2}


@pytest.mark.parametrize("preset, precision", [("digits-dcgan", "bf16"),
                                               ("mnist-dcgan", "bf16")])
def test_each_precision_trains_with_finite_losses(tmp_path, preset, precision):
    over = {**TINY, "train.precision": precision, "train.steps": 4, "data.name": "digits", "data.image_size": 16}
    trainer = Trainer(resolve(preset, over), run_dir=tmp_path / "run")
    run = trainer.fit()
    records = [r for r in map(eval_json, (run / "metrics.jsonl").read_text().splitlines()) if "d_loss" in r]
    assert len(records) == 4
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in records)
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())  # autocast: fp32 master weights


def eval_json(line):
    import json

    return json.loads(line)


def test_fp16_needs_cuda_and_runs_with_a_grad_scaler_there(tmp_path):
    over = {**TINY, "train.precision": "fp16", "train.steps": 3, "train.device": "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            Trainer(resolve("digits-dcgan", over), run_dir=tmp_path / "run")
        with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
            Trainer(resolve("digits-dcgan", {**over, "train.device": "cpu"}), run_dir=tmp_path / "run")
        return
    trainer = Trainer(resolve("digits-dcgan", over), run_dir=tmp_path / "run")
    assert trainer.stepper.scaler is not None
    trainer.fit()
    assert trainer.step == 3


def test_channels_last_trains_like_the_default_layout(tmp_path, float64):
    runs = []
    for cl in (False, True):
        over = {**TINY, "train.steps": 3, "train.channels_last": cl, "data.channels": 3}
        trainer = Trainer(resolve("digits-dcgan", over), run_dir=tmp_path / f"cl{cl}")
        trainer.x = normalize(trainer.x).double()  # float64 images: the trainer takes them as they are
        trainer.fit()
        runs.append(trainer)
    assert runs[1].G.net[1].weight.is_contiguous(memory_format=torch.channels_last)
    for net, opt_cfg in (("G", runs[0].cfg.g_optim), ("D", runs[0].cfg.d_optim)):
        mine, theirs = (getattr(r, net).state_dict() for r in runs)
        for name, a in mine.items():
            assert a.dtype == torch.float64 or not a.is_floating_point()
            torch.testing.assert_close(a, theirs[name], atol=adam_atol(opt_cfg, 3), rtol=0, msg=f"{net}.{name}")


def test_compiled_models_take_the_simultaneous_step(tmp_path):
    """torch.compile'd backward frees its buffers, so the step must back-propagate once (the DDP form)."""
    over = {**TINY, "train.compile": True, "train.steps": 3, "data.name": "digits", "data.image_size": 16,
            "train.threads": 2}  # one thread is refused on AVX-512 CPUs (below)
    trainer = Trainer(resolve("mnist-dcgan", over), run_dir=tmp_path / "run")
    before = [p.detach().clone() for p in trainer.G.parameters()]
    assert trainer.family.train_forms.one_backward
    run = trainer.fit()
    assert trainer.step == 3
    records = [r for r in map(eval_json, (run / "metrics.jsonl").read_text().splitlines()) if "d_loss" in r]
    assert records and all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in records)
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


def test_compile_on_one_thread_of_an_avx512_cpu_is_refused_not_a_crash(tmp_path):
    """torch 2.13's compiled CPU kernels crash the process there (seen with OMP_NUM_THREADS=1, before and after 0.2)."""
    over = {**TINY, "train.compile": True, "train.steps": 1, "data.name": "digits", "data.image_size": 16, "train.threads": 1}
    threads = torch.get_num_threads()
    try:
        if torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
            with pytest.raises(ConfigError, match="train.compile on one CPU thread crashes"):
                Trainer(resolve("mnist-dcgan", over), run_dir=tmp_path / "run")
        else:
            assert Trainer(resolve("mnist-dcgan", over), run_dir=tmp_path / "run").family.train_forms.one_backward
    finally:
        torch.set_num_threads(threads)


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(tmp_path, monkeypatch):
    from ganforge.train import trainer as trainer_mod

    cpu = torch.device("cpu")
    assert trainer_mod.resolve_precision("fp32", cpu) == "fp32"
    assert trainer_mod.resolve_precision("bf16", cpu) == "bf16"
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ("SSE41", "AVX", "AVX2"):
        assert not trainer_mod.native_bf16(cpu)  # bf16 units or not, oneDNN would emulate bf16 here
    # the CPU's bf16 units, and whether oneDNN may use them (ONEDNN_MAX_CPU_ISA=AVX2 makes it emulate bf16)
    for native, onednn, expected in ((True, True, "bf16"), (False, True, "fp32"), (True, False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        monkeypatch.setattr(trainer_mod, "_onednn_bf16", lambda: onednn)
        assert trainer_mod.resolve_precision("auto", cpu) == expected
        over = {**TINY, "train.precision": "auto", "train.steps": 1, "data.name": "digits", "data.image_size": 16}
        trainer = Trainer(resolve("digits-dcgan", over), run_dir=tmp_path / f"{native}-{onednn}")
        assert trainer.precision == expected
        with trainer.autocast():
            out = trainer.G(torch.randn(2, 16))
        assert out.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)
