"""A number the project measured reaches docs/ only as printed from its source: typed numbers drift.

Each page of docs/ (not the run reports in its subfolders, which `bertmlm run` writes from its own
report.json) writes a measured number between markers that name its JSON file and key
(`tools/measure/sourced.py`), or in a table a generator prints after a `<!-- table:NAME -->` line.
What is left once those are taken out must type no measured number (`typed_numbers`, the check the
lessons and the README pass), and every marker and generated table must say what its source says now.
"""

import json
from pathlib import Path

import pytest
from test_typed_numbers import typed_numbers

from bertmlm_lib.tools.measure import sourced
from bertmlm_lib.tools.measure.sourced import SourceError, fill, without_sourced, without_tables
from bertmlm_lib.tools.measure.tables import STUDY_TABLES, TABLES

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
REFRESH = "python -m bertmlm_lib.tools.measure.sourced"


def test_the_pages_are_the_docs_and_not_the_run_reports():
    names = {page.name for page in PAGES}
    assert {"measurements.md", "instructor.md", "colab-and-binder.md"} <= names
    assert all(page.parent == ROOT / "docs" for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_types_no_measured_number(page):
    found = typed_numbers(without_tables(without_sourced(page.read_text(encoding="utf-8"))))
    assert not found, (f"docs/{page.name} types measured numbers {found}: write each between markers that name "
                       "its JSON (<!-- from PATH:KEY:SPEC -->...<!-- end -->), or say it in words")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_number_of_a_page_is_what_its_source_says_now(page):
    text = page.read_text(encoding="utf-8")
    again = fill(text)
    stale = [(old, new) for old, new in zip(text.splitlines(), again.splitlines()) if old != new]
    assert again == text, f"docs/{page.name} is stale; run `{REFRESH}`. First lines that change: {stale[:3]}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_table_marker_names_a_table_a_generator_prints(page):
    names = sourced.TABLE.findall(page.read_text(encoding="utf-8"))
    unknown = [name for name in names if name not in TABLES and name not in STUDY_TABLES]
    assert not unknown, f"docs/{page.name} has table markers no generator fills: {unknown}"


def test_the_pages_print_their_numbers_from_shipped_files():
    """The markers point into the repository's own results, not into a scratch folder."""
    paths = {match.group("path") for page in PAGES
             for match in sourced.MARKER.finditer(page.read_text(encoding="utf-8"))}
    assert paths, "no page prints a number from its source"
    wrong = sorted(path for path in paths if not (path.startswith("bertmlm_lib/experiments/measured/")
                                                  or path.startswith("docs/")) or not (ROOT / path).is_file())
    assert not wrong, f"markers name files that are not shipped results: {wrong}"


# The mechanism itself, on a scratch repository.

@pytest.fixture
def scratch(tmp_path):
    rows = [{"labels": 500, "acc": 0.7656}, {"labels": 1000, "acc": 0.8358}]
    (tmp_path / "run.json").write_text(json.dumps({"classifier": {"test_accuracy": 0.8854}, "rows": rows,
                                                   "first_step_at_0.60": 800, "top": ["movie", "film"]}))
    return tmp_path


def marker(key: str, spec: str, value: str = "?", path: str = "run.json") -> str:
    return f"<!-- from {path}:{key}:{spec} -->{value}<!-- end -->"


def test_fill_prints_each_value_again_from_its_source(scratch):
    text = (f"test accuracy {marker('classifier.test_accuracy', '.4f', '0.9999')}, "
            f"{marker('rows.labels=1000.acc', '.1%')} at 1,000 labels, {marker('rows.0.acc', '.3f')} at 500; "
            f"exit at step {marker('first_step_at_0.60', ',')}, probe \"{marker('top', '')}\"")
    assert fill(text, scratch) == (
        f"test accuracy {marker('classifier.test_accuracy', '.4f', '0.8854')}, "
        f"{marker('rows.labels=1000.acc', '.1%', '83.6%')} at 1,000 labels, "
        f"{marker('rows.0.acc', '.3f', '0.766')} at 500; "
        f"exit at step {marker('first_step_at_0.60', ',', '800')}, probe \"{marker('top', '', 'movie, film')}\"")
    again = fill(text, scratch)
    assert fill(again, scratch) == again, "printing again changes nothing"


@pytest.mark.parametrize("key, missing", [("classifier.auc", "'auc'"), ("rows.labels=2000.acc", "labels = 2000"),
                                          ("rows.5.acc", "'5'"), ("classifier.test_accuracy.mean", "'mean'")])
def test_fill_names_the_marker_the_file_and_the_key_it_cannot_find(scratch, key, missing):
    with pytest.raises(SourceError) as caught:
        fill(f"a number {marker(key, '.3f')} here", scratch)
    said = str(caught.value)
    assert f"<!-- from run.json:{key}:.3f -->" in said and "run.json" in said and key in said and missing in said


def test_fill_says_which_file_is_missing_and_which_marker_is_unclosed(scratch):
    with pytest.raises(SourceError, match="no file gone.json"):
        fill(marker("x", ".1f", path="gone.json"), scratch)
    with pytest.raises(SourceError, match="without its closing"):
        fill("<!-- from run.json:classifier.test_accuracy:.4f -->0.8854 and no end", scratch)
    with pytest.raises(SourceError, match="does not print with"):
        fill(marker("rows", ".3f"), scratch)  # a list of dictionaries is not a number


def test_without_sourced_removes_exactly_the_marker_spans():
    first, second = marker("a.b", ".1%", "26.4%"), marker("c", ".4f", "0.8854")
    text = f"reached {first} after 2 minutes,\nand {second} (typed: 0.8728) | end"
    assert without_sourced(text) == "reached  after 2 minutes,\nand  (typed: 0.8728) | end"
    assert typed_numbers(without_sourced(text)) == ["0.8728"], "a typed number beside a marker is still seen"
    assert without_sourced("no markers, 12.5%") == "no markers, 12.5%"


def test_without_tables_removes_only_the_tables_a_generator_prints():
    known, study = next(iter(TABLES)), next(iter(STUDY_TABLES))
    text = (f"<!-- table:{known} -->\n| a |\n|---|\n| 0.812 |\n\ntext 0.5%\n<!-- table:{study} -->\n| 0.9 +- 1 |\n\n"
            "<!-- table:nobody -->\n| 0.771 |\n")
    assert typed_numbers(without_tables(text)) == ["0.5%", "0.771"]


def test_the_checks_see_a_typed_number_and_a_stale_marker(scratch):
    page = f"the classifier reached 0.8854 ({marker('classifier.test_accuracy', '.4f', '0.8800')})"
    assert typed_numbers(without_tables(without_sourced(page))) == ["0.8854"]
    assert fill(page, scratch) != page


def test_the_one_command_prints_a_page_again_in_place(tmp_path, capsys):
    page = tmp_path / "page.md"
    stale = marker("classifier.test_accuracy", ".4f", "0.1234", path="docs/workshop-run/report.json")
    page.write_text(f"test accuracy {stale}\n", encoding="utf-8")
    assert sourced.main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == fill(f"test accuracy {stale}\n")
    assert "0.1234" not in page.read_text(encoding="utf-8")
    assert sourced.main([str(page)]) == 0 and "already current" in capsys.readouterr().out
    page.write_text(marker("no.such.key", ".4f", path="docs/workshop-run/report.json"), encoding="utf-8")
    assert sourced.main([str(page)]) == 2 and "no.such.key" in capsys.readouterr().err
