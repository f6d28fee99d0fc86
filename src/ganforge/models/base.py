"""What every generator and discriminator provides."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class Generator(nn.Module):
    """Maps latents ``z`` (B, z_dim) (and labels ``y`` (B,) when conditional) to samples in [-1, 1]."""

    def __init__(self, z_dim: int, out_shape: tuple[int, ...], num_classes: int = 0):
        super().__init__()
        self.z_dim = z_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """Maps samples (and labels when conditional) to real/fake logits (B,)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int = 0):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        raise NotImplementedError


def sample_latent(n: int, z_dim: int, kind: str = "normal", device="cpu",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent vectors (n, z_dim): ``normal`` ~ N(0, 1), ``uniform`` ~ U(-1, 1)."""
    if kind == "normal":
        return torch.randn(n, z_dim, device=device, generator=generator)
    if kind == "uniform":
        return torch.rand(n, z_dim, device=device, generator=generator) * 2.0 - 1.0
    raise ValueError(f"unknown latent distribution '{kind}'")


def split_logits(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's output as (logits (B,), class logits (B, K) or None): D returns logits, or the pair when it has an
    auxiliary classifier."""
    return out if isinstance(out, tuple) else (out, None)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        else:
            return module


def has_batch_statistics(module: nn.Module) -> bool:
    """Whether the module's output for one sample depends on the rest of its batch (batch norm)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@contextlib.contextmanager
def in_mode(modules, training: bool):
    """``modules`` in training or inference mode inside the block (each one's own mode restored afterwards)."""
    modules = list(modules)
    before = [m.training for m in modules]
    for m in modules:
        m.train(training)
    try:
        yield
    finally:
        for m, was in zip(modules, before):
            m.train(was)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters that need no gradient inside the block (restored afterwards)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def d_layers(D: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """D's weight layers in the order D registers them (its input side first, for every D in models/), as
    (module name, its parameters): a layer is a module holding a parameter of 2 or more dimensions (a conv kernel,
    a linear layer's matrix, an embedding table; spectral norm's original weight counts as its layer's), together
    with the modules of 1-d parameters only (batch norm's scale and shift) that follow it before the next one.
    ``train.freeze_d`` (FreezeD) freezes the first N of them."""
    layers: list[tuple[str, list[nn.Parameter]]] = []
    for name, module in D.named_modules():
        if "parametrizations" in name.split("."):
            continue  # counted with the module they parametrize
        own = [p for key, p in module.named_parameters() if "." not in key or key.startswith("parametrizations.")]
        if not own:
            continue
        if any(p.dim() >= 2 for p in own) or not layers:
            layers.append((name, own))
        else:
            layers[-1][1].extend(own)
    return layers
