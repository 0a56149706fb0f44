"""The serving engine: identical greedy tokens to GPT.generate for every cache and policy, preemption, abort."""

import pytest
import torch

from book.nn.gpt import GPT, GPTConfig
from book.serving import Engine, EngineConfig, Request, SamplingParams, Scheduler


def make_model(**overrides):
    torch.manual_seed(0)
    cfg = dict(vocab_size=23, block_size=40, n_layer=2, n_head=4, d_model=32)
    cfg.update(overrides)
    return GPT(GPTConfig(**cfg)).eval().double()     # float64: near-ties cannot flip between code paths


def workload(n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        p = int(torch.randint(1, 12, (1,), generator=g))
        m = int(torch.randint(1, 20, (1,), generator=g))
        out.append((torch.randint(0, 23, (p,), generator=g).tolist(), m))
    out[0] = ([5] * 9, 31)                               # one request that fills the whole context
    return out


def reference(model, reqs):
    return [model.generate(torch.tensor([p]), m, temperature=0)[0, len(p):].tolist() for p, m in reqs]


def serve(model, reqs, **cfg):
    engine = Engine(model, EngineConfig(**cfg))
    handles = [engine.add_request(p, SamplingParams(max_tokens=m)) for p, m in reqs]
    engine.run()
    return [h.output_ids for h in handles], engine


MODEL = make_model()
REQS = workload()
REF = reference(MODEL, REQS)


@pytest.mark.parametrize("cfg", [
    dict(cache="paged", policy="continuous"),
    dict(cache="contiguous", policy="continuous"),
    dict(cache="paged", policy="static"),
    dict(cache="contiguous", policy="static", num_slots=3),
    dict(cache="paged", policy="continuous", block_size=1, num_slots=2),
    dict(cache="paged", policy="continuous", num_blocks=12, num_slots=4),       # forces preemption
    dict(cache="paged", policy="static", num_blocks=11, num_slots=4, block_size=4),
    dict(cache="paged", policy="continuous", prefix_sharing=True, block_size=2),
])
def test_every_configuration_gives_the_greedy_tokens_of_generate(cfg):
    outs, engine = serve(MODEL, REQS, **cfg)
    assert outs == REF
    assert all(r.finish_reason == "length" for r in engine.requests.values())
    assert engine.stats.generated_tokens == sum(m for _, m in REQS)
    if engine.block_manager is not None:
        assert engine.block_manager.num_free == engine.block_manager.num_blocks
        engine.block_manager.check_invariants()
    if cfg.get("num_blocks"):
        assert engine.stats.preemptions > 0


@pytest.mark.parametrize("overrides", [dict(positions="rope", n_kv_head=2, norm="rmsnorm", mlp="swiglu"),
                                       dict(positions="sinusoidal")])
def test_modern_blocks_rope_and_gqa(overrides):
    model = make_model(**overrides)
    reqs = workload(4, seed=1)
    assert serve(model, reqs, num_blocks=14, num_slots=3)[0] == reference(model, reqs)


def test_continuous_batching_takes_fewer_steps_than_static():
    reqs = [([1, 2], 30 if i % 4 == 0 else 2) for i in range(16)]
    _, static = serve(MODEL, reqs, policy="static", num_slots=4)
    _, cont = serve(MODEL, reqs, policy="continuous", num_slots=4)
    assert static.stats.steps == 4 * 30                   # every batch of 4 waits for its long request
    assert cont.stats.steps < static.stats.steps / 2
    assert cont.stats.generated_tokens == static.stats.generated_tokens


def test_paged_waste_is_below_one_block_per_sequence():
    _, paged = serve(MODEL, REQS, block_size=2)
    _, contig = serve(MODEL, REQS, cache="contiguous")
    waste = [a - u for a, u in zip(paged.stats.kv_allocated, paged.stats.kv_used)]
    assert all(0 <= w < 2 * r for w, r in zip(waste, paged.stats.running))
    assert paged.stats.kv_waste < contig.stats.kv_waste


def test_prefix_sharing_uses_fewer_blocks_and_skips_cached_tokens():
    system = list(range(3, 19))
    reqs = [(system + [i], 4) for i in range(6)]
    shared_out, shared = serve(MODEL, reqs, prefix_sharing=True)
    plain_out, plain = serve(MODEL, reqs)
    assert shared_out == plain_out == reference(MODEL, reqs)
    assert max(shared.stats.blocks_used) < max(plain.stats.blocks_used)
    assert shared.stats.cached_tokens == 5 * 16 and plain.stats.cached_tokens == 0


def test_sampling_with_a_seed_does_not_depend_on_the_batch():
    params = SamplingParams(max_tokens=12, temperature=1.0, top_k=10, seed=7)
    alone = Engine(MODEL, EngineConfig(num_slots=1))
    a = alone.add_request([1, 2, 3], params)
    alone.run()
    crowd = Engine(MODEL, EngineConfig(num_slots=4, num_blocks=12))
    for i in range(5):
        crowd.add_request([4, i], SamplingParams(max_tokens=20))
    b = crowd.add_request([1, 2, 3], params)
    crowd.run()
    assert a.output_ids == b.output_ids and len(a.output_ids) == 12


def test_stream_callback_stop_tokens_and_abort():
    seen = []
    engine = Engine(MODEL, EngineConfig(num_slots=2))
    first = REF[1][0]
    r1 = engine.add_request(REQS[1][0], SamplingParams(max_tokens=20, stop_token_ids=(first,)),
                            on_token=lambda r, t: seen.append((r.request_id, t)))
    r2 = engine.add_request([1, 2, 3], SamplingParams(max_tokens=30), request_id="long")
    engine.step()
    assert r1.finish_reason == "stop" and r1.output_ids == [first] and seen == [(r1.request_id, first)]
    engine.step()
    assert engine.abort("long") and r2.status == "aborted" and not engine.abort("nobody")
    assert engine.block_manager.num_free == engine.block_manager.num_blocks and not engine.has_unfinished()
    assert [s.end_reason for s in engine.segments] == ["finished", "aborted"]


def test_bad_requests_and_configurations_are_clear_errors():
    engine = Engine(MODEL, EngineConfig())
    with pytest.raises(ValueError, match="exceeds the context of 40"):
        engine.add_request([1] * 30, SamplingParams(max_tokens=11))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        engine.add_request([1, 99], SamplingParams(max_tokens=1))
    with pytest.raises(ValueError, match="at least one token"):
        engine.add_request([], SamplingParams())
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        SamplingParams(max_tokens=-1)
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-0.5)
    with pytest.raises(ValueError, match="policy"):
        EngineConfig(policy="fifo")
    with pytest.raises(ValueError, match="cannot hold one sequence"):
        Engine(MODEL, EngineConfig(num_blocks=3))
    with pytest.raises(ValueError, match="need cache='paged'"):
        EngineConfig(cache="contiguous", prefix_sharing=True)
    engine.add_request([1], SamplingParams(max_tokens=1), request_id="x")
    with pytest.raises(ValueError, match="already in use"):
        engine.add_request([1], SamplingParams(max_tokens=1), request_id="x")


def test_static_scheduler_admits_only_into_an_empty_batch():
    s = Scheduler("static", 2)
    for i in range(3):
        s.add(Request(f"r{i}", [1], SamplingParams(max_tokens=2)))
    assert len(s.schedule().prefills) == 2
    s.finish(s.running[0])
    assert s.schedule().prefills == []                   # one slot is free, but the batch is not done
    s.finish(s.running[0])
    assert [r.request_id for r in s.schedule().prefills] == ["r2"]


def test_runs_are_deterministic():
    a = serve(MODEL, REQS, num_blocks=12, num_slots=4)[1]
    b = serve(MODEL, REQS, num_blocks=12, num_slots=4)[1]
    assert a.stats.steps == b.stats.steps and a.stats.preemptions == b.stats.preemptions
    assert [(s.request_id, s.slot, s.start, s.end) for s in a.segments] == \
           [(s.request_id, s.slot, s.start, s.end) for s in b.segments]
