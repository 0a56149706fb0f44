"""Exercise checkers for p6-2 (continuous batching and the paged KV cache).

The references are the package's own: the waste equation of p6-2.1 computed
from block counts, a step-by-step simulation of continuous batching (which the
engine's step count equals when memory is not the limit), and the
:class:`book.serving.block_manager.BlockManager` with prefix sharing. Inputs
are awkward on purpose: empty sequences and workloads, one slot, more slots
than requests, block size 1, prompts that are exact repeats or that differ
only in their last token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from book.exercises import passed
from book.serving.block_manager import BlockManager


def paged_waste_reference(lengths: Sequence[int], block_size: int) -> float:
    """(allocated − used) / allocated for sequences of these lengths in blocks of ``block_size``; 0 if empty."""
    allocated = sum(-(-n // block_size) * block_size for n in lengths)
    return (allocated - sum(lengths)) / allocated if allocated else 0.0


def continuous_steps_reference(output_lens: Sequence[int], num_slots: int) -> int:
    """Engine steps of continuous batching: each running request gains a token per step; FCFS refills."""
    waiting, running, steps = list(output_lens), [], 0
    while waiting or running:
        while waiting and len(running) < num_slots:
            running.append(waiting.pop(0))
        steps += 1
        running = [r - 1 for r in running if r > 1]
    return steps


def shared_blocks_reference(prompts: Sequence[Sequence[int]], block_size: int) -> int:
    """Distinct blocks that hold all ``prompts`` at once, allocated in order, with prefix sharing."""
    bm = BlockManager(sum(-(-len(p) // block_size) for p in prompts) or 1, block_size, prefix_sharing=True)
    for i, p in enumerate(prompts):
        bm.allocate(i, list(p))
    return bm.num_used


def check_paged_waste(fn: Callable[[Sequence[int], int], float]) -> None:
    """``fn(lengths, block_size)`` -> the fraction of allocated token slots that hold no token."""
    cases = [("one full block", [4], 4), ("one token in a block of 4", [1], 4), ("block size 1", [7, 3, 11], 1),
             ("a mix", [5, 16, 17, 2, 9], 8), ("an empty sequence among others", [0, 6, 3], 4),
             ("no sequences at all", [], 16), ("long sequences, big blocks", [1823, 781, 40], 16)]
    for name, lengths, b in cases:
        want, got = paged_waste_reference(lengths, b), float(fn(list(lengths), b))
        if lengths and abs(got - (b - 1) / 2 * len(lengths) / sum(lengths)) < 1e-12 and abs(got - want) > 1e-12:
            raise AssertionError(f"{name}: got the average (B − 1)/2 per sequence estimate {got:.4f}; "
                                 "count the slots of the last, partly filled block of each sequence exactly")
        assert abs(got - want) < 1e-12, (
            f"{name} (lengths {lengths}, block_size {b}): waste {got:.4f}, expected {want:.4f} = "
            "(Σ B·⌈n/B⌉ − Σ n) / Σ B·⌈n/B⌉, and 0 when nothing is allocated")
    passed("paged-cache waste correct, with empty sequences, block size 1 and an empty workload")


def check_continuous_steps(fn: Callable[[Sequence[int], int], int]) -> None:
    """``fn(output_lens, num_slots)`` -> engine steps until continuous batching has served every request."""
    cases = [("one request", [5], 4), ("one slot", [3, 1, 2], 1), ("more slots than requests", [2, 7], 8),
             ("a long request first", [30, 2, 2, 2, 2, 2], 2), ("a long request last", [2, 2, 2, 2, 2, 30], 2),
             ("no requests", [], 4), ("a mix", [1, 8, 3, 3, 12, 1, 1, 5, 9, 2, 2, 6], 3)]
    for name, lens, s in cases:
        want, got = continuous_steps_reference(lens, s), int(fn(list(lens), s))
        static = sum(max(lens[i:i + s]) for i in range(0, len(lens), s))
        if got == static and got != want:
            raise AssertionError(f"{name}: got {got}, the static-batching count (each batch waits for its "
                                 f"longest request); continuous batching refills a slot the step after it frees")
        assert got == want, (f"{name} (lengths {lens}, {s} slots): {got} steps, expected {want}; a request "
                             "of n tokens occupies its slot for n steps, and waiting requests enter in order")
    passed("continuous-batching step counts correct, incl. one slot, spare slots and no requests")


def check_shared_blocks(fn: Callable[[Sequence[Sequence[int]], int], int]) -> None:
    """``fn(prompts, block_size)`` -> distinct blocks holding all prompts at once with prefix sharing."""
    system = list(range(10, 22))
    cases = [("no sharing possible", [[1, 2, 3], [4, 5, 6]], 2),
             ("a common system prompt", [system + [1, 2], system + [3], system + [4, 5, 6]], 4),
             ("exact repeats", [system, system, system], 4),
             ("differing only in the last token", [[1, 2, 3, 4], [1, 2, 3, 5]], 2),
             ("the same tokens at another position", [[7, 7, 1, 2], [1, 2, 7, 7]], 2),
             ("block size 1", [[3, 1, 4, 1, 5], [3, 1, 4, 9], [3, 1]], 1),
             ("a prompt shorter than a block", [[1], [1], [1, 2]], 4)]
    for name, prompts, b in cases:
        want, got = shared_blocks_reference(prompts, b), int(fn([list(p) for p in prompts], b))
        naive = sum(-(-len(p) // b) for p in prompts)
        assert got == want, (
            f"{name} (block_size {b}): {got} blocks, expected {want} (without sharing: {naive}); share a "
            "prompt's leading full blocks that an earlier prompt already holds, matching the whole prefix "
            "up to the block, and never the block of a prompt's last token")
    passed("prefix-shared block counts correct, incl. exact repeats and shifted copies")
