"""The instructors' overview lists every chapter notebook with its metadata."""

from __future__ import annotations

from instructors_overview import chapters, to_myst
from nbtools import ROOT, notebooks


def test_every_notebook_appears_once_in_reading_order():
    rows = chapters(ROOT)
    assert sorted(r.docname for r in rows) == sorted(str(p.relative_to(ROOT).with_suffix("")) for p in notebooks())
    assert rows[0].docname == "part1_foundations/ch01_core_ml"
    assert all(r.objectives and r.prerequisites and r.budget_s > 0 for r in rows)


def test_tables_link_each_chapter_and_total_each_part():
    rows = chapters(ROOT)
    text = to_myst(rows)
    for r in rows:
        assert f"{{doc}}`/{r.docname}`" in text
    assert text.count("## Part") == len({r.part for r in rows})
