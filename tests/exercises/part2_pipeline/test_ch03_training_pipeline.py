"""The p2-iii exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part2_pipeline import ch03_training_pipeline as ex


# ---- Exercise 1: what survives a cast ---------------------------------------------------------
def representable(x, dtype):
    fi = torch.finfo(dtype)
    a = abs(x)
    if a > fi.max:
        return "inf"
    if a >= fi.tiny:
        return "normal"
    return "subnormal" if a >= fi.tiny * fi.eps else "zero"


def no_subnormals(x, dtype):
    fi = torch.finfo(dtype)
    a = abs(x)
    return "inf" if a > fi.max else ("normal" if a >= fi.tiny else "zero")


def fp32_range_for_all(x, dtype):
    return representable(x, torch.float32)


def test_representable_accepts_the_finfo_answer(capsys):
    ex.check_representable(representable)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [no_subnormals, fp32_range_for_all])
def test_representable_rejects_mistakes(wrong):
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_representable(wrong)


def test_representable_rejects_unknown_labels():
    with pytest.raises(AssertionError, match="return one of"):
        ex.check_representable(lambda x, d: "denormal")


# ---- Exercise 2: uneven micro-batches ---------------------------------------------------------
def accumulate(model, x, y, sizes):
    total, start = sum(sizes), 0
    for b in sizes:
        (model(x[start:start + b], y[start:start + b])[1] * (b / total)).backward()
        start += b


def accumulate_over_k(model, x, y, sizes):
    start = 0
    for b in sizes:
        (model(x[start:start + b], y[start:start + b])[1] / len(sizes)).backward()
        start += b


def whole_batch(model, x, y, sizes):
    model(x, y)[1].backward()


def test_uneven_accumulation_accepts_weighting_by_size(capsys):
    ex.check_uneven_accumulation(accumulate)
    assert "✓" in capsys.readouterr().out


def test_uneven_accumulation_rejects_one_over_k():
    with pytest.raises(AssertionError, match="b_j / B"):
        ex.check_uneven_accumulation(accumulate_over_k)


def test_uneven_accumulation_rejects_the_whole_batch_at_once():
    with pytest.raises(AssertionError, match="micro-batches"):
        ex.check_uneven_accumulation(whole_batch)


# ---- Exercise 3: clipping by global norm ------------------------------------------------------
def clip(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(norm) + 1e-6))
    for g in grads:
        g.mul_(scale)
    return norm


def clip_each_tensor(params, max_norm):
    norms = [torch.nn.utils.clip_grad_norm_([p], max_norm) for p in params if p.grad is not None]
    return torch.sqrt(sum(n ** 2 for n in norms))   # right norm, but each tensor clipped alone


def clip_and_return_clipped_norm(params, max_norm):
    clip(params, max_norm)
    return torch.sqrt(sum((p.grad ** 2).sum() for p in params if p.grad is not None))


def clip_always(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / norm)                   # also scales small gradients *up*
    return norm


def test_clip_accepts_a_global_norm_clip(capsys):
    ex.check_clip_grad_norm(clip)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [clip_each_tensor, clip_and_return_clipped_norm, clip_always])
def test_clip_rejects_mistakes(wrong):
    with pytest.raises(AssertionError):
        ex.check_clip_grad_norm(wrong)


# ---- Exercise 4: a sampler that resumes exactly -----------------------------------------------
class Sampler:
    def __init__(self, n, batch_size, seed):
        self.n, self.bs = n, batch_size
        self.g = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.g), 0

    def next_batch(self):
        if self.pos + self.bs > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.g), 0
        batch = self.perm[self.pos:self.pos + self.bs]
        self.pos += self.bs
        return batch

    def state_dict(self):
        return {"rng": self.g.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state):
        self.g.set_state(state["rng"])
        self.perm, self.pos = state["perm"].clone(), int(state["pos"])


class ForgetsThePermutation(Sampler):
    def state_dict(self):
        return {"rng": self.g.get_state(), "pos": self.pos}

    def load_state_dict(self, state):
        self.g.set_state(state["rng"])
        self.perm, self.pos = torch.randperm(self.n, generator=self.g), int(state["pos"])


class WithReplacement(Sampler):
    def next_batch(self):
        return torch.randint(0, self.n, (self.bs,), generator=self.g)


class NeverReshuffles(Sampler):
    def next_batch(self):
        if self.pos + self.bs > self.n:
            self.pos = 0
        batch = self.perm[self.pos:self.pos + self.bs]
        self.pos += self.bs
        return batch


def test_sampler_accepts_an_exact_resume(capsys):
    ex.check_resumable_sampler(Sampler)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [ForgetsThePermutation, WithReplacement, NeverReshuffles])
def test_sampler_rejects_mistakes(wrong):
    with pytest.raises(AssertionError):
        ex.check_resumable_sampler(wrong)
