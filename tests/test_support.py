"""book.env, book.plot, book.checks and book.timing."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from book import checks, env, plot, timing


def test_seed_makes_everything_reproducible():
    env.seed(7)
    a = (np.random.rand(), torch.rand(1).item(), __import__("random").random())
    env.seed(7)
    assert a == (np.random.rand(), torch.rand(1).item(), __import__("random").random())
    with pytest.raises(ValueError, match="seed"):
        env.seed(-1)


def test_device_and_triton_switch():
    assert env.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert env.on_colab() is False
    interpreted = env.configure_triton()
    if not torch.cuda.is_available():
        assert interpreted and os.environ["TRITON_INTERPRET"] == "1"


def test_progress_bar_iterates_everything():
    assert list(env.progress(range(5), desc="t", disable=True)) == list(range(5))


def test_assert_close_reports_where_and_how_much():
    assert checks.assert_close(torch.ones(3), np.ones(3)) == 0.0
    with pytest.raises(AssertionError, match=r"demo: 1 of 4 elements .* index \(1, 0\): got 3, expected 2"):
        checks.assert_close(np.array([[1.0], [3.0], [0.0], [0.0]]), np.array([[1.0], [2.0], [0.0], [0.0]]), name="demo")
    with pytest.raises(AssertionError, match="shape"):
        checks.assert_close(np.ones(3), np.ones(4))
    with pytest.raises(AssertionError, match="NaN"):
        checks.assert_close(np.array([np.nan]), np.array([1.0]))
    assert checks.relative_error([1.0, 1.0], [1.0, 1.0]) == 0.0


def test_time_fn():
    t = timing.time_fn(lambda: None, repeat=4, warmup=2)
    assert t.repeat == 4 and 0 <= t.minimum <= t.median <= t.maximum
    assert "ms" in str(t)
    with pytest.raises(ValueError):
        timing.time_fn(lambda: None, repeat=0)


def _draw(ax, value):
    ax.plot([0, 1], [0, value])


def test_sweep_views():
    plot.use_style()
    html = plot.animate_sweep([1, 2, 3], _draw, label="slope")
    assert "<input" in html.data and "anim" in html.data  # the jshtml slider and player
    fig = plot.small_multiples([1, 2, 3, 4], _draw, ncols=3)
    assert sum(ax.get_visible() for ax in fig.axes) == 4
    w = plot.interactive_sweep([1, 2], _draw, label="slope")
    assert w.children[0].options == (1, 2)
    with pytest.raises(ValueError):
        plot.animate_sweep([], _draw)
