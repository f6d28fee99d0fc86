"""Differentiable augmentation of everything D sees (Zhao et al. 2020, "DiffAugment").

With little data D memorises the training images and G's gradients turn to noise. Augmenting
real *and* generated images with the same random, differentiable transforms, in D's loss and in
G's, keeps D from memorising while G still learns the un-augmented distribution (the transforms
are applied to both sides, so they do not leak into the samples).

    train.augment: "translation,cutout"   # any of color, translation, cutout, flip, rot90, geometric, comma-separated
    train.augment: bgc                    # ADA's groups: flip,rot90,translation,geometric,color
    train.augment: auto                   # translation,cutout when the data set has < 10,000 images, else off
    train.augment: off                    # (or "") no augmentation
    train.augment_p: 1.0                  # each transform hits each image with this probability

Images are (B, C, H, W) in [-1, 1]. Each transform is applied per image with probability p;
at p = 0 the output equals the input exactly. color, translation and cutout are DiffAugment's;
flip, rot90 and geometric (scale, rotation, anisotropy, fractional shift) are ADA's, whose paper
found geometric transforms the ones that matter most on small data sets. Applying a transform to
both sides keeps it out of G's samples only while G cannot produce images whose augmented versions
pass for augmented reals: on fast-32, ADA with bgc settled at p ~0.65 and G drew cropped, tilted
fragments (it leaked; docs/small-data.md), where DiffAugment's three did not.

ADA (Karras et al. 2020, "adaptive discriminator augmentation") sets p from D's outputs instead of
fixing it (``AdaptiveAugment``):

    train.ada_target: 0.6     # p starts at 0 and moves so that r_t = E[sign D(real)] stays near 0.6
    train.ada_kimg: 20        # p can move from 0 to 1 in 20k real images
    train.ada_interval: 4     # adjusted every 4 D updates
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import ConfigError
from ganforge.train import distributed

TRANSLATION = 1 / 8   # shift by up to this fraction of the image size, each axis
CUTOUT = 1 / 2        # erase a square of this fraction of the image size
AUTO_POLICY = "translation,cutout"
AUTO_BELOW = 10_000   # train.augment=auto augments data sets smaller than this


def _chosen(x: torch.Tensor, p: float) -> torch.Tensor:
    """(B, 1, 1, 1) bool: which images a transform hits."""
    return (torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p)


def color(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Brightness +U(-0.5, 0.5), saturation x U(0, 2) (RGB only), contrast x U(0.5, 1.5)."""
    b = x.shape[0]
    out = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    if x.shape[1] == 3:
        mean = out.mean(dim=1, keepdim=True)                                   # (B, 1, H, W)
        out = (out - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = out.mean(dim=(1, 2, 3), keepdim=True)                               # (B, 1, 1, 1)
    out = (out - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean
    return torch.where(_chosen(x, p), out, x)


def translation(x: torch.Tensor, p: float = 1.0, ratio: float = TRANSLATION) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size; the border pixels fill the gap."""
    b, _, h, w = x.shape
    rh, rw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-rh, rh + 1, (b,), device=x.device)
    dx = torch.randint(-rw, rw + 1, (b,), device=x.device)
    keep = ~_chosen(x, p).view(b)
    dy, dx = dy.masked_fill(keep, 0), dx.masked_fill(keep, 0)
    padded = F.pad(x, (rw, rw, rh, rh), mode="replicate")                     # (B, C, H+2rh, W+2rw)
    rows = torch.arange(h, device=x.device)[None, :] + rh - dy[:, None]         # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] + rw - dx[:, None]         # (B, W)
    idx = torch.arange(b, device=x.device)[:, None, None]
    out = padded[idx, :, rows[:, :, None], cols[:, None, :]]                   # (B, H, W, C)
    return out.permute(0, 3, 1, 2)                                             # -> (B, C, H, W)


def cutout(x: torch.Tensor, p: float = 1.0, ratio: float = CUTOUT) -> torch.Tensor:
    """Set a random square of ``ratio`` x the image size to 0 (mid-grey in [-1, 1])."""
    b, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    cy = torch.randint(0, h + 1 - sh % 2, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + 1 - sw % 2, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    hole = ((ys - cy).abs() * 2 < sh) & ((xs - cx).abs() * 2 < sw)            # (B, H, W)
    hole = hole[:, None] & _chosen(x, p)                                       # (B, 1, H, W)
    return x.masked_fill(hole, 0.0)


def flip(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Mirror left-right: each chosen image with probability 1/2 (ADA's xflip)."""
    b = x.shape[0]
    mirrored = _chosen(x, p) & (torch.rand(b, 1, 1, 1, device=x.device) < 0.5)
    return torch.where(mirrored, x.flip(3), x)


def rot90(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Rotate by 0, 90, 180 or 270 degrees, uniformly, each chosen image (ADA's rotate90; square images)."""
    b, _, h, w = x.shape
    if h != w:
        raise ConfigError(f"train.augment: rot90 needs square images, got {h}x{w}; leave rot90 out of the transforms")
    k = torch.randint(0, 4, (b, 1, 1, 1), device=x.device).masked_fill(~_chosen(x, p), 0)
    out = x
    for turns in (1, 2, 3):
        out = torch.where(k == turns, torch.rot90(x, turns, dims=(2, 3)), out)
    return out


SCALE_STD = 0.2       # geometric: log2 of the isotropic and the anisotropic scale ~ N(0, 0.2^2)
SHIFT_STD = 0.125     # geometric: fractional translation ~ N(0, 0.125^2) of the image size, each axis


def geometric(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """ADA's general geometric transforms, composed into one affine map per image and resampled once
    (bilinear, mirrored at the borders): isotropic scale, rotation, anisotropic scale, rotation, fractional
    translation. Each is drawn per image with probability p, the two rotations each with 1 - sqrt(1 - p) so
    that some rotation happens with probability p. Images that draw none pass through unchanged."""
    b = x.shape[0]
    dev = x.device

    def chosen(q: float) -> torch.Tensor:                                       # (B,)
        return _chosen(x, q).view(b)

    def rotation(q: float) -> torch.Tensor:                                     # (B, 2, 2)
        angle = (torch.rand(b, device=dev) * 2 - 1) * torch.pi * chosen(q)
        c, s = angle.cos(), angle.sin()
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)

    def scaling(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:           # (B, 2, 2)
        return torch.diag_embed(torch.stack([sx, sy], -1))

    q_rot = 1 - (1 - p) ** 0.5
    iso = torch.exp2(torch.randn(b, device=dev) * SCALE_STD * chosen(p))
    aniso = torch.exp2(torch.randn(b, device=dev) * SCALE_STD * chosen(p))
    shift = torch.randn(b, 2, device=dev) * (2 * SHIFT_STD) * chosen(p)[:, None]  # [-1, 1] spans the image
    # The map from the output's coordinates to the input's. Each factor's distribution is that of its
    # inverse (scales log-symmetric, angles and shifts symmetric), so drawing this map directly draws the
    # transform's inverse.
    linear = scaling(iso, iso) @ rotation(q_rot) @ scaling(aniso, 1 / aniso) @ rotation(q_rot)
    moved = ~(linear == torch.eye(2, device=dev)).all(dim=(1, 2)) | (shift != 0).any(dim=1)
    if not moved.any():
        return x
    theta = torch.cat([linear, shift[:, :, None]], dim=2)                         # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return torch.where(moved[:, None, None, None], out.to(x.dtype), x)


POLICIES = {"color": color, "translation": translation, "cutout": cutout, "flip": flip, "rot90": rot90,
            "geometric": geometric}
ALIASES = {"bgc": "flip,rot90,translation,geometric,color"}   # ADA's blit + geometric + colour groups


def parse_policy(text: str) -> list[str]:
    names = [n.strip() for part in text.split(",") for n in ALIASES.get(part.strip(), part).split(",") if n.strip()]
    for n in names:
        if n not in POLICIES:
            raise ConfigError(f"train.augment: unknown transform '{n}' (valid: auto, bgc or {', '.join(POLICIES)}, "
                              "comma-separated)")
    return names


def diff_augment(x: torch.Tensor, policy: str | list[str], p: float = 1.0) -> torch.Tensor:
    """Apply the transforms named in ``policy`` in order, each with probability ``p`` per image."""
    for name in parse_policy(policy) if isinstance(policy, str) else policy:
        x = POLICIES[name](x, p)
    return x


class AugmentedD(nn.Module):
    """D with DiffAugment in front: what the training steps call; checkpoints keep the bare D."""

    def __init__(self, D: nn.Module, policy: str, p: float):
        super().__init__()
        self.D, self.policy, self.p = D, parse_policy(policy), p

    def forward(self, x, y=None):
        return self.D(diff_augment(x, self.policy, self.p), y)


def resolve_policy(policy: str, num_images: int, adaptive: bool = False) -> str:
    """``auto`` -> ``AUTO_POLICY`` for fewer than ``AUTO_BELOW`` images (with ADA, which sets how often it applies,
    for any number), else "" (off); ``off``/``none`` -> ""."""
    if policy.strip() == "auto":
        return AUTO_POLICY if adaptive or num_images < AUTO_BELOW else ""
    return "" if policy.strip() in ("off", "none") else policy


def with_augment(D: nn.Module, train_cfg, num_images: int) -> nn.Module:
    """``D`` itself when augmentation is off, else D behind the augmentation (with ADA at p = 0)."""
    adaptive = train_cfg.ada_target is not None
    policy = resolve_policy(train_cfg.augment, num_images, adaptive)
    if not parse_policy(policy):
        if adaptive:
            raise ConfigError("train.ada_target adapts the probability of train.augment's transforms, which is off; "
                              "set train.augment (e.g. translation,cutout)")
        return D
    return AugmentedD(D, policy, 0.0 if adaptive else train_cfg.augment_p)


class AdaptiveAugment:
    """ADA's controller: sets ``augmented.p`` from the signs of D's raw outputs on the real images it sees.

    Every ``interval`` D updates, with N the real images D saw in them (all ranks) and r_t the mean of
    sign(D(x)) over their outputs,

        p <- clamp(p + sign(r_t - target) * N / (kimg * 1000), 0, 1)

    r_t near 1 means D calls nearly every real image real: it is overfitting, so augment more. (The sign of
    the raw output is D's decision for ns, minimax and hinge, the losses config.py allows.) The sign sum is
    kept on the device and read back once per interval; p, the sums and the count of D updates since the
    last adjustment are checkpointed, so a resumed run adjusts exactly as an uninterrupted one.
    """

    def __init__(self, augmented: AugmentedD, target: float, kimg: float, interval: int,
                 dist: distributed.DistContext | None = None):
        self.augmented, self.target, self.kimg, self.interval = augmented, target, kimg, interval
        self.dist = dist or distributed.DistContext()
        self.p = augmented.p = 0.0
        self.r_t: float | None = None                          # the last interval's, for the progress bar
        self.signs = torch.zeros((), dtype=torch.float64, device=self.dist.device)  # sum of sign(D(x_real))
        self.outputs = 0                                       # how many outputs that sum has
        self.images = 0                                        # real images D saw since the last adjustment
        self.updates = 0                                       # D updates since the last adjustment
        self.records: list[dict] = []                          # adjustments not logged yet

    def observe(self, real_logits: torch.Tensor) -> None:
        """D's raw outputs on one real batch (the family reports them: ``Family.report_real_logits``)."""
        self.signs += real_logits.detach().sign().sum(dtype=torch.float64)
        self.outputs += real_logits.numel()
        self.images += real_logits.shape[0]

    def d_update_done(self, step: int) -> None:
        """After each D update (of generator step ``step``, 1-based as the loss records): adjust p every ``interval``."""
        self.updates += 1
        if self.updates < self.interval:
            return
        stats = torch.stack([self.signs, self.signs.new_tensor(self.outputs), self.signs.new_tensor(self.images)])
        signs, outputs, images = distributed.sum_over_ranks(stats, self.dist).tolist()  # the interval's one sync
        if outputs:
            self.r_t = signs / outputs
            direction = (self.r_t > self.target) - (self.r_t < self.target)  # sign(r_t - target)
            self.p = self.augmented.p = min(max(self.p + direction * images / (self.kimg * 1000), 0.0), 1.0)
            self.records.append({"event": "ada", "step": step, "p": self.p, "r_t": self.r_t})
        self.signs.zero_()
        self.outputs = self.images = self.updates = 0

    def take_records(self) -> list[dict]:
        """The adjustments since the last call, for metrics.jsonl."""
        records, self.records = self.records, []
        return records

    def state_dict(self) -> dict:
        return {"p": self.p, "r_t": self.r_t, "signs": self.signs.cpu().clone(), "outputs": self.outputs,
                "images": self.images, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.p = self.augmented.p = state["p"]
        self.r_t = state["r_t"]
        self.signs = state["signs"].to(self.dist.device, copy=True)
        self.outputs, self.images, self.updates = state["outputs"], state["images"], state["updates"]
