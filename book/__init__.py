"""Companion package of the textbook *Machine Learning to LLMs*.

Importing ``book`` is cheap: it defines the version and nothing else. Import
the module you need, e.g. ``from book import env`` or ``from book.data import digits``.

Where the main pieces live:

================================  ==============================================
the GPT                           ``book/nn/gpt.py`` (its blocks: ``nn/attention.py``, ``nn/layers.py``, ``nn/moe.py``)
the tiny BERT                     ``book/nn/bert.py``
tokenizers (words, BPE)           ``book/tokenizers/``
the training loop, checkpoints    ``book/train.py`` (data parallel: ``book/distributed.py``)
sampling, the KV cache            ``book/inference/sampling.py``, ``book/nn/attention.py``
Triton kernels                    ``book/kernels/<family>.py`` (FlashAttention: ``kernels/flash_attention.py``)
weight-only quantisation          ``book/quant/``
retrieval, evaluation             ``book/retrieval.py``, ``book/evaluation.py``
the vision transformer            ``book/nn/vit.py``
the cookbook's models             ``book/nn/mlp_classifier.py``, ``nn/cnn.py``, ``nn/char_lstm.py``, ``nn/seq2seq.py``
checkpoints (safetensors)         ``book/formats/checkpoint.py``
datasets and corpora              ``book/data/``
checks, timing, plots, seeding    ``book/checks.py``, ``book/timing.py``, ``book/plot.py``, ``book/env.py``
exercise checkers                 ``book/exercises/<part>/<chapter>.py``, named like the notebooks
================================  ==============================================

Where new things go: LoRA adapters in ``book/nn/lora.py``; quantisers, GPTQ and
block formats in ``book/quant/``; speculative decoding in ``book/inference/``;
the serving engine of Part VI in ``book/serving/``; the VAE, GAN and DDPM shared
by Parts IV and V in ``book/generative/``; file formats (safetensors, GGUF) in
``book/formats/``. Book-building tools are not here: the glossary extension
sits in ``glossary/``, the authoring tools in ``tools/``.
"""

__version__ = "0.1.0"
