"""book.nn.char_lstm: shapes, the state carried across windows, sampling, and clear errors on bad input."""

from __future__ import annotations

import pytest
import torch

from book.nn.char_lstm import CharLSTM, CharLSTMConfig, encode
from book.tokenizers import CharTokenizer

TOK = CharTokenizer("once upon a time .\n")


def _model(**kw) -> CharLSTM:
    torch.manual_seed(0)
    return CharLSTM(CharLSTMConfig(vocab_size=TOK.vocab_size, embed_dim=5, hidden_size=7, **kw)).eval()


@pytest.mark.parametrize("layers", [1, 3])
def test_shapes_and_parameter_count(layers):
    model = _model(num_layers=layers)
    logits, (h, c) = model(torch.zeros(4, 9, dtype=torch.long))
    assert logits.shape == (4, 9, TOK.vocab_size) and h.shape == c.shape == (layers, 4, 7)
    V, E, H = TOK.vocab_size, 5, 7
    want = V * E + sum(4 * H * ((E if k == 0 else H) + H) + 8 * H for k in range(layers)) + (H + 1) * V
    assert sum(p.numel() for p in model.parameters()) == want


def test_carried_state_equals_one_pass():
    model = _model(num_layers=2)
    ids = torch.randint(0, TOK.vocab_size, (3, 50), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole, (h1, c1) = model(ids)
        state, parts = None, []
        for k in range(0, 50, 16):                  # windows of 16, the last one 2 long
            out, state = model(ids[:, k:k + 16], state)
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-6, rtol=0)
    torch.testing.assert_close(state[0], h1, atol=1e-6, rtol=0)
    torch.testing.assert_close(state[1], c1, atol=1e-6, rtol=0)


def test_generate_is_seeded_stops_and_restores_mode():
    model = _model().train()
    prompt = encode(TOK, "once ")
    a = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3))
    assert a == b and len(a) == 30 and all(0 <= i < TOK.vocab_size for i in a)
    assert model.training
    stop = a[4]
    c = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3), stop_id=stop)
    assert c == a[:a.index(stop) + 1]
    # a very low temperature is greedy decoding
    greedy = model.generate(prompt, 5, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, _ = model(torch.cat([prompt, torch.tensor(greedy[:-1])])[None])
    assert greedy == logits[0, len(prompt) - 1:].argmax(-1).tolist()


def test_encode_names_the_character_and_its_position():
    assert encode(TOK, "a time").tolist() == TOK.encode("a time")
    assert encode(TOK, "").shape == (0,)
    with pytest.raises(ValueError, match=r"character 'é' at position 3 .* vocabulary of 13"):
        encode(TOK, "onc\u00e9")
    with pytest.raises(ValueError, match=r"character '\\t' at position 0"):
        encode(TOK, "\tonce")
    with pytest.raises(ValueError, match="must be a str"):
        encode(TOK, [1, 2])


def test_bad_inputs_are_named():
    model = _model()
    with pytest.raises(ValueError, match=r"shape \(B, T\) and dtype int64, got \(4,\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="dtype int64, got \\(2, 3\\) torch.float32"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"ids in \[0, 40\], outside the vocabulary \[0, 13\)"):
        model(torch.tensor([[0, 40]]))
    with pytest.raises(ValueError, match=r"each of shape \(1, 2, 7\), got shapes \[\(1, 3, 7\), \(1, 3, 7\)\]"):
        model(torch.zeros(2, 3, dtype=torch.long), (torch.zeros(1, 3, 7), torch.zeros(1, 3, 7)))
    with pytest.raises(ValueError, match="prompt must be a non-empty"):
        model.generate(torch.zeros(0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="temperature > 0"):
        model.generate(torch.zeros(1, dtype=torch.long), 3, temperature=0.0)


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_size"):
        CharLSTMConfig(hidden_size=0)
    with pytest.raises(ValueError, match="vocab_size"):
        CharLSTMConfig(vocab_size=1)
    with pytest.raises(ValueError, match="dropout"):
        CharLSTMConfig(dropout=1.0)
