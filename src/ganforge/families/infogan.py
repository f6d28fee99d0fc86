"""InfoGAN (Chen et al. 2016): latent codes beside z whose mutual information with G's images is maximised.

G draws from (z, c): c holds categorical codes (one-hot, e.g. one of 10 values) and continuous codes
~ U(-1, 1). A recognition network Q, a second head on D's body (``models/infogan.py``), predicts c from
an image. The mutual information I(c; G(z, c)) has the lower bound

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)} [log Q(c | x)] + H(c)

and InfoGAN minimises V_GAN(D, G) - lambda L_I(G, Q): the term -E[log Q(c | x)] on generated images is
added to G's loss and to D's (``losses.categorical_info_loss``, ``losses.gaussian_info_loss``):

    info = lambda_cat * sum_i CE(Q_i(x), c_i) + lambda_cont * mean sum_j 0.5 (c_j - mu_j(x))^2

Categorical codes: Q gives softmax logits, the term is their cross-entropy. Continuous codes: Q(c_j | x)
is a Gaussian with its variance fixed at 1, the paper's fixed-variance form, so the term is half the
squared error of Q's mean (its constant 0.5 log 2 pi dropped). As in the released code
(github.com/openai/InfoGAN), Q's layers belong to D, so D's optimiser trains Q: D's loss is the GAN loss
plus the term on the fake batch, and G's loss is the GAN loss plus the term on its own batch.

Samples are named by their codes: ``cat`` (or ``cat1``, ``cat2`` ... with several categorical codes) and
``c1``, ``c2`` ...; ``ganforge sample RUN --code cat=3 --code c1=0.5`` fixes them. After every epoch the
loop draws the fixed grid (rows: the first categorical code's values) and one traversal per continuous
code (rows: the categorical values; columns: the code swept from -2 to 2, everything else fixed).
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, DataSpec, Family, Figure, SampleInputs, Tensor
from ganforge.families.gan import upcast
from ganforge.losses import OBJECTIVES, categorical_info_loss, gaussian_info_loss
from ganforge.models.base import frozen, sample_latent
from ganforge.models.infogan import build_infogan

TRAVERSAL = (-2.0, 2.0, 9)   # a continuous code's sweep in the traversal grids: from, to, columns
CONT_RANGE = (-2.0, 2.0)     # values --code accepts for a continuous code: the sweep's (the prior is U(-1, 1))
ROWS_WITHOUT_CATEGORIES = 8  # traversal rows (one z each) when the model has no categorical code


class InfoGAN(Family):
    name = "infogan"

    def __init__(self, cfg, spec: DataSpec):
        super().__init__(cfg, spec)
        info = cfg.info
        self.cat_sizes = list(info.categorical)
        self.n_cont = info.continuous
        self.z_dim, self.noise = cfg.model.z_dim, cfg.model.noise
        self.obj = OBJECTIVES.get(cfg.loss.name)
        self.num_classes = 0  # unsupervised: the categorical codes take the place of labels
        cats = ["cat"] if len(self.cat_sizes) == 1 else [f"cat{i + 1}" for i in range(len(self.cat_sizes))]
        self.cat_names = cats
        self.cont_names = [f"c{j + 1}" for j in range(self.n_cont)]
        self.code_names = cats + self.cont_names
        self.code_dim = sum(self.cat_sizes) + self.n_cont   # G's code input: one-hots, then continuous values
        self.traversals: dict[str, SampleInputs] | None = None

    def build(self):
        m = self.cfg.model
        # Q's outputs: each categorical code's logits, then each continuous code's mean
        self.G, self.D = build_infogan(self.z_dim, self.code_dim, self.code_dim, self.spec.shape, m.width, m.leaky_slope)
        return self.G, self.D

    # -- inputs ------------------------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None, device=None) -> SampleInputs:
        """n draws of {z (n, z_dim), cat (n, #categorical) values, cont (n, #continuous) ~ U(-1, 1)}: z first,
        then the categorical codes in turn, then the continuous ones (None where the model has none)."""
        device = device if device is not None else (self.train_forms.device if self.train_forms else "cpu")
        z = sample_latent(n, self.z_dim, self.noise, device, generator=generator)
        cat = None
        if self.cat_sizes:
            cat = torch.stack([torch.randint(0, k, (n,), device=device, generator=generator) for k in self.cat_sizes], 1)
        cont = None
        if self.n_cont:
            cont = torch.rand(n, self.n_cont, device=device, generator=generator) * 2.0 - 1.0
        return {"z": z, "cat": cat, "cont": cont}

    def code_vector(self, cat: Tensor | None, cont: Tensor | None) -> Tensor:
        """G's code input (B, code_dim): each categorical code one-hot, then the continuous codes."""
        parts = [F.one_hot(cat[:, i], k).float() for i, k in enumerate(self.cat_sizes)]
        if self.n_cont:
            parts.append(cont.float())
        return torch.cat(parts, dim=1)

    def forward_G(self, G, inputs: SampleInputs) -> Tensor:
        return G(inputs["z"], self.code_vector(inputs["cat"], inputs["cont"]))

    # -- loss terms ---------------------------------------------------------------------------
    def info_loss(self, q: Tensor, cat: Tensor | None, cont: Tensor | None) -> Tensor:
        """-E[log Q(c | x)] weighted: lambda_cat x each categorical code's cross-entropy + lambda_cont x the
        continuous codes' 0.5 squared error (``q``: Q's outputs (B, code_dim), laid out as G's code input)."""
        info = self.cfg.info
        q = upcast(q)
        loss = q.new_zeros(())
        start = 0
        for i, k in enumerate(self.cat_sizes):
            loss = loss + info.lambda_cat * categorical_info_loss(q[:, start:start + k], cat[:, i])
            start += k
        if self.n_cont:
            loss = loss + info.lambda_cont * gaussian_info_loss(q[:, start:], cont.to(q.dtype))
        return loss

    def _fakes(self, n: int, grad: bool):
        codes = self.latent(n)
        G = self.train_forms.G
        with torch.set_grad_enabled(grad), self.train_forms.autocast():
            fake = G(codes["z"], self.code_vector(codes["cat"], codes["cont"]))
        return fake, codes

    # -- the seam -------------------------------------------------------------------------------
    def d_losses(self, batch: Batch, split: bool = False) -> Iterator[Tensor]:
        """D's GAN loss plus the codes' term on the fake batch (which trains Q, a head of D)."""
        D, smoothing = self.train_forms.D, self.cfg.loss.label_smoothing
        real = batch.x
        fake, codes = self._fakes(real.shape[0], grad=False)
        fake = fake.to(real.dtype)
        with self.train_forms.autocast():
            r, _ = D(real)
            real_term = self.obj.d_real(upcast(r), smoothing)
        if split:  # the real-batch term first, its update taken before D sees the fakes
            yield real_term
        with self.train_forms.autocast():
            f, q = D(fake)
            fake_term = self.obj.d_fake(upcast(f)) + self.info_loss(q, codes["cat"], codes["cont"])
        yield fake_term if split else real_term + fake_term

    def g_loss(self, batch: Batch) -> Tensor:
        """G's GAN loss plus the codes' term, through a frozen D and Q, on ``train.batch_size`` new latents."""
        fake, codes = self._fakes(self.cfg.train.batch_size, grad=True)
        with frozen(self.D), self.train_forms.autocast():
            f, q = self.train_forms.D(fake)
            return self.obj.g_loss(upcast(f)) + self.info_loss(q, codes["cat"], codes["cont"])

    # -- codes by name --------------------------------------------------------------------------
    def describe_codes(self) -> str:
        cats = [f"{name} (0-{k - 1})" for name, k in zip(self.cat_names, self.cat_sizes)]
        conts = [f"{name} ({CONT_RANGE[0]:g} to {CONT_RANGE[1]:g})" for name in self.cont_names]
        return ", ".join(cats + conts)

    def check_codes(self, codes: dict) -> dict:
        """``{name: value}`` checked against the model's codes: categorical values are integers 0..K-1,
        continuous ones in ``CONT_RANGE``; a one-line ConfigError otherwise."""
        out = {}
        for name, value in codes.items():
            if name not in self.code_names:
                raise ConfigError(f"unknown code '{name}'; this model's codes are {self.describe_codes()}")
            value = float(value)
            if name in self.cat_names:
                k = self.cat_sizes[self.cat_names.index(name)]
                if value != int(value) or not 0 <= value < k:
                    raise ConfigError(f"code {name}={value:g} is out of range: {name} takes the integers 0-{k - 1}")
                out[name] = int(value)
            else:
                lo, hi = CONT_RANGE
                if not lo <= value <= hi:
                    raise ConfigError(f"code {name}={value:g} is out of range: continuous codes take values from "
                                      f"{lo:g} to {hi:g} (their prior is U(-1, 1))")
                out[name] = value
        return out

    def _fix(self, inputs: SampleInputs, codes: dict) -> SampleInputs:
        """``inputs`` with the named codes set to the given values in every sample."""
        for name, value in codes.items():
            if name in self.cat_names:
                inputs["cat"][:, self.cat_names.index(name)] = value
            else:
                inputs["cont"][:, self.cont_names.index(name)] = value
        return inputs

    # -- samples --------------------------------------------------------------------------------
    def sample_inputs(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None,
                      z: Tensor | None = None, codes: dict | None = None) -> SampleInputs:
        """Inputs of ``n`` samples drawn with ``generator`` (``z`` given: those latents), the codes named in
        ``codes`` fixed. Every code is drawn either way, so fixing one leaves the others' draws as they were."""
        if labels is not None:
            raise ConfigError("this InfoGAN generator is unconditional; fix its categorical code with --code "
                              f"{self.cat_names[0] if self.cat_names else 'NAME'}=VALUE instead of --class")
        codes = self.check_codes(codes or {})
        inputs = self.latent(n, generator, device="cpu")
        if z is not None:
            inputs["z"] = z
        return self._fix(inputs, codes)

    def _rows(self) -> tuple[int, list[str]]:
        """The rows of the grids: the first categorical code's values (one z for all), else distinct z's."""
        if self.cat_sizes:
            return self.cat_sizes[0], [f"{self.cat_names[0]}={v}" for v in range(self.cat_sizes[0])]
        return ROWS_WITHOUT_CATEGORIES, [f"z {r}" for r in range(ROWS_WITHOUT_CATEGORIES)]

    def _grid_inputs(self, per_row: int, generator: torch.Generator) -> SampleInputs:
        """A grid with one row per value of the first categorical code and ``per_row`` columns, each column one
        draw of z and the other codes (the same down the column)."""
        rows, _ = self._rows()
        draw = self.latent(per_row, generator, device="cpu")
        inputs = {k: None if v is None else v.repeat(rows, *([1] * (v.dim() - 1))) for k, v in draw.items()}
        if self.cat_sizes:
            inputs["cat"][:, 0] = torch.arange(rows).repeat_interleave(per_row)
        return inputs

    def fixed_inputs(self, n: int, seed: int, data=None) -> SampleInputs:
        """The grid drawn every epoch: one row per value of the first categorical code, ``n // rows`` columns."""
        rows, _ = self._rows()
        return self._grid_inputs(max(1, n // rows), torch.Generator().manual_seed(seed + 12345))

    def grid_columns(self, inputs: SampleInputs) -> int | None:
        return len(inputs["z"]) // self._rows()[0]

    def traversal_inputs(self) -> dict[str, SampleInputs]:
        """Per continuous code, the inputs of its traversal (kept in checkpoints): rows as ``_rows``, columns the
        code swept over ``TRAVERSAL``; z is one draw (one per row without categorical codes), the other codes 0."""
        if self.traversals is None:
            rows, _ = self._rows()
            lo, hi, cols = TRAVERSAL
            g = torch.Generator().manual_seed(self.cfg.train.seed + 54321)
            z = sample_latent(1 if self.cat_sizes else rows, self.z_dim, self.noise, generator=g)
            z = z.expand(rows, -1).repeat_interleave(cols, dim=0)                   # (rows * cols, z_dim)
            sweep = torch.linspace(lo, hi, cols).repeat(rows)                       # (rows * cols,)
            self.traversals = {}
            for j, name in enumerate(self.cont_names):
                cat = None
                if self.cat_sizes:
                    cat = torch.zeros(rows * cols, len(self.cat_sizes), dtype=torch.long)
                    cat[:, 0] = torch.arange(rows).repeat_interleave(cols)
                cont = torch.zeros(rows * cols, self.n_cont)
                cont[:, j] = sweep
                self.traversals[name] = {"z": z.clone(), "cat": cat, "cont": cont}
        return self.traversals

    def _traversal_figures(self, G, device=None) -> list[Figure]:
        lo, hi, cols = TRAVERSAL
        _, labels = self._rows()
        rows_are = f"the values of {self.cat_names[0]}" if self.cat_sizes else "one z each"
        return [Figure(f"traversal_{name}", self.generate(G, inputs, device), cols,
                       f"{name} swept from {lo:g} to {hi:g} (columns); rows: {rows_are}; z and the other codes fixed",
                       labels)
                for name, inputs in self.traversal_inputs().items()]

    def epoch_figures(self, G, device=None) -> list[Figure]:
        return self._traversal_figures(G, device)

    def eval_codes(self, n: int) -> Tensor | None:
        """The first categorical code's value of each of ``eval_samples``' n samples: 0, 1, ..., K-1, 0, ..."""
        return torch.arange(n) % self.cat_sizes[0] if self.cat_sizes else None

    def eval_samples(self, G, n: int, seed: int, device=None):
        """``n`` samples from ``seed``, the first categorical code in turn (``eval_codes``); no class labels."""
        inputs = self.sample_inputs(n, generator=torch.Generator().manual_seed(seed))
        if self.cat_sizes:
            inputs["cat"][:, 0] = self.eval_codes(n)
        return self.generate(G, inputs, device), None

    def report_figures(self, sampler) -> list[Figure]:
        """Samples from seed 0 (one row per value of the first categorical code) and every traversal."""
        per_row = 8
        rows, labels = self._rows()
        inputs = self._grid_inputs(per_row, torch.Generator().manual_seed(0))
        what = f"one row per value of {self.cat_names[0]}" if self.cat_sizes else "one z per row"
        samples = Figure("samples", self.generate(sampler.G, inputs), per_row,
                         f"Samples from the final generator, {what} (each column one z and the other codes; seed 0)",
                         labels if self.cat_sizes else None)
        return [samples, *self._traversal_figures(sampler.G)]

    # -- export ---------------------------------------------------------------------------------
    def export_inputs(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """z and ``codes`` (n, #categorical + #continuous): each categorical code's value as a number, then the
        continuous codes."""
        draw = self.latent(n, generator, device="cpu")
        parts = ([draw["cat"].float()] if self.cat_sizes else []) + ([draw["cont"]] if self.n_cont else [])
        return {"z": draw["z"], "codes": torch.cat(parts, dim=1)}

    def export_forward(self, G, inputs: dict[str, Tensor]) -> Tensor:
        codes, k = inputs["codes"], len(self.cat_sizes)
        cat = codes[:, :k].round().long() if k else None
        cont = codes[:, k:] if self.n_cont else None
        return self.forward_G(G, {"z": inputs["z"], "cat": cat, "cont": cont})

    def export_meta(self) -> dict:
        from ganforge.families.gan import latent_input_meta

        codes = [{"name": name, "kind": "categorical", "values": list(range(k))}
                 for name, k in zip(self.cat_names, self.cat_sizes)]
        codes += [{"name": name, "kind": "continuous", "prior": [-1.0, 1.0], "range": list(CONT_RANGE)}
                  for name in self.cont_names]
        about = (f"the codes {', '.join(self.code_names)} in that order: a categorical code's value as a number "
                 "(0, 1, ...), a continuous code's value")
        return {"inputs": [latent_input_meta(self.z_dim, self.noise),
                           {"name": "codes", "shape": ["B", len(self.code_names)], "dtype": "float32", "about": about}],
                "codes": codes, "num_classes": 0, "classes": None}

    # -- state saved in checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"fixed": self.fixed, "traversals": self.traversal_inputs()}

    def load_state_dict(self, state: dict) -> None:
        self.fixed, self.traversals = state["fixed"], state["traversals"]
