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


@OPTIMIZERS.register("adam-keras", "Adam as Keras computes it: epsilon added to sqrt(v) before the bias correction "
                                   "(Keras' default eps is 1e-7)")
def adam_keras(params, cfg):
    import torch

    class KerasAdam(torch.optim.Adam):
        """Keras' update, theta -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), is torch's with the epsilon
        eps / sqrt(1 - b2^t) at step t: this sets that before each step. t comes from the optimiser's own state,
        so a resumed run continues it."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for group in self.param_groups:
                group["keras_eps"] = group["eps"]

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                state = next((self.state[p] for p in group["params"] if self.state.get(p)), None)
                t = int(state["step"]) + 1 if state else 1
                group["eps"] = group["keras_eps"] / (1.0 - group["betas"][1] ** t) ** 0.5
            return super().step(closure)

    return KerasAdam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)


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
