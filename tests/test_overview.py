"""The instructors' overview lists every chapter notebook with its metadata."""

from __future__ import annotations

from instructors_overview import chapters, colab_url, courses, path_problems, to_myst
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
    assert text.count("### Part") == len({r.part for r in rows})


def test_exercise_counts_and_colab_links():
    rows = chapters(ROOT)
    assert all(r.exercises >= 3 and 0 < r.checked <= r.exercises for r in rows), \
        [(r.docname, r.exercises, r.checked) for r in rows]
    text = to_myst(rows, "https://github.com/owner/repo")
    assert text.count("https://colab.research.google.com/github/owner/repo/blob/main/part") == len(rows)
    assert colab_url("https://github.com/owner/repo", "part1_foundations/ch01_core_ml") == \
        "https://colab.research.google.com/github/owner/repo/blob/main/part1_foundations/ch01_core_ml.ipynb"


def test_prerequisites_are_read_from_the_chapters():
    rows = {r.docname: r for r in chapters(ROOT)}
    # the chapters' own Prerequisites paragraphs: ch07a links to ch06; §VIII cites §III's schedules by {ref}
    assert "part1_foundations/ch06_attention" in rows["part1_foundations/ch07a_gpt_scaling"].requires
    assert "part2_pipeline/ch03_training_pipeline" in rows["part2_pipeline/ch08_optimizers"].requires
    assert rows["part1_foundations/ch01_core_ml"].requires == ()
    order = list(rows)
    assert all(order.index(d) < order.index(doc) for doc, r in rows.items() for d in r.requires)


def test_every_course_teaches_prerequisites_first():
    rows = chapters(ROOT)
    items = courses()
    assert len(items) >= 2 and all(c["weeks"] for c in items)
    assert {len(c["weeks"]) for c in items} >= {10, 4}
    problems = [p for c in items for p in path_problems(c, rows)]
    assert not problems, problems


def test_the_course_check_catches_a_chapter_taught_too_early():
    rows = chapters(ROOT)
    weeks = [["part1_foundations/ch07a_gpt_scaling"], ["part1_foundations/ch06_attention"]]
    bad = {"name": "backwards", "weeks": weeks}
    assert any("needs part1_foundations/ch06_attention" in p for p in path_problems(bad, rows))
    assert path_problems({"name": "typo", "weeks": [["part1_foundations/nope"]]}, rows)
