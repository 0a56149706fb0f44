"""Exercise checkers for p2-iii (the training pipeline).

* :func:`check_representable`: classify a number cast to fp16 / bf16 / fp32;
* :func:`check_uneven_accumulation`: gradient accumulation over micro-batches of unequal sizes;
* :func:`check_clip_grad_norm`: clipping by global norm, against ``torch.nn.utils.clip_grad_norm_``;
* :func:`check_resumable_sampler`: an epoch-shuffling batch sampler that resumes exactly from its state.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed

CLASSES = ("zero", "subnormal", "normal", "inf")

# (value, dtype): no value lies within rounding distance of a threshold of its
# dtype, so the answer never hinges on how the boundary rounds.
_CASES = [
    (3.0, torch.float16), (1e-3, torch.float16), (1e-6, torch.float16), (1e-9, torch.float16),
    (6e4, torch.float16), (7e4, torch.float16), (-1e-6, torch.float16), (-1e5, torch.float16),
    (1e-9, torch.bfloat16), (1e-39, torch.bfloat16), (1e-42, torch.bfloat16), (1e38, torch.bfloat16),
    (1e39, torch.bfloat16), (-2.5e-40, torch.bfloat16),
    (1e-30, torch.float32), (1e-40, torch.float32), (1e-46, torch.float32), (1e39, torch.float32),
]


def representable_reference(x: float, dtype: torch.dtype) -> str:
    """What becomes of the float64 number ``x`` when it is rounded to ``dtype``, found by casting."""
    y = torch.tensor(x, dtype=torch.float64).to(dtype)
    if torch.isinf(y):
        return "inf"
    if y == 0:
        return "zero"
    return "subnormal" if abs(y.item()) < torch.finfo(dtype).tiny else "normal"


def check_representable(fn: Callable[[float, torch.dtype], str]) -> None:
    """``fn(x, dtype)`` must say whether ``x`` becomes zero, a subnormal, a normal number or inf."""
    for x, dtype in _CASES:
        got = fn(x, dtype)
        want = representable_reference(x, dtype)
        assert got in CLASSES, f"return one of {CLASSES}, got {got!r}"
        fi = torch.finfo(dtype)
        assert got == want, (
            f"{x:g} in {dtype}: you said {got!r}, the cast gives {want!r}. Hint: for {dtype} the largest "
            f"finite value is {fi.max:.4g}, the smallest normal {fi.tiny:.4g} and the smallest subnormal "
            f"tiny·eps = {fi.tiny * fi.eps:.4g}.")
    passed(f"{len(_CASES)} casts to fp16, bf16 and fp32 classified correctly")


def _tiny_lm():
    from book.nn.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=23, block_size=7, n_layer=1, n_head=2, d_model=8)).double()


def check_uneven_accumulation(fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, list[int]], None]) -> None:
    """``fn(model, x, y, sizes)`` must leave in every ``p.grad`` the gradient of the whole batch's mean loss.

    ``sizes`` splits the batch's rows into consecutive micro-batches of unequal
    sizes; ``model(x, y)`` returns ``(logits, mean loss)``. The gradients start
    at zero (``None``); ``fn`` must not call the model on the whole batch at once.
    """
    model = _tiny_lm()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 23, (9, 7), generator=g)
    y = torch.randint(0, 23, (9, 7), generator=g)
    model.zero_grad(set_to_none=True)
    model(x, y)[1].backward()
    want = [p.grad.clone() for p in model.parameters()]
    for sizes in ([4, 4, 1], [1] * 9, [9], [2, 7], [6, 3]):
        calls = []
        handle = model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
        model.zero_grad(set_to_none=True)
        try:
            fn(model, x, y, list(sizes))
        finally:
            handle.remove()
        assert calls == list(sizes), f"sizes {sizes}: expected forward passes on micro-batches {sizes}, saw {calls}"
        for (name, p), w in zip(model.named_parameters(), want):
            assert p.grad is not None, f"sizes {sizes}: {name} has no gradient"
            assert_close(p.grad, w, rtol=1e-10, atol=1e-12, name=f"{name} with micro-batches {sizes}. Hint: "
                         "weight each micro-batch's mean loss by its share of the rows, b_j / B, not by 1/k")
    passed("accumulated gradients = whole-batch gradient for 5 uneven splits (float64)")


def _grad_sets():
    g = torch.Generator().manual_seed(3)

    def params(shapes, scale):
        out = []
        for s in shapes:
            p = torch.nn.Parameter(torch.zeros(s))
            if s is not None:
                p.grad = torch.randn(s, generator=g) * scale
            out.append(p)
        return out

    return {
        "large gradients, clipped": (params([(5, 3), (3,), (17,)], 10.0), 1.0),
        "small gradients, untouched": (params([(4, 4), (2,)], 1e-3), 1.0),
        "one tensor": (params([(31,)], 1.0), 0.5),
        "tight threshold": (params([(8, 8), (8,), (1,)], 1.0), 1e-3),
    }


def check_clip_grad_norm(fn: Callable[[list[torch.nn.Parameter], float], torch.Tensor | float]) -> None:
    """``fn(params, max_norm)`` must clip the gradients in place by their global norm and return that norm."""
    for name, (params, max_norm) in _grad_sets().items():
        ref = [torch.nn.Parameter(p.detach().clone()) for p in params]
        for r, p in zip(ref, params):
            r.grad = p.grad.clone()
        want_norm = torch.nn.utils.clip_grad_norm_(ref, max_norm)
        got_norm = fn(params, max_norm)
        assert_close(torch.as_tensor(got_norm, dtype=torch.float32), want_norm, rtol=1e-5,
                     name=f"{name}: returned norm. Hint: return the global norm before clipping, "
                          "√(Σ over all tensors of Σ g²)")
        for i, (p, r) in enumerate(zip(params, ref)):
            assert_close(p.grad, r.grad, rtol=1e-5, atol=1e-9,
                         name=f"{name}: gradient {i} after clipping. Hint: scale every tensor by the same "
                              "factor min(1, max_norm / (norm + 1e-6)), in place")
    # A parameter without a gradient (unused in the forward pass) must be skipped, not crash.
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    a.grad = torch.full((3,), 4.0)
    got = float(fn([a, b], 1.0))
    assert abs(got - 48 ** 0.5) < 1e-4 and b.grad is None, "skip parameters whose .grad is None"
    passed("clip by global norm = torch.nn.utils.clip_grad_norm_ on 5 cases")


def check_resumable_sampler(cls) -> None:
    """``cls(n, batch_size, seed)``: ``next_batch()`` returns a LongTensor of ``batch_size`` indices.

    Each epoch is a fresh random permutation of ``range(n)``, cut into
    ``n // batch_size`` batches (the remainder is dropped). ``state_dict()``
    returns tensors and ints only, so that ``torch.load(weights_only=True)``
    accepts it; ``load_state_dict(state)`` continues exactly where it was saved.
    """
    n, bs = 23, 5
    per_epoch = n // bs
    s = cls(n, bs, 0)
    epochs = [[s.next_batch() for _ in range(per_epoch)] for _ in range(3)]
    for e, batches in enumerate(epochs):
        for b in batches:
            assert isinstance(b, torch.Tensor) and b.dtype == torch.long and b.shape == (bs,), (
                f"a batch must be a LongTensor of shape ({bs},), got {getattr(b, 'shape', type(b))}")
        seen = torch.cat(batches)
        assert len(set(seen.tolist())) == per_epoch * bs and int(seen.min()) >= 0 and int(seen.max()) < n, (
            f"epoch {e}: indices repeat or fall outside range({n}); an epoch draws without replacement")
    assert not torch.equal(torch.cat(epochs[0]), torch.cat(epochs[1])), "reshuffle at every epoch"
    again = cls(n, bs, 0)
    first = [again.next_batch() for _ in range(3 * per_epoch)]
    assert all(torch.equal(a, b) for a, b in zip(first, sum(epochs, []))), "the same seed must give the same batches"
    for cut in (2, per_epoch, per_epoch + 3):
        s = cls(n, bs, 0)
        for _ in range(cut):
            s.next_batch()
        buf = io.BytesIO()
        torch.save(s.state_dict(), buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        expected = [s.next_batch() for _ in range(2 * per_epoch)]
        resumed = cls(n, bs, 12345)                  # a different seed: the state must override it
        resumed.load_state_dict(state)
        got = [resumed.next_batch() for _ in range(2 * per_epoch)]
        for i, (a, b) in enumerate(zip(got, expected)):
            assert torch.equal(a, b), (
                f"saved after {cut} batches: batch {i} after resuming differs. Hint: save the generator state "
                "(generator.get_state()), the current permutation and the position in it")
    passed("sampler: permutations per epoch, reproducible, and exact resume after 3 different cuts")
