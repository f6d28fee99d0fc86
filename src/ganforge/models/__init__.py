"""Architectures, looked up by name: each builds a (generator, discriminator) pair."""

from __future__ import annotations

import dataclasses
from typing import Callable

from ganforge.config import ModelConfig
from ganforge.errors import ConfigError
from ganforge.models.acgan import ACGANDiscriminator, ACGANGenerator
from ganforge.models.base import Discriminator, Generator
from ganforge.models.cgan import ProjDiscriminator, ProjGenerator
from ganforge.models.cgan_concat import (ConcatConvDiscriminator, ConcatConvGenerator, ConcatMLPDiscriminator,
                                         ConcatMLPGenerator)
from ganforge.models.dcgan import (Conv5x5BNDiscriminator, Conv5x5BNDropoutDiscriminator, Conv5x5DropoutDiscriminator,
                                   ConvT5x5Generator, ConvT5x5ReluBNGenerator, ConvT5x5Then7x7Generator, DCGANDiscriminator,
                                   DCGANGenerator)
from ganforge.models.layers import glorot_uniform_init
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.models.resnet import ResNetDiscriminator, ResNetGenerator, attention_sides, doublings
from ganforge.registry import Registry

Builder = Callable[[ModelConfig, tuple, int], tuple[Generator, Discriminator]]
ARCHS: Registry[Builder] = Registry("architecture")


def _require_image(cfg: ModelConfig, shape: tuple, name: str) -> None:
    if len(shape) != 3:
        raise ConfigError(f"architecture '{name}' needs image data, got samples of shape {shape}; use model.arch=mlp")
    if shape[1] != shape[2]:
        raise ConfigError(f"architecture '{name}' needs square images, got {shape[1]}x{shape[2]}; set data.image_size")


def _require_size_multiple(shape: tuple, k: int, name: str, example: int) -> None:
    if shape[1] % k:
        raise ConfigError(f"architecture '{name}' needs an image size divisible by {k}, got {shape[1]}; set data.image_size={example}")


def _unconditional(cfg: ModelConfig, name: str) -> None:
    if cfg.conditional:
        raise ConfigError(f"architecture '{name}' is unconditional; use model.conditional=false or a conditional arch")


@ARCHS.register("dcgan-tf", "5x5 transposed-conv G (BN, LeakyReLU, no biases), two-conv D with dropout: "
                            "the TensorFlow DCGAN tutorial's (size divisible by 4)")
def build_dcgan_tf(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan-tf")
    _unconditional(cfg, "dcgan-tf")
    _require_size_multiple(shape, 4, "dcgan-tf", example=28)
    return (ConvT5x5Generator(cfg.z_dim, shape, cfg.leaky_slope, cfg.padding),
            Conv5x5DropoutDiscriminator(shape, cfg.leaky_slope, cfg.d_dropout, cfg.spectral_norm, cfg.padding))


@ARCHS.register("dcgan-keras", "5x5 transposed-conv G (ReLU before each batch norm), two-conv D with BN and dropout: "
                               "the Keras DCGAN article's (size divisible by 4)")
def build_dcgan_keras(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan-keras")
    _unconditional(cfg, "dcgan-keras")
    _require_size_multiple(shape, 4, "dcgan-keras", example=28)
    if cfg.spectral_norm:
        raise ConfigError("architecture 'dcgan-keras' has no spectral-norm form (its D has batch norm); drop model.spectral_norm")
    return (ConvT5x5ReluBNGenerator(cfg.z_dim, shape, cfg.padding),
            Conv5x5BNDropoutDiscriminator(shape, cfg.leaky_slope, cfg.d_dropout, cfg.padding))


@ARCHS.register("dcgan", "Radford et al. 2015 DCGAN, any size 4-7 x 2^n (16, 28, 32, 64 ...)")
def build_dcgan(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan")
    _unconditional(cfg, "dcgan")
    return (DCGANGenerator(cfg.z_dim, shape, cfg.width),
            DCGANDiscriminator(shape, cfg.width, cfg.leaky_slope, cfg.spectral_norm))


def _conditional(cfg: ModelConfig, num_classes: int, name: str) -> None:
    if not cfg.conditional:
        raise ConfigError(f"architecture '{name}' is class-conditional; set model.conditional=true")
    if num_classes < 2:
        raise ConfigError(f"architecture '{name}' needs a labelled data set with at least 2 classes")


def _mlp(cfg: ModelConfig, shape: tuple, name: str):
    _unconditional(cfg, name)
    return (MLPGenerator(cfg.z_dim, shape, cfg.g_hidden, cfg.leaky_slope),
            MLPDiscriminator(shape, cfg.d_hidden, cfg.leaky_slope, cfg.d_dropout, cfg.spectral_norm))


@ARCHS.register("mlp", "MLP G and D (model.g_hidden, model.d_hidden, D dropout), PyTorch init: "
                       "the PyTorch MLP GAN tutorial's; images or 2-D points")
def build_mlp(cfg: ModelConfig, shape: tuple, num_classes: int):
    return _mlp(cfg, shape, "mlp")


@ARCHS.register("mlp-tf", "MLP G and D with Glorot-uniform init, as in the book chapter's vanilla GAN (TensorFlow)")
def build_mlp_tf(cfg: ModelConfig, shape: tuple, num_classes: int):
    G, D = _mlp(cfg, shape, "mlp-tf")
    glorot_uniform_init(G)
    glorot_uniform_init(D)
    return G, D


@ARCHS.register("dcgan-cifar", "5x5 transposed convs and a 7x7 output layer, three-conv D with BN: "
                               "the book chapter's CIFAR-10 DCGAN (size divisible by 4)")
def build_dcgan_cifar(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan-cifar")
    _unconditional(cfg, "dcgan-cifar")
    _require_size_multiple(shape, 4, "dcgan-cifar", example=32)
    return ConvT5x5Then7x7Generator(cfg.z_dim, shape, cfg.padding), Conv5x5BNDiscriminator(shape, cfg.spectral_norm)


@ARCHS.register("acgan", "label-embedding x noise G (upsampling, 3x3 convs); D with validity and class heads: "
                         "the Keras ACGAN tutorial's")
def build_acgan(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "acgan")
    _conditional(cfg, num_classes, "acgan")
    return (ACGANGenerator(cfg.z_dim, shape, num_classes),
            ACGANDiscriminator(shape, num_classes, cfg.leaky_slope, cfg.d_dropout, cfg.spectral_norm))


@ARCHS.register("dcgan-proj", "class-conditional DCGAN: conditional BN in G, projection discriminator (Miyato & Koyama 2018)")
def build_dcgan_proj(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "dcgan-proj")
    _conditional(cfg, num_classes, "dcgan-proj")
    return (ProjGenerator(cfg.z_dim, shape, num_classes, cfg.width),
            ProjDiscriminator(shape, num_classes, cfg.width, cfg.leaky_slope, cfg.spectral_norm))


@ARCHS.register("cgan-mlp", "Mirza & Osindero 2014 cGAN, MLP form: one-hot label concatenated to z in G and to the "
                            "flattened image in D (hidden widths model.g_hidden, model.d_hidden)")
def build_cgan_mlp(cfg: ModelConfig, shape: tuple, num_classes: int):
    _conditional(cfg, num_classes, "cgan-mlp")
    return (ConcatMLPGenerator(cfg.z_dim, shape, num_classes, cfg.g_hidden, cfg.leaky_slope),
            ConcatMLPDiscriminator(shape, num_classes, cfg.d_hidden, cfg.leaky_slope, cfg.d_dropout, cfg.spectral_norm))


@ARCHS.register("cgan-conv", "Mirza & Osindero 2014 cGAN, convolutional form: Radford DCGAN, one-hot label concatenated "
                             "to z in G and as constant feature maps to D's image (model.labels_after_conv1: again after conv 1)")
def build_cgan_conv(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "cgan-conv")
    _conditional(cfg, num_classes, "cgan-conv")
    return (ConcatConvGenerator(cfg.z_dim, shape, num_classes, cfg.width),
            ConcatConvDiscriminator(shape, num_classes, cfg.width, cfg.leaky_slope, cfg.spectral_norm,
                                    cfg.labels_after_conv1))


@ARCHS.register("resnet", "SNGAN/BigGAN ResNet (Miyato et al. 2018, Brock et al. 2019): residual up/down blocks, "
                          "spectral norm in D, cBN and projection D when conditional, SAGAN self-attention at side "
                          "model.attention; sizes 16, 32, 64, 128, 256")
def build_resnet(cfg: ModelConfig, shape: tuple, num_classes: int):
    _require_image(cfg, shape, "resnet")
    size = shape[1]
    doublings(size)                                   # a one-line error for other sizes
    if cfg.attention and cfg.attention not in attention_sides(size):
        raise ConfigError(f"model.attention={cfg.attention} is no feature-map side of the resnet networks at {size} px; "
                          f"use 0 (off) or one of {', '.join(map(str, attention_sides(size)))}")
    if cfg.conditional and num_classes < 2:
        raise ConfigError("architecture 'resnet' with model.conditional=true needs a labelled data set with at least 2 classes")
    k = num_classes if cfg.conditional else 0
    return (ResNetGenerator(cfg.z_dim, shape, cfg.width, k, cfg.attention),
            ResNetDiscriminator(shape, cfg.width, k, cfg.attention))


def build_models(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> tuple[Generator, Discriminator]:
    """Build the (G, D) pair named by ``cfg.arch`` for samples of ``shape`` (C, H, W) or (2,).
    ``model.conditional=auto`` (the trainer decides it from the data) is conditional when ``num_classes`` > 0."""
    if cfg.conditional == "auto":
        cfg = dataclasses.replace(cfg, conditional=num_classes > 0)
    return ARCHS.get(cfg.arch)(cfg, tuple(shape), num_classes)


__all__ = ["ARCHS", "build_models", "Generator", "Discriminator"]
