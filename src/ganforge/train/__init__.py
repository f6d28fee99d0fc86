"""Training: the loop, single steps, EMA, checkpoints.

``Trainer`` (and with it torch) loads on first use, so that config.py can read the optimiser names in
``ganforge.train.optim`` without loading the training loop.
"""

__all__ = ["Trainer"]


def __getattr__(name: str):
    if name == "Trainer":
        from ganforge.train.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'ganforge.train' has no attribute '{name}'")
