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


def split_flips(idx: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``data.xflip`` indexes 2n images: i < n is image i, n + i its mirror. -> (image indices, mirrored or None)."""
    if not bool((idx >= n).any()):
        return idx, None
    return idx % n, idx >= n


def mirror(x: torch.Tensor, flipped: torch.Tensor | None) -> torch.Tensor:
    """``x`` (B, C, H, W) with the images where ``flipped`` (B,) is true mirrored left-right."""
    if flipped is None:
        return x
    return torch.where(flipped.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


class Prefetcher:
    """Reads the given index batches in order in a background thread, at most ``depth`` ahead of the loop.

    ``read(idx)`` runs in the thread (a pack's ``pread`` releases the GIL); ``get()`` returns the next batch's
    result in the loop. Memory is bounded by ``depth`` batches whatever the data set's size.
    """

    _END = object()

    def __init__(self, read, batches: list[torch.Tensor], depth: int = 4):
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(read, batches), daemon=True, name="ganforge-reader")
        self._thread.start()

    def _run(self, read, batches) -> None:
        try:
            for idx in batches:
                if not self._put(read(idx)):
                    return
        except BaseException as e:  # handed to the loop, which raises it there
            self._put(e)
            return
        self._put(self._END)

    def _put(self, item) -> bool:
        """Queue ``item``, waiting while the queue is full; False when the loop closed the reader meanwhile."""
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self):
        item = self._queue.get()
        if item is self._END:
            raise StopIteration("the prefetched batches are used up")
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
