"""The block manager of the serving engine: allocation, sharing, copy-on-write, errors, and no leaks ever."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book.serving.block_manager import BlockManager, OutOfBlocksError
from book.serving.kv_cache import ContiguousKVCache, PagedKVCache


def test_allocate_append_free_and_slots():
    bm = BlockManager(num_blocks=5, block_size=4)
    assert bm.allocate("a", list(range(6))) == 0
    assert bm.block_table("a") == [0, 1] and bm.num_tokens("a") == 6
    assert [bm.slot("a", p) for p in (0, 3, 4, 5)] == [0, 3, 4, 5]
    for _ in range(3):                                   # tokens 6, 7 fill block 1; token 8 opens block 2
        assert bm.append_slot("a") is None
    assert bm.block_table("a") == [0, 1, 2] and bm.slot("a", 8) == 8
    bm.check_invariants()
    bm.free("a")
    assert bm.num_free == 5 and bm.num_used == 0
    bm.check_invariants()


def test_blocks_needed_is_the_ceiling():
    bm = BlockManager(8, 3)
    assert [bm.blocks_needed(n) for n in (0, 1, 3, 4, 6, 7)] == [0, 1, 1, 2, 2, 3]


def test_double_free_and_unknown_sequences_are_clear_errors():
    bm = BlockManager(4, 2)
    bm.allocate("a", [1, 2, 3])
    bm.free("a")
    with pytest.raises(KeyError, match="double free"):
        bm.free("a")
    with pytest.raises(KeyError, match="holds no blocks"):
        bm.block_table("zz")
    bm.allocate("b", [1])
    with pytest.raises(ValueError, match="already holds blocks"):
        bm.allocate("b", [1])
    with pytest.raises(ValueError, match="position must be in"):
        bm.slot("b", 1)


def test_out_of_blocks_changes_nothing():
    bm = BlockManager(3, 2)
    bm.allocate("a", [1, 2, 3, 4])
    with pytest.raises(OutOfBlocksError, match="needs 2 new blocks"):
        bm.allocate("b", [1, 2, 3])
    assert "b" not in bm and bm.num_free == 1
    bm.allocate("c", [5])
    bm.append_slot("c")                                 # fills c's block
    with pytest.raises(OutOfBlocksError, match="none of 3"):
        bm.append_slot("c")
    assert bm.num_tokens("c") == 2
    bm.check_invariants()


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_blocks"):
        BlockManager(0, 4)
    with pytest.raises(ValueError, match="block_size"):
        BlockManager(4, 0)


def test_fork_shares_and_copy_on_write_copies_only_the_partial_block():
    bm = BlockManager(6, 4)
    bm.allocate("p", list(range(6)))                     # blocks 0 (full) and 1 (2 of 4 slots)
    bm.fork("p", "c")
    assert bm.block_table("c") == [0, 1] and bm.refcount(0) == bm.refcount(1) == 2
    assert bm.num_used == 2                              # shared blocks count once
    src_dst = bm.append_slot("c")
    assert src_dst == (1, 2) and bm.block_table("c") == [0, 2] and bm.refcount(1) == 1
    assert bm.append_slot("p") is None                   # the parent owns block 1 alone now: in place
    assert bm.cow_copies == 1
    bm.check_invariants()
    bm.free("p")
    assert bm.refcount(0) == 1 and bm.num_used == 2
    bm.free("c")
    assert bm.num_free == 6


def test_prefix_sharing_reuses_full_blocks_and_always_computes_the_last_token():
    bm = BlockManager(10, 2, prefix_sharing=True)
    system = [9, 8, 7, 6]
    assert bm.allocate("a", system + [1, 2, 3]) == 0
    assert bm.allocate("b", system + [4]) == 4           # blocks 0 and 1 are shared
    assert bm.block_table("b")[:2] == bm.block_table("a")[:2] and bm.refcount(0) == 2
    assert bm.allocate("c", system) == 2                 # an exact repeat still computes its last block
    assert bm.allocate("d", [5] + system) == 0           # the same tokens at another position are not shared
    bm.check_invariants()
    for s in "abcd":
        bm.free(s)
    assert bm.num_free == 10 and not bm.cached_blocks(system + [0])
    bm.check_invariants()


def test_without_prefix_sharing_nothing_is_shared():
    bm = BlockManager(10, 2)
    bm.allocate("a", [1, 2, 3, 4])
    assert bm.allocate("b", [1, 2, 3, 4, 5]) == 0 and bm.num_used == 5


@settings(max_examples=150, deadline=None)
@given(num_blocks=st.integers(1, 12), block_size=st.integers(1, 4), sharing=st.booleans(),
       ops=st.lists(st.tuples(st.sampled_from(["admit", "grow", "fork", "finish", "preempt"]),
                              st.integers(0, 7), st.lists(st.integers(0, 2), min_size=1, max_size=9)),
                    max_size=60))
def test_random_operations_never_leak_or_double_free(num_blocks, block_size, sharing, ops):
    """Random admit/grow/fork/finish/preempt: free + used = total and counts match the tables after each."""
    bm = BlockManager(num_blocks, block_size, prefix_sharing=sharing)
    live: dict[str, int] = {}           # sequence -> tokens reserved, tracked independently
    waiting: list[str] = []
    names = iter(f"s{i}" for i in range(10_000))
    for op, pick, tokens in ops:
        seqs = sorted(live)
        target = seqs[pick % len(seqs)] if seqs else None
        if op == "admit":
            name = waiting.pop(0) if waiting else next(names)
            try:
                bm.allocate(name, tokens)
                live[name] = len(tokens)
            except OutOfBlocksError:
                assert name not in bm
        elif op == "grow" and target:
            try:
                bm.append_slot(target)
                live[target] += 1
            except OutOfBlocksError:
                assert bm.num_free == 0
        elif op == "fork" and target:
            child = next(names)
            bm.fork(target, child)
            live[child] = live[target]
        elif op in ("finish", "preempt") and target:
            bm.free(target)
            del live[target]
            if op == "preempt":
                waiting.append(target)                   # recomputed later under the same id
        bm.check_invariants()
        assert {s: bm.num_tokens(s) for s in bm.sequences} == live
        assert bm.num_used <= sum(bm.blocks_needed(n) for n in live.values())
    for s in list(live):
        bm.free(s)
    assert bm.num_free == num_blocks
    bm.check_invariants()


def test_paged_cache_writes_and_gathers_through_the_table():
    import torch

    cache = PagedKVCache(n_layer=2, num_blocks=4, block_size=3, n_kv_head=2, head_dim=5)
    bm = BlockManager(4, 3)
    g = torch.Generator().manual_seed(0)
    bm.allocate("x", [0] * 2)
    bm.allocate("y", [0] * 4)                             # y takes blocks 1, 2 after x's block 0
    k = torch.randn(6, 2, 5, generator=g)
    slots = torch.tensor([bm.slot("x", p) for p in range(2)] + [bm.slot("y", p) for p in range(4)])
    cache.write(1, slots, k, -k)
    keys, values, mask = cache.gather(1, [bm.block_table("x"), bm.block_table("y")], [2, 4])
    assert keys.shape == (2, 2, 6, 5) and mask.sum(1).tolist() == [2, 4]
    assert torch.equal(keys[0, :, :2], k[:2].transpose(0, 1)) and torch.equal(keys[1, :, :4], k[2:].transpose(0, 1))
    assert torch.equal(values[1, :, :4], -k[2:].transpose(0, 1))
    cache.copy_block(1, 3)
    assert torch.equal(cache.k[1][3], cache.k[1][1])
    with pytest.raises(ValueError, match="n_kv_head=2"):
        cache.write(0, slots, torch.zeros(6, 3, 5), torch.zeros(6, 3, 5))
    with pytest.raises(ValueError, match="slots must be in"):
        cache.write(0, torch.tensor([12]), torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
    with pytest.raises(ValueError, match="does not fit"):
        cache.gather(0, [[0]], [4])


def test_contiguous_cache_reserves_max_len_per_slot():
    import torch

    cache = ContiguousKVCache(n_layer=1, num_slots=3, max_len=8, n_kv_head=1, head_dim=2)
    assert cache.nbytes() == 2 * 3 * 8 * 2 * 4
    k = torch.arange(6.0).view(3, 1, 2)
    cache.write(0, torch.tensor([2, 2, 2]), torch.tensor([0, 1, 2]), k, k)
    keys, _, mask = cache.gather(0, [2], [3])
    assert torch.equal(keys[0, 0], k[:, 0]) and mask.all()
    with pytest.raises(ValueError, match="positions must be in"):
        cache.write(0, torch.tensor([0]), torch.tensor([8]), k[:1], k[:1])
