"""Neural-network building blocks the chapters reuse.

:mod:`~book.nn.attention` (attention, multi-head and grouped-query attention),
:mod:`~book.nn.layers` (LayerNorm, RMSNorm, MLP, SwiGLU, positional encodings,
RoPE), :mod:`~book.nn.moe` (a top-k mixture of experts),
:mod:`~book.nn.gpt` (the book's GPT) and :mod:`~book.nn.cnn` (the
digits CNN). Chapters build each piece inline first
and assert that their version matches the one here.
"""
