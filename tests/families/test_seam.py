"""The seam proved by a family the loop has never seen: G takes an image, not a latent.

``Restorer`` is a test-only family (an inpainter: the centre of each image is blanked, G fills it in,
D tells restored from real, G's loss adds 10 x L1 to the target). It trains, checkpoints, resumes and
draws its grid through the unchanged Trainer, Stepper and Schedule.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import resolve
from ganforge.data import normalize
from ganforge.errors import ConfigError
from ganforge.families import FAMILIES, Batch, Family
from ganforge.models.base import frozen
from ganforge.rundir import latest_checkpoint, list_checkpoints
from ganforge.sampler import load_generator
from ganforge.train import Trainer

HOLE = 4  # pixels blanked in the middle of each 8x8 digit


def blank_centre(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    h, w = x.shape[-2:]
    top, left = (h - HOLE) // 2, (w - HOLE) // 2
    out[..., top:top + HOLE, left:left + HOLE] = -1.0
    return out


class Restorer(Family):
    name = "test-restorer"

    def build(self):
        c = self.spec.shape[0]
        self.G = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, c, 3, padding=1), nn.Tanh())
        self.D = nn.Sequential(nn.Conv2d(c, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                               nn.Linear(8 * (self.spec.shape[1] // 2) ** 2, 1))
        self.seen = []  # the shapes G was called with in training
        return self.G, self.D

    def d_losses(self, batch, split=False):
        forms = self.train_forms
        with torch.no_grad():
            fake = forms.G(blank_centre(batch.x))
        real_logits, fake_logits = forms.D(batch.x).squeeze(1), forms.D(fake).squeeze(1)
        yield F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def g_loss(self, batch):
        forms = self.train_forms
        inputs = blank_centre(batch.x)
        self.seen.append(tuple(inputs.shape))
        fake = forms.G(inputs)
        with frozen(self.D):
            adv = F.softplus(-forms.D(fake).squeeze(1)).mean()
        return adv + 10.0 * (fake - batch.x).abs().mean()

    def fixed_inputs(self, n, seed, data=None):
        return {"x": blank_centre(normalize(data.x[:n]))}

    def forward_G(self, G, inputs):
        return G(inputs["x"])


if "test-restorer" not in FAMILIES:
    FAMILIES.register("test-restorer", "test only: fills in the blanked centre of an image")(lambda: Restorer)


def config(steps: int, **over):
    items = {"family": "test-restorer", "data.name": "digits", "train.batch_size": 32, "train.steps": steps,
             "train.progress": False, "train.num_samples": 16, "train.precision": "fp32", **over}
    return resolve("digits-dcgan", {k: v for k, v in items.items()})


def test_a_family_whose_generator_takes_images_trains_through_the_unchanged_loop(tmp_path):
    trainer = Trainer(config(6, **{"data.image_size": 8, "train.n_critic": 2}), tmp_path / "run")
    d_updates = []
    trainer.D.register_forward_pre_hook(lambda m, args: d_updates.append(args[0].shape[0]))
    G0 = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.fit()
    assert trainer.step == 6
    assert trainer.family.seen == [(32, 1, 8, 8)] * 6                       # G got images, never a latent
    assert len(d_updates) == 6 * 2 * 2 + 6                                 # n_critic=2: (real, fake) x 2, + G's pass
    assert any(not torch.equal(a, b) for a, b in zip(G0, trainer.G.parameters()))
    state = latest_checkpoint(tmp_path / "run")
    assert torch.equal(state["fixed"]["x"], trainer.family.fixed["x"])    # the family's own state in the checkpoint
    assert (tmp_path / "run" / "samples").is_dir() and list((tmp_path / "run" / "samples").glob("epoch_*.png"))
    # its generator comes back from the checkpoint and restores the same grid
    sampler = load_generator(tmp_path / "run")
    assert torch.equal(sampler.family.generate(sampler.G, sampler.family.fixed), trainer.sample_fixed())
    with pytest.raises(ConfigError, match="does not draw samples from latents"):
        sampler.sample(4)


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = Trainer(config(6, **{"data.image_size": 8}), tmp_path / "straight")
    straight.fit()
    first = Trainer(config(3, **{"data.image_size": 8}), tmp_path / "resumed")
    first.fit()
    assert len(list_checkpoints(tmp_path / "resumed")) == 1
    resumed = Trainer.resume(tmp_path / "resumed", {"train.steps": 6})
    resumed.fit()
    for (name, a), b in zip(straight.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.equal(a, b), name
    for (name, a), b in zip(straight.D.state_dict().items(), resumed.D.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_family_without_a_simultaneous_update_says_so(tmp_path):
    with pytest.raises(ConfigError, match="family 'test-restorer' has no simultaneous update"):
        Trainer(config(2, **{"data.image_size": 8, "train.update": "simultaneous"}), tmp_path / "run")


def test_unknown_family_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown family 'discogan'"):
        resolve("digits-dcgan", {"family": "discogan"})
