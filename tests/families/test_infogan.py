"""InfoGAN on the seam: the codes' loss in closed form, code sampling, grids, training through the unchanged
loop, bit-identical resume, ``ganforge sample --code`` and ``ganforge eval``'s code_acc, and the one-line errors."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.data import to_uint8
from ganforge.errors import ConfigError
from ganforge.families import DataSpec, build_family
from ganforge.losses import categorical_info_loss, gaussian_info_loss
from ganforge.metrics.codes import code_accuracy
from ganforge.metrics.evaluate import evaluate_run
from ganforge.metrics.features import classifier_for
from ganforge.rundir import RunDir, latest_checkpoint, list_checkpoints
from ganforge.sampler import load_generator
from ganforge.train import Trainer

DIGITS8 = DataSpec("digits", (1, 8, 8), 10)
# small and fast: 8x8 digits, 14 steps an epoch at batch 128
TINY = {"data.name": "digits", "data.image_size": 8, "model.width": 8, "model.z_dim": 16, "train.batch_size": 128,
        "train.progress": False, "train.num_samples": 20, "train.precision": "fp32", "train.threads": 1}


def family(**over):
    return build_family(resolve("mnist-infogan", {**TINY, **over}), DIGITS8)


# -- the mutual-information term -------------------------------------------------------------------

def test_categorical_term_is_the_cross_entropy_on_hand_made_logits():
    """Logits (0, ln 3) give Q = (1/4, 3/4): -log Q(1) = ln(4/3); logits (ln 3, 0) give -log Q(1) = ln 4."""
    logits = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]], dtype=torch.float64)
    codes = torch.tensor([1, 1])
    assert categorical_info_loss(logits, codes).item() == pytest.approx((math.log(4 / 3) + math.log(4)) / 2, abs=1e-15)
    # uniform logits over 10 values: -log(1/10) = ln 10 = H(c), so the lower bound L_I = H(c) - CE is 0
    assert categorical_info_loss(torch.zeros(4, 10, dtype=torch.float64), torch.arange(4)).item() == pytest.approx(
        math.log(10), abs=1e-15)


def test_continuous_term_is_half_the_squared_error_of_the_unit_variance_gaussian():
    mean = torch.tensor([[0.5, -1.0], [0.0, 0.0]], dtype=torch.float64)
    codes = torch.tensor([[1.0, 1.0], [0.2, -0.4]], dtype=torch.float64)
    # row 1: 0.5 (0.25 + 4) = 2.125; row 2: 0.5 (0.04 + 0.16) = 0.1; mean over the batch 1.1125
    assert gaussian_info_loss(mean, codes).item() == pytest.approx(1.1125, abs=1e-15)
    # it is -log N(c; mu, 1) less its constant 0.5 log(2 pi) per code
    nll = -torch.distributions.Normal(mean, 1.0).log_prob(codes).sum(1).mean()
    assert gaussian_info_loss(mean, codes).item() == pytest.approx(nll.item() - math.log(2 * math.pi), abs=1e-14)


def test_the_familys_term_weights_each_code_kind_by_its_lambda():
    """Codes: a 2-valued and a 3-valued categorical code, two continuous codes; Q's outputs laid out as G's input."""
    fam = family(**{"info.categorical": [2, 3], "info.lambda_cat": 1.0, "info.lambda_cont": 0.5})
    q = torch.tensor([[0.0, math.log(3), 0.0, 0.0, 0.0, 0.5, -1.0],
                      [math.log(3), 0.0, 0.0, math.log(2), 0.0, 0.0, 0.0]], dtype=torch.float64)
    cat = torch.tensor([[1, 2], [1, 1]])
    cont = torch.tensor([[1.0, 1.0], [0.2, -0.4]], dtype=torch.float64)
    first = (math.log(4 / 3) + math.log(4)) / 2                   # the 2-valued code, as above
    second = (math.log(3) + math.log(4 / 2)) / 2                  # (0,0,0) -> 1/3; (0,ln2,0) -> 2/4 at value 1
    assert fam.info_loss(q, cat, cont).item() == pytest.approx(first + second + 0.5 * 1.1125, abs=1e-14)
    assert fam.code_names == ["cat1", "cat2", "c1", "c2"] and fam.code_dim == 7


def test_code_vector_is_one_hot_then_continuous():
    fam = family()
    v = fam.code_vector(torch.tensor([[3], [0]]), torch.tensor([[0.5, -0.25], [1.0, 0.0]]))
    expected = torch.zeros(2, 12)
    expected[0, 3], expected[0, 10:] = 1, torch.tensor([0.5, -0.25])
    expected[1, 0], expected[1, 10] = 1, 1.0
    assert torch.equal(v, expected)


def test_d_loss_is_the_gan_loss_plus_the_codes_term_on_the_fakes_and_split_yields_its_two_parts():
    from ganforge.families import Batch, TrainingForms
    from ganforge.models.base import split_logits

    fam = family()
    fam.build()
    fam.bind(TrainingForms(fam.G, fam.D))
    real = Batch(torch.rand(16, 1, 8, 8) * 2 - 1)
    torch.manual_seed(3)
    (joint,) = list(fam.d_losses(real))
    torch.manual_seed(3)
    real_term, fake_term = list(fam.d_losses(real, split=True))             # no update between: same D
    assert torch.equal(joint, real_term + fake_term)
    # by hand: the same latents (drawn first, from the same seed), D's logits and Q's outputs
    torch.manual_seed(3)
    codes = fam.latent(16)
    with torch.no_grad():
        fake = fam.G(codes["z"], fam.code_vector(codes["cat"], codes["cont"]))
    r, _ = fam.D(real.x)
    f, q = fam.D(fake)
    by_hand = (torch.nn.functional.softplus(-r).mean() + torch.nn.functional.softplus(f).mean()
               + torch.nn.functional.cross_entropy(q[:, :10], codes["cat"][:, 0])
               + 0.5 * (codes["cont"] - q[:, 10:]).pow(2).sum(1).mean())
    assert torch.allclose(joint, by_hand, rtol=0, atol=1e-6)
    assert split_logits(fam.D(real.x))[1].shape == (16, 12)


# -- sampling the codes ---------------------------------------------------------------------------

def test_code_sampling_ranges():
    draw = family().latent(20_000, torch.Generator().manual_seed(0), device="cpu")
    z, cat, cont = draw["z"], draw["cat"], draw["cont"]
    assert z.shape == (20_000, 16) and cat.shape == (20_000, 1) and cont.shape == (20_000, 2)
    assert -1 <= z.min() < -0.999 and 0.999 < z.max() < 1                  # model.noise=uniform: U(-1, 1)
    counts = torch.bincount(cat[:, 0], minlength=10)
    assert len(counts) == 10 and counts.min() > 1800 and counts.max() < 2200  # uniform over 0-9 (2,000 each)
    assert -1 <= cont.min() < -0.999 and 0.999 < cont.max() < 1
    assert abs(cont.mean()) < 0.02 and abs(cont.var() - 1 / 3) < 0.01        # U(-1, 1): mean 0, variance 1/3


def test_fixed_grid_and_traversal_inputs():
    fam = family()
    fixed = fam.fixed_inputs(20, seed=0)                                     # 10 rows x 2 columns
    assert fixed["cat"][:, 0].tolist() == [v for v in range(10) for _ in range(2)]
    assert fam.grid_columns(fixed) == 2
    for k in ("z", "cont"):                                                  # one draw per column, down the rows
        assert torch.equal(fixed[k][0::2], fixed[k][0:1].expand(10, -1))
        assert not torch.equal(fixed[k][0], fixed[k][1])
    travel = fam.traversal_inputs()
    assert list(travel) == ["c1", "c2"]
    sweep = torch.linspace(-2, 2, 9)
    for j, name in enumerate(["c1", "c2"]):
        t = travel[name]
        assert t["cont"][:, j].reshape(10, 9).tolist() == [sweep.tolist()] * 10       # columns: -2 ... 2
        assert (t["cont"][:, 1 - j] == 0).all()                                      # the other code fixed at 0
        assert t["cat"][:, 0].tolist() == [v for v in range(10) for _ in range(9)]   # rows: the categorical values
        assert torch.equal(t["z"], t["z"][:1].expand(90, -1))                       # one z throughout
    assert torch.equal(family().traversal_inputs()["c1"]["z"], travel["c1"]["z"])    # drawn from train.seed alone


def test_fixing_a_code_leaves_the_other_draws_as_they_were():
    fam = family()
    free = fam.sample_inputs(6, generator=torch.Generator().manual_seed(5))
    fixed = fam.sample_inputs(6, generator=torch.Generator().manual_seed(5), codes={"cat": 3, "c1": 0.5})
    assert (fixed["cat"] == 3).all() and (fixed["cont"][:, 0] == 0.5).all()
    assert torch.equal(fixed["z"], free["z"]) and torch.equal(fixed["cont"][:, 1], free["cont"][:, 1])


def test_code_errors_are_one_line():
    fam = family()
    cases = {"cat": (10, "code cat=10 is out of range: cat takes the integers 0-9"),
             "c3": (1, "unknown code 'c3'; this model's codes are cat (0-9), c1 (-2 to 2), c2 (-2 to 2)"),
             "c1": (2.5, "code c1=2.5 is out of range: continuous codes take values from -2 to 2")}
    for name, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            fam.sample_inputs(2, codes={name: value})
    with pytest.raises(ConfigError, match="cat takes the integers 0-9"):
        fam.sample_inputs(2, codes={"cat": 2.5})


def test_config_errors():
    cases = {
        "family infogan trains model.arch=infogan": {"model.arch": "dcgan"},
        "model.arch=infogan has a Q head for InfoGAN's latent codes; set family=infogan": {"family": "gan"},
        "info.categorical\\[0\\] must have at least 2 values": {"info.categorical": [1]},
        "family infogan needs at least one latent code": {"info.categorical": [], "info.continuous": 0},
        "family infogan trains with loss.name one of ns, minimax, lsgan, hinge": {"loss.name": "wgan-gp"},
        "family infogan is unsupervised": {"model.conditional": True},
        "family infogan has no simultaneous update": {"train.update": "simultaneous"},
    }
    for message, over in cases.items():
        with pytest.raises(ConfigError, match=message):
            resolve("mnist-infogan", over)
    with pytest.raises(ConfigError, match="info.\\* sets InfoGAN's latent codes; family 'gan' has none"):
        resolve("digits-dcgan", {"info.continuous": 3})


# -- training through the unchanged loop ------------------------------------------------------------

def test_trains_draws_its_grids_resumes_bit_identically_and_samples_with_codes(tmp_path):
    straight = Trainer(resolve("mnist-infogan", {**TINY, "train.steps": 16}), tmp_path / "straight")
    G0 = [p.detach().clone() for p in straight.G.parameters()]
    straight.fit()
    assert any(not torch.equal(a, b) for a, b in zip(G0, straight.G.parameters()))
    run = tmp_path / "straight"
    # after the first epoch (14 steps): the fixed grid and one traversal per continuous code
    grid = np.asarray(Image.open(run / "samples" / "epoch_0001.png"))
    assert grid.shape == ((10 * 9 + 1) * 8, (2 * 9 + 1) * 8)                 # 10 rows x 2 of 8x8 tiles, pad 1, x8
    for name in ("c1", "c2"):
        for epoch in (1, 2):                                                   # and the partial epoch at the end
            assert np.asarray(Image.open(run / "samples" / f"traversal_{name}" / f"epoch_{epoch:04d}.png")).shape == (
                (10 * 9 + 1) * 8, (9 * 9 + 1) * 8)                             # 10 rows (cat) x 9 columns (-2 ... 2)
    assert sorted(p.name for p in (run / "samples").glob("epoch_*.png")) == ["epoch_0001.png", "epoch_0002.png"]
    html = (run / "report.html").read_text()
    assert 'alt="traversal_c1"' in html and 'alt="traversal_c2"' in html and 'alt="samples"' in html

    # resume: 8 steps, then on to 16 across the epoch boundary, equals the uninterrupted 16
    first = Trainer(resolve("mnist-infogan", {**TINY, "train.steps": 8}), tmp_path / "resumed")
    first.fit()
    state = latest_checkpoint(tmp_path / "resumed")
    assert torch.equal(state["fixed"]["z"], first.family.fixed["z"])          # the family's inputs in the checkpoint
    assert torch.equal(state["traversals"]["c2"]["cont"], first.family.traversal_inputs()["c2"]["cont"])
    resumed = Trainer.resume(tmp_path / "resumed", {"train.steps": 16})
    resumed.fit()
    for part in ("G", "D"):
        a, b = getattr(straight, part).state_dict(), getattr(resumed, part).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    assert len(list_checkpoints(tmp_path / "resumed")) == 2

    # ganforge sample --code in a subprocess: the generator's images for those codes, the other draws unchanged
    out = tmp_path / "three.npz"
    result = run_cli("sample", run, "--code", "cat=3", "--code", "c1=0.5", "--num", "6", "--seed", "5", "--out", out)
    assert result.returncode == 0, result.stderr
    arrays = np.load(out)
    assert arrays["arr_0"].shape == (6, 8, 8, 1) and "arr_1" not in arrays
    sampler = load_generator(run)
    inputs = sampler.family.latent(6, torch.Generator().manual_seed(5), device="cpu")
    inputs["cat"][:], inputs["cont"][:, 0] = 3, 0.5
    expected = to_uint8(sampler.family.generate(sampler.G, inputs)).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(arrays["arr_0"], expected)
    other = to_uint8(sampler.sample(6, seed=5, codes={"cat": 4, "c1": 0.5})).permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(arrays["arr_0"], other)


def test_cli_code_errors_are_one_line(tmp_path):
    run = Trainer(resolve("mnist-infogan", {**TINY, "train.steps": 1}), tmp_path / "info").fit()
    gan = Trainer(resolve("digits-dcgan", {"data.image_size": 8, "model.width": 8, "train.steps": 1,
                                           "train.progress": False}), tmp_path / "gan").fit()
    cases = [
        (run, ["--code", "cat=10"], "ganforge: error: code cat=10 is out of range: cat takes the integers 0-9"),
        (run, ["--code", "c3=1"], "ganforge: error: unknown code 'c3'; this model's codes are cat (0-9), "
                                  "c1 (-2 to 2), c2 (-2 to 2)"),
        (run, ["--code", "c1=-2.5"], "ganforge: error: code c1=-2.5 is out of range: continuous codes take values "
                                     "from -2 to 2 (their prior is U(-1, 1))"),
        (run, ["--code", "cat"], "ganforge: error: --code takes NAME=VALUE, e.g. --code cat=3 or --code c1=0.5; "
                                 "got 'cat'"),
        (gan, ["--code", "cat=3"], "ganforge: error: --code fixes InfoGAN's latent codes; this run's model "
                                   "(family 'gan') has none"),
    ]
    for i, (where, flags, message) in enumerate(cases):
        result = run_cli("sample", where, *flags, "--out", tmp_path / f"s{i}.npz")
        assert result.returncode != 0 and result.stderr.strip().splitlines() == [message]
        assert not (tmp_path / f"s{i}.npz").exists()


    # --interpolate walks through z with every code fixed: the given ones, the others at 0
    from ganforge.interpolate import interpolate, interpolation_latents

    sampler = load_generator(run)
    walk = interpolate(sampler, [0, 1], steps=2, codes={"cat": 3, "c2": -0.5})
    z = interpolation_latents([0, 1], 2, sampler.z_dim, sampler.noise)[0]
    inputs = {"z": z, "cat": torch.full((3, 1), 3), "cont": torch.tensor([[0.0, -0.5]] * 3)}
    assert torch.equal(walk[0], sampler.family.generate(sampler.G, inputs))
    result = run_cli("sample", run, "--interpolate", "2", "--code", "cat=3", "--out", tmp_path / "walk.png")
    assert result.returncode == 0 and (tmp_path / "walk.png").is_file(), result.stderr


def test_eval_reports_code_acc_from_the_reference_classifier(tmp_path):
    run = Trainer(resolve("mnist-infogan", {**TINY, "train.steps": 14, "train.eval_every": 1, "train.eval_num": 100}),
                  tmp_path / "run").fit()
    during = [r for r in RunDir(run).records() if r.get("event") == "eval"]      # evaluation during training too
    assert len(during) == 1 and 0.1 <= during[0]["code_acc"] <= 1 and len(during[0]["code_classes"]) == 10
    result = evaluate_run(run, num=200, metrics=["code_acc", "class_acc"], histograms=False, printer=lambda *a: None)
    # recomputed by hand: samples per code value in turn, classified, matched one-to-one
    sampler = load_generator(run)
    x, y = sampler.family.eval_samples(sampler.G, 200, 0)
    assert y is None and "class_acc" not in result                           # codes are not classes
    _, probs = classifier_for("digits")(to_uint8(x))
    acc, match = code_accuracy(probs, np.arange(200) % 10)
    assert result["code_acc"] == acc and result["code_classes"] == match
    assert sorted(k for k in match if k is not None) == sorted(set(k for k in match if k is not None))  # one-to-one
    assert 0.1 <= result["code_acc"] <= 1.0
