"""Optimisers by name: ``g_optim.name`` and ``d_optim.name`` look up a builder here.

Each builder takes the parameters and an ``OptimConfig`` and returns a torch optimiser. torch is
imported inside the builders, not by this module, so config.py checks the names against this
registry before torch loads (a config mistake is reported at once).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ganforge.registry import Registry

OptimBuilder = Callable[[Iterable, Any], Any]   # (params, OptimConfig) -> torch.optim.Optimizer

OPTIMIZERS: Registry[OptimBuilder] = Registry("optimizer")


@OPTIMIZERS.register("adam", "Adam: lr, betas, eps, weight_decay")
def adam(params, cfg):
    import torch

    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("rmsprop", "RMSprop: lr, eps, weight_decay (betas unused)")
def rmsprop(params, cfg):
    import torch

    return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("sgd", "SGD: lr, momentum = betas[0], weight_decay (eps unused)")
def sgd(params, cfg):
    import torch

    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.betas[0], weight_decay=cfg.weight_decay)


def build_optimizer(params, opt_cfg):
    """The optimiser ``opt_cfg.name`` names, over ``params``; an unknown name is a ConfigError."""
    return OPTIMIZERS.get(opt_cfg.name)(params, opt_cfg)
