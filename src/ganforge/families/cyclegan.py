"""CycleGAN (Zhu et al. 2017): unpaired translation between domains A and B.

G is a ModuleDict of two generators, ``a2b`` (the paper's G) and ``b2a`` (its F); D a ModuleDict of a
PatchGAN per domain, ``a`` (D_A judges A images) and ``b``. With the least-squares objective (the paper's):

- G's loss: (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2, plus cycle_weight (10) x (|F(G(a)) - a| + |G(F(b)) - b|),
  plus identity x cycle_weight x (|G(b) - b| + |F(a) - a|) (identity 0.5, the paper's photo<->painting setting);
- D's: half of (D_B(b) - 1)^2 + D_B(fake b)^2, and the same for D_A, the fakes drawn from a pool of the
  last 50 (``cycle.pool_size``): each new fake goes in, and with probability 1/2 D sees an older one in its place.

The paper's loop updates G first and then D on the fakes of G's step (``train.g_before_d=true`` in the
presets; the fakes are reused, not drawn again), and its learning rates fall linearly to 0 over the second
half of training (``train.lr_decay_from``). The pool travels in checkpoints, so a resumed run trains exactly
like one that was not stopped.

Data: ``Batch.source`` holds A images and ``Batch.x`` B images, unpaired (``data.domains``: two classes of a
labelled set; ``data.pairs`` with ``data.unpaired=true``: the sources of one half of the images and the
images of the other half). ``ganforge translate --direction a2b|b2a`` and ``ganforge eval RUN [--direction]``
use either generator; eval reports the class accuracy of the translations (their target class, for
``data.domains``), PSNR against true targets where the test split has them, and the cycle error.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, DataSpec, Family, Figure, SampleInputs
from ganforge.families.gan import upcast
from ganforge.families.pix2pix import check_patch_size, load_test_split, psnr, spread_pairs
from ganforge.losses import OBJECTIVES
from ganforge.models.base import frozen, has_batch_statistics
from ganforge.models.pix2pix import PatchDiscriminator, ResnetGenerator, UNetGenerator, unet_depth

Tensor = torch.Tensor
DIRECTIONS = ("a2b", "b2a")


class ImagePool:
    """The last ``size`` fakes D has been shown (Shrivastava et al. 2017, as CycleGAN's code): ``query`` puts
    each new fake in while the pool fills; once full, each new fake either replaces a random older one, which
    D sees instead (probability 1/2), or is shown itself."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, fakes: Tensor) -> Tensor:
        if self.size == 0:
            return fakes
        out = []
        for img in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(0, self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state(self) -> Tensor | None:
        return torch.stack(self.images).cpu() if self.images else None

    def load(self, images: Tensor | None, device) -> None:
        self.images = [] if images is None else [img.to(device) for img in images]


class CycleGAN(Family):
    name = "cyclegan"
    translates = True
    directions = DIRECTIONS

    def __init__(self, cfg, spec: DataSpec):
        super().__init__(cfg, spec)
        if spec.source_shape is None:
            raise ConfigError(f"family cyclegan learns between two domains and data set '{spec.name}' gives one; set "
                              "data.domains (e.g. sneaker,ankle-boot) or data.pairs with data.unpaired=true")
        if tuple(spec.source_shape) != tuple(spec.shape):
            raise ConfigError(f"family cyclegan needs both domains at one shape, got A {tuple(spec.source_shape)} and B "
                              f"{tuple(spec.shape)}; set data.image_size and data.channels")
        c, h, w = spec.shape
        if h != w or h % 4:
            raise ConfigError(f"family cyclegan's generators need square images of a size divisible by 4, got {h}x{w}; "
                              "set data.image_size")
        check_patch_size(h, cfg.cycle.d_layers, "cycle")
        self.c = cfg.cycle
        self.obj = OBJECTIVES.get(cfg.loss.name)
        # the paper's scale: G's (D(G(a)) - 1)^2 and D's half of (D(b) - 1)^2 + D(G(a))^2 (its code's MSELoss); ganforge's
        # least-squares objective halves every term (Mao et al.), its cross-entropy none
        self.g_scale, self.d_scale = (2.0, 1.0) if cfg.loss.name == "lsgan" else (1.0, 0.5)
        self.pools = {"a": ImagePool(self.c.pool_size), "b": ImagePool(self.c.pool_size)}
        self.direction = "a2b"
        self._fakes = None             # G's step's fakes (b, a), for the D step that follows it
        self._test = None
        self._eval_G = None

    @property
    def source_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.shape)

    @property
    def batch_identity(self) -> bool:
        """Whether G's translation and identity passes share one call: where G has no batch statistics (instance
        norm: an image's output does not depend on the rest of its batch) and ``train.joint_d_forward`` (on by
        default; off, every pass is its own call, as the reference code runs them)."""
        return self.cfg.train.joint_d_forward and not has_batch_statistics(self.G)

    def build(self):
        m, c = self.cfg.model, self.c
        ch, size = self.spec.shape[0], self.spec.shape[1]

        def generator():
            if c.g_arch == "unet":
                if unet_depth(size) < 1:
                    raise ConfigError(f"cycle.g_arch=unet needs an even image size, got {size}")
                return UNetGenerator(ch, ch, size, m.width, dropout=0.0)
            return ResnetGenerator(ch, ch, m.width, c.blocks)

        self.G = nn.ModuleDict({"a2b": generator(), "b2a": generator()})
        self.D = nn.ModuleDict({"a": PatchDiscriminator(ch, m.width, c.d_layers, norm="instance"),
                                "b": PatchDiscriminator(ch, m.width, c.d_layers, norm="instance")})
        return self.G, self.D

    def bind(self, forms):
        if forms.one_backward:
            raise ConfigError("family cyclegan trains its plain modules (two generators, two Ds): it has no "
                              "torch.compile or multi-process form yet; drop train.compile and run one process")
        super().bind(forms)

    def set_direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ConfigError(f"--direction must be one of {', '.join(DIRECTIONS)}, got '{direction}'")
        self.direction = direction

    def forward_G(self, G: nn.Module, inputs: SampleInputs) -> Tensor:
        return G[self.direction](inputs["source"])

    # -- losses -------------------------------------------------------------------------------------
    def g_loss(self, batch: Batch) -> Tensor:
        forms, c = self.train_forms, self.c
        G, D = forms.G, forms.D
        real_a, real_b = batch.source, batch.x
        with forms.autocast():
            if c.identity > 0 and self.batch_identity:   # G(a) and G(b) in one call: each image's output is its own
                n = len(real_a)
                out_b, out_a = G["a2b"](torch.cat([real_a, real_b])), G["b2a"](torch.cat([real_b, real_a]))
                (fake_b, idt_b), (fake_a, idt_a) = out_b.split([n, len(real_b)]), out_a.split([len(real_b), n])
            else:
                fake_b, fake_a = G["a2b"](real_a), G["b2a"](real_b)
                if c.identity > 0:
                    idt_b, idt_a = G["a2b"](real_b), G["b2a"](real_a)
            rec_a, rec_b = G["b2a"](fake_b), G["a2b"](fake_a)
            with frozen(self.D):
                adv = self.g_scale * (self.obj.g_loss(upcast(D["b"](fake_b))) + self.obj.g_loss(upcast(D["a"](fake_a))))
            idt = 0.0
            if c.identity > 0:
                idt = (upcast(idt_b) - real_b).abs().mean() + (upcast(idt_a) - real_a).abs().mean()
        cycle = (upcast(rec_a) - real_a).abs().mean() + (upcast(rec_b) - real_b).abs().mean()
        self._fakes = (fake_b.detach().to(real_b.dtype), fake_a.detach().to(real_a.dtype))
        return adv + c.cycle_weight * cycle + c.identity * c.cycle_weight * idt

    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        forms = self.train_forms
        if self._fakes is not None and self.cfg.train.g_before_d:   # the fakes of G's step just taken (the paper's order)
            fake_b, fake_a = self._fakes
            self._fakes = None
        else:
            with torch.no_grad(), forms.autocast():
                fake_b, fake_a = forms.G["a2b"](batch.source), forms.G["b2a"](batch.x)
            fake_b, fake_a = fake_b.to(batch.x.dtype), fake_a.to(batch.source.dtype)
        fake_b, fake_a = self.pools["b"].query(fake_b), self.pools["a"].query(fake_a)
        D = forms.D
        terms = []
        joint = not split and self.cfg.train.joint_d_forward and not has_batch_statistics(self.D)  # one pass, exact
        for d, real, fake in (("b", batch.x, fake_b), ("a", batch.source, fake_a)):
            with forms.autocast():
                if joint:
                    r, f = D[d](torch.cat([real, fake])).split([len(real), len(fake)])
                else:
                    r, f = D[d](real), D[d](fake)
                terms.append((self.d_scale * self.obj.d_real(upcast(r), self.cfg.loss.label_smoothing),
                              self.d_scale * self.obj.d_fake(upcast(f))))
        if split:
            yield terms[0][0] + terms[1][0]
            yield terms[0][1] + terms[1][1]
        else:
            yield sum(r + f for r, f in terms)

    # -- what a run shows ----------------------------------------------------------------------------
    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        """``n`` A images and ``n`` B images spread evenly over the data set."""
        return spread_pairs(data, n)

    def generate(self, G: nn.Module, inputs: SampleInputs, device=None, chunk: int = 500) -> Tensor:
        return super().generate(G, {"source": inputs["source"]}, device, chunk)

    def _cycles(self, G: nn.Module, images: Tensor, direction: str, device=None) -> tuple[Tensor, Tensor]:
        """(translations, translated back) of ``images`` in ``direction``."""
        back = "b2a" if direction == "a2b" else "a2b"
        before = self.direction
        try:
            self.direction = direction
            out = self.generate(G, {"source": images}, device)
            self.direction = back
            rec = self.generate(G, {"source": out}, device)
        finally:
            self.direction = before
        return out, rec

    def grid_images(self, outputs: Tensor, inputs: SampleInputs) -> Tensor:
        """Rows of (a, G(a), F(G(a))) triples, then rows of (b, F(b), G(F(b))) (the cycle columns need both
        generators, so the grid is drawn from the family's G)."""
        G = self.G
        rows = []
        for images, direction in ((inputs["source"], "a2b"), (inputs["target"], "b2a")):
            out, rec = self._cycles(G, images, direction)
            rows.append(torch.stack([images.float().cpu(), out, rec], 1).flatten(0, 1))
        return torch.cat(rows)

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        return 3 * min(4, len(inputs["source"]))

    # -- evaluation ------------------------------------------------------------------------------------
    def test_data(self):
        if self._test is None:
            self._test = load_test_split(self.cfg)
        return self._test

    def test_inputs(self, n: int, direction: str):
        """(sources, targets or None, target-domain labels or None) of the test split for ``direction``."""
        from ganforge.data import normalize

        t = self.test_data()
        n = min(n, len(t))
        src, tgt = (t.source, t.x) if direction == "a2b" else (t.x, t.source)
        labels = None
        if t.domain_classes is not None:
            cls = t.domain_classes[1] if direction == "a2b" else t.domain_classes[0]
            labels = torch.full((n,), cls, dtype=torch.int64)
            tgt = None                              # unpaired domains: no true translation to compare with
        elif t.y is not None and direction == "a2b":
            labels = t.y[:n]                         # a translation keeps its image's class
        return normalize(src[:n]), None if tgt is None else tgt[:n], labels

    def eval_samples(self, G, n: int, seed: int, device=None):
        src, _, labels = self.test_inputs(n, self.direction)
        self._eval_G = G                       # eval_scores translates the outputs back with it
        return self.generate(G, {"source": src}, device), labels

    def eval_scores(self, samples_uint8: Tensor) -> dict:
        from ganforge.data import to_uint8

        src, tgt, _ = self.test_inputs(len(samples_uint8), self.direction)
        out = {"direction": self.direction}
        if tgt is not None:
            out["psnr"] = float(psnr(samples_uint8, tgt).clamp(max=100).mean())
            out["l1"] = float((samples_uint8.double() - tgt.double()).abs().mean())
        back = "b2a" if self.direction == "a2b" else "a2b"
        before = self.direction
        try:
            self.direction = back
            rec = to_uint8(self.generate(self._eval_G, {"source": (samples_uint8.float() - 127.5) / 127.5}))
        finally:
            self.direction = before
        out["cycle_l1"] = float((rec.double() - to_uint8(src).double()).abs().mean())
        return out

    def report_figures(self, sampler):
        from ganforge.data import normalize

        figures = []
        for direction in DIRECTIONS:
            src, _, _ = self.test_inputs(12, direction)
            out, rec = self._cycles(sampler.G, src, direction)
            images = torch.stack([src, out, rec], 1).flatten(0, 1)
            figures.append(Figure(f"cycle_{direction}", images, 12,
                                  f"{direction}: test images the model never saw, their translation and its translation "
                                  "back: (input, output, cycle) triples"))
        return figures

    # -- export -----------------------------------------------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"source": torch.rand(n, *self.spec.shape, generator=generator) * 2 - 1}

    def export_meta(self) -> dict:
        c, h, w = self.spec.shape
        return {"inputs": [{"name": "source", "shape": ["B", c, h, w], "dtype": "float32",
                            "about": f"an image of domain {'A' if self.direction == 'a2b' else 'B'}, in [-1, 1]"}],
                "direction": self.direction}

    # -- checkpoints -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"fixed": self.fixed, "pools": {k: p.state() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.fixed = state["fixed"]
        device = next(self.G.parameters()).device if self.G is not None else "cpu"
        for k, p in self.pools.items():
            p.load(state.get("pools", {}).get(k), device)
