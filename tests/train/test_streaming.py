"""Training from a pack (data/pack.py): in memory or streamed by a reader thread, the same numbers; data.xflip."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from ganforge.config import resolve
from ganforge.data import load_dataset, normalize
from ganforge.data import pack as packing
from ganforge.errors import ConfigError
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train import Trainer
from ganforge.train.batches import Prefetcher, epoch_permutation

TINY = {"model.width": 8, "model.z_dim": 16, "train.batch_size": 64, "train.progress": False,
        "data.image_size": 8, "train.log_every": 4}


@pytest.fixture(scope="module")
def digits_pack(tmp_path_factory):
    out = tmp_path_factory.mktemp("packs") / "digits8"
    packing.pack(packing.dataset_source("digits", "train", None, None), out, shard_bytes=64 * 500, progress=False)
    return out


def train(out, **over):
    return Trainer(resolve("digits-dcgan", {**TINY, **over}), run_dir=out)


def weights(run):
    return load_checkpoint(list_checkpoints(run)[-1])


def assert_same_weights(a, b):
    assert a["step"] == b["step"]
    for part in ("G", "D", "opt_g", "opt_d"):
        for k, v in a[part].items() if part in ("G", "D") else []:
            assert torch.equal(v, b[part][k]), f"{part}.{k}"
    assert torch.equal(a["opt_d"]["state"][0]["exp_avg"], b["opt_d"]["state"][0]["exp_avg"])


def test_memory_stream_and_the_original_data_set_train_the_same_numbers(tmp_path, digits_pack):
    runs = {}
    for name, over in [("digits", {}), ("memory", {"data.name": f"pack:{digits_pack}", "data.reader": "memory"}),
                       ("stream", {"data.name": f"pack:{digits_pack}", "data.reader": "stream"})]:
        trainer = train(tmp_path / name, **{"train.steps": 40, **over})  # 28 steps an epoch: into the second
        assert (trainer.reader is not None) == (name == "stream")
        runs[name] = weights(trainer.fit())
    assert_same_weights(runs["digits"], runs["memory"])
    assert_same_weights(runs["digits"], runs["stream"])


def test_auto_holds_a_small_pack_in_memory(tmp_path, digits_pack):
    assert train(tmp_path / "run", **{"data.name": f"pack:{digits_pack}"}).reader is None


def test_a_streamed_run_resumed_mid_epoch_equals_an_uninterrupted_one(tmp_path, digits_pack):
    stream = {"data.name": f"pack:{digits_pack}", "data.reader": "stream", "train.ema": 0.9}
    full = train(tmp_path / "full", **{"train.steps": 40, **stream}).fit()
    part = train(tmp_path / "part", **{"train.steps": 11, **stream}).fit()
    Trainer.resume(part, {"train.steps": 40}).fit()
    a, b = weights(full), weights(part)
    assert_same_weights(a, b)
    for k in a["G_ema"]:
        assert torch.equal(a["G_ema"][k], b["G_ema"][k])


@pytest.mark.parametrize("reader", ["memory", "stream"])
def test_xflip_adds_every_image_mirrored(tmp_path, digits_pack, reader):
    trainer = train(tmp_path / "run", **{"data.name": f"pack:{digits_pack}", "data.reader": reader, "data.xflip": True})
    x = normalize(load_dataset("digits").x)
    n = len(x)
    batch = trainer.batch(torch.tensor([3, n + 3, n + 1796, 0]))
    assert torch.equal(batch.x[0], x[3]) and torch.equal(batch.x[3], x[0])
    assert torch.equal(batch.x[1], x[3].flip(-1)) and torch.equal(batch.x[2], x[1796].flip(-1))
    assert not torch.equal(x[3], x[3].flip(-1))  # a digit is not its own mirror image
    trainer.y = load_dataset("digits").y  # (an unconditional preset keeps no labels) a mirror keeps its label
    assert trainer.batch(torch.tensor([3, n + 3, n + 1796, 0])).y.tolist() == trainer.y[[3, 3, 1796, 0]].tolist()
    epoch = torch.cat(trainer.epoch_batches(0))
    assert len(epoch) == (2 * n // 64) * 64 and len(set(epoch.tolist())) == len(epoch)  # 56 batches from 2n
    assert int(epoch.max()) >= n


def test_bad_reader_choices_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="data.reader=stream reads packs; data set 'digits' is loaded whole"):
        train(tmp_path / "a", **{"data.reader": "stream"})
    with pytest.raises(ConfigError, match="data.reader must be one of"):
        train(tmp_path / "b", **{"data.reader": "disk"})
    with pytest.raises(ConfigError, match="data.xflip mirrors images"):
        Trainer(resolve("ring8-gan", {"data.xflip": True, "train.progress": False}), run_dir=tmp_path / "c")


def test_the_reader_thread_hands_on_errors_and_stops_when_closed():
    def read(idx):
        if int(idx[0]) == 2:
            raise OSError("disk gone")
        return idx * 10

    feed = Prefetcher(read, [torch.tensor([i]) for i in range(5)], depth=1)
    assert feed.get().item() == 0 and feed.get().item() == 10
    with pytest.raises(OSError, match="disk gone"):
        feed.get()
    feed.close()
    slow = Prefetcher(lambda idx: idx, [torch.tensor([i]) for i in range(100)], depth=2)
    time.sleep(0.3)  # the thread fills the queue and waits
    started = time.perf_counter()
    slow.close()
    assert time.perf_counter() - started < 5 and not slow._thread.is_alive()
    feed = Prefetcher(lambda idx: idx, [torch.tensor([7])])
    assert feed.get().item() == 7
    with pytest.raises(StopIteration):
        feed.get()
    assert threading.active_count() >= 1


def test_two_ranks_stream_disjoint_shares_that_cover_the_epoch(tmp_path, digits_pack):
    """torchrun, 2 processes: 1797 images at batch 64 -> 898 per rank -> 14 batches of 64 each (896): the two
    shares are disjoint and together every image of the epoch's order but the last 5 (1796 - 2 x 896 + 1)."""
    worker = Path(__file__).with_name("pack_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           tmp_path / "run", tmp_path / "dump", "preset=digits-dcgan", f"data.name=pack:{digits_pack}",
           "data.reader=stream", "train.steps=6", *(f"{k}={v}" for k, v in TINY.items())]
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / "dump" / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert all(r["streamed"] and r["step"] == 6 for r in ranks)
    a, b = (set(r["indices"].tolist()) for r in ranks)
    assert len(a) == len(b) == 14 * 64 and not a & b
    order = epoch_permutation(1797, 0, 0)[:1796]
    assert a == set(order[0::2][:896].tolist()) and b == set(order[1::2][:896].tolist())
    assert set(range(1797)) - (a | b) == set(epoch_permutation(1797, 0, 0)[1792:].tolist())
    x = load_dataset("digits").x
    for r in ranks:
        assert torch.equal(r["images"], x[r["indices"]])  # each rank read its own images, and only those
