"""A character-level language model: embedding → ``nn.LSTM`` → linear head.

The model of the cookbook's third recipe (p4-3), which writes the LSTM cell
out from its gate equations and checks it against ``nn.LSTM``. The forward
pass takes and returns the recurrent state ``(h, c)``, so a long text can be
read in consecutive windows with the state carried across them (truncated
backpropagation through time). :func:`encode` turns text into ids and names
the first character the vocabulary lacks, with its position; :meth:`CharLSTM.generate`
samples from a seeded generator.

    >>> from book.tokenizers import CharTokenizer
    >>> tok = CharTokenizer("abc .\\n")
    >>> model = CharLSTM(CharLSTMConfig(vocab_size=tok.vocab_size, embed_dim=8, hidden_size=16))
    >>> logits, (h, c) = model(encode(tok, "abc a.").unsqueeze(0))
    >>> logits.shape, h.shape, c.shape
    (torch.Size([1, 6, 6]), torch.Size([1, 1, 16]), torch.Size([1, 1, 16]))
    >>> encode(tok, "a cab!")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: text: character '!' at position 5 is not in the tokenizer's vocabulary of 6 characters (...)
    >>> g = torch.Generator().manual_seed(0)
    >>> len(model.generate(encode(tok, "a"), 10, generator=g))
    10
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

State = tuple[torch.Tensor, torch.Tensor]


def encode(tokenizer, text: str) -> torch.Tensor:
    """``text`` as a 1-D int64 tensor of ``tokenizer``'s ids; an unknown character is named with its position.

    ``tokenizer`` is a :class:`book.tokenizers.CharTokenizer` (anything whose ``encode`` returns a list of ids).
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)   # the tokenizer names an unknown character


@dataclass(frozen=True)
class CharLSTMConfig:
    """Sizes of the model: ``vocab_size`` characters, embedded in ``embed_dim``, ``num_layers`` LSTM layers."""

    vocab_size: int = 28
    embed_dim: int = 32
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0          # between LSTM layers (nn.LSTM's own), so only with num_layers >= 2

    def __post_init__(self):
        sizes = {"vocab_size": self.vocab_size, "embed_dim": self.embed_dim, "hidden_size": self.hidden_size,
                 "num_layers": self.num_layers}
        bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or v < 1}
        if bad or self.vocab_size < 2:
            raise ValueError(f"CharLSTMConfig: need integer sizes >= 1 and vocab_size >= 2, got {sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CharLSTMConfig: dropout must be in [0, 1), got {self.dropout}")


class CharLSTM(nn.Module):
    """Embedding → ``nn.LSTM(batch_first=True)`` → Linear: ids (B, T) → logits (B, T, vocab_size) and state.

    The state is ``(h, c)``, each (num_layers, B, hidden_size), as ``nn.LSTM`` takes and returns it.
    """

    def __init__(self, cfg: CharLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def _check(self, idx: torch.Tensor, state: State | None) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            got = f"{tuple(idx.shape)} {idx.dtype}" if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"CharLSTM expects idx of shape (B, T) and dtype int64, got {got}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.cfg.vocab_size):
            raise ValueError(f"CharLSTM: idx holds ids in [{int(idx.min())}, {int(idx.max())}], "
                             f"outside the vocabulary [0, {self.cfg.vocab_size})")
        if state is not None:
            want = (self.cfg.num_layers, idx.shape[0], self.cfg.hidden_size)
            shapes = [tuple(s.shape) for s in state]
            if len(state) != 2 or any(s != want for s in shapes):
                raise ValueError(f"CharLSTM: state must be (h, c), each of shape {want}, got shapes {shapes}")

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        self._check(idx, state)
        out, state = self.lstm(self.embed(idx), state)   # (B, T, E) -> (B, T, H); state (L, B, H) twice
        return self.head(out), state                     # (B, T, V)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None, stop_id: int | None = None) -> list[int]:
        """Sample up to ``max_new_tokens`` ids after the 1-D ``prompt``; stops after emitting ``stop_id``.

        Sampling draws from ``generator`` (on the model's device, or the CPU), so a seeded generator gives
        the same text on every run. Returns the new ids only.
        """
        if not isinstance(prompt, torch.Tensor) or prompt.dim() != 1 or len(prompt) == 0:
            raise ValueError(f"generate: prompt must be a non-empty 1-D tensor of ids, got "
                             f"{tuple(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__}")
        if max_new_tokens < 0 or temperature <= 0:
            raise ValueError(f"generate: need max_new_tokens >= 0 and temperature > 0, got "
                             f"max_new_tokens={max_new_tokens}, temperature={temperature}")
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        logits, state = self(prompt.to(device)[None])    # read the prompt once; keep its state
        new: list[int] = []
        for _ in range(max_new_tokens):
            probs = F.softmax(logits[0, -1] / temperature, dim=-1)
            gen_device = generator.device if generator is not None else device
            nxt = int(torch.multinomial(probs.to(gen_device), 1, generator=generator))
            new.append(nxt)
            if nxt == stop_id:
                break
            logits, state = self(torch.tensor([[nxt]], device=device), state)
        self.train(was_training)
        return new
