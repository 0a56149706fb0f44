"""The scheduler: which requests run in the next engine step, in which batch slot, and who is preempted.

Two policies over the same ``num_slots`` batch slots:

- ``"static"``: a batch is admitted only when every slot is empty, and it
  runs until its longest request finishes; a slot whose request ends early
  sits idle (the request-level batching of a plain server);
- ``"continuous"`` (iteration-level, or in-flight, batching, as in Orca and
  vLLM): every step, free slots are refilled from the waiting queue at once.

With a paged cache (a :class:`~book.serving.block_manager.BlockManager`)
memory can run out while requests grow. Before each step every running
request reserves the slot of the token it will write; when no block is left
the most recently admitted request is **preempted by recompute**: its blocks
are freed, it goes back to the front of the waiting queue with the tokens it
has produced so far, and when it is admitted again its prompt and those
tokens are prefilled anew. Nothing is lost, and no new request is admitted in
a step that preempted one (that would only evict it again). Taught in p6-2.2
and p6-2.4.

>>> from book.serving.request import Request, SamplingParams
>>> s = Scheduler("static", num_slots=2)
>>> for i in range(3):
...     s.add(Request(f"r{i}", [1, 2], SamplingParams(max_tokens=4)))
>>> out = s.schedule()
>>> [r.request_id for r in out.prefills], s.num_waiting
(['r0', 'r1'], 1)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from book.serving.block_manager import BlockManager, OutOfBlocksError
from book.serving.request import ABORTED, RUNNING, WAITING, Request

POLICIES = ("static", "continuous")


@dataclass
class SchedulerOutput:
    """One step's plan: requests to prefill (with their cached prefix lengths), to decode, and preempted."""

    prefills: list[Request] = field(default_factory=list)
    cached: dict[str, int] = field(default_factory=dict)      # request id -> leading tokens already in the cache
    decodes: list[Request] = field(default_factory=list)
    preempted: list[Request] = field(default_factory=list)
    copies: list[tuple[int, int]] = field(default_factory=list)   # copy-on-write (source, destination) blocks


class Scheduler:
    """A waiting queue, the running requests with their batch slots, and a policy. Taught in p6-2.2.

    ``block_manager`` is None for a contiguous cache, whose slots each hold a
    full-length row, so memory never runs out and nothing is preempted.
    """

    def __init__(self, policy: str, num_slots: int, block_manager: BlockManager | None = None):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if not isinstance(num_slots, int) or num_slots < 1:
            raise ValueError(f"num_slots must be a positive int, got {num_slots!r}")
        self.policy, self.num_slots, self.block_manager = policy, num_slots, block_manager
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []           # in admission order: the last is preempted first
        self.slot_of: dict[str, int] = {}
        self._free_slots = list(range(num_slots))

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running)

    def add(self, request: Request) -> None:
        if any(r.request_id == request.request_id for r in (*self.waiting, *self.running)):
            raise ValueError(f"request id {request.request_id!r} is already queued or running")
        request.status = WAITING
        self.waiting.append(request)

    def _release(self, request: Request) -> None:
        self.running.remove(request)
        self._free_slots.append(self.slot_of.pop(request.request_id))
        self._free_slots.sort()
        if self.block_manager is not None:
            self.block_manager.free(request.request_id)

    def finish(self, request: Request) -> None:
        """Take a finished request out of its slot and return its blocks."""
        self._release(request)

    def abort(self, request_id: str) -> Request | None:
        """Remove a waiting or running request (its slot and blocks are freed); None if unknown."""
        for r in self.waiting:
            if r.request_id == request_id:
                self.waiting.remove(r)
                r.status, r.finish_reason = ABORTED, "abort"
                return r
        for r in self.running:
            if r.request_id == request_id:
                self._release(r)
                r.status, r.finish_reason = ABORTED, "abort"
                return r
        return None

    def _preempt(self, request: Request) -> None:
        self._release(request)
        request.status = WAITING
        request.num_preemptions += 1
        self.waiting.appendleft(request)           # first in line: it was admitted before the others waiting

    def schedule(self) -> SchedulerOutput:
        """Plan one step: reserve every running request's next slot (preempting if needed), then admit."""
        out = SchedulerOutput()
        bm = self.block_manager
        if bm is not None:
            for r in list(self.running):
                while r in self.running:
                    try:
                        copy = bm.append_slot(r.request_id)
                    except OutOfBlocksError:
                        victim = self.running[-1]
                        self._preempt(victim)
                        out.preempted.append(victim)
                        continue
                    if copy is not None:
                        out.copies.append(copy)
                    break
        out.decodes = list(self.running)
        if out.preempted or (self.policy == "static" and self.running):
            return out
        while self.waiting and self._free_slots:
            r = self.waiting[0]
            if bm is not None and not bm.can_allocate(r.token_ids):
                break                              # first come, first served: no overtaking
            self.waiting.popleft()
            out.cached[r.request_id] = bm.allocate(r.request_id, r.token_ids) if bm is not None else 0
            self.slot_of[r.request_id] = self._free_slots.pop(0)
            r.status = RUNNING
            self.running.append(r)
            out.prefills.append(r)
        return out
