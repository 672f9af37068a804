"""Every lesson opens with what you will do and how long it takes (measured), and closes with a recap
and the next lesson; the times it states are the ones `bertmlm bench --lessons` measured."""

import json
import re
from pathlib import Path

import pytest

from bertmlm_lib.tools.measure.lessons import duration, markdown_texts

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("0[1-7]_*.py"))
MEASURED = json.loads((ROOT / "docs" / "lessons.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_opens_with_objectives_and_its_measured_time(lesson):
    first = markdown_texts(lesson)[0]
    assert re.search(r"^1\. ", first, re.M) and re.search(r"^2\. ", first, re.M), "numbered objectives"
    [row] = [row for row in MEASURED["lessons"] if row["notebook"] == lesson.stem]
    assert f"runs in about {duration(row['seconds'])} in the" in " ".join(first.split()), \
        f"{lesson.name} should state the measured {duration(row['seconds'])}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_closes_with_a_recap_and_what_comes_next(lesson):
    last = markdown_texts(lesson)[-1]
    assert "## Recap" in last and "**Next" in last


def test_every_lesson_was_measured_in_the_workshop_preset():
    assert MEASURED["preset"] == "workshop"
    measured = sorted(row["notebook"] for row in MEASURED["lessons"])
    assert measured == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_the_readme_shows_the_measured_table():
    from bertmlm_lib.tools.measure.lessons import format_table

    assert format_table(MEASURED) in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_lesson_fits_its_slot_in_the_agenda():
    """Reading a lesson's prose and waiting for its cells take at most `SLOT_SHARE` of its slot; lessons 01-07
    hold at most `WORDS_IN_LESSONS` words together."""
    from bertmlm_lib.tools.measure.lessons import over_slot

    assert not over_slot(MEASURED), f"lessons over their slot: {over_slot(MEASURED)}"


@pytest.mark.parametrize("row", MEASURED["lessons"], ids=lambda row: row["notebook"])
def test_the_table_counts_the_words_the_notebook_has_now(row):
    from bertmlm_lib.tools.measure.lessons import prose_words

    assert row["words"] == prose_words(ROOT / "notebooks" / f"{row['notebook']}.ipynb"), \
        "re-count: bertmlm bench --lessons, or tools.measure.lessons.recount_words"
