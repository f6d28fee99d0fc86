"""GAN families, looked up by the config's ``family`` name: each owns its networks' inputs, losses and samples.

    family = build_family(cfg, DataSpec.of(dataset))
    G, D = family.build()

``families/base.py`` is the seam the training loop calls; docs/architecture.md says how to add a family.
The registry holds loaders (functions returning the class), so that config validation can check a
family's name without importing torch; the classes and ``base``'s names load on first use.
"""

from __future__ import annotations

from typing import Callable

from ganforge.registry import Registry

FAMILIES: Registry[Callable[[], type]] = Registry("family")


@FAMILIES.register("gan", "latent GANs: G(z[, y]) -> sample, D(x[, y]) -> logit (+ class logits for ACGAN)")
def _gan():
    from ganforge.families.gan import LatentGAN

    return LatentGAN


@FAMILIES.register("infogan", "InfoGAN (Chen et al. 2016): G(z, c) with categorical and continuous codes c, "
                              "a Q head on D's body that recovers them (mutual-information term)")
def _infogan():
    from ganforge.families.infogan import InfoGAN

    return InfoGAN


@FAMILIES.register("stackgan", "StackGAN (Zhang et al. 2017), a class label in place of the sentence: stage I draws "
                               "a low-resolution image, stage II refines it to 2-4x the size; a D for each")
def _stackgan():
    from ganforge.families.stackgan import StackGAN

    return StackGAN


@FAMILIES.register("pix2pix", "pix2pix (Isola et al. 2017): paired translation, a U-Net G(source) -> target and a "
                              "PatchGAN D on (source, image) pairs; adversarial + 100 x L1")
def _pix2pix():
    from ganforge.families.pix2pix import Pix2Pix

    return Pix2Pix


@FAMILIES.register("cyclegan", "CycleGAN (Zhu et al. 2017): unpaired translation, generators A -> B and B -> A, a "
                               "PatchGAN D per domain, least squares + 10 x cycle + 5 x identity, a pool of 50 fakes")
def _cyclegan():
    from ganforge.families.cyclegan import CycleGAN

    return CycleGAN


def build_family(cfg, spec):
    """The family named by ``cfg.family`` for data described by ``spec`` (a ``DataSpec``; networks not built yet)."""
    return FAMILIES.get(cfg.family)()(cfg, spec)


_BASE = ("Batch", "DataSpec", "Family", "Figure", "SampleInputs", "TrainingForms")
__all__ = ["FAMILIES", "build_family", *_BASE]


def __getattr__(name: str):
    if name in _BASE:
        from ganforge.families import base

        return getattr(base, name)
    raise AttributeError(f"module 'ganforge.families' has no attribute '{name}'")
