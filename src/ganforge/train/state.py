"""The loop's own resumable state: where it is in the run, and every random number generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Progress:
    """Counters a resumed run continues from."""

    step: int = 0                  # generator updates so far
    epoch: int = 0                 # complete epochs so far
    batch_in_epoch: int = 0        # batches of the current epoch already taken
    epoch_seconds: float = 0.0     # time spent in the current epoch, across resumes
    epoch_images: int = 0          # images seen in the current epoch, across resumes

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "epoch_progress": [self.epoch_seconds, self.epoch_images]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.epoch_seconds, self.epoch_images = state.get("epoch_progress", (0.0, 0))  # older checkpoints: none

    def end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch, self.epoch_seconds, self.epoch_images = 0, 0.0, 0


def rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
