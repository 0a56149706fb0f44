"""Package data of p3-v: the retrieval corpus (``corpus.jsonl``, rebuilt by ``tools/build_rag_corpus.py``) and
the labelled questions (``questions.jsonl``, written by hand). Read them with :func:`book.retrieval.load_corpus`
and :func:`book.retrieval.load_questions`.
"""
