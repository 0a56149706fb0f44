"""Rebuild the retrieval corpus of p3-v: ``book/data/rag/corpus.jsonl``.

The chapter on retrieval-augmented generation searches the book itself. On
Colab the notebook sees only the installed package, so the corpus is a
snapshot shipped as package data, written by this script:

* every glossary entry of ``glossary/terms.yml`` is one document, id
  ``g:<slug>``, its text the definition (MyST roles reduced to their text)
  followed by the aliases, its source ``glossary/terms.yml#<labels of the
  sections that teach it>``;
* the markdown prose of every chapter notebook listed in ``_toc.yml`` (the
  published chapters, in the book's order) but the RAG chapter itself is split at
  its section labels (``(p1-3.1)=``), cleaned of math blocks, directives and
  citations, stopped at "## Exercises", and cut into overlapping passages of
  ``SIZE`` words with :func:`book.retrieval.chunk`, ids ``<label>#<n>``.

Usage: ``python tools/build_rag_corpus.py`` (from the repository root). The
question set ``book/data/rag/questions.jsonl`` is written by hand; its ids
must stay in the corpus (``tests/test_retrieval.py`` checks), which is why
questions point at glossary entries, whose ids are slugs of the term.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from book.retrieval import chunk  # noqa: E402

OUT = ROOT / "book" / "data" / "rag" / "corpus.jsonl"
EXCLUDE = {"part3_efficiency/ch05_rag.ipynb"}
SIZE, OVERLAP = 120, 20           # words per passage, and shared with the next one

LABEL = re.compile(r"^\(([^)\s]+)\)=\s*$")
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
KEEP_ROLES = {"term", "doc", "ref", "abbr"}


def slug(term: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def _role(m: re.Match) -> str:
    role, body = m.group(1), m.group(2)
    if role not in KEEP_ROLES:
        return ""                                 # citations, equation references
    shown = re.match(r"^(.*?)\s*<[^>]*>$", body)
    if shown:
        return shown.group(1)
    return body if role == "term" else ""         # a bare {doc}`path` or {ref}`label` shows a title we lack


def clean(md: str) -> str:
    """MyST markdown -> plain prose: math blocks, directive fences and options, citations and tables removed."""
    md = re.sub(r"\$\$.*?\$\$(\s*\([^)]*\))?", " ", md, flags=re.S)
    lines = []
    for line in md.splitlines():
        s = line.strip()
        if s.startswith(("```", ":", "<", "|---", "---")) or re.fullmatch(r"[|\s:-]+", s or "x"):
            continue
        lines.append(line)
    text = "\n".join(lines)
    text = ROLE.sub(_role, text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\*\*|\*|__", "", text)
    text = text.replace("|", " ")
    text = re.sub(r"\s+([.,;:)])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def glossary_docs() -> list[dict]:
    entries = yaml.safe_load((ROOT / "glossary" / "terms.yml").read_text(encoding="utf-8"))
    docs = []
    for e in entries:
        text = clean(e["definition"])
        if e.get("aliases"):
            text += " Also called: " + ", ".join(e["aliases"]) + "."
        source = "glossary/terms.yml#" + ",".join(e["sections"])
        docs.append(dict(id=f"g:{slug(e['term'])}", source=source, title=e["term"], text=text))
    return docs


def chapter_docs(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    md = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    md = re.split(r"\n## (?:Exercises|References)", md)[0]
    rel = str(path.relative_to(ROOT))
    sections, label, body = [], None, []
    for line in md.splitlines():
        m = LABEL.match(line.strip())
        if m:
            if label:
                sections.append((label, body))
            label, body = m.group(1), []
        elif label:
            body.append(line)
    if label:
        sections.append((label, body))
    docs = []
    for label, body in sections:
        heading = next((ln.lstrip("#").strip() for ln in body if ln.startswith("#")), label)
        text = clean("\n".join(ln for ln in body if not ln.startswith("#") or ln.lstrip("#").strip() != heading))
        for i, piece in enumerate(chunk(text, SIZE, OVERLAP)):
            docs.append(dict(id=f"{label}#{i}", source=f"{rel}#{label}", title=clean(heading), text=piece))
    return docs


def toc_notebooks() -> list[Path]:
    """The chapter notebooks of ``_toc.yml``, in the order of the book."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node and (ROOT / f"{node['file']}.ipynb").is_file():
                found.append(ROOT / f"{node['file']}.ipynb")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
    return found


def build() -> list[dict]:
    docs = glossary_docs()
    for path in toc_notebooks():
        if str(path.relative_to(ROOT)) not in EXCLUDE:
            docs += chapter_docs(path)
    ids = [d["id"] for d in docs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SystemExit(f"duplicate document ids: {dup[:10]}")
    return docs


if __name__ == "__main__":
    docs = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(docs)} documents, {OUT.stat().st_size / 1e3:.0f} kB")
