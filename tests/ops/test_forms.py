"""ganforge.ops.forms: each convolution computation by the form measured fastest on this machine.

Every form of every computation must be torch.nn's sums (checked for each combination of forms, in
float64, with the rounding bound of tests/ops/test_conv.py), and the choices must be kept on disk per
machine, so that a second process measures nothing and another CPU, ISA, thread count or torch measures
afresh.
"""

import contextlib
import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from ganforge.ops import conv, forms
from ganforge.ops.conv import Conv2d, Conv2dSame, ConvTranspose2d, ConvTranspose2dSame
from tests.ops.test_conv import ORDINARY, TRANSPOSED, _magnitudes, assert_same_layer, assert_within_rounding


def _candidates(layer: nn.Module, x: torch.Tensor) -> list[list[str]]:
    """The names of the forms of (output, input gradient, weight gradient) that apply to ``layer`` on ``x``."""
    found = {}

    def record(key, candidates):
        found[key.split()[0].split(".")[1]] = list(candidates)
        return next(iter(candidates)), None

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forms, "choose", record)
        conv._PLANS.clear()
        layer(x.detach().requires_grad_(True))
        conv._PLANS.clear()
    return [found["forward"], found["input"], found["weight"]]


def _forcing(monkeypatch, plan):
    """Make every layer take ``plan`` (output, input gradient, weight gradient) where its form applies."""
    names = dict(zip(("forward", "input", "weight"), plan))

    def choose(key, candidates):
        wanted = names[key.split()[0].split(".")[1]]
        return (wanted if wanted in candidates else next(iter(candidates))), None

    monkeypatch.setattr(forms, "choose", choose)
    conv._PLANS.clear()


@pytest.fixture
def measuring():
    before = forms.conv_forms()
    forms.set_conv_forms("measure")
    yield
    forms.set_conv_forms(before)
    conv._PLANS.clear()


@pytest.mark.parametrize("c_in,c_out,k,s,p,op,size,form", TRANSPOSED)
def test_every_form_of_a_transposed_convolution_is_torch_nns(c_in, c_out, k, s, p, op, size, form, measuring,
                                                            monkeypatch):
    torch.manual_seed(0)
    width = size + 1 if size > 1 else 1
    x = torch.randn(3, c_in, size, width, dtype=torch.float64)
    plans = list(itertools.product(*_candidates(ConvTranspose2d(c_in, c_out, k, s, p, op).double(), x)))
    assert ("onednn", "onednn", "onednn") in plans and len(plans) >= 2  # oneDNN's and at least one other
    for plan in plans:
        _forcing(monkeypatch, plan)
        torch.manual_seed(0)
        assert_same_layer(ConvTranspose2d(c_in, c_out, k, s, p, op), nn.ConvTranspose2d(c_in, c_out, k, s, p, op), x)
        assert conv._PLANS and all(v == plan for v in conv._PLANS.values()), plan


@pytest.mark.parametrize("c_in,c_out,k,s,p,size,form", ORDINARY)
def test_every_form_of_a_convolution_is_torch_nns(c_in, c_out, k, s, p, size, form, measuring, monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(3, c_in, size, size, dtype=torch.float64)
    plans = list(itertools.product(*_candidates(Conv2d(c_in, c_out, k, s, p).double(), x)))
    assert len(plans) >= 2
    for plan in plans:
        _forcing(monkeypatch, plan)
        torch.manual_seed(0)
        assert_same_layer(Conv2d(c_in, c_out, k, s, p), nn.Conv2d(c_in, c_out, k, s, p), x)


@pytest.mark.parametrize("k,s,size", [(5, 2, 7), (4, 2, 6), (3, 1, 5)])
def test_every_form_of_tensorflows_same_padding(k, s, size, measuring, monkeypatch):
    """Conv2dSame (an extra zero after) and ConvTranspose2dSame (the output cut) against their definitions,
    with per-sample weight gradients on the ordinary one, in every combination of forms."""
    F = torch.nn.functional
    torch.manual_seed(1)
    t_layer, c_layer = ConvTranspose2dSame(4, 2, k, s).double(), Conv2dSame(2, 3, k, s).double()
    x_t = torch.randn(3, 4, size, size, dtype=torch.float64, requires_grad=True)
    x_c = torch.randn(3, 2, size * s, size * s, dtype=torch.float64, requires_grad=True)
    full = (size - 1) * s + k
    lo = (k - s) // 2

    def ref_t(a, w, b):
        return F.conv_transpose2d(a, w, b, s)[:, :, lo:lo + s * size, lo:lo + s * size]

    before = max((size - 1) * s + k - size * s, 0) // 2
    after = max((size - 1) * s + k - size * s, 0) - before

    def ref_c(a, w, b):
        return F.conv2d(F.pad(a, (before, after, before, after)), w, b, s)

    assert full >= s * size
    for layer, x, ref, kind in ((t_layer, x_t, ref_t, "transposed"), (c_layer, x_c, ref_c, "conv")):
        for plan in itertools.product(*_candidates(layer, x)):
            _forcing(monkeypatch, plan)
            factors = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
            with conv.per_sample_weight_grads() if kind == "conv" else contextlib.nullcontext() as weights:
                y = layer(x)
            if kind == "conv":
                weights.factors = factors
            up = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
            params = [x, layer.weight, layer.bias]
            got = [y, *torch.autograd.grad(y, params, up)]
            y_ref = ref(*params)
            scaled = up * factors.view(-1, 1, 1, 1) if kind == "conv" else up
            want = [y_ref, torch.autograd.grad(y_ref, [x], up, retain_graph=True)[0],
                    *torch.autograd.grad(y_ref, params[1:], scaled)]
            mags = _magnitudes(ref, *params, up)
            mags[2:] = _magnitudes(ref, *params, scaled)[2:]
            assert_within_rounding(got, want, mags, terms=max(x.numel(), y.numel(), layer.weight.numel()))


def test_bf16_under_autocast_measures_its_own_plan(measuring, tmp_path, monkeypatch):
    """Autocast's dtype is part of a plan's key: the bf16 plan is measured on bf16 operands, apart from fp32's."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    forms.forget()
    layer = ConvTranspose2d(8, 4, 5, 2, 2, 1)
    x = torch.randn(2, 8, 7, 7, requires_grad=True)
    layer(x).sum().backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    keys = forms.chosen_forms()
    assert {k.split()[-2] for k in keys} == {"float32", "bfloat16"}
    assert len(keys) == 6  # three computations in each precision


SCRIPT = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(int(sys.argv[1]))
    from ganforge.ops import ConvTranspose2d, Conv2d, forms
    torch.manual_seed(0)
    G, D = ConvTranspose2d(16, 1, 5, 2, 2, 1), Conv2d(1, 8, 5, 2, 2)
    x = torch.randn(8, 16, 7, 7, requires_grad=True)
    D(G(x)).square().sum().backward()
    print(json.dumps({"file": str(forms.cache_file()), "chosen": forms.chosen_forms(),
                      "measured": sorted(forms.measured_timings())}))
""")


def _run(tmp_path, threads=1, **env):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GANFORGE_CACHE": str(tmp_path), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_choices_are_kept_on_disk_per_machine(tmp_path):
    first = _run(tmp_path)
    assert len(first["chosen"]) == 6 and sorted(first["chosen"]) == first["measured"]  # 2 layers x 3 computations
    saved = json.loads(open(first["file"]).read())
    assert saved["forms"] == first["chosen"]
    assert saved["machine"]["threads"] == 1 and saved["machine"]["torch"] == torch.__version__
    assert saved["machine"]["aten_isa"] == torch.backends.cpu.get_cpu_capability()

    again = _run(tmp_path)  # a later process: the same choices, nothing measured
    assert again["chosen"] == first["chosen"] and again["measured"] == [] and again["file"] == first["file"]

    other = _run(tmp_path, threads=2)  # another thread count is another machine: measured afresh, in its own file
    assert other["file"] != first["file"] and len(other["measured"]) == 6
    other_isa = "SSE41" if os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2" else "AVX2"
    isa = _run(tmp_path, ONEDNN_MAX_CPU_ISA=other_isa)  # so is oneDNN held to another ISA
    assert isa["file"] not in (first["file"], other["file"]) and len(isa["measured"]) == 6
    assert json.loads(open(first["file"]).read())["forms"] == first["chosen"]  # untouched by the others


def test_a_damaged_cache_file_is_measured_again(tmp_path):
    first = _run(tmp_path)
    with open(first["file"], "w") as f:
        f.write("{not json")
    again = _run(tmp_path)
    assert len(again["measured"]) == 6
    assert set(json.loads(open(first["file"]).read())["forms"]) == set(again["chosen"])


def test_rules_measure_nothing_and_write_nothing(tmp_path):
    out = _run(tmp_path, GANFORGE_CONV_FORMS="rules")
    assert out["chosen"] == {} and out["measured"] == []
    assert not (tmp_path / "conv-forms").exists()


def test_a_bad_conv_forms_setting_is_one_line(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("train", "--preset", "digits-dcgan", "--out", tmp_path / "r", "train.conv_forms=fast")
    assert proc.returncode != 0
    assert "train.conv_forms" in proc.stderr and "measure" in proc.stderr and "Traceback" not in proc.stderr
    env = {"GANFORGE_CONV_FORMS": "fast"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GANFORGE_CACHE": str(tmp_path), **env})
    assert proc.returncode != 0 and "GANFORGE_CONV_FORMS must be one of measure, rules, got 'fast'" in proc.stderr


def test_measuring_leaves_the_global_random_state_alone(measuring, tmp_path, monkeypatch):
    """A run that measures and a resumed one that reads the choices must draw the same random numbers."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    forms.forget()
    layer, x = ConvTranspose2d(6, 3, 5, 2, 2, 1), torch.ones(2, 6, 7, 7, requires_grad=True)
    torch.manual_seed(3)
    before = torch.get_rng_state()
    layer(x).sum().backward()
    assert forms.measured_timings() and torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("make,shape", [(lambda: Conv2d(8, 16, 3, 1, 1), (6, 8, 8, 8)),
                                        (lambda: Conv2d(1, 8, 5, 2, 2), (6, 1, 28, 28)),
                                        (lambda: ConvTranspose2d(16, 8, 5, 1, 2), (6, 16, 7, 7)),
                                        (lambda: ConvTranspose2d(16, 1, 5, 2, 2, 1), (6, 16, 7, 7))])
def test_each_output_form_gives_the_same_bits_with_and_without_gradients(make, shape, measuring, monkeypatch):
    """A loss computed for training and the same loss recomputed under no_grad (as tests and evaluations do)
    must agree exactly, whichever form the output takes."""
    torch.manual_seed(0)
    layer, x = make(), torch.randn(shape)
    for output, x_grad in itertools.product(_candidates(layer, x)[0], (True, False)):
        _forcing(monkeypatch, (output, "onednn", "onednn"))
        x.requires_grad_(x_grad)  # a fake batch, or a real one (only the weights want a gradient)
        y = layer(x)
        with torch.no_grad():
            assert torch.equal(layer(x), y), output
