"""Latent interpolation: slerp/lerp closed forms and `ganforge sample --interpolate` files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ganforge.config import resolve
from ganforge.interpolate import interpolate, interpolation_latents, lerp, seed_latents, slerp
from ganforge.sampler import load_generator
from ganforge.train import Trainer
from ganforge.viz import to_uint8_hwc
from tiny import TINY_FLAGS, digit_folder


def test_slerp_closed_forms():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.tensor([0.0, 0.5, 1.0, 1 / 3])
    z = slerp(a, b, t)
    assert torch.allclose(z[0], a) and torch.allclose(z[2], b)
    assert torch.allclose(z[1], torch.tensor([1.0, 1.0]) / math.sqrt(2))  # the arc's midpoint, norm 1
    assert torch.allclose(z[3], torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]))  # 30 degrees
    assert torch.allclose(z.norm(dim=1), torch.ones(4))
    same = slerp(a, a * 2, t)  # parallel vectors: a straight line
    assert torch.allclose(same, lerp(a, a * 2, t))
    assert torch.allclose(lerp(a, b, torch.tensor([0.25])), torch.tensor([[0.75, 0.25]]))


def test_path_ends_at_each_seeds_latent():
    z = interpolation_latents([3, 4, 5], steps=4, z_dim=7, noise="normal")
    ends = seed_latents([3, 4, 5], 7, "normal")
    assert z.shape == (2, 5, 7)
    assert torch.allclose(z[0, 0], ends[0]) and torch.allclose(z[0, -1], ends[1]) and torch.allclose(z[1, -1], ends[2])
    u = interpolation_latents([0, 1], steps=2, z_dim=3, noise="uniform")
    assert torch.allclose(u[0, 1], (u[0, 0] + u[0, 2]) / 2)  # straight line inside the cube


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("interp")
    cfg = resolve("digits-dcgan", [*TINY_FLAGS, f"data.name=folder:{digit_folder(root / 'digits')}", "train.steps=2"])
    return Trainer(cfg, run_dir=root / "run").fit()


def test_sample_interpolate_writes_a_png_strip_and_a_gif(run, tmp_path):
    png, gif = tmp_path / "walk.png", tmp_path / "walk.gif"
    # on as many threads as this process: the command's walk is the same arithmetic as the one below
    r = run_cli("sample", run, "--interpolate", 3, "--steps", 4, "--seed", 10, "--out", png,
                env={"OMP_NUM_THREADS": str(torch.get_num_threads())})
    assert r.returncode == 0, r.stderr
    assert "seeds 10-12" in r.stdout
    strip = np.asarray(Image.open(png))
    G = load_generator(run)
    expected = interpolate(G, [10, 11, 12], steps=4)
    tile = strip[8:8 + 64:8, 8:8 + 64:8]  # the first image, scaled back down (pad 1 * scale 8)
    assert np.array_equal(tile, to_uint8_hwc(expected[0, :1])[0, :, :, 0])
    # the walk starts at seed 10's own latent: slerp at t = 0 is sin(w) z / sin(w), two roundings of z,
    # (1 + u)^2 - 1 < 3u with u = 2^-24 (its image, drawn in a batch of another size, may round a pixel
    # the other way, so images are not compared)
    z_walk = interpolation_latents([10, 11, 12], 4, G.z_dim, G.noise)[0, 0]
    z_seed = seed_latents([10], G.z_dim, G.noise)[0]
    assert ((z_walk - z_seed).abs() <= 3 * 2.0 ** -24 * z_seed.abs()).all()
    assert strip.shape == (2 * (8 + 1) * 8 + 8, 5 * (8 + 1) * 8 + 8)  # 2 pairs x 5 images, 8x8 drawn 8x, 1-pixel gaps
    r = run_cli("sample", run, "--interpolate", 3, "--steps", 4, "--seed", 10, "--out", gif)
    assert r.returncode == 0, r.stderr
    assert Image.open(gif).n_frames == 2 * 4 + 1
    r = run_cli("sample", run, "--interpolate", 3, "--out", gif)
    assert r.returncode != 0 and "already exists" in r.stderr
