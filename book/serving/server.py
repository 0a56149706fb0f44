"""An OpenAI-compatible HTTP server for the engine: ``/v1/completions`` (streamed as server-sent events) and models.

Three parts, the way vLLM's API server is laid out:

* :class:`EngineLoop` — one background thread that owns the
  :class:`~book.serving.engine.Engine` (which is single-threaded). Requests
  and aborts enter through a thread-safe queue; the thread adds them, runs
  :meth:`Engine.step` while anything is unfinished, and hands each new token
  to the request's sink as soon as it exists.
* :func:`parse_completion_request` — the JSON body of a completion request
  checked field by field; anything wrong raises :class:`APIError`, which the
  app turns into HTTP 400 with an OpenAI-style body
  ``{"error": {"message", "type", "param", "code"}}``.
* :func:`create_app` — a Starlette ASGI app. A streaming request gets an
  asyncio queue that the engine thread fills through
  ``loop.call_soon_threadsafe``; every token becomes one ``data: {...}``
  event, and ``data: [DONE]`` ends the stream. When a client disconnects
  mid-stream the response is cancelled and the request is aborted, so its
  slot and KV blocks go back to the pool at once.

:func:`serve_in_thread` runs the app under uvicorn in a background thread on
a free loopback port (a notebook or a test talks to it with the official
``openai`` client); ``python -m book.serving --port 8000`` runs it in the
foreground (see :mod:`book.serving.__main__`). Taught in p6-3.5 (the API)
and p6-3.6 (under load and bad input).

>>> tok = WordTokenizer(["the cat sat ."])
>>> ids, params, stream = parse_completion_request(
...     {"model": "m", "prompt": "the cat", "max_tokens": 2, "temperature": 0, "stream": True},
...     model_name="m", tokenizer=tok, max_model_len=8)
>>> ids, params.max_tokens, stream
([4, 2], 2, True)
>>> parse_completion_request({"model": "m", "prompt": "the", "max_tokens": -1}, "m", tok, 8)
Traceback (most recent call last):
...
book.serving.server.APIError: max_tokens must be a positive integer, got -1
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from book.serving.engine import Engine
from book.serving.request import SamplingParams
from book.tokenizers import WordTokenizer

Sink = Callable[[str, Any], None]      # sink(kind, payload): ("token", id), ("done", finish_reason), ("error", message)


# ---- the engine thread ---------------------------------------------------------------------------------
class EngineLoop:
    """The one thread that drives an :class:`Engine`; everything else talks to it through a queue. Taught in p6-3.5.

    :meth:`submit` and :meth:`abort` may be called from any thread. The sink
    of a request is called *on the engine thread*, so it must only hand the
    event on (the app uses ``loop.call_soon_threadsafe``). :meth:`call` runs a
    function on the engine thread and returns its result: the safe way to
    read the engine's counters while it serves.
    """

    def __init__(self, engine: Engine, idle_wait: float = 0.05):
        self.engine = engine
        self._inbox: queue.Queue = queue.Queue()
        self._sinks: dict[str, Sink] = {}
        self._stop = threading.Event()
        self._idle_wait = idle_wait
        self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)

    def start(self) -> EngineLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._inbox.put(("wake",))
        self._thread.join(timeout)

    def submit(self, request_id: str, prompt_ids: list[int], params: SamplingParams, sink: Sink) -> None:
        self._inbox.put(("add", request_id, prompt_ids, params, sink))

    def abort(self, request_id: str) -> None:
        self._inbox.put(("abort", request_id))

    def call(self, fn: Callable[[Engine], Any], timeout: float = 10.0) -> Any:
        fut: Future = Future()
        self._inbox.put(("call", fn, fut))
        return fut.result(timeout)

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "add":
            _, rid, prompt_ids, params, sink = item
            try:
                self.engine.add_request(prompt_ids, params, request_id=rid,
                                        on_token=lambda r, t, sink=sink: sink("token", t))
            except ValueError as e:                     # the app checks first; this is the engine's last word
                sink("error", str(e))
                return
            self._sinks[rid] = sink
        elif kind == "abort":
            sink = self._sinks.pop(item[1], None)
            if sink is not None and self.engine.abort(item[1]):
                self.engine.requests.pop(item[1], None)
                sink("done", "abort")
        elif kind == "call":
            _, fn, fut = item
            try:
                fut.set_result(fn(self.engine))
            except Exception as e:                      # handed back to the caller's thread
                fut.set_exception(e)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:                                        # block only when there is nothing to step
                item = self._inbox.get(timeout=self._idle_wait) if not self.engine.has_unfinished() \
                    else self._inbox.get_nowait()
                self._handle(item)
                while True:
                    self._handle(self._inbox.get_nowait())
            except queue.Empty:
                pass
            if self.engine.has_unfinished():
                for req, _ in self.engine.step():
                    if req.finished:
                        sink = self._sinks.pop(req.request_id, None)
                        self.engine.requests.pop(req.request_id, None)   # a long-running server keeps no history
                        if sink is not None:
                            sink("done", req.finish_reason)


# ---- request checking ----------------------------------------------------------------------------------
class APIError(ValueError):
    """A bad request: becomes HTTP ``status`` with ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.code, self.status, self.type = message, param, code, status, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _number(body: dict, name: str, default: float | None, lo: float, hi: float, lo_open: bool = False):
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (lo < value if lo_open else lo <= value) and value <= hi):
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise APIError(f"{name} must be a number in {interval}, got {value!r}", param=name)
    return float(value)


def parse_completion_request(body: object, model_name: str, tokenizer: WordTokenizer, max_model_len: int
                             ) -> tuple[list[int], SamplingParams, bool]:
    """Check an OpenAI completion request; return (prompt ids, sampling parameters, stream). Taught in p6-3.6.

    ``prompt`` is a string or a list of token ids; ``max_tokens`` (default 16),
    ``temperature`` (default 1, in [0, 2]; 0 is greedy), ``top_p``, ``seed``,
    ``stream`` follow the OpenAI API. Raises :class:`APIError` naming the field.
    """
    if not isinstance(body, dict):
        raise APIError("the request body must be a JSON object")
    model = body.get("model")
    if model != model_name:
        raise APIError(f"The model {model!r} does not exist; this server serves {model_name!r}",
                       param="model", code="model_not_found")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        try:
            ids = tokenizer.encode(prompt)
        except ValueError as e:
            raise APIError(f"prompt: {e}", param="prompt") from None
    elif isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        ids = list(prompt)
        bad = [t for t in ids if not 0 <= t < tokenizer.vocab_size]
        if bad:
            raise APIError(f"prompt: token id {bad[0]} is outside the vocabulary [0, {tokenizer.vocab_size})",
                           param="prompt")
    else:
        raise APIError("prompt must be a string or a list of token ids (one prompt per request)", param="prompt")
    if not ids:
        raise APIError("prompt must hold at least one token", param="prompt")
    max_tokens = body.get("max_tokens", 16)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise APIError(f"max_tokens must be a positive integer, got {max_tokens!r}", param="max_tokens")
    if len(ids) + max_tokens > max_model_len:
        raise APIError(f"This model's maximum context length is {max_model_len} tokens. However, you requested "
                       f"{len(ids) + max_tokens} tokens ({len(ids)} in the prompt, {max_tokens} in the completion).",
                       param="prompt", code="context_length_exceeded")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", None, 0.0, 1.0, lo_open=True)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise APIError(f"seed must be an integer, got {seed!r}", param="seed")
    if body.get("n", 1) != 1:
        raise APIError(f"n must be 1 on this server, got {body.get('n')!r}", param="n")
    for unsupported in ("stop", "logprobs", "echo", "suffix"):
        if body.get(unsupported):
            raise APIError(f"{unsupported} is not supported by this server", param=unsupported)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(f"stream must be true or false, got {stream!r}", param="stream")
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p if top_p != 1 else None,
                            seed=seed)
    return ids, params, stream


def completion_text(tokenizer: WordTokenizer, prompt_ids: list[int], output_ids: list[int]) -> str:
    """The text the completion adds to the prompt (with its leading space), as the API returns it."""
    return tokenizer.decode(prompt_ids + output_ids)[len(tokenizer.decode(prompt_ids)):]


# ---- the ASGI app --------------------------------------------------------------------------------------
class _EventStream(StreamingResponse):
    """A streaming response that always watches for the client going away and then closes its generator.

    Closing the generator runs its ``finally``, which aborts the request.
    """

    def __init__(self, content):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope, receive, send) -> None:
        try:
            async with anyio.create_task_group() as tg:
                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:                    # the peer closed the socket while we wrote
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(stream)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            await self.body_iterator.aclose()


def create_app(loop: EngineLoop, tokenizer: WordTokenizer, model_name: str = "book-gpt-tiny") -> Starlette:
    """The OpenAI-compatible app over a running :class:`EngineLoop`. Taught in p6-3.5."""
    max_model_len = loop.engine.max_model_len

    def error(e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    async def models(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": model_name, "object": "model", "created": 0, "owned_by": "book",
             "max_model_len": max_model_len}]})

    async def completions(request: HTTPRequest):
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return error(APIError(f"the request body is not valid JSON: {e}", code="invalid_json"))
        try:
            prompt_ids, params, stream = parse_completion_request(body, model_name, tokenizer, max_model_len)
        except (APIError, ValueError) as e:
            return error(e if isinstance(e, APIError) else APIError(str(e)))
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        events: asyncio.Queue = asyncio.Queue()
        aio = asyncio.get_running_loop()

        def sink(kind: str, payload: Any) -> None:       # runs on the engine thread
            aio.call_soon_threadsafe(events.put_nowait, (kind, payload))

        loop.submit(rid, prompt_ids, params, sink)

        def chunk(text: str, finish: str | None, usage: dict | None = None) -> dict:
            out = {"id": rid, "object": "text_completion", "created": created, "model": model_name,
                   "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
            if usage is not None:
                out["usage"] = usage
            return out

        def usage(n: int) -> dict:
            return {"prompt_tokens": len(prompt_ids), "completion_tokens": n, "total_tokens": len(prompt_ids) + n}

        if not stream:
            output: list[int] = []
            try:
                while True:
                    kind, payload = await events.get()
                    if kind == "token":
                        output.append(payload)
                    elif kind == "error":
                        return error(APIError(payload))
                    else:
                        return JSONResponse(chunk(completion_text(tokenizer, prompt_ids, output), payload,
                                                  usage(len(output))))
            except asyncio.CancelledError:
                loop.abort(rid)
                raise

        async def sse():
            output: list[int] = []
            sent = ""
            done = False
            try:
                while True:
                    kind, payload = await events.get()
                    if kind == "token":
                        output.append(payload)
                        text = completion_text(tokenizer, prompt_ids, output)
                        delta, sent = text[len(sent):], text
                        yield f"data: {json.dumps(chunk(delta, None))}\n\n"
                    elif kind == "error":
                        done = True
                        yield f"data: {json.dumps(APIError(payload).body())}\n\n"
                        break
                    else:
                        done = True
                        yield f"data: {json.dumps(chunk('', payload, usage(len(output))))}\n\n"
                        break
                yield "data: [DONE]\n\n"
            finally:
                if not done:                            # the client went away mid-stream: free its slot and blocks
                    loop.abort(rid)

        return _EventStream(sse())

    return Starlette(routes=[Route("/v1/models", models, methods=["GET"]),
                             Route("/v1/completions", completions, methods=["POST"])])


# ---- running it ----------------------------------------------------------------------------------------
@dataclass
class ServerHandle:
    """A server running in a background thread: ``base_url`` for the client, ``stop()`` to shut it down."""

    host: str
    port: int
    loop: EngineLoop
    _server: Any
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"      # loopback only (the default host)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self.loop.stop()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_in_thread(engine: Engine, tokenizer: WordTokenizer, model_name: str = "book-gpt-tiny",
                    host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> ServerHandle:
    """Start the engine thread and uvicorn in a background thread; ``port=0`` picks a free port. Taught in p6-3.5.

    Returns once the socket listens; the handle's ``port`` is the one bound.
    """
    import uvicorn

    loop = EngineLoop(engine).start()
    app = create_app(loop, tokenizer, model_name)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            loop.stop()
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(host, bound, loop, server, thread)


def tiny_model(steps: int = 200, seed: int = 0, context: int = 112):
    """The §2 tiny GPT trained for ``steps`` steps on the stories corpus (seconds on a CPU), served in float64.

    Returns (model, tokenizer). ``steps=0`` gives the untrained model, for tests.
    """
    import torch

    from book.data import stories
    from book.nn.gpt import GPT, GPTConfig
    from book.train import TrainConfig, train_lm

    tok = WordTokenizer(stories.VOCAB)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=context, n_layer=2, n_head=4, d_model=64))
    if steps:
        ids = torch.tensor(tok.encode(stories.text(1500, seed=seed)))
        train_lm(model, ids, TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=20), show_progress=False)
    return model.eval().double(), tok
