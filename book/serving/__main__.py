"""``python -m book.serving``: serve the book's GPT behind an OpenAI-compatible API. Taught in p6-3.5.

Examples::

    python -m book.serving --port 8000                      # train the tiny GPT (seconds), then serve it
    python -m book.serving --model gpt.safetensors --quant int8 --num-slots 16

``--model`` is a checkpoint written by :func:`book.formats.checkpoint.save`
with the GPT's configuration in its metadata (``{"config": json.dumps(asdict(cfg))}``),
for the stories vocabulary of :mod:`book.data.stories`. Then, from any
OpenAI client::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.completions.create(model="book-gpt-tiny", prompt="the cat", max_tokens=8, temperature=0)

The server listens on 127.0.0.1 unless ``--host`` says otherwise (``0.0.0.0``
exposes it to the network: there is no authentication).
"""

from __future__ import annotations

import argparse
import json


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m book.serving", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--model", default=None, help="a GPT checkpoint (.safetensors); default: train the tiny GPT")
    p.add_argument("--train-steps", type=int, default=200, help="training steps of the tiny GPT (without --model)")
    p.add_argument("--quant", choices=("none", "int8", "int4"), default="none", help="weight-only quantisation")
    p.add_argument("--num-slots", type=int, default=8, help="requests decoded together (max_num_seqs)")
    p.add_argument("--block-size", type=int, default=4, help="tokens per KV-cache block")
    p.add_argument("--model-name", default="book-gpt-tiny", help="the id clients pass as model=")
    return p


def load_model(path: str):
    """A GPT from a checkpoint whose metadata holds its configuration, in float64 and eval mode."""
    from book.formats import checkpoint
    from book.nn.gpt import GPT, GPTConfig

    meta = checkpoint.read_metadata(path)
    if "config" not in meta:
        raise ValueError(f"{path}: the checkpoint's metadata has no 'config' entry to build the GPT from")
    model = GPT(GPTConfig(**json.loads(meta["config"])))
    checkpoint.load(model, path)
    return model.eval().double()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from book.data import stories
    from book.serving.engine import Engine, EngineConfig
    from book.serving.quantized import QuantConfig, quantize_model
    from book.serving.server import EngineLoop, create_app, tiny_model
    from book.tokenizers import WordTokenizer

    args = build_parser().parse_args(argv)
    if args.model:
        model, tok = load_model(args.model), WordTokenizer(stories.VOCAB)
        if model.cfg.vocab_size != tok.vocab_size:
            raise SystemExit(f"--model: vocab_size={model.cfg.vocab_size}, but the stories tokenizer has "
                             f"{tok.vocab_size} tokens")
    else:
        print(f"training the tiny GPT for {args.train_steps} steps …", flush=True)
        model, tok = tiny_model(args.train_steps)
    if args.quant != "none":
        model = quantize_model(model, QuantConfig(args.quant))
    engine = Engine(model, EngineConfig(num_slots=args.num_slots, block_size=args.block_size))
    loop = EngineLoop(engine).start()
    url = f"http://{args.host}:{args.port}/v1"                  # loopback only by default (--host 127.0.0.1)
    print(f"serving {args.model_name!r} at {url} (Ctrl-C stops)", flush=True)
    try:
        uvicorn.run(create_app(loop, tok, args.model_name), host=args.host, port=args.port, log_level="info")
    finally:
        loop.stop()


if __name__ == "__main__":
    main()
