"""book.train: accumulation, autocast, bit-for-bit resume; book.distributed under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from book.data import stories
from book.nn.gpt import GPT, GPTConfig
from book.tokenizers import WordTokenizer
from book.train import TrainConfig, train_lm

TOK = WordTokenizer(stories.VOCAB)
DATA = torch.tensor(TOK.encode(stories.text(100, seed=0)))
CFG = GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, d_model=16, dropout=0.1)


def fresh() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG)


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path):
    cfg = TrainConfig(steps=12, batch_size=4, warmup=3, accum_steps=2, eval_every=6)
    full = fresh()
    hist_full = train_lm(full, DATA, cfg, val_data=DATA, show_progress=False)
    ckpt = tmp_path / "run.pt"
    part = fresh()
    calls = 0

    def crash_in_step_7(module, args):     # a crash mid-run: the 15th training micro-batch is step 7's first
        nonlocal calls
        calls += module.training
        if calls == 15:
            raise KeyboardInterrupt
    handle = part.register_forward_pre_hook(crash_in_step_7)
    with pytest.raises(KeyboardInterrupt):
        train_lm(part, DATA, replace(cfg, checkpoint_every=3), val_data=DATA, show_progress=False, checkpoint=ckpt)
    handle.remove()
    assert torch.load(ckpt, weights_only=True)["step"] == 6   # the last checkpoint before the crash
    resumed = fresh()                      # a new process would start from scratch like this
    torch.manual_seed(123)                 # ... with whatever RNG state it happens to have
    hist = train_lm(resumed, DATA, cfg, val_data=DATA, show_progress=False, checkpoint=ckpt, resume=True)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert hist.train_loss == hist_full.train_loss and hist.val_loss == hist_full.val_loss


def test_checkpoint_is_safe_to_load_and_missing_file_is_named(tmp_path):
    ckpt = tmp_path / "c.pt"
    train_lm(fresh(), DATA, TrainConfig(steps=2, batch_size=2), show_progress=False, checkpoint=ckpt)
    torch.load(ckpt, weights_only=True)    # no pickled code: loads under the safe loader
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train_lm(fresh(), DATA, TrainConfig(steps=2), show_progress=False, checkpoint=tmp_path / "x.pt", resume=True)


def test_accumulation_equals_one_big_batch_without_dropout():
    cfg = GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, d_model=16)
    torch.manual_seed(0)
    a = GPT(cfg).double()
    b = GPT(cfg).double()
    b.load_state_dict(a.state_dict())
    g = torch.Generator().manual_seed(0)
    from book.train import lm_batch
    x, y = lm_batch(DATA, 16, 8, g)
    a(x, y)[1].backward()
    for i in range(4):
        (b(x[2 * i:2 * i + 2], y[2 * i:2 * i + 2])[1] / 4).backward()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12)


def test_bf16_autocast_trains():
    model = fresh()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(DATA[None, :16])[0].dtype == torch.bfloat16   # the matmuls really run in bf16
    hist = train_lm(model, DATA, TrainConfig(steps=40, batch_size=8, lr=1e-2, warmup=5, amp=True),
                    show_progress=False)
    assert sum(hist.train_loss[-5:]) / 5 < hist.train_loss[0] - 0.5


def test_ddp_on_two_processes_equals_one_process():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
                          "-m", "book.distributed", "--steps", "2"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    line = [l for l in run.stdout.splitlines() if l.startswith("{")][-1]
    report = json.loads(line)
    assert report["ok"] and report["world_size"] == 2 and report["max_abs_grad_diff"] < 1e-10
