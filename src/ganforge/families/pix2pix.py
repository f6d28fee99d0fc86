"""pix2pix (Isola et al. 2017): paired image-to-image translation, G(source) -> target.

G is a U-Net, D a PatchGAN that judges (source, image) pairs stacked as channels, one logit per patch.
D's loss is half the cross-entropy of real pairs against (source, G(source)) pairs (the paper divides D's
objective by 2); G's is the non-saturating adversarial term plus ``pix.l1_weight`` (100) x the mean absolute
difference to the target. ``pix.adv_weight=0`` leaves the adversarial term out: the same U-Net trained on L1
alone, the baseline that shows what D buys. A source smaller than the target (super-resolution) is brought
to the target's size by bicubic interpolation before G and D see it, as SRCNN does.

Batches carry ``source`` beside the target ``x`` (``data.pairs`` or ``paired:PATH``). The grid of every
epoch shows (source, output, target) triples; ``ganforge eval`` translates the test split's sources and
scores the outputs (FID, class accuracy of the outputs against the sources' labels, PSNR and L1 against the
targets); ``ganforge translate`` applies G to a user's own images.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, DataSpec, Family, SampleInputs
from ganforge.families.gan import upcast
from ganforge.losses import OBJECTIVES
from ganforge.models.base import frozen
from ganforge.models.pix2pix import PatchDiscriminator, UNetGenerator, patch_min_size, unet_depth

Tensor = torch.Tensor
TRIPLES_PER_ROW = 4


def check_patch_size(size: int, layers: int, section: str) -> None:
    if size < patch_min_size(layers):
        raise ConfigError(f"{section}.d_layers={layers} needs images of at least {patch_min_size(layers)} pixels, got "
                          f"{size}; lower {section}.d_layers or raise data.image_size")


def spread_pairs(data, n: int) -> SampleInputs:
    """``n`` (source, target) pairs of ``data`` spread evenly over it (no randomness: the same for every seed)."""
    from ganforge.data import normalize

    idx = torch.linspace(0, len(data) - 1, n).round().long() if n > 1 else torch.zeros(1, dtype=torch.long)
    return {"source": normalize(data.source[idx]), "target": normalize(data.x[idx])}


def load_test_split(cfg):
    """The test split of a translator's data with its sources; the pairs stay paired (no ``data.unpaired``), so
    translations can be compared with their truth. A paired folder has one set: itself."""
    from ganforge.data import load_dataset

    d = cfg.data
    return load_dataset(d.name, data_dir=d.data_dir, split="test", download=d.download, image_size=d.image_size,
                        channels=d.channels, pairs=d.pairs, domains=d.domains)


def psnr(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-image PSNR in dB of uint8 images: 10 log10(255^2 / mean squared error) (inf where equal)."""
    mse = (outputs.double() - targets.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse)


class Pix2Pix(Family):
    name = "pix2pix"
    translates = True              # G maps images to images (ganforge translate), not latents to samples

    def __init__(self, cfg, spec: DataSpec):
        super().__init__(cfg, spec)
        if spec.source_shape is None:
            raise ConfigError(f"family pix2pix learns source -> target pairs and data set '{spec.name}' has none; set "
                              "data.pairs (sr4, inpaint, inpaint-centre, colorize, edges) or use --dataset paired:PATH")
        c, h, w = spec.shape
        if h != w or unet_depth(h) < 1:
            raise ConfigError(f"family pix2pix's U-Net needs square images of an even size, got {h}x{w}; "
                              "set data.image_size (e.g. 28, 32, 64, 256)")
        check_patch_size(h, cfg.pix.d_layers, "pix")
        self.source_shape = tuple(spec.source_shape)
        self.obj = OBJECTIVES.get(cfg.loss.name)
        self.pix = cfg.pix
        self._test = None

    def build(self):
        m, p = self.cfg.model, self.pix
        c_src, c_out = self.source_shape[0], self.spec.shape[0]
        self.G = UNetGenerator(c_src, c_out, self.spec.shape[1], m.width, dropout=p.dropout)
        self.D = PatchDiscriminator(c_src + c_out, m.width, p.d_layers)
        return self.G, self.D

    # -- the translation ------------------------------------------------------------------------
    def condition(self, source: Tensor) -> Tensor:
        """The source at the target's size (bicubic when it is smaller or larger), as G and D take it."""
        size = tuple(self.spec.shape[1:])
        if tuple(source.shape[-2:]) == size:
            return source
        return F.interpolate(source.float(), size=size, mode="bicubic", align_corners=False).clamp(-1, 1).to(source.dtype)

    def forward_G(self, G: nn.Module, inputs: SampleInputs) -> Tensor:
        return G(self.condition(inputs["source"]))

    # -- losses -----------------------------------------------------------------------------------
    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        forms = self.train_forms
        if self.pix.adv_weight == 0:       # the L1-only baseline: D takes no part
            yield torch.zeros((), device=batch.x.device, requires_grad=True)
            return
        src = self.condition(batch.source)
        with torch.no_grad(), forms.autocast():
            fake = forms.G(src)
        fake = fake.to(batch.x.dtype)
        if not split:
            with forms.autocast():
                r = forms.D(torch.cat([src, batch.x], 1))
                f = forms.D(torch.cat([src, fake], 1))
            yield 0.5 * (self.obj.d_real(upcast(r), self.cfg.loss.label_smoothing) + self.obj.d_fake(upcast(f)))
            return
        with forms.autocast():
            r = forms.D(torch.cat([src, batch.x], 1))
        yield 0.5 * self.obj.d_real(upcast(r), self.cfg.loss.label_smoothing)
        with forms.autocast():
            f = forms.D(torch.cat([src, fake], 1))
        yield 0.5 * self.obj.d_fake(upcast(f))

    def g_loss(self, batch: Batch) -> Tensor:
        forms = self.train_forms
        src = self.condition(batch.source)
        with forms.autocast():
            fake = forms.G(src)
        loss = self.pix.l1_weight * (upcast(fake) - batch.x.float()).abs().mean()
        if self.pix.adv_weight > 0:
            with frozen(self.D), forms.autocast():
                f = forms.D(torch.cat([src, fake.to(src.dtype)], 1))
            loss = loss + self.pix.adv_weight * self.obj.g_loss(upcast(f))
        return loss

    # -- what a run shows ---------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        return spread_pairs(data, n)

    def displayable(self, source: Tensor) -> Tensor:
        """A source as the grid shows it: at the target's size and channels (grey repeated into RGB)."""
        shown = self.condition(source.float())
        if shown.shape[1] != self.spec.shape[0]:
            shown = shown.expand(-1, self.spec.shape[0], -1, -1) if shown.shape[1] == 1 else shown.mean(1, keepdim=True)
        return shown

    def grid_images(self, outputs: Tensor, inputs: SampleInputs) -> Tensor:
        src = self.displayable(inputs["source"].cpu())
        triples = torch.stack([src, outputs.float(), inputs["target"].float().cpu()], 1)  # (N, 3, C, H, W)
        return triples.flatten(0, 1)

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        return 3 * min(TRIPLES_PER_ROW, len(inputs["source"]))

    # -- evaluation on the test split ----------------------------------------------------------------
    def test_pairs(self):
        if self._test is None:
            self._test = load_test_split(self.cfg)
        return self._test

    def eval_samples(self, G, n: int, seed: int, device=None):
        """G's outputs for the first ``n`` test sources (fewer when the split is smaller), and their classes."""
        from ganforge.data import normalize

        test = self.test_pairs()
        n = min(n, len(test))
        out = self.generate(G, {"source": normalize(test.source[:n])}, device)
        return out, None if test.y is None else test.y[:n]

    def eval_scores(self, samples_uint8: Tensor) -> dict:
        """PSNR (dB, mean over images) and mean absolute error (0..255) of the outputs against their targets."""
        target = self.test_pairs().x[:len(samples_uint8)]
        return {"psnr": float(psnr(samples_uint8, target).clamp(max=100).mean()),
                "l1": float((samples_uint8.double() - target.double()).abs().mean())}

    # -- export ------------------------------------------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"source": torch.rand(n, *self.source_shape, generator=generator) * 2 - 1}

    def export_meta(self) -> dict:
        c, h, w = self.source_shape
        how = self.cfg.data.pairs or "paired folder"
        about = f"the image to translate ({how}), in [-1, 1] = (pixel - 127.5) / 127.5"
        if (h, w) != tuple(self.spec.shape[1:]):
            about += f"; brought to {self.spec.shape[1]}x{self.spec.shape[2]} by bicubic interpolation inside the model"
        return {"inputs": [{"name": "source", "shape": ["B", c, h, w], "dtype": "float32", "about": about}],
                "task": how}

    def report_figures(self, sampler):
        from ganforge.data import normalize
        from ganforge.families.base import Figure

        test = self.test_pairs()
        n = min(24, len(test))
        inputs = {"source": normalize(test.source[:n]), "target": normalize(test.x[:n])}
        out = self.generate(sampler.G, inputs)
        return [Figure("translations", self.grid_images(out, inputs), self.grid_columns(inputs),
                       f"test images the model never saw: (source, output, target) triples ({self.cfg.data.pairs or 'paired folder'})")]
