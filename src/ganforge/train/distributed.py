"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node=K -m ganforge train ...`` starts K copies of the
command with RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT in their
environment. :func:`setup` reads them once at the entry point and joins the
process group: gloo on CPU, NCCL on CUDA (one GPU per local rank). A plain
``ganforge train`` sees no such variables and runs as a single process.

Each rank draws its own shard of every epoch's permutation (batches.py) and
its own latents; :func:`wrap` puts G and D in DistributedDataParallel, whose
backward hooks average gradients, so every rank applies the same update and
the weights stay identical. Rank 0 alone writes samples, logs and
checkpoints. ``train.batch_size`` is per rank: K ranks train on K x batch.

PyTorch's ``nn.SyncBatchNorm`` runs on GPUs only; on CPU, ``train.sync_bn``
uses :class:`SyncBatchNormCPU`, which all-reduces the batch moments over gloo.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def setup(device: torch.device) -> DistContext:
    """Join the process group described by torchrun's environment (no-op for a single process).

    ``device`` is the resolved train.device; on CUDA each rank takes the GPU of its local rank.
    """
    world_size = env_world_size()
    if world_size <= 1:
        return DistContext(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def cleanup(wait: bool = True, timeout_s: float = 120.0) -> None:
    """Leave the process group; with ``wait``, all ranks together.

    A rank that tears gloo down while another still works (rank 0 writing the GIF and the
    report) can abort in gloo's destructor ("terminate called without an active exception"),
    so ranks first wait for each other; the wait is bounded, for a rank that died.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if wait:
        try:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=timeout_s))
            else:
                dist.barrier()
        except Exception:  # another rank is gone: nothing left to wait for
            pass
    dist.destroy_process_group()


@contextlib.contextmanager
def leaving_together():
    """Run the block, then leave the process group: together with the other ranks when the block
    finished or stopped on a signal (every rank stops after the same step), at once when this
    rank failed (the others may never reach the barrier)."""
    from ganforge.train.signals import TrainingInterrupted

    try:
        yield
    except TrainingInterrupted:
        cleanup()
        raise
    except BaseException:
        cleanup(wait=False)
        raise
    cleanup()


def wrap(module: nn.Module, ctx: DistContext) -> nn.Module:
    """The module as trained on this rank: DistributedDataParallel when there are several ranks.

    The returned wrapper shares its parameters with ``module``; keep saving ``module`` itself.
    Call :func:`convert_sync_batchnorm` first (before building optimisers) for synchronised BN.
    """
    if not ctx.enabled:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


# ---------------------------------------------------------------------------
# Collectives used by the trainer (each a no-op for a single process)

def mean_over_ranks(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if not ctx.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / ctx.world_size


def sum_over_ranks(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The element-wise sum of every rank's ``t``, on every rank (ADA's sign sums and image counts)."""
    if not ctx.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t


def max_over_ranks(values: list[int], ctx: DistContext) -> list[int]:
    """The element-wise maximum of every rank's ``values`` (small non-negative integers), on every rank."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def gather_objects(obj, ctx: DistContext) -> list:
    """Every rank's ``obj`` in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, ctx: DistContext):
    """Rank 0's ``obj`` on every rank."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


# ---------------------------------------------------------------------------
# Synchronised batch normalisation

class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the gradient of each rank's input is the sum of every rank's output gradient."""

    @staticmethod
    def forward(ctx, t):
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNormCPU(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose batch statistics cover all ranks' batches (any device, any backend).

    Per channel, the sums of x and x^2 and the count are all-reduced in one
    differentiable collective, so the forward pass and its gradients equal a
    plain BatchNorm over the concatenation of every rank's batch.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16/fp16 moments in float32; float64 stays
        count = torch.tensor([x.numel() / x.shape[1]], dtype=xf.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)  # biased, as BatchNorm normalises with
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.lerp_(mean.detach(), m)
            self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1.0), m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm in ``module`` (in place) by its synchronised form."""
    if device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        assert converted is module or not isinstance(module, nn.modules.batchnorm._BatchNorm)
        return module
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            new = SyncBatchNormCPU(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats).to(child.weight.device if child.affine else device)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            convert_sync_batchnorm(child, device)
    return module
