"""The glossary pipeline: validation messages (file, line, reason) and the Sphinx build."""

from __future__ import annotations

import re
import textwrap

import pytest

from nbtools import ROOT
from yaml_glossary import GlossaryError, check_sections, load_terms, parse_terms, to_myst

GOOD = """\
- term: Gradient descent
  aliases: [GD]
  definition: Step against the gradient, $\\theta \\leftarrow \\theta - \\eta g$.
  related: [Learning rate]
  sections: [p1-1.3]
- term: Learning rate
  definition: The step size.
  sections: [p1-1.3]
"""


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(GlossaryError) as info:
        parse_terms(textwrap.dedent(text), "terms.yml")
    return [(line, msg) for _, line, msg in info.value.problems]


def test_good_file_parses():
    entries = parse_terms(GOOD)
    assert [e.term for e in entries] == ["Gradient descent", "Learning rate"]
    assert entries[0].aliases == ("GD",) and entries[0].sections == ("p1-1.3",)
    assert entries[0].line == 1 and entries[1].line == 6


@pytest.mark.parametrize("text, line, fragment", [
    # 1. YAML syntax error: an unclosed flow list
    ("- term: A\n  definition: x\n  sections: [p1-1.1\n", 4, "malformed YAML"),
    # 2. empty file
    ("", 1, "the file is empty"),
    # 3. top level is a mapping, not a list
    ("term: A\ndefinition: x\n", 1, "expected a list of entries"),
    # 4. an entry that is a bare string
    ("- just a word\n", 1, "an entry must be a mapping"),
    # 5. missing definition
    ("- term: A\n  sections: [p1-1.1]\n", 1, "entry 'A': missing required field 'definition'"),
    # 6. empty definition
    ("- term: A\n  definition: '  '\n  sections: [p1-1.1]\n", 2, "entry 'A': 'definition' is empty"),
    # 7. empty sections list
    ("- term: A\n  definition: x\n  sections: []\n", 3, "'sections' is empty"),
    # 8. misspelt field name
    ("- term: A\n  defintion: x\n  definition: x\n  sections: [s]\n", 2, "unknown field 'defintion'"),
    # 9. duplicate term, ignoring case
    ("- term: Attention\n  definition: x\n  sections: [s]\n- term: attention\n  definition: y\n  sections: [s]\n",
     4, "'attention' is defined twice"),
    # 10. an alias colliding with another entry's term
    ("- term: A\n  definition: x\n  sections: [s]\n- term: B\n  aliases: [a]\n  definition: y\n  sections: [s]\n",
     4, "'a' is defined twice"),
    # 11. related term that does not exist
    ("- term: A\n  definition: x\n  related: [Nope]\n  sections: [s]\n", 1,
     "related term 'Nope' is not in the glossary"),
    # 12. aliases not a list
    ("- term: A\n  aliases: B\n  definition: x\n  sections: [s]\n", 2, "'aliases' must be a list"),
    # 13. a field given twice
    ("- term: A\n  definition: x\n  definition: y\n  sections: [s]\n", 3, "field 'definition' given twice"),
    # 14. section label with a space
    ("- term: A\n  definition: x\n  sections: [Part I 1.2]\n", 3, "is not a section label"),
    # 15. term that is a number, not text
    ("- term: 42\n  definition: x\n  sections: [s]\n", 1, "'term' must be text"),
    # 16. an entry related to itself
    ("- term: A\n  definition: x\n  related: [A]\n  sections: [s]\n", 1, "lists itself as related"),
])
def test_malformed_input_is_reported_with_line_and_reason(text, line, fragment):
    found = problems(text)
    assert any(l == line and fragment in m for l, m in found), f"expected line {line}: {fragment!r}; got {found}"


def test_every_problem_is_reported_not_just_the_first():
    found = problems("- term: A\n  sections: [s]\n- term: B\n  definition: ''\n  sections: [s]\n")
    assert len(found) == 2


def test_message_names_the_file():
    with pytest.raises(GlossaryError) as info:
        parse_terms("- term: A\n", "glossary/terms.yml")
    assert str(info.value).startswith("glossary/terms.yml:1: entry 'A': missing required field")


def test_missing_file():
    with pytest.raises(GlossaryError, match="glossary file not found"):
        load_terms(ROOT / "glossary" / "no-such-file.yml")


def test_unknown_section_label():
    entries = parse_terms(GOOD)
    found = check_sections(entries, {"p1-1.2"}, "terms.yml")
    assert found and all("section label 'p1-1.3' does not exist" in m for _, _, m in found)
    assert check_sections(entries, {"p1-1.3"}, "terms.yml") == []


def test_to_myst_renders_terms_aliases_links():
    text = to_myst(parse_terms(GOOD))
    assert text.startswith("```{glossary}") and text.rstrip().endswith("```")
    assert "Gradient descent\nGD\n   Step against" in text
    assert "{term}`Learning rate`" in text and "{ref}`p1-1.3`" in text


def test_the_books_glossary_is_valid():
    entries = load_terms(ROOT / "glossary" / "terms.yml")
    assert len(entries) >= 14
    assert [e.term.lower() for e in entries] == sorted(e.term.lower() for e in entries), "keep terms.yml sorted"


# ---------------------------------------------------------------- a real build

PAGE = """\
(p1-1.3)=
# Gradient descent

We use {term}`GD` here.

```{yaml-glossary}
```
"""


def _build(tmp_path, terms: str) -> tuple[int, str]:
    """Build a one-page Sphinx project with the extension, as a separate process
    (as ``jupyter-book build`` runs Sphinx); return (exit status, output)."""
    import subprocess
    import sys

    src = tmp_path / "src"
    (src / "glossary").mkdir(parents=True)
    (src / "index.md").write_text(PAGE)
    (src / "glossary" / "terms.yml").write_text(terms)
    (src / "conf.py").write_text(f"import sys; sys.path.insert(0, {str(ROOT / 'glossary')!r})\n"
                                 "extensions = ['myst_parser', 'yaml_glossary']\n"
                                 "myst_enable_extensions = ['dollarmath']\n")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def test_sphinx_build_renders_a_valid_glossary(tmp_path):
    status, log = _build(tmp_path, GOOD)
    assert status == 0, log
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'id="term-Gradient-descent"' in html and "Taught in" in html


def test_sphinx_build_fails_on_malformed_yaml(tmp_path):
    status, log = _build(tmp_path, "- term: A\n  definition: x\n  sections: [p1-1.3\n")
    assert status != 0
    assert "glossary/terms.yml:4: malformed YAML" in log, log


def test_sphinx_build_fails_on_unknown_section(tmp_path):
    bad = GOOD.replace("sections: [p1-1.3]\n- term: Learning", "sections: [p9-9.9]\n- term: Learning")
    status, log = _build(tmp_path, bad)
    assert status != 0
    assert "glossary/terms.yml:1: entry 'Gradient descent': section label 'p9-9.9' does not exist" in log, log


def _name_variants(name: str) -> set[str]:
    """'BPE (Byte Pair Encoding)' -> the whole, 'BPE', 'Byte Pair Encoding'; 'Adam / AdamW' -> both."""
    out = {name}
    m = re.match(r"(.*?)\s*\((.*)\)$", name)
    if m:
        out |= {m.group(1), m.group(2)}
    if "/" in name:
        out |= {part.strip() for part in name.split("/")}
    return {v.strip().lower() for v in out}


def test_the_glossary_reaches_every_term_of_the_source_list():
    listed = [line.strip() for line in (ROOT / "tests" / "data" / "source_glossary_terms.txt").read_text(
        encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    names = set()
    for e in load_terms(ROOT / "glossary" / "terms.yml"):
        names |= {e.term.lower(), *(a.lower() for a in e.aliases)}
    missing = [t for t in listed if not _name_variants(t) & names]
    assert len(listed) >= 40 and not missing, f"source glossary terms the book's glossary lacks: {missing}"
