"""A top-k mixture-of-experts feed-forward layer with a load-balancing loss.

A router scores the E experts for every token, keeps the k best, and mixes
their outputs with the renormalised router probabilities. Without pressure
the router tends to favour a few experts; the auxiliary loss
``E · Σ_e f_e · P_e`` (f_e: fraction of token slots routed to e, P_e: mean
router probability of e) is minimised, at 1, by a uniform load. Taught in
p1-7.4.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from book.nn.layers import MLP


class TopKMoE(nn.Module):
    """A mixture of ``n_experts`` GELU MLPs; a linear router sends each token to its ``top_k`` experts.

    The output is the router-probability-weighted sum of the chosen experts'
    outputs (probabilities renormalised over the top k). After every forward
    pass ``aux_loss`` holds the Switch Transformer load-balancing loss
    E · Σ_e f_e · P_e (f_e: fraction of routed slots, P_e: mean router
    probability), which is 1 when the load is uniform. Taught in p1-7.4.
    """

    def __init__(self, d_model: int, n_experts: int = 4, top_k: int = 2, hidden: int | None = None):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"need 1 <= top_k <= n_experts, got top_k={top_k}, n_experts={n_experts}")
        self.n_experts, self.top_k = n_experts, top_k
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(MLP(d_model, hidden) for _ in range(n_experts))
        self.aux_loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])                                  # (N, C) tokens
        probs = F.softmax(self.router(x), dim=-1)                     # (N, E)
        top_p, top_i = probs.topk(self.top_k, dim=-1)                 # (N, k)
        top_p = top_p / top_p.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = (top_i == e).nonzero(as_tuple=True)
            if token.numel():
                out.index_add_(0, token, top_p[token, slot, None] * expert(x[token]))
        load = F.one_hot(top_i, self.n_experts).float().sum(1).mean(0) / self.top_k  # f_e, sums to 1
        self.aux_loss = self.n_experts * (load * probs.mean(0)).sum()
        return out.reshape(shape)
