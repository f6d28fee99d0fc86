"""`ganforge bench`: the figures it prints and the JSON object it ends with."""

import json
import os

import pytest
import torch

from conftest import run_cli
from ganforge.bench import run_bench
from ganforge.errors import ConfigError

TINY = ["model.width=8", "model.z_dim=16", "train.batch_size=32"]


def test_bench_json_is_the_last_line_and_holds_consistent_figures():
    proc = run_cli("bench", "--preset", "digits-dcgan", "--steps", 4, "--windows", 2, "--json", *TINY)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert lines[0].startswith("ganforge bench: digits-dcgan on digits, batch 32, alternating update, fp32")
    assert any(line.startswith("train ") and "img/s" in line for line in lines)
    assert result["preset"] == "digits-dcgan" and result["device"] == "cpu" and result["batch_size"] == 32
    assert result["steps"] == 4 and len(result["train_windows"]) == 2
    assert result["train_img_per_s"] > 0 and result["sample_img_per_s"] > 0
    lo, hi = sorted(result["train_windows"])
    assert lo <= result["train_img_per_s"] <= hi  # the median of two windows lies between them
    assert result["gflop_per_img"] > 0
    # the JSON rounds GFLOP/s to 1e-3, GFLOP/img to 1e-6 and img/s to 0.1: the product agrees up to that
    g, ips = result["gflop_per_img"], result["train_img_per_s"]
    assert abs(result["gflop_per_s"] - g * ips) <= 0.0005 + 0.5e-6 * (ips + 0.05) + 0.05 * g
    # what the figures ran with: the ISA in effect and each convolution's measured form (G's 4 transposed
    # layers and D's 4 convolutions, output and gradients)
    assert result["isa"] == {"aten": torch.backends.cpu.get_cpu_capability(),
                             "onednn_max": os.environ.get("ONEDNN_MAX_CPU_ISA", "all")}
    assert result["conv_forms"] == "measure" and len(result["forms_chosen"]) >= 8
    assert set(result["forms_chosen"].values()) <= {"onednn", "gemm", "phased", "flipped", "conv"}
    isa_line = next(line for line in lines if line.startswith("cpu isa"))
    assert f"convolution forms: measure ({len(result['forms_chosen'])} computations: " in isa_line


def test_bench_with_the_fixed_rules_says_so():
    proc = run_cli("bench", "--preset", "digits-dcgan", "--steps", 1, "--windows", 1, "--json", *TINY,
                   "train.conv_forms=rules", env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["conv_forms"] == "rules" and result["forms_chosen"] == {}
    assert result["isa"]["onednn_max"] == "AVX2"
    assert "oneDNN up to AVX2; convolution forms: rules" in proc.stdout


def test_bench_counts_the_flops_of_seed000s_step():
    # seed 000's model at 16x16, in multiply-adds per image (a transposed conv costs H_in*W_in*C_in*C_out*k*k)
    r = run_bench("mnist-dcgan", dataset="digits", steps=1, windows=1, warmup=0,
                  overrides={"data.image_size": 16, "train.batch_size": 16})
    g_dense = 100 * 256 * 4 * 4
    g = g_dense + 4 * 4 * 256 * 128 * 25 + 4 * 4 * 128 * 64 * 25 + 8 * 8 * 64 * 1 * 25
    d_conv1 = 8 * 8 * 1 * 64 * 25
    d = d_conv1 + 4 * 4 * 64 * 128 * 25 + 128 * 4 * 4
    # G: forward, weight gradients, input gradients (none into z).
    # D, one process: a forward pass over the real and one over the fake batch; weight gradients for
    # both; input gradients over the real batch except into the images, and over the fake batch once,
    # down to the images, serving both losses (the shared backward pass of train/steps.py; the
    # tutorial's two tapes go through D over the fake batch twice).
    macs = (3 * g - g_dense) + 2 * d + 2 * d + (d - d_conv1) + d
    assert r["gflop_per_img"] * 1e9 == pytest.approx(2 * macs, rel=1e-5)


@pytest.mark.parametrize("preset", ["mnist-wgan-gp", "ring8-gan"])
def test_bench_counts_the_flops_of_a_step_with_a_gradient_penalty(preset):
    """The penalty's torch.autograd.grad ran into FlopCounterMode's module hooks on torch 2.13: bench failed."""
    over = ["train.batch_size=32"] + (["model.width=8", "model.z_dim=16"] if preset == "mnist-wgan-gp" else [])
    r = run_bench(preset, dataset="digits" if preset == "mnist-wgan-gp" else None, steps=1, windows=1, warmup=0,
                  overrides=over)
    assert r["gflop_per_img"] > 0 and r["train_img_per_s"] > 0


def test_bench_rejects_a_bad_step_count():
    with pytest.raises(ConfigError, match="--steps and --windows must be at least 1"):
        run_bench("digits-dcgan", steps=0)
