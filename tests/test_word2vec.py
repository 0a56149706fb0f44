"""book.nn.word2vec: the vocabulary, subsampling, pairs, noise, the SGNS loss against a direct formula, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from book.nn.word2vec import (
    SkipGramNS,
    Vocabulary,
    Word2VecConfig,
    keep_probabilities,
    most_similar,
    noise_distribution,
    skipgram_pairs,
)


def test_vocabulary_orders_by_count_and_names_unknown_words():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "a", "b"]])
    assert vocab.itos == ("b", "a", "c") and vocab.counts.tolist() == [3, 2, 1]
    assert vocab.encode(["c", "b"]).tolist() == [2, 0]
    assert Vocabulary.build([["b", "a", "b"]], min_count=2).itos == ("b",)
    with pytest.raises(ValueError, match="'zz' at position 2"):
        vocab.encode(["a", "b", "zz"])
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build([["a"]], min_count=0)
    with pytest.raises(ValueError, match="no word occurs"):
        Vocabulary.build([["a"]], min_count=2)


def test_noise_distribution_flattens_and_normalises():
    counts = torch.tensor([1000, 100, 10, 0])
    p = noise_distribution(counts)
    assert p.dtype == torch.float32 and abs(p.sum().item() - 1) < 1e-6 and p[3] == 0
    assert p[0] / p[1] == pytest.approx(10 ** 0.75, rel=1e-5)          # a ratio of 10 shrinks to 10^0.75
    torch.testing.assert_close(noise_distribution(counts, power=1.0), (counts / counts.sum()).float())
    with pytest.raises(ValueError, match="non-negative"):
        noise_distribution(torch.tensor([1, -1]))
    with pytest.raises(ValueError, match="shape"):
        noise_distribution(torch.zeros(0))


def test_keep_probabilities_follow_the_reference_code():
    counts = torch.tensor([500, 300, 150, 50])
    t = 0.05
    want = [min(1.0, math.sqrt(t / f) + t / f) for f in (counts / counts.sum()).tolist()]
    torch.testing.assert_close(keep_probabilities(counts, t), torch.tensor(want))
    assert keep_probabilities(torch.tensor([3, 0]), 1e-3)[1] == 1.0    # an unseen word is never dropped
    with pytest.raises(ValueError, match="t must be > 0"):
        keep_probabilities(counts, 0.0)


def test_fixed_window_pairs_stay_inside_each_sequence():
    c, o = skipgram_pairs([[1, 2, 3], [4], [], [5, 6]], window=5)
    assert sorted(zip(c.tolist(), o.tolist())) == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2), (5, 6), (6, 5)]
    c, o = skipgram_pairs([], window=2)
    assert c.shape == o.shape == (0,)
    with pytest.raises(ValueError, match="window"):
        skipgram_pairs([[1, 2]], window=0)


def test_dynamic_window_is_seeded_and_weights_near_words_more():
    seq = [torch.arange(20_000) % 50]
    a = skipgram_pairs(seq, 3, generator=torch.Generator().manual_seed(0))
    b = skipgram_pairs(seq, 3, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    offset = (a[1] - a[0]) % 50                                        # the ids are positions mod 50
    dist = torch.minimum(offset, 50 - offset)                          # |j|
    shares = torch.bincount(dist, minlength=4)[1:4].double()
    np.testing.assert_allclose((shares / shares[0]).numpy(), [1, 2 / 3, 1 / 3], atol=0.02)


def _model(V=11, d=6, seed=0):
    torch.manual_seed(seed)
    model = SkipGramNS(Word2VecConfig(vocab_size=V, dim=d))
    with torch.no_grad():
        model.out_embed.weight.normal_()              # the zero init would make every score 0
    return model


def test_loss_equals_a_direct_formula():
    model = _model()
    g = torch.Generator().manual_seed(1)
    c, o, n = (torch.randint(0, 11, s, generator=g) for s in [(9,), (9,), (9, 4)])
    V, U = model.in_embed.weight.double().detach().numpy(), model.out_embed.weight.double().detach().numpy()

    def log_sigmoid(x):
        return -math.log1p(math.exp(-x))

    want = np.mean([-log_sigmoid(U[o[b]] @ V[c[b]]) - sum(log_sigmoid(-(U[k] @ V[c[b]])) for k in n[b].tolist())
                    for b in range(9)])
    assert model(c, o, n).item() == pytest.approx(want, rel=1e-5)
    per_pair = model(c, o, n, reduction="none")
    assert per_pair.shape == (9,) and model(c, o, n, reduction="sum").item() == pytest.approx(per_pair.sum().item())


def test_untrained_loss_is_k_plus_one_log_two_and_parameters_count():
    model = SkipGramNS(Word2VecConfig(vocab_size=20, dim=8))
    loss = model(torch.tensor([0, 5]), torch.tensor([1, 19]), torch.tensor([[2, 3, 4], [5, 6, 7]]))
    assert loss.item() == pytest.approx(4 * math.log(2), rel=1e-6)
    assert sum(p.numel() for p in model.parameters()) == 2 * 20 * 8
    assert model.in_embed.weight.abs().max() <= 0.5 / 8


def test_bad_inputs_are_named():
    model = _model()
    ok = torch.tensor([1, 2])
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 11\)"):
        model(ok, torch.tensor([1, 11]), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2,\), \(2,\) and \(3, 4\)"):
        model(ok, ok, torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        model(ok.float(), ok, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        model(ok, ok, torch.zeros(2, 3, dtype=torch.long), reduction="max")
    with pytest.raises(ValueError, match="vocab_size"):
        Word2VecConfig(vocab_size=1)


def test_most_similar_by_cosine():
    E = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    idx, sims = most_similar(E, 0, k=3)
    assert idx.tolist() == [1, 2, 3]                 # cosine ignores length: the long vector [10, 1] is nearest
    assert sims[0].item() == pytest.approx(10 / math.sqrt(101)) and sims[2].item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="word_index 4"):
        most_similar(E, 4)
    with pytest.raises(ValueError, match="k must be"):
        most_similar(E, 0, k=4)


def test_training_is_deterministic_and_lowers_the_loss():
    def run():
        torch.manual_seed(0)
        model = SkipGramNS(Word2VecConfig(vocab_size=10, dim=4))
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        g = torch.Generator().manual_seed(0)
        c, o = skipgram_pairs([torch.arange(200) % 10], 2, generator=g)
        noise = noise_distribution(torch.bincount(o, minlength=10))
        losses = []
        for _ in range(50):
            neg = torch.multinomial(noise, len(c) * 3, replacement=True, generator=g).view(-1, 3)
            loss = model(c, o, neg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, model.in_embed.weight.detach().clone()

    (l1, w1), (l2, w2) = run(), run()
    assert l1 == l2 and torch.equal(w1, w2)
    assert l1[-1] < 0.75 * l1[0]
