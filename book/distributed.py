"""Data parallelism on CPU processes with torch.distributed: the gradient check.

Run with ``torchrun --nproc_per_node=2 -m book.distributed``. Every process
builds the same GPT from the same seed, takes its own shard of one global
batch, and lets ``DistributedDataParallel`` average the gradients across
processes (gloo backend, so it runs on CPUs). Rank 0 then recomputes the
gradient of the whole global batch in one process and checks that the two
agree: data parallelism computes the same step, only split across workers.
It prints one JSON line with the comparison and exits non-zero on a mismatch.
Taught in p2-iii-ddp; the same script scales to several machines.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from book.nn.gpt import GPT, GPTConfig


def global_batch(n: int, block: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, vocab, (n, block + 1), generator=g)
    return data[:, :-1], data[:, 1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--global-batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3, help="optimiser steps, comparing gradients at each")
    args = ap.parse_args(argv)

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.global_batch % world:
        raise SystemExit(f"--global-batch {args.global_batch} must be divisible by the {world} processes")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=2, d_model=32)
    model = GPT(cfg).double()
    reference = GPT(cfg).double()
    reference.load_state_dict(model.state_dict())
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    worst = 0.0
    shard = args.global_batch // world
    for step in range(args.steps):
        x, y = global_batch(args.global_batch, cfg.block_size, cfg.vocab_size, seed=step)
        opt.zero_grad()
        _, loss = ddp(x[rank * shard:(rank + 1) * shard], y[rank * shard:(rank + 1) * shard])
        loss.backward()                      # DDP all-reduces (averages) the gradients here
        ref_opt.zero_grad()
        reference(x, y)[1].backward()        # one process, whole global batch
        for p, r in zip(model.parameters(), reference.parameters()):
            worst = max(worst, (p.grad - r.grad).abs().max().item())
        opt.step()
        ref_opt.step()
    ok = worst < 1e-10
    if rank == 0:
        print(json.dumps({"world_size": world, "global_batch": args.global_batch, "steps": args.steps,
                          "max_abs_grad_diff": worst, "ok": ok}))
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
