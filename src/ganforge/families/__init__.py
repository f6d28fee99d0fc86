"""GAN families, looked up by the config's ``family`` name: each owns its networks' inputs, losses and samples.

    family = build_family(cfg, DataSpec.of(dataset))
    G, D = family.build()

``families/base.py`` is the seam the training loop calls; docs/architecture.md says how to add a family.
"""

from __future__ import annotations

from ganforge.config import RunConfig
from ganforge.families.base import Batch, DataSpec, Family, SampleInputs, TrainingForms
from ganforge.families.gan import LatentGAN
from ganforge.registry import Registry

FAMILIES: Registry[type[Family]] = Registry("family")
FAMILIES.register("gan", "latent GANs: G(z[, y]) -> sample, D(x[, y]) -> logit (+ class logits for ACGAN)")(LatentGAN)


def build_family(cfg: RunConfig, spec: DataSpec) -> Family:
    """The family named by ``cfg.family`` for data described by ``spec`` (networks not built yet)."""
    return FAMILIES.get(cfg.family)(cfg, spec)


__all__ = ["FAMILIES", "build_family", "Batch", "DataSpec", "Family", "SampleInputs", "TrainingForms"]
