"""A number the project measured reaches a lesson's prose only as a cell prints it: typed numbers drift.

The check reads the markdown of every lesson, of the recipe notebook and the README, and flags what
looks measured: a percentage or an accuracy with decimals ("26.4%", "0.882"), a "+-" spread, a time
in seconds or milliseconds with decimals. Settings and textbook facts (15%, 80/10/10, 2e-3, 128
tokens) are whole numbers or exponents and pass.
"""
import re
from pathlib import Path

import pytest

from bertmlm_lib.tools.measure.lessons import markdown_texts

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
LESSONS = [path for path in NOTEBOOKS if not re.match(r"\d\d_solutions", path.name)]
MEASURED = re.compile(r"(?<![\w.])(?:\d+\.\d+\s?%|0\.\d{2,}(?![\w.])|\d+(?:\.\d+)?\s?\+-\s?\d|\d+\.\d+\s?(?:ms|s)\b)")


def typed_numbers(markdown: str) -> list[str]:
    """What in `markdown` looks like a measured number typed by hand (code spans are skipped).

    >>> typed_numbers("reached 26.4% in 1,218 steps; test 0.882 +- 0.01; `lr=0.001`; masks 15%, 80/10/10")
    ['26.4%', '0.882', '0.01']
    >>> typed_numbers("26 +- 1 points")
    ['26 +- 1']
    """
    prose = re.sub(r"`[^`]*`|\([^)]*https?://[^)]*\)", "", markdown)
    return MEASURED.findall(prose)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_types_no_measured_number(lesson):
    found = typed_numbers("\n".join(markdown_texts(lesson)))
    assert not found, f"{lesson.name} types measured numbers {found}: print them from their source in a cell instead"


def test_the_readme_types_no_measured_number():
    found = typed_numbers((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not found, f"README.md types measured numbers {found}: generate the table from its JSON instead"


def test_the_check_sees_a_typed_number():
    assert typed_numbers("the model reached 30.3% and the classifier 0.8824 in 1.5 s") == ["30.3%", "0.8824", "1.5 s"]
    assert typed_numbers("mask 15% of the words, 80/10/10, a rate of 2e-3, 128 tokens") == []
