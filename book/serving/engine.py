"""The model runner and the engine loop: the book's GPT serving many requests at once.

:class:`ModelRunner` runs the layers of a :class:`book.nn.gpt.GPT` (its own
modules, so any trained checkpoint serves unchanged) against a KV cache of
the serving engine: *prefill* feeds a request's uncached tokens and returns
the logits of its last one; *decode* feeds one token for each of B running
requests in a single batched forward pass. Each layer writes the new keys
and values into the cache and gathers every sequence's context from it
(padded, with a mask that is causal in each sequence's own positions), so
requests of different lengths share one batch. :class:`Engine` puts a
:class:`~book.serving.scheduler.Scheduler`, a
:class:`~book.serving.block_manager.BlockManager` and the cache around it:
:meth:`Engine.step` schedules, prefills, decodes, samples one token per
running request, streams it to the request's callback and retires finished
requests. It records what a Gantt chart, a memory plot and a latency table
need: which request held which slot when (:attr:`Engine.segments`), the
KV-cache slots allocated and used after every step, and wall-clock times.

The engine is single-threaded; a server calls :meth:`Engine.add_request`,
:meth:`Engine.abort` and :meth:`Engine.step` from one loop (or under one
lock). Taught in p6-2.2 (the loop), p6-2.3 (the paged cache) and p6-2.4
(prefix sharing, preemption).

>>> import torch
>>> from book.nn.gpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, d_model=16, n_head=2)).double()
>>> engine = Engine(model, EngineConfig(num_slots=2, block_size=4))
>>> reqs = [engine.add_request([1, 2, 3], SamplingParams(max_tokens=5)) for _ in range(3)]
>>> done = engine.run()
>>> ref = model.generate(torch.tensor([[1, 2, 3]]), 5, temperature=0)[0, 3:].tolist()
>>> all(r.output_ids == ref for r in reqs), engine.block_manager.num_free == engine.block_manager.num_blocks
(True, True)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from book.inference.sampling import sample
from book.nn.gpt import GPT
from book.nn.layers import apply_rope
from book.serving.block_manager import BlockManager
from book.serving.kv_cache import ContiguousKVCache, PagedKVCache
from book.serving.request import FINISHED, RUNNING, Request, SamplingParams
from book.serving.scheduler import POLICIES, Scheduler

CACHES = ("paged", "contiguous")


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs; defaults suit the tiny GPT on a CPU. Taught in p6-2.2.

    ``num_slots`` is the most requests that run at once (vLLM's
    ``max_num_seqs``). ``num_blocks=None`` gives the paged cache room for
    ``num_slots`` full-length sequences, so it never preempts; fewer blocks
    trade memory for preemptions. vLLM's defaults, for scale: block_size 16,
    max_num_seqs 256, and as many blocks as fit in 90 % of the GPU's memory.
    """

    num_slots: int = 8
    policy: str = "continuous"              # or "static"
    cache: str = "paged"                    # or "contiguous"
    block_size: int = 4                     # tokens per KV block (a power of two for the Triton kernel)
    num_blocks: int | None = None
    prefix_sharing: bool = False
    max_model_len: int | None = None        # None: the model's block_size (its context length)

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.cache not in CACHES:
            raise ValueError(f"cache must be one of {CACHES}, got {self.cache!r}")
        for name in ("num_slots", "block_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.num_blocks is not None and (not isinstance(self.num_blocks, int) or self.num_blocks < 1):
            raise ValueError(f"num_blocks must be a positive int or None, got {self.num_blocks!r}")
        if self.cache == "contiguous" and (self.prefix_sharing or self.num_blocks is not None):
            raise ValueError("prefix_sharing and num_blocks need cache='paged'; a contiguous cache has no blocks")


@dataclass
class Segment:
    """A stretch of engine steps [start, end) during which a request held a batch slot (a Gantt bar)."""

    request_id: str
    slot: int
    start: int
    end: int | None = None
    end_reason: str | None = None          # "finished", "preempted" or "aborted"


@dataclass
class EngineStats:
    """Counters and per-step logs. Deterministic ones (counts) first, wall-clock last."""

    steps: int = 0
    generated_tokens: int = 0
    prefill_tokens: int = 0                # tokens fed by prefills (recomputes included)
    cached_tokens: int = 0                 # prefill tokens found in shared blocks instead
    preemptions: int = 0
    kv_allocated: list[int] = field(default_factory=list)   # token slots reserved, after each step
    kv_used: list[int] = field(default_factory=list)        # token slots holding a key/value, after each step
    blocks_used: list[int] = field(default_factory=list)    # paged: distinct blocks in use, after each step
    running: list[int] = field(default_factory=list)        # requests in the batch, each step
    step_seconds: list[float] = field(default_factory=list)

    @property
    def kv_waste(self) -> float:
        """(allocated − used) / allocated over all steps: Eq. (p6-2-waste)."""
        alloc = sum(self.kv_allocated)
        return (alloc - sum(self.kv_used)) / alloc if alloc else 0.0

    @property
    def tokens_per_step(self) -> float:
        return self.generated_tokens / self.steps if self.steps else 0.0


class ModelRunner:
    """Prefill and batched decode of a GPT over a paged or contiguous KV cache. Taught in p6-2.3.

    ``cache`` is a :class:`PagedKVCache` (with ``block_manager`` giving each
    sequence's slots) or a :class:`ContiguousKVCache` (with ``rows`` giving
    each sequence's batch slot). Positions beyond a sequence's own are masked,
    so one forward pass serves sequences of any mix of lengths.
    """

    def __init__(self, model: GPT, cache: PagedKVCache | ContiguousKVCache, block_manager: BlockManager | None = None):
        if isinstance(cache, PagedKVCache) and block_manager is None:
            raise ValueError("a PagedKVCache needs the block_manager that assigns its blocks")
        self.model, self.cache, self.block_manager = model, cache, block_manager

    @torch.no_grad()
    def forward(self, idx: torch.Tensor, positions: torch.Tensor, seq_ids: Sequence[str],
                rows: Sequence[int]) -> torch.Tensor:
        """Logits (B, V) of the last of T new tokens per sequence; idx and positions are (B, T).

        Row b feeds tokens at ``positions[b]`` (consecutive, ending at the
        sequence's last one) and attends to its positions 0 … positions[b, -1].
        """
        m, cfg = self.model, self.model.cfg
        b, t = idx.shape
        dev = idx.device
        lengths = (positions[:, -1] + 1).tolist()
        s = max(lengths)
        x = m.tok_emb(idx)                                                    # (B, T, C)
        if cfg.positions == "learned":
            x = x + m.pos_emb(positions)
        elif cfg.positions == "sinusoidal":
            x = x + m.pos_table[positions]
        paged = isinstance(self.cache, PagedKVCache)
        if paged:
            bm = self.block_manager
            slots = torch.tensor([bm.slot(sid, p) for sid, row in zip(seq_ids, positions.tolist()) for p in row],
                                 device=dev)                                  # (B·T,) flat cache slots
            tables = [bm.block_table(sid) for sid in seq_ids]
        else:
            flat_rows = torch.tensor(list(rows), device=dev).repeat_interleave(t)
        # key j of sequence b is visible to its query at position p iff j ≤ p (causal; padding lies beyond)
        visible = torch.arange(s, device=dev)[None, None, None, :] <= positions[:, None, :, None]   # (B, 1, T, S)
        for layer, block in enumerate(m.blocks):
            attn = block.attn
            h = block.norm1(x)
            q = attn.q_proj(h).view(b, t, attn.n_head, attn.head_dim).transpose(1, 2)            # (B, H, T, D)
            k, v = attn.kv_proj(h).view(b, t, 2, attn.n_kv_head, attn.head_dim).permute(2, 0, 3, 1, 4)
            if attn.rope:
                cos, sin = attn.rope_cos[positions][:, None], attn.rope_sin[positions][:, None]  # (B, 1, T, D/2)
                q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            k_new = k.transpose(1, 2).reshape(b * t, attn.n_kv_head, attn.head_dim)             # (B·T, H_kv, D)
            v_new = v.transpose(1, 2).reshape(b * t, attn.n_kv_head, attn.head_dim)
            if paged:
                self.cache.write(layer, slots, k_new, v_new)
                keys, values, _ = self.cache.gather(layer, tables, lengths)
                keys, values = keys[:, :, :s], values[:, :, :s]                                 # (B, H_kv, S, D)
            else:
                self.cache.write(layer, flat_rows, positions.reshape(-1), k_new, v_new)
                keys, values, _ = self.cache.gather(layer, rows, lengths)
            group = attn.n_head // attn.n_kv_head
            if group > 1:
                keys, values = keys.repeat_interleave(group, 1), values.repeat_interleave(group, 1)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)              # (B, H, T, D)
            x = x + attn.out_proj(y.transpose(1, 2).reshape(b, t, cfg.d_model))
            x = x + block.mlp(block.norm2(x))
        return m.head(m.norm_f(x[:, -1]))                                                        # (B, V)


class Engine:
    """Continuous (or static) batching of a GPT over a paged (or contiguous) KV cache. Taught in p6-2.2.

    ``add_request`` queues a request and returns its :class:`Request`, whose
    ``output_ids`` fill in as :meth:`step` runs; ``run`` steps until every
    request is done. One step = schedule, copy-on-write copies, prefill of the
    newly admitted requests, one batched decode of the others, sampling, and
    retiring the finished ones: every running request gains exactly one token.
    """

    def __init__(self, model: GPT, cfg: EngineConfig | None = None):
        cfg = cfg or EngineConfig()
        self.model, self.cfg = model.eval(), cfg
        mcfg = model.cfg
        self.max_model_len = cfg.max_model_len or mcfg.block_size
        if not 1 < self.max_model_len <= mcfg.block_size:
            raise ValueError(f"max_model_len must be in [2, the model's block_size={mcfg.block_size}], "
                             f"got {self.max_model_len}")
        n_kv, head_dim = mcfg.n_kv_head or mcfg.n_head, mcfg.d_model // mcfg.n_head
        param = next(model.parameters())
        if cfg.cache == "paged":
            per_seq = -(-self.max_model_len // cfg.block_size)
            num_blocks = cfg.num_blocks if cfg.num_blocks is not None else cfg.num_slots * per_seq
            if num_blocks < per_seq:
                raise ValueError(f"num_blocks={num_blocks} cannot hold one sequence of max_model_len="
                                 f"{self.max_model_len} ({per_seq} blocks of {cfg.block_size})")
            self.block_manager: BlockManager | None = BlockManager(num_blocks, cfg.block_size, cfg.prefix_sharing)
            self.cache: PagedKVCache | ContiguousKVCache = PagedKVCache(
                mcfg.n_layer, num_blocks, cfg.block_size, n_kv, head_dim, param.dtype, param.device)
        else:
            self.block_manager = None
            self.cache = ContiguousKVCache(mcfg.n_layer, cfg.num_slots, self.max_model_len, n_kv, head_dim,
                                           param.dtype, param.device)
        self.runner = ModelRunner(model, self.cache, self.block_manager)
        self.scheduler = Scheduler(cfg.policy, cfg.num_slots, self.block_manager)
        self.stats = EngineStats()
        self.segments: list[Segment] = []
        self.requests: dict[str, Request] = {}
        self._open: dict[str, Segment] = {}
        self._generators: dict[str, torch.Generator] = {}
        self._ids = itertools.count()

    # ---- requests in and out -------------------------------------------------------------------------
    def add_request(self, prompt_ids: Sequence[int] | Request, params: SamplingParams | None = None,
                    request_id: str | None = None, on_token: Callable[[Request, int], None] | None = None
                    ) -> Request:
        """Queue a request (token ids and sampling parameters, or a ready :class:`Request`); return it.

        Raises ValueError, naming the field, for token ids outside the
        vocabulary and for a prompt plus ``max_tokens`` longer than the context.
        """
        if isinstance(prompt_ids, Request):
            req = prompt_ids
        else:
            rid = request_id if request_id is not None else f"req-{next(self._ids)}"
            req = Request(rid, prompt_ids, params or SamplingParams(), on_token)
        if req.request_id in self.requests and not self.requests[req.request_id].finished:
            raise ValueError(f"request id {req.request_id!r} is already in use")
        v = self.model.cfg.vocab_size
        bad = [t for t in req.prompt_ids if not 0 <= t < v]
        if bad:
            raise ValueError(f"prompt_ids: token id {bad[0]} is outside the vocabulary [0, {v})")
        if len(req.prompt_ids) + req.max_tokens > self.max_model_len:
            raise ValueError(f"prompt ({len(req.prompt_ids)} tokens) + max_tokens ({req.max_tokens}) exceeds the "
                             f"context of {self.max_model_len} tokens")
        self.requests[req.request_id] = req
        if req.params.seed is not None:
            self._generators[req.request_id] = torch.Generator(device=next(self.model.parameters()).device
                                                               ).manual_seed(req.params.seed)
        self.scheduler.add(req)
        return req

    def abort(self, request_id: str) -> bool:
        """Stop a request now (a client went away): its slot and blocks are freed at once. False if unknown."""
        req = self.scheduler.abort(request_id)
        if req is None:
            return False
        self._close(req, "aborted")
        req.finish_time = time.perf_counter()
        return True

    def has_unfinished(self) -> bool:
        return self.scheduler.has_unfinished()

    def _close(self, req: Request, reason: str) -> None:
        seg = self._open.pop(req.request_id, None)
        if seg is not None:
            seg.end, seg.end_reason = self.stats.steps, reason

    # ---- one step ------------------------------------------------------------------------------------
    def _sample(self, req: Request, logits: torch.Tensor) -> int:
        p = req.params
        if p.temperature == 0:
            return int(logits.argmax())
        return int(sample(logits[None], p.temperature, p.top_k, p.top_p, self._generators.get(req.request_id))[0])

    def step(self) -> list[tuple[Request, int]]:
        """Run one engine step; return the (request, new token) pairs it produced, in batch order."""
        t0 = time.perf_counter()
        out = self.scheduler.schedule()
        step = self.stats.steps
        for r in out.preempted:
            self._close(r, "preempted")
        self.stats.preemptions += len(out.preempted)
        for src, dst in out.copies:
            self.cache.copy_block(src, dst)
        dev = next(self.model.parameters()).device
        produced: list[tuple[Request, torch.Tensor]] = []
        for r in out.prefills:   # in admission order: a block shared by a later request is written first
            slot = self.scheduler.slot_of[r.request_id]
            seg = Segment(r.request_id, slot, step)
            self.segments.append(seg)
            self._open[r.request_id] = seg
            tokens, cached = r.token_ids, out.cached[r.request_id]
            idx = torch.tensor([tokens[cached:]], device=dev)
            pos = torch.arange(cached, len(tokens), device=dev)[None]
            produced.append((r, self.runner.forward(idx, pos, [r.request_id], [slot])[0]))
            self.stats.prefill_tokens += len(tokens) - cached
            self.stats.cached_tokens += cached
        if out.decodes:
            ids = [r.request_id for r in out.decodes]
            idx = torch.tensor([[r.output_ids[-1]] for r in out.decodes], device=dev)      # (B, 1)
            pos = torch.tensor([[r.num_tokens - 1] for r in out.decodes], device=dev)      # (B, 1)
            logits = self.runner.forward(idx, pos, ids, [self.scheduler.slot_of[i] for i in ids])
            produced.extend(zip(out.decodes, logits))
        running = self.scheduler.running
        self.stats.running.append(len(running))
        if self.block_manager is not None:
            self.stats.kv_used.append(sum(self.block_manager.num_tokens(r.request_id) for r in running))
            self.stats.kv_allocated.append(self.block_manager.num_used * self.cfg.block_size)
            self.stats.blocks_used.append(self.block_manager.num_used)
        else:
            self.stats.kv_used.append(sum(r.num_tokens for r in running))     # every token fed is in the cache
            self.stats.kv_allocated.append(len(running) * self.max_model_len)
        now = time.perf_counter()
        results = []
        for r, logits in produced:
            if r.status != RUNNING:                           # aborted by an earlier callback of this step
                continue
            token = self._sample(r, logits)
            r.output_ids.append(token)
            if r.first_token_time is None:
                r.first_token_time = now
            self.stats.generated_tokens += 1
            results.append((r, token))
            if r.on_token is not None:
                r.on_token(r, token)
            if token in r.params.stop_token_ids or len(r.output_ids) >= r.max_tokens:
                r.finish_reason = "stop" if token in r.params.stop_token_ids else "length"
                if r.status == RUNNING:                       # the callback may have aborted it
                    self.scheduler.finish(r)
                    r.status = FINISHED
                    r.finish_time = now
            if r.status != RUNNING:
                self._close(r, "finished" if r.status == FINISHED else "aborted")
        self.stats.steps += 1
        self.stats.step_seconds.append(time.perf_counter() - t0)
        return results

    def run(self, max_steps: int | None = None) -> list[Request]:
        """Step until no request is waiting or running (or ``max_steps``); return the requests, by id order."""
        n = 0
        while self.has_unfinished() and (max_steps is None or n < max_steps):
            self.step()
            n += 1
        return list(self.requests.values())

    def generate(self, prompts: Iterable[Sequence[int]], params: SamplingParams | Sequence[SamplingParams]
                 ) -> list[list[int]]:
        """Offline batch generation: the output token ids of each prompt, in order."""
        prompts = list(prompts)
        plist = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(plist) != len(prompts):
            raise ValueError(f"params: {len(plist)} SamplingParams for {len(prompts)} prompts")
        reqs = [self.add_request(p, sp) for p, sp in zip(prompts, plist)]
        self.run()
        return [r.output_ids for r in reqs]
