"""The timeline of p6-8 (part6_production/data/timeline.yml) links only to sections that exist.

Every milestone names the section of the book that builds its idea, as a
MyST label such as ``p1-6.4`` or ``p3-ii-lora``; a label exists when some page
of the book (a notebook's markdown cells or a Markdown page) defines it with a
``(label)=`` line, the target the book's cross-references resolve to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TIMELINE = ROOT / "part6_production/data/timeline.yml"
LABEL_TARGET = re.compile(r"^\(([^)\s]+)\)=\s*$", re.M)
FIELDS = {"year", "name", "why", "link", "theme"}


def _markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def book_labels(root: Path = ROOT) -> set[str]:
    """Every ``(label)=`` target defined in the book's pages: part folders, the glossary and the front matter."""
    pages = [*root.glob("part*/*.ipynb"), *root.glob("part*/*.md"), *root.glob("glossary/*.md"), *root.glob("*.md")]
    return {m.group(1) for p in pages for m in LABEL_TARGET.finditer(_markdown(p))}


def milestones() -> list[dict]:
    return yaml.safe_load(TIMELINE.read_text(encoding="utf-8"))["milestones"]


def test_label_parser_on_awkward_lines():
    text = "(p9-1)=\n# T\n  (indented)=\n(has space)=\n(p9-1.2)=   \r\ntext (inline)= here\n(p9-x)= trailing\n"
    assert {m.group(1) for m in LABEL_TARGET.finditer(text)} == {"p9-1", "p9-1.2"}


def test_every_milestone_has_its_fields():
    ms = milestones()
    assert len(ms) >= 25
    for m in ms:
        assert FIELDS <= set(m), f"{m.get('name')}: missing {sorted(FIELDS - set(m))}"
        assert 2012 <= m["year"] <= 2025, f"{m['name']}: year {m['year']} outside 2012–2025"
        assert len(m["why"].split()) >= 8, f"{m['name']}: say why it mattered in a sentence"
    years = [m["year"] for m in ms]
    assert years == sorted(years), "milestones must be listed in order of year"
    assert set(range(2012, 2026)) - set(years) <= {2016}, "every year of 2012–2025 but 2016 has a milestone"
    names = [m["name"] for m in ms]
    assert len(set(names)) == len(names), "a milestone is listed twice"


@pytest.mark.parametrize("m", milestones(), ids=lambda m: f"{m['year']}-{m['name']}")
def test_every_link_resolves_to_a_section(m):
    labels = book_labels()
    near = sorted(lbl for lbl in labels if lbl.split("-")[0] == m["link"].split("-")[0])[:12]
    assert m["link"] in labels, (f"{m['year']} {m['name']}: link {m['link']!r} is not a (label)= of any page; "
                                 f"labels of the same part: {near}")
