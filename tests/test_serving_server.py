"""The OpenAI-compatible server: 32 concurrent streams through the official client, bad input, disconnects, throughput.

The server runs in a background thread on a free loopback port (the network
guard of the test run allows loopback only), serving an untrained tiny GPT in
float64, so that greedy tokens cannot depend on which requests share a batch.
"""

import asyncio
import json
import time
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest
import torch

from book.data import stories
from book.serving import Engine, EngineConfig, SamplingParams
from book.serving.server import APIError, completion_text, parse_completion_request, serve_in_thread, tiny_model

MODEL, TOK = tiny_model(steps=0)
NAME = "book-gpt-tiny"
SLOTS, BLOCK = 8, 4


def workload(n=32, seed=0):
    rng = np.random.default_rng(seed)
    held = TOK.encode(stories.text(64, seed=1))
    prompts = [held[7 * i:7 * i + int(m)] for i, m in enumerate(rng.integers(3, 20, n))]
    return prompts, [int(m) for m in rng.integers(4, 40, n)]


PROMPTS, OUTS = workload()


def offline():
    engine = Engine(MODEL, EngineConfig(num_slots=SLOTS, block_size=BLOCK))
    t0 = time.perf_counter()
    out = engine.generate(PROMPTS, [SamplingParams(max_tokens=m) for m in OUTS])
    return out, time.perf_counter() - t0, engine.stats


REFERENCE, OFFLINE_SECONDS, OFFLINE_STATS = offline()


@pytest.fixture(scope="module")
def server():
    torch.set_num_threads(1)
    handle = serve_in_thread(Engine(MODEL, EngineConfig(num_slots=SLOTS, block_size=BLOCK)), TOK, NAME)
    yield handle
    handle.stop()
    assert not handle._thread.is_alive()


def pool(handle):
    return handle.loop.call(lambda e: (e.block_manager.num_free, e.block_manager.num_blocks,
                                       len(e.scheduler.running), e.has_unfinished()))


async def stream_one(client, prompt, max_tokens):
    stream = await client.completions.create(model=NAME, prompt=TOK.decode(prompt), max_tokens=max_tokens,
                                             temperature=0, stream=True)
    text, finish = "", None
    async for chunk in stream:
        text += chunk.choices[0].text
        finish = chunk.choices[0].finish_reason or finish
    return text, finish


async def post_raw(url, data: bytes):
    def go():
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    return await asyncio.to_thread(go)


def assert_openai_error(status, body, param=None):
    assert status == 400, (status, body)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param, body


def test_models_and_non_streaming(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == [NAME]
    r = client.completions.create(model=NAME, prompt=TOK.decode(PROMPTS[0]), max_tokens=OUTS[0], temperature=0)
    assert r.choices[0].text == completion_text(TOK, PROMPTS[0], REFERENCE[0])
    assert r.choices[0].finish_reason == "length"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (len(PROMPTS[0]), OUTS[0])


def test_32_concurrent_streams_match_offline_and_bad_requests_leave_them_untouched(server):
    """32 streams and four malformed requests at once: every stream equals the offline engine's text; 4 × 400."""
    url = server.base_url + "/completions"

    async def main():
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        streams = [stream_one(client, p, m) for p, m in zip(PROMPTS, OUTS)]
        bad = [post_raw(url, b'{"model": "book-gpt-tiny", "prompt": "the'),                     # bad JSON
               post_raw(url, json.dumps({"model": "gpt-9", "prompt": "the cat"}).encode()),      # unknown model
               post_raw(url, json.dumps({"model": NAME, "prompt": "the " * 120}).encode()),      # over the context
               post_raw(url, json.dumps({"model": NAME, "prompt": "the", "max_tokens": -3}).encode())]
        t0 = time.perf_counter()
        results = await asyncio.gather(*streams[:16], *bad, *streams[16:])
        return results[:16] + results[20:], results[16:20], time.perf_counter() - t0

    before = server.loop.call(lambda e: (e.stats.steps, e.stats.generated_tokens))
    good, bad, seconds = asyncio.run(main())
    after = server.loop.call(lambda e: (e.stats.steps, e.stats.generated_tokens))
    for (text, finish), p, ref in zip(good, PROMPTS, REFERENCE):
        assert text == completion_text(TOK, p, ref)
        assert finish == "length"
    for (status, body), param in zip(bad, (None, "model", "prompt", "max_tokens")):
        assert_openai_error(status, body, param)
    assert bad[0][1]["error"]["code"] == "invalid_json" and bad[1][1]["error"]["code"] == "model_not_found"
    assert bad[2][1]["error"]["code"] == "context_length_exceeded"
    # Throughput. Tokens per engine step is what batching buys and does not depend on the load of this shared
    # CPU; the wall-clock ratio (client, server and engine share one process and two cores here) is reported.
    steps, tokens = after[0] - before[0], after[1] - before[1]
    assert tokens == sum(OUTS)
    http_tps, offline_tps = tokens / steps, OFFLINE_STATS.tokens_per_step
    assert http_tps >= 0.8 * offline_tps, (http_tps, offline_tps)
    print(f"tokens/step: HTTP {http_tps:.2f} vs in-process {offline_tps:.2f}; tokens/s: HTTP {tokens / seconds:.0f} "
          f"vs in-process {tokens / OFFLINE_SECONDS:.0f} (ratio {OFFLINE_SECONDS / seconds:.2f})")
    assert pool(server) == (server.loop.engine.block_manager.num_blocks, server.loop.engine.block_manager.num_blocks,
                            0, False)


def test_bad_temperature_and_parser_errors(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=NAME, prompt="the", temperature=-1)
    assert err.value.status_code == 400 and err.value.body["param"] == "temperature"
    for body, param in (({"model": NAME, "prompt": "the", "max_tokens": 2.5}, "max_tokens"),
                        ({"model": NAME, "prompt": "the", "max_tokens": True}, "max_tokens"),
                        ({"model": NAME, "prompt": "the zyzzyva"}, "prompt"),
                        ({"model": NAME, "prompt": []}, "prompt"),
                        ({"model": NAME, "prompt": [0, 10**6]}, "prompt"),
                        ({"model": NAME, "prompt": "the", "temperature": "hot"}, "temperature"),
                        ({"model": NAME, "prompt": "the", "n": 3}, "n"),
                        ([1, 2], None)):
        with pytest.raises(APIError) as e:
            parse_completion_request(body, NAME, TOK, 112)
        assert e.value.param == param and e.value.status == 400


def test_disconnect_mid_stream_frees_slot_and_blocks(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    total = server.loop.engine.block_manager.num_blocks
    stream = client.completions.create(model=NAME, prompt=TOK.decode(PROMPTS[1]), max_tokens=100 - len(PROMPTS[1]),
                                       temperature=0, stream=True)
    chunks = iter(stream)
    next(chunks), next(chunks)
    free, _, running, _ = pool(server)
    assert running == 1 and free < total
    stream.close()                                     # the client goes away mid-stream
    deadline = time.monotonic() + 5
    while pool(server) != (total, total, 0, False) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool(server) == (total, total, 0, False)
    server.loop.call(lambda e: e.block_manager.check_invariants())
    # the server still serves
    again = asyncio.run(stream_one(openai.AsyncOpenAI(base_url=server.base_url, api_key="unused"),
                                   PROMPTS[2], OUTS[2]))
    assert again == (completion_text(TOK, PROMPTS[2], REFERENCE[2]), "length")


def test_seeded_sampling_is_reproducible(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    texts = [client.completions.create(model=NAME, prompt="the cat", max_tokens=6, temperature=1.0, seed=7)
             .choices[0].text for _ in range(2)]
    assert texts[0] == texts[1] and len(texts[0].split()) == 6


def test_main_parser_defaults():
    from book.serving.__main__ import build_parser

    args = build_parser().parse_args(["--port", "8000"])
    assert (args.host, args.port, args.model, args.quant) == ("127.0.0.1", 8000, None, "none")
