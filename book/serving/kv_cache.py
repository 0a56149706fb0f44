"""KV-cache storage for the serving engine: paged blocks, and a contiguous max-length baseline.

:class:`PagedKVCache` keeps, per layer, keys and values in a pool of blocks
of shape (num_blocks, H_kv, block_size, D) — the layout of the Triton decode
kernel :func:`book.kernels.paged_attention.paged_attention`, so a GPU engine
can hand these tensors to it unchanged. Tokens are written to flat *slots*
(block · block_size + offset, as :meth:`book.serving.block_manager.BlockManager.slot`
numbers them) and read back by gathering a sequence's blocks through its
block table. :class:`ContiguousKVCache` is what a server without paging
does: one row of ``max_len`` positions reserved per batch slot, used or not.
Both return the same padded (B, H_kv, S, D) keys and values and a (B, S)
mask of the real positions, so the engine's attention is the same code for
both and their tokens can be compared exactly. Taught in p6-2.3.

>>> cache = PagedKVCache(n_layer=1, num_blocks=3, block_size=2, n_kv_head=1, head_dim=1)
>>> cache.write(0, torch.tensor([4, 1]), torch.ones(2, 1, 1), 2 * torch.ones(2, 1, 1))   # slots 4 and 1
>>> k, v, mask = cache.gather(0, [[2, 0]], [4])      # table [2, 0]: slots 4, 5, 0, 1 in logical order
>>> k[0, 0, :, 0].tolist(), v[0, 0, :, 0].tolist(), mask.tolist()
([1.0, 0.0, 0.0, 1.0], [2.0, 0.0, 0.0, 2.0], [[True, True, True, True]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_kv(name: str, k: torch.Tensor, v: torch.Tensor, n_kv_head: int, head_dim: int) -> None:
    if k.shape != v.shape or k.dim() != 3 or k.shape[1:] != (n_kv_head, head_dim):
        raise ValueError(f"{name}: k and v must both be (N, n_kv_head={n_kv_head}, head_dim={head_dim}), "
                         f"got k {tuple(k.shape)} and v {tuple(v.shape)}")


def _layer_storage(n_layer: int, sizes: dict[str, int], n_kv_head: int, head_dim: int, dtype: torch.dtype,
                   device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Check that every size is a positive int, naming the one that is not; then one zeroed
    (rows, n_kv_head, positions, head_dim) tensor per layer for keys and one for values."""
    for name, value in {"n_layer": n_layer, **sizes, "n_kv_head": n_kv_head, "head_dim": head_dim}.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    rows, positions = sizes.values()
    shape = (rows, n_kv_head, positions, head_dim)
    return ([torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)],
            [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)])


class PagedKVCache:
    """Keys and values of every layer in ``num_blocks`` blocks of ``block_size`` token slots.

    ``k[layer]`` and ``v[layer]`` are (num_blocks, H_kv, block_size, D).
    Memory is ``2 · n_layer · num_blocks · block_size · H_kv · D`` values,
    however the blocks are spread over sequences. Taught in p6-2.3.
    """

    def __init__(self, n_layer: int, num_blocks: int, block_size: int, n_kv_head: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        self.k, self.v = _layer_storage(n_layer, {"num_blocks": num_blocks, "block_size": block_size},
                                        n_kv_head, head_dim, dtype, device)
        self.n_layer, self.num_blocks, self.block_size = n_layer, num_blocks, block_size
        self.n_kv_head, self.head_dim = n_kv_head, head_dim

    @property
    def num_slots(self) -> int:
        return self.num_blocks * self.block_size

    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the keys/values k, v (N, H_kv, D) of N tokens at flat ``slots`` (N,)."""
        _check_kv("write", k, v, self.n_kv_head, self.head_dim)
        slots = torch.as_tensor(slots, dtype=torch.long, device=k.device)
        if slots.shape != (k.shape[0],):
            raise ValueError(f"slots must be (N,) = ({k.shape[0]},), got {tuple(slots.shape)}")
        if len(slots) and (slots.min() < 0 or slots.max() >= self.num_slots):
            raise ValueError(f"slots must be in [0, {self.num_slots}), got {slots.min().item()}..{slots.max().item()}")
        blocks, offsets = slots // self.block_size, slots % self.block_size
        self.k[layer][blocks, :, offsets] = k.to(self.k[layer].dtype)        # (N, H_kv, D) at (block, ·, offset)
        self.v[layer][blocks, :, offsets] = v.to(self.v[layer].dtype)

    def gather(self, layer: int, block_tables: Sequence[Sequence[int]], lengths: Sequence[int]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys and values of B sequences, padded: (B, H_kv, S, D) twice and a (B, S) mask of real tokens.

        S is the longest table's blocks × block_size; sequence b's tokens are
        its first ``lengths[b]`` positions (True in the mask).
        """
        if len(block_tables) != len(lengths):
            raise ValueError(f"block_tables ({len(block_tables)}) and lengths ({len(lengths)}) need one entry "
                             "per sequence")
        n_max = max(len(t) for t in block_tables)
        table = torch.zeros(len(block_tables), n_max, dtype=torch.long)      # padding points at block 0, masked
        for b, (t, n) in enumerate(zip(block_tables, lengths)):
            if not 0 < n <= len(t) * self.block_size:
                raise ValueError(f"sequence {b}: length {n} does not fit its {len(t)} blocks of {self.block_size}")
            table[b, :len(t)] = torch.as_tensor(t, dtype=torch.long)
        table = table.to(self.k[layer].device)
        b, h, d = len(block_tables), self.n_kv_head, self.head_dim
        # (B, n_max, H_kv, block_size, D) -> (B, H_kv, n_max · block_size, D): logical order, one copy
        k = self.k[layer][table].permute(0, 2, 1, 3, 4).reshape(b, h, n_max * self.block_size, d)
        v = self.v[layer][table].permute(0, 2, 1, 3, 4).reshape(b, h, n_max * self.block_size, d)
        positions = torch.arange(n_max * self.block_size, device=k.device)
        mask = positions < torch.as_tensor(lengths, device=k.device)[:, None]
        return k, v, mask

    def copy_block(self, src: int, dst: int) -> None:
        """Copy block ``src`` to ``dst`` in every layer (the copy of copy-on-write)."""
        for t in self.k + self.v:
            t[dst] = t[src]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v)


class ContiguousKVCache:
    """One ``max_len`` row per batch slot: (num_slots, H_kv, max_len, D) per layer, allocated up front.

    The layout of a server without paging (and of :class:`book.nn.attention.KVCache`
    with a batch): a sequence in batch slot s writes position t at row s, column t,
    and every slot holds ``max_len`` positions whether it uses them or not.
    Taught in p6-2.3.
    """

    def __init__(self, n_layer: int, num_slots: int, max_len: int, n_kv_head: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        self.k, self.v = _layer_storage(n_layer, {"num_slots": num_slots, "max_len": max_len},
                                        n_kv_head, head_dim, dtype, device)
        self.n_layer, self.num_slots, self.max_len = n_layer, num_slots, max_len
        self.n_kv_head, self.head_dim = n_kv_head, head_dim

    def write(self, layer: int, rows: torch.Tensor, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor
              ) -> None:
        """Store the keys/values k, v (N, H_kv, D) of N tokens at (batch slot ``rows[i]``, ``positions[i]``)."""
        _check_kv("write", k, v, self.n_kv_head, self.head_dim)
        rows = torch.as_tensor(rows, dtype=torch.long, device=k.device)
        positions = torch.as_tensor(positions, dtype=torch.long, device=k.device)
        if rows.shape != (k.shape[0],) or positions.shape != (k.shape[0],):
            raise ValueError(f"rows and positions must be (N,) = ({k.shape[0]},), got {tuple(rows.shape)} and "
                             f"{tuple(positions.shape)}")
        if len(rows) and (rows.min() < 0 or rows.max() >= self.num_slots):
            raise ValueError(f"rows must be in [0, {self.num_slots}), got {rows.min().item()}..{rows.max().item()}")
        if len(rows) and (positions.min() < 0 or positions.max() >= self.max_len):
            raise ValueError(f"positions must be in [0, max_len={self.max_len}), got "
                             f"{positions.min().item()}..{positions.max().item()}")
        self.k[layer][rows, :, positions] = k.to(self.k[layer].dtype)        # (N, H_kv, D) at (row, ·, position)
        self.v[layer][rows, :, positions] = v.to(self.v[layer].dtype)

    def gather(self, layer: int, slots: Sequence[int], lengths: Sequence[int], pad_to: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys and values of the sequences in ``slots``: (B, H_kv, S, D) twice and a (B, S) mask.

        S is ``pad_to`` (default: the longest length); positions past a
        sequence's length are masked out.
        """
        if len(slots) != len(lengths):
            raise ValueError(f"slots ({len(slots)}) and lengths ({len(lengths)}) need one entry per sequence")
        s = max(lengths) if pad_to is None else pad_to
        if not max(lengths) <= s <= self.max_len:
            raise ValueError(f"pad_to={s} must lie in [longest length {max(lengths)}, max_len={self.max_len}]")
        rows = torch.as_tensor(list(slots), dtype=torch.long, device=self.k[layer].device)
        k, v = self.k[layer][rows, :, :s], self.v[layer][rows, :, :s]
        mask = torch.arange(s, device=k.device) < torch.as_tensor(lengths, device=k.device)[:, None]
        return k, v, mask

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v)
