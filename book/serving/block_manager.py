"""The block manager: which physical KV-cache blocks each sequence owns.

The KV cache of the serving engine is a pool of ``num_blocks`` fixed-size
blocks of ``block_size`` token slots each (:mod:`book.serving.kv_cache` holds
the tensors; this module only does the bookkeeping, as vLLM's block manager
does). A sequence's *block table* lists the physical blocks that hold its
tokens in order: token ``t`` lives in slot ``t % block_size`` of block
``table[t // block_size]``. Every block carries a reference count, so that
blocks can be shared:

- **prefix sharing**: with ``prefix_sharing=True``, :meth:`BlockManager.allocate`
  looks up each *full* block of a new sequence's tokens by a hash of its
  tokens and of everything before it (a hash chain, so equal blocks at
  different positions never collide) and reuses a live block with the same
  contents instead of allocating and recomputing it;
- **fork**: :meth:`BlockManager.fork` gives a child sequence all of its
  parent's blocks (parallel sampling, beam search); the first write into a
  shared, partly filled block copies it (**copy-on-write**):
  :meth:`BlockManager.append_slot` returns the (source, destination) pair
  the cache must copy.

Free blocks sit in a pool; a block returns to it when its count reaches zero.
The invariant the tests check after every operation: free + used = total,
and each used block's count equals the number of block tables that list it.
Taught in p6-2.3 and p6-2.4.

>>> bm = BlockManager(num_blocks=4, block_size=2)
>>> bm.allocate("a", [7, 8, 9])       # 3 tokens need 2 blocks; nothing was cached
0
>>> bm.block_table("a"), bm.num_free
([0, 1], 2)
>>> bm.fork("a", "b"); bm.refcount(1)
2
>>> bm.append_slot("b")               # b writes token 4 into the shared block 1: copy it first
(1, 2)
>>> bm.block_table("b"), bm.refcount(1)
([0, 2], 1)
>>> bm.free("a"); bm.free("b"); bm.num_free
4
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


class OutOfBlocksError(RuntimeError):
    """No free KV-cache block is left: the scheduler must preempt a sequence (p6-2.4)."""


class BlockManager:
    """Fixed-size blocks, a free pool with reference counts, and one block table per sequence.

    ``num_blocks`` blocks of ``block_size`` token slots. Sequence ids are any
    hashable values (the engine uses request ids). Every method that cannot
    complete raises before changing any state, so a failed call leaves the
    manager exactly as it was. Taught in p6-2.3.
    """

    def __init__(self, num_blocks: int, block_size: int, prefix_sharing: bool = False):
        if not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_blocks must be a positive int, got {num_blocks!r}")
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a positive int, got {block_size!r}")
        self.num_blocks, self.block_size, self.prefix_sharing = num_blocks, block_size, prefix_sharing
        self._free: list[int] = list(range(num_blocks - 1, -1, -1))   # a stack: block 0 is handed out first
        self._ref = [0] * num_blocks
        self._tables: dict[Hashable, list[int]] = {}
        self._lengths: dict[Hashable, int] = {}
        self._hash_of: dict[int, int] = {}            # block -> hash of its full contents (prefix sharing)
        self._block_of: dict[int, int] = {}           # hash -> live block holding those contents
        self.allocations = 0                          # blocks taken from the free pool, ever
        self.cow_copies = 0

    # ---- sizes ---------------------------------------------------------------------------------------
    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_used(self) -> int:
        """Distinct blocks with a reference count above zero (a shared block counts once)."""
        return self.num_blocks - len(self._free)

    def refcount(self, block: int) -> int:
        if not 0 <= block < self.num_blocks:
            raise ValueError(f"block must be in [0, {self.num_blocks}), got {block}")
        return self._ref[block]

    def blocks_needed(self, n_tokens: int) -> int:
        """⌈n_tokens / block_size⌉: the blocks that hold ``n_tokens`` tokens (Eq. (p6-2-slot))."""
        return -(-n_tokens // self.block_size)

    def __contains__(self, seq_id: Hashable) -> bool:
        return seq_id in self._tables

    @property
    def sequences(self) -> list[Hashable]:
        return list(self._tables)

    def block_table(self, seq_id: Hashable) -> list[int]:
        """The physical blocks of ``seq_id`` in token order (a copy)."""
        return list(self._table(seq_id))

    def num_tokens(self, seq_id: Hashable) -> int:
        """Token slots reserved for ``seq_id`` (filled or about to be filled by the current step)."""
        self._table(seq_id)
        return self._lengths[seq_id]

    def slot(self, seq_id: Hashable, position: int) -> int:
        """The flat cache slot of token ``position``: block · block_size + offset."""
        table = self._table(seq_id)
        if not 0 <= position < self._lengths[seq_id]:
            raise ValueError(f"position must be in [0, {self._lengths[seq_id]}) for sequence {seq_id!r}, "
                             f"got {position}")
        return table[position // self.block_size] * self.block_size + position % self.block_size

    def _table(self, seq_id: Hashable) -> list[int]:
        try:
            return self._tables[seq_id]
        except KeyError:
            raise KeyError(f"sequence {seq_id!r} holds no blocks (never allocated, or already freed)") from None

    # ---- prefix sharing ------------------------------------------------------------------------------
    def _chain(self, token_ids: Sequence[int]) -> list[int]:
        """Hashes of the full blocks of ``token_ids``, each over its tokens and the previous block's hash."""
        hashes, h = [], None
        for i in range(len(token_ids) // self.block_size):
            h = hash((h, tuple(token_ids[i * self.block_size:(i + 1) * self.block_size])))
            hashes.append(h)
        return hashes

    def cached_blocks(self, token_ids: Sequence[int]) -> list[int]:
        """The live blocks that already hold a prefix of ``token_ids`` (empty without prefix sharing).

        At most ⌊(n − 1) / block_size⌋ blocks: the last token is always
        computed, since its logits are the reason to run the model at all.
        """
        if not self.prefix_sharing:
            return []
        hits = []
        for h in self._chain(token_ids[:len(token_ids) - 1]):
            block = self._block_of.get(h)
            if block is None:
                break
            hits.append(block)
        return hits

    def can_allocate(self, token_ids: Sequence[int], reserve: int = 0) -> bool:
        """Whether :meth:`allocate` would succeed and leave at least ``reserve`` blocks free."""
        new = self.blocks_needed(len(token_ids)) - len(self.cached_blocks(token_ids))
        return new + reserve <= self.num_free

    # ---- allocate / append / fork / free -------------------------------------------------------------
    def _take(self) -> int:
        block = self._free.pop()
        self._ref[block] = 1
        self.allocations += 1
        return block

    def allocate(self, seq_id: Hashable, token_ids: Sequence[int]) -> int:
        """Reserve slots for the tokens of a new sequence; return how many leading tokens are cached.

        With prefix sharing the leading full blocks whose contents are already
        live are shared (their counts go up) and their tokens need no
        computing; the sequence's other full blocks are registered so that
        later sequences can share them. Raises :class:`OutOfBlocksError` if
        the free pool is too small (nothing is changed then).
        """
        if seq_id in self._tables:
            raise ValueError(f"sequence {seq_id!r} already holds blocks; free it before allocating again")
        if len(token_ids) < 1:
            raise ValueError("token_ids must hold at least one token")
        hits = self.cached_blocks(token_ids)
        new = self.blocks_needed(len(token_ids)) - len(hits)
        if new > self.num_free:
            raise OutOfBlocksError(f"sequence {seq_id!r} needs {new} new blocks for {len(token_ids)} tokens; "
                                   f"{self.num_free} of {self.num_blocks} are free")
        for block in hits:
            self._ref[block] += 1
        table = hits + [self._take() for _ in range(new)]
        if self.prefix_sharing:
            for block, h in zip(table[len(hits):], self._chain(token_ids)[len(hits):]):
                if h not in self._block_of:           # the first live copy of these contents is the shared one
                    self._block_of[h], self._hash_of[block] = block, h
        self._tables[seq_id], self._lengths[seq_id] = table, len(token_ids)
        return len(hits) * self.block_size

    def append_slot(self, seq_id: Hashable) -> tuple[int, int] | None:
        """Reserve the slot of one more token; return a (source, destination) block pair to copy, or None.

        A new block is taken when the last one is full. If the last block is
        partly filled and shared (after :meth:`fork`), it is copied first:
        the sequence gets a private copy (destination) and drops its reference
        to the shared one (source) — copy-on-write. Raises
        :class:`OutOfBlocksError` when a block is needed and none is free.
        """
        table = self._table(seq_id)
        n = self._lengths[seq_id]
        if n % self.block_size == 0:                  # the last block is full (or there is none)
            if not self._free:
                raise OutOfBlocksError(f"sequence {seq_id!r} needs a block for token {n}; none of "
                                       f"{self.num_blocks} is free")
            table.append(self._take())
            self._lengths[seq_id] = n + 1
            return None
        last = table[-1]
        if self._ref[last] == 1:                      # private: write in place
            self._lengths[seq_id] = n + 1
            return None
        if not self._free:
            raise OutOfBlocksError(f"sequence {seq_id!r} must copy shared block {last} before writing to it; "
                                   f"none of {self.num_blocks} blocks is free")
        copy = self._take()
        self._ref[last] -= 1
        table[-1] = copy
        self._lengths[seq_id] = n + 1
        self.cow_copies += 1
        return last, copy

    def fork(self, parent_id: Hashable, child_id: Hashable) -> None:
        """Give ``child_id`` all of ``parent_id``'s blocks (shared: counts go up, nothing is copied yet)."""
        table = self._table(parent_id)
        if child_id in self._tables:
            raise ValueError(f"sequence {child_id!r} already holds blocks")
        for block in table:
            self._ref[block] += 1
        self._tables[child_id], self._lengths[child_id] = list(table), self._lengths[parent_id]

    def free(self, seq_id: Hashable) -> None:
        """Drop ``seq_id``'s references; blocks whose count reaches zero return to the free pool.

        Freeing a sequence twice is an error (a double free would put a block
        in the pool twice and hand it to two sequences at once).
        """
        if seq_id not in self._tables:
            raise KeyError(f"free({seq_id!r}): the sequence holds no blocks (double free, or never allocated)")
        for block in reversed(self._tables.pop(seq_id)):
            if self._ref[block] <= 0:                 # cannot happen unless the state was corrupted
                raise RuntimeError(f"block {block} has reference count {self._ref[block]} before its release")
            self._ref[block] -= 1
            if self._ref[block] == 0:
                h = self._hash_of.pop(block, None)
                if h is not None:
                    del self._block_of[h]
                self._free.append(block)
        del self._lengths[seq_id]

    # ---- invariants ----------------------------------------------------------------------------------
    def check_invariants(self) -> None:
        """Raise AssertionError unless free + used = total and every count matches the tables."""
        counts = [0] * self.num_blocks
        for table in self._tables.values():
            for block in table:
                counts[block] += 1
        free = set(self._free)
        assert len(free) == len(self._free), "a block sits in the free pool twice"
        assert counts == self._ref, "reference counts differ from the number of tables that list each block"
        assert all((counts[b] == 0) == (b in free) for b in range(self.num_blocks)), \
            "a block is both free and used, or neither"
        assert self.num_free + self.num_used == self.num_blocks
        for seq_id, table in self._tables.items():
            assert len(table) == self.blocks_needed(self._lengths[seq_id]), f"{seq_id!r}: table and length disagree"
        assert all(self._block_of.get(h) == b and self._ref[b] > 0 for b, h in self._hash_of.items())
