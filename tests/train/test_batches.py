"""train/batches.py: an epoch's order is a function of (seed, epoch) alone; batches, drop_last, DDP shards."""

import pytest
import torch

from ganforge.train.batches import epoch_batches, epoch_permutation


def _flat(batches):
    return torch.cat(batches).tolist() if batches else []


def test_permutation_is_seeded_by_seed_and_epoch_only():
    # the stored runs' orders: randperm from a generator seeded seed * 1_000_003 + epoch (resume depends on it)
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(2 * 1_000_003 + 5))
    torch.manual_seed(123)
    torch.rand(7)                                   # the global RNG plays no part
    first = epoch_permutation(50, seed=2, epoch=5)
    torch.rand(7)
    assert torch.equal(first, expected) and torch.equal(epoch_permutation(50, seed=2, epoch=5), expected)
    assert sorted(first.tolist()) == list(range(50))


def test_other_epochs_and_seeds_give_other_orders():
    orders = {tuple(epoch_permutation(50, seed, epoch).tolist()) for seed in (0, 1) for epoch in range(4)}
    assert len(orders) == 8


def test_batches_of_an_epoch_are_its_permutation_in_order():
    batches = epoch_batches(10, 4, seed=3, epoch=1, drop_last=False)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(b.dtype == torch.int64 for b in batches)
    assert _flat(batches) == epoch_permutation(10, 3, 1).tolist()


def test_drop_last_drops_only_a_short_last_batch():
    assert [len(b) for b in epoch_batches(10, 4, seed=0, epoch=0)] == [4, 4]
    assert _flat(epoch_batches(10, 4, seed=0, epoch=0)) == epoch_permutation(10, 0, 0)[:8].tolist()
    assert [len(b) for b in epoch_batches(12, 4, seed=0, epoch=0)] == [4, 4, 4]   # nothing short: nothing dropped
    assert epoch_batches(3, 4, seed=0, epoch=0) == []                              # fewer images than one batch
    assert [len(b) for b in epoch_batches(3, 4, seed=0, epoch=0, drop_last=False)] == [3]


def test_same_call_same_batches():
    a, b = epoch_batches(37, 5, seed=9, epoch=4), epoch_batches(37, 5, seed=9, epoch=4)
    assert len(a) == 7 and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_unshuffled_keeps_the_data_sets_order_every_epoch():
    for seed, epoch in [(0, 0), (5, 3)]:
        batches = epoch_batches(10, 3, seed=seed, epoch=epoch, shuffle=False)
        assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


@pytest.mark.parametrize("n, world, batch", [(10, 3, 2), (12, 4, 3), (100, 2, 16), (7, 2, 1)])
def test_ddp_shards_are_disjoint_and_cover_the_usable_part(n, world, batch):
    perm = epoch_permutation(n, 1, 2)
    usable = (n // world) * world
    shards = [epoch_batches(n, batch, seed=1, epoch=2, rank=r, world_size=world, drop_last=False) for r in range(world)]
    flat = [_flat(s) for s in shards]
    for r in range(world):
        assert flat[r] == perm[:usable][r::world].tolist()          # every world-th index, from the rank on
        assert len(flat[r]) == usable // world
    assert sorted(sum(flat, [])) == sorted(perm[:usable].tolist())  # disjoint and complete
    assert len(set(sum(flat, []))) == usable
    # with drop_last, every rank takes the same number of full batches (the ranks step together)
    counts = {len(epoch_batches(n, batch, seed=1, epoch=2, rank=r, world_size=world)) for r in range(world)}
    assert counts == {(usable // world) // batch}


def test_ddp_unshuffled_deals_the_images_round_robin():
    shards = [epoch_batches(7, 2, seed=0, epoch=0, rank=r, world_size=2, shuffle=False, drop_last=False)
              for r in range(2)]
    assert [[b.tolist() for b in s] for s in shards] == [[[0, 2], [4]], [[1, 3], [5]]]
