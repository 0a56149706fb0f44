"""Datasets and corpora, all generated here or shipped by an installed package.

Nothing is downloaded. Modules: :mod:`~book.data.digits` (scikit-learn's 8×8
digits), :mod:`~book.data.toy2d` (moons, swiss roll, Gaussian mixtures),
:mod:`~book.data.stories` (a probabilistic-grammar corpus with a
grammaticality checker), :mod:`~book.data.arithmetic` (addition and
multiplication, with and without a scratchpad) and
:mod:`~book.data.sequences` (repeated random tokens).
"""
