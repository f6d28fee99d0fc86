"""DistributedDataParallel on CPU: 2 real processes (torchrun, gloo), tiny models on real digits."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import ganforge
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train.distributed import SyncBatchNormCPU, convert_sync_batchnorm

WORKER = Path(__file__).with_name("ddp_worker.py")
TINY = ["model.width=8", "model.z_dim=16", "train.batch_size=32", "train.progress=false", "train.log_every=4"]
# seed 000's model (dropout in D, simultaneous update) on digits at 16x16
SIM = ["preset=mnist-dcgan", "data.name=digits", "data.image_size=16", *TINY]


def torchrun(*args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def worker(run, dump, *overrides, resume=False):
    return torchrun(WORKER, run, dump, *(["--resume"] if resume else []), *overrides)


def ranks(dump):
    return [torch.load(Path(dump) / f"rank{r}.pt", weights_only=True) for r in range(2)]


def assert_same(a: dict, b: dict, what: str):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{what}.{k} differs"


def step_records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"d_loss"' in line]


def test_alternating_ddp_with_sync_bn_keeps_ranks_identical_and_only_rank0_writes(tmp_path):
    run, dump = tmp_path / "run", tmp_path / "dump"
    worker(run, dump, "preset=digits-dcgan", *TINY, "train.epochs=2", "train.sync_bn=true")
    r0, r1 = ranks(dump)
    assert r0["world_size"] == 2
    assert "SyncBatchNormCPU" in r0["G_types"]
    per_epoch = (1797 // 2) // 32  # each rank takes its half of every epoch
    assert r0["step"] == r1["step"] == 2 * per_epoch
    for part in ("G", "D"):  # weights and BN running statistics
        assert_same(r0[part], r1[part], part)
    assert torch.equal(r0["opt_d"]["state"][0]["exp_avg"], r1["opt_d"]["state"][0]["exp_avg"])
    # one writer: each step logged once, one checkpoint, the weights in it are the ranks' weights
    records = step_records(run)
    assert [r["step"] for r in records] == list(range(1, 2 * per_epoch + 1))
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in records)
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == [f"ckpt_{2 * per_epoch:08d}.pt"]
    state = load_checkpoint(ckpts[0])
    assert_same(state["G"], r0["G"], "checkpoint G")
    assert len(state["rng_ranks"]) == 2
    assert not torch.equal(state["rng_ranks"][0]["torch"], state["rng_ranks"][1]["torch"])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]


def test_simultaneous_ddp_resumed_through_the_cli_equals_an_uninterrupted_run(tmp_path):
    full, dump = tmp_path / "full", tmp_path / "dump"
    worker(full, dump, *SIM, "train.steps=8")
    r0, r1 = ranks(dump)
    assert_same(r0["D"], r1["D"], "D")
    # G's parameters are identical; its BN running statistics are each rank's own (DDP broadcasts
    # rank 0's before every forward pass, so only rank 0's, the saved ones, are ever used)
    params = [k for k in r0["G"] if "running_" not in k and "num_batches" not in k]
    assert_same({k: r0["G"][k] for k in params}, {k: r1["G"][k] for k in params}, "G")

    half = tmp_path / "half"
    overrides = [a for a in SIM if not a.startswith("preset=")]
    proc = torchrun("-m", "ganforge", "train", "--preset", "mnist-dcgan", "--steps", 5, "--out", half, *overrides)
    assert proc.stdout.count("training 'mnist-dcgan'") == 1  # rank 0 alone prints
    torchrun("-m", "ganforge", "train", "--resume", half, "--steps", 8)  # resumes mid-epoch
    a, b = load_checkpoint(list_checkpoints(full)[-1]), load_checkpoint(list_checkpoints(half)[-1])
    assert a["step"] == b["step"] == r0["step"] == 8
    for part in ("G", "D"):
        assert_same(a[part], b[part], part)
    log = (half / "metrics.jsonl").read_text()
    assert log.count('"event": "resume"') == 1
    assert [r["step"] for r in step_records(half)] == list(range(1, a["step"] + 1))


def test_a_signal_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    """Rank 1 alone gets SIGTERM after step 3: both ranks stop there and one checkpoint is written
    (a rank that went on alone would wait in DDP's all-reduce until the timeout)."""
    run, dump = tmp_path / "run", tmp_path / "dump"
    proc = torchrun(WORKER, run, dump, "--sigterm-rank1-at", 3, *SIM, "train.steps=50", timeout=180)
    assert proc.stdout.count("stopped by SIGTERM at step 3") == 2
    r0, r1 = ranks(dump)
    assert r0["step"] == r1["step"] == 3
    assert_same(r0["D"], r1["D"], "D")
    assert [p.name for p in list_checkpoints(run)] == ["ckpt_00000003.pt"]


def test_an_existing_run_directory_stops_every_rank_with_one_line_each(tmp_path):
    """Rank 0 finds the directory taken and tells rank 1, so neither goes on into training (each
    prints the one line unless torchrun stops it first, once rank 0 has exited)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ganforge", "train", "--preset", "mnist-dcgan", "--out", str(run), *SIM[1:], "train.steps=3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert proc.stderr.count(f"run directory {run} already exists") >= 1
    frames = [line for line in proc.stderr.splitlines() if line.strip().startswith("File ")]
    package = str(Path(ganforge.__file__).parent)
    assert not any(package in line for line in frames)  # torchrun's own report only, no ganforge traceback
    # each rank left the process group before exiting: one that exits inside it can abort in gloo's
    # teardown ("terminate called without an active exception", SIGABRT), here about one run in six
    assert "terminate called" not in proc.stderr and "SIGABRT" not in proc.stderr
    assert "step 1" not in proc.stdout
    assert [p.name for p in run.iterdir()] == ["notes.txt"] and (run / "notes.txt").read_text() == "mine"


def test_the_time_budget_is_read_the_same_on_every_rank(tmp_path):
    run, dump = tmp_path / "run", tmp_path / "dump"
    worker(run, dump, *SIM, "train.epochs=1000", "train.minutes=0.05")
    r0, r1 = ranks(dump)
    assert 0 < r0["step"] == r1["step"] < 1000 * ((1797 // 2) // 32)
    assert load_checkpoint(list_checkpoints(run)[-1])["step"] == r0["step"]


# ---------------------------------------------------------------------------
# SyncBatchNormCPU against a plain BatchNorm over the whole batch

def _sync_bn_rank(rank, x, w, c, out):
    # a file store: a free port picked beforehand could be taken by then (other jobs' connections)
    dist.init_process_group("gloo", init_method=f"file://{out / 'store'}", rank=rank, world_size=2)
    bn = SyncBatchNormCPU(x.shape[1], momentum=0.1).to(x.dtype)
    bn.weight.data.copy_(w)
    part = x.chunk(2)[rank].clone().requires_grad_(True)
    y = bn(part)
    (y * c.chunk(2)[rank]).sum().backward()
    torch.save({"y": y.detach(), "grad": part.grad, "mean": bn.running_mean, "var": bn.running_var,
                "w_grad": bn.weight.grad}, out / f"bn{rank}.pt")
    dist.destroy_process_group()


def test_sync_batchnorm_over_two_ranks_equals_batchnorm_over_their_union(tmp_path):
    """In float64: the two computations sum the same 128 terms per channel in other orders (and take the
    variance as E[x^2] - mean^2), so they differ by at most ~128 * 2^-53 times the sum of the terms'
    magnitudes (Higham 4.2; at most ~100 here): ~2e-12, where per-rank statistics instead of the
    union's would be off by ~0.1."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64) * 2 + 1
    w = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
    c = torch.randn(x.shape, generator=g, dtype=torch.float64)  # the loss is sum(c * y): a weight per output
    mp.start_processes(_sync_bn_rank, args=(x, w, c, tmp_path), nprocs=2, start_method="spawn")

    ref = nn.BatchNorm2d(3, momentum=0.1).double()
    ref.weight.data.copy_(w)
    xr = x.clone().requires_grad_(True)
    y = ref(xr)
    (y * c).sum().backward()
    parts = [torch.load(tmp_path / f"bn{r}.pt", weights_only=True) for r in range(2)]
    assert parts[0]["y"].dtype == torch.float64
    close = dict(atol=1e-11, rtol=0)
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach(), **close)
    # each rank back-propagates its own loss; their input gradients together are the whole batch's
    torch.testing.assert_close(torch.cat([p["grad"] for p in parts]), xr.grad, **close)
    torch.testing.assert_close(parts[0]["w_grad"] + parts[1]["w_grad"], ref.weight.grad, **close)
    for p in parts:
        torch.testing.assert_close(p["mean"], ref.running_mean, **close)
        torch.testing.assert_close(p["var"], ref.running_var, **close)


def test_convert_sync_batchnorm_keeps_state_dict_keys_and_values():
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    net[1].running_mean.fill_(0.25)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    convert_sync_batchnorm(net, torch.device("cpu"))
    assert isinstance(net[1], SyncBatchNormCPU) and isinstance(net[2][1], SyncBatchNormCPU)
    assert_same(before, net.state_dict(), "net")
    # a single process (no process group) behaves exactly like BatchNorm
    x = torch.randn(5, 4)
    ref = nn.BatchNorm1d(6)
    ref.load_state_dict({k[2:]: v for k, v in before.items() if k.startswith("1.")})
    torch.testing.assert_close(net[1](net[0](x)), ref(net[0](x)))
