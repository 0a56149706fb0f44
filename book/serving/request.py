"""What a client hands the engine: a request with its prompt, its sampling parameters and a token callback.

:class:`SamplingParams` holds the fields of an OpenAI-style completion
request (``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``,
``stop_token_ids``), validated on construction so that a server can turn the
``ValueError`` into a 400 response. :class:`Request` adds the request id and
prompt ids, and collects the engine's state for it: the output tokens, its
status, the reason it finished, how often it was preempted, and wall-clock
times (arrival, first token, finish) for latency measurements. Each new
token is passed to ``on_token(request, token_id)`` as soon as it exists,
which is what a streaming API forwards. Taught in p6-2.2.

>>> r = Request("r0", [3, 1, 4], SamplingParams(max_tokens=2))
>>> r.status, r.num_tokens, r.params.temperature
('waiting', 3, 0.0)
>>> SamplingParams(max_tokens=0)
Traceback (most recent call last):
...
ValueError: max_tokens must be a positive int, got 0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WAITING, RUNNING, FINISHED, ABORTED = "waiting", "running", "finished", "aborted"


@dataclass(frozen=True)
class SamplingParams:
    """How to pick a request's tokens; ``temperature == 0`` (the default) is greedy decoding.

    ``seed`` makes a sampled request reproducible on its own: the engine gives
    each request its own random generator, so its tokens do not depend on
    which other requests share its batch. Taught in p6-2.2.
    """

    max_tokens: int = 16
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {self.max_tokens!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature!r}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k!r}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] or None, got {self.top_p!r}")
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))


@dataclass(eq=False)
class Request:
    """One generation request and the engine's record of it. Taught in p6-2.2.

    ``prompt_ids`` are token ids; ``output_ids`` grows by one token per
    engine step while the request runs. ``finish_reason`` is ``"length"``
    (``max_tokens`` reached, or the model's context is full), ``"stop"`` (a
    stop token) or ``"abort"``.
    """

    request_id: str
    prompt_ids: Sequence[int]
    params: SamplingParams = field(default_factory=SamplingParams)
    on_token: Callable[[Request, int], None] | None = None
    output_ids: list[int] = field(default_factory=list)
    status: str = WAITING
    finish_reason: str | None = None
    num_preemptions: int = 0
    arrival_time: float = field(default_factory=time.perf_counter)
    first_token_time: float | None = None
    finish_time: float | None = None

    def __post_init__(self):
        self.prompt_ids = [int(t) for t in self.prompt_ids]
        if not self.prompt_ids:
            raise ValueError(f"request {self.request_id!r}: prompt_ids must hold at least one token")
        if not isinstance(self.params, SamplingParams):
            raise TypeError(f"params must be a SamplingParams, got {type(self.params).__name__}")

    @property
    def max_tokens(self) -> int:
        return self.params.max_tokens

    @property
    def token_ids(self) -> list[int]:
        """Prompt and output so far: what a recompute after preemption feeds the model."""
        return self.prompt_ids + self.output_ids

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.output_ids)

    @property
    def finished(self) -> bool:
        return self.status in (FINISHED, ABORTED)
