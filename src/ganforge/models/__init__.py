"""Architectures, looked up by name: each builds a (generator, discriminator) pair."""

from __future__ import annotations

from typing import Callable

from ganforge.config import ModelConfig
from ganforge.errors import ConfigError
from ganforge.models.base import Discriminator, Generator
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator, TFDiscriminator, TFGenerator
from ganforge.registry import Registry

Builder = Callable[[ModelConfig, tuple, int], tuple[Generator, Discriminator]]
ARCHS: Registry[Builder] = Registry("architecture")


def _require_image(cfg: ModelConfig, shape: tuple, name: str) -> None:
    if len(shape) != 3:
        raise ConfigError(f"architecture '{name}' needs image data, got samples of shape {shape}; use model.arch=mlp")
    if shape[1] != shape[2]:
        raise ConfigError(f"architecture '{name}' needs square images, got {shape[1]}x{shape[2]}; set data.image_size")


def _unconditional(cfg: ModelConfig, name: str) -> None:
    if cfg.conditional:
        raise ConfigError(f"architecture '{name}' is unconditional; use model.conditional=false or a conditional arch")


@ARCHS.register("dcgan-tf", "seed 000: the TensorFlow DCGAN tutorial's G and D (image size divisible by 4)")
def build_dcgan_tf(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan-tf")
    _unconditional(cfg, "dcgan-tf")
    if shape[1] % 4:
        raise ConfigError(f"architecture 'dcgan-tf' needs an image size divisible by 4, got {shape[1]}; set data.image_size=28")
    return (TFGenerator(cfg.z_dim, shape, cfg.leaky_slope),
            TFDiscriminator(shape, cfg.leaky_slope, cfg.d_dropout, cfg.spectral_norm))


@ARCHS.register("dcgan", "Radford et al. 2015 DCGAN, any size 4-7 x 2^n (16, 28, 32, 64 ...)")
def build_dcgan(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan")
    _unconditional(cfg, "dcgan")
    return (DCGANGenerator(cfg.z_dim, shape, cfg.width),
            DCGANDiscriminator(shape, cfg.width, cfg.leaky_slope, cfg.spectral_norm))


def build_models(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> tuple[Generator, Discriminator]:
    """Build the (G, D) pair named by ``cfg.arch`` for samples of ``shape`` (C, H, W) or (2,)."""
    return ARCHS.get(cfg.arch)(cfg, tuple(shape), num_classes)


__all__ = ["ARCHS", "build_models", "Generator", "Discriminator"]
