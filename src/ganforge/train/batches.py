"""Shuffled mini-batches from an in-memory data set, with no per-image Python work.

The order of epoch ``e`` depends only on (seed, e), so a run resumed in the
middle of an epoch sees exactly the batches an uninterrupted run would, and
every DDP rank can take its own shard of the same permutation. Unshuffled
(``data.shuffle=false``), every epoch takes the data set's own order.
"""

from __future__ import annotations

import torch


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, drop_last: bool = True,
                  rank: int = 0, world_size: int = 1, shuffle: bool = True) -> list[torch.Tensor]:
    """Index tensors of this rank's batches for one epoch (each rank gets ``batch_size`` per batch)."""
    perm = epoch_permutation(n, seed, epoch) if shuffle else torch.arange(n)
    if world_size > 1:
        usable = (n // world_size) * world_size
        perm = perm[:usable][rank::world_size]
    batches = list(torch.split(perm, batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches
