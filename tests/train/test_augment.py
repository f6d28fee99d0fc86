"""DiffAugment: shapes, exact identity at p=0, what each transform does, gradients to G."""

import pytest
import torch

from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.models import build_models
from ganforge.train.augment import (AUTO_BELOW, AUTO_POLICY, POLICIES, AugmentedD, color, cutout, diff_augment, flip,
                                    geometric, parse_policy, resolve_policy, rot90, translation, with_augment)


def images(b=6, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g) * 1.8 - 0.9  # in (-0.9, 0.9), never exactly 0


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("c", [1, 3])
def test_shape_kept_and_identity_at_p0(name, c):
    torch.manual_seed(0)
    x = images(c=c)
    assert torch.equal(POLICIES[name](x, 0.0), x)
    y = POLICIES[name](x, 1.0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(y, x)


def test_policy_at_p0_is_identity():
    x = images()
    assert torch.equal(diff_augment(x, "color,translation,cutout", 0.0), x)


def test_translation_is_a_shift_within_an_eighth():
    torch.manual_seed(0)
    x = images(b=8, c=1, h=16, w=16)
    y = translation(x, 1.0)  # up to 2 px each way
    for xi, yi in zip(x, y):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(yi[:, 2:-2, 2:-2], torch.roll(xi, (dy, dx), dims=(1, 2))[:, 2:-2, 2:-2])]
        assert len(found) == 1


def test_translation_gradient_counts_each_output_pixel_once():
    x = images(b=4).requires_grad_()
    translation(x, 1.0).sum().backward()
    assert x.grad.sum().item() == pytest.approx(4 * 3 * 16 * 16)
    assert (x.grad >= 0).all()


def test_cutout_erases_one_square_and_passes_gradient_elsewhere():
    torch.manual_seed(1)
    x = images(b=5, c=3, h=16, w=16).requires_grad_()
    y = cutout(x, 1.0)
    y.sum().backward()
    hole = y.detach() == 0
    assert torch.equal(x.grad, (~hole).float())
    assert torch.equal(hole, hole[:, :1].expand_as(hole))          # same square on every channel
    per_image = hole[:, 0].sum(dim=(1, 2))
    assert ((per_image > 0) & (per_image <= 8 * 8)).all()          # at most half the size each way


def test_color_on_a_flat_image_shifts_it_by_at_most_half():
    torch.manual_seed(2)
    x = torch.full((16, 1, 8, 8), 0.25)
    y = color(x, 1.0)
    assert torch.allclose(y, y[:, :, :1, :1].expand_as(y))         # contrast keeps a flat image flat
    assert ((y[:, 0, 0, 0] - 0.25).abs() <= 0.5 + 1e-6).all()


def test_auto_policy_depends_on_data_size():
    assert resolve_policy("auto", AUTO_BELOW - 1) == AUTO_POLICY
    assert resolve_policy("auto", AUTO_BELOW) == ""
    assert resolve_policy("cutout", 10**6) == "cutout"
    assert resolve_policy("off", 10) == resolve_policy("none", 10) == ""


def test_with_augment_wraps_D_and_generator_gets_gradients():
    cfg = resolve(None, {"model.width": 8, "model.z_dim": 8, "train.augment": "translation,cutout"})
    G, D = build_models(cfg.model, (1, 16, 16))
    assert with_augment(D, resolve(None).train, 100) is D
    Da = with_augment(D, cfg.train, 10**6)
    assert isinstance(Da, AugmentedD) and Da.D is D
    assert [id(p) for p in Da.parameters()] == [id(p) for p in D.parameters()]
    Da(G(torch.randn(4, 8))).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


def test_unknown_transform_is_a_one_line_error():
    cfg = resolve(None, {"train.augment": "translation,mixup"})
    with pytest.raises(ConfigError, match="unknown transform 'mixup'"):
        with_augment(torch.nn.Identity(), cfg.train, 100)
    with pytest.raises(ConfigError, match="augment_p"):
        resolve(None, {"train.augment_p": 1.5})


def test_flip_mirrors_about_half_of_the_chosen_images():
    torch.manual_seed(3)
    x = images(b=400, c=1, h=8, w=8)
    y = flip(x, 1.0)
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and not (same & mirrored).any()
    assert 140 <= mirrored.sum() <= 260                 # Binomial(400, 1/2): mean 200, sd 10
    y = flip(x, 0.2)                                    # 1 in 10 mirrored: mean 40, sd 6
    assert 10 <= (y == x.flip(3)).flatten(1).all(1).sum() <= 70


def test_rot90_turns_each_image_by_a_multiple_of_a_right_angle():
    torch.manual_seed(4)
    x = images(b=200, c=2, h=8, w=8)
    y = rot90(x, 1.0)
    turns = torch.stack([(y == torch.rot90(x, k, dims=(2, 3))).flatten(1).all(1) for k in range(4)])  # (4, B)
    assert (turns.sum(0) == 1).all()                    # each image is exactly one of its four rotations
    assert (turns.sum(1) >= 20).all()                   # each of the four at 1/4: mean 50, sd 6
    with pytest.raises(ConfigError, match="square"):
        rot90(images(h=8, w=12), 1.0)


def test_geometric_resamples_with_weights_that_sum_to_one():
    torch.manual_seed(5)
    x = images(b=16, c=3, h=16, w=16).double().requires_grad_()
    y = geometric(x, 1.0)
    y.sum().backward()
    # bilinear weights of each output pixel sum to 1, mirrored borders included: the gradient's total is the
    # number of output values (float32 resampling: 16 * 3 * 256 terms of rounding 2^-24 each at most)
    assert x.grad.sum().item() == pytest.approx(16 * 3 * 16 * 16, rel=1e-5)
    assert y.dtype == torch.float64
    flat = torch.full((8, 1, 16, 16), 0.375)
    assert torch.allclose(geometric(flat, 1.0), flat, atol=1e-6)  # an affine map of a flat image is flat
    assert geometric(x.detach().bfloat16(), 1.0).dtype == torch.bfloat16


def test_geometric_moves_an_image_with_the_probability_of_any_of_its_five_draws():
    torch.manual_seed(6)
    x = images(b=2000, c=1, h=8, w=8)
    moved = ~(geometric(x, 0.2) == x).flatten(1).all(1)
    # scale, anisotropy and translation each at p, the two rotations each at 1 - sqrt(1 - p):
    # P(none) = (1 - p)^3 (1 - p) = 0.8^4, so P(moved) = 0.5904 (sd over 2,000 images: 0.011)
    assert abs(moved.float().mean().item() - (1 - 0.8 ** 4)) < 0.05


def test_bgc_names_the_ada_paper_groups():
    assert parse_policy("bgc") == ["flip", "rot90", "translation", "geometric", "color"]
    assert parse_policy("bgc, cutout") == ["flip", "rot90", "translation", "geometric", "color", "cutout"]
    x = images()
    assert torch.equal(diff_augment(x, "bgc", 0.0), x)
