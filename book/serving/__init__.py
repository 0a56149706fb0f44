"""The book's serving engine: many requests, one model, laid out the way vLLM, SGLang and TGI are.

A request enters, waits, runs and leaves through five parts, one module each:

- :mod:`book.serving.request` — :class:`Request` (id, prompt ids, sampling
  parameters, a per-token callback for streaming) and :class:`SamplingParams`;
- :mod:`book.serving.scheduler` — the waiting queue and the batch slots;
  static or continuous batching; preemption by recompute when memory runs out;
- :mod:`book.serving.block_manager` — the KV cache's fixed-size blocks: a free
  pool with reference counts, one block table per sequence, prefix sharing,
  fork and copy-on-write;
- :mod:`book.serving.kv_cache` — the tensors: a paged cache in the layout of
  the Triton decode kernel of :mod:`book.kernels.paged_attention`, and a
  contiguous max-length cache to compare with;
- :mod:`book.serving.engine` — the model runner (prefill and batched decode
  of :class:`book.nn.gpt.GPT` over either cache), sampling through
  :func:`book.inference.sampling.sample`, and :class:`Engine`, whose
  ``step()`` is the serving loop.

Taught in p6-2 (continuous batching and the paged KV cache).

>>> from book.serving import Engine, EngineConfig, SamplingParams
>>> EngineConfig(policy="continuous", cache="paged").block_size
4
"""

from book.serving.block_manager import BlockManager, OutOfBlocksError
from book.serving.engine import Engine, EngineConfig, EngineStats, ModelRunner, Segment
from book.serving.kv_cache import ContiguousKVCache, PagedKVCache
from book.serving.request import Request, SamplingParams
from book.serving.scheduler import Scheduler, SchedulerOutput

__all__ = ["BlockManager", "ContiguousKVCache", "Engine", "EngineConfig", "EngineStats", "ModelRunner",
           "OutOfBlocksError", "PagedKVCache", "Request", "SamplingParams", "Scheduler", "SchedulerOutput",
           "Segment"]
