"""Every lesson opens in Colab and Binder from the README and from its own first cell, and the licence
pyproject names is the one shipped."""
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _links(text: str) -> set[str]:
    return set(re.findall(r"\]\((https://(?:colab\.research\.google\.com|mybinder\.org)[^)\s]+)\)", text))


RELEASE = "v" + re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M).group(1)


def _expected(name: str) -> set[str]:
    """A lesson opens at the tagged release, the same one its Colab cell installs."""
    return {f"https://colab.research.google.com/github/bertmlm/bertmlm/blob/{RELEASE}/notebooks/{name}.ipynb",
            f"https://mybinder.org/v2/gh/bertmlm/bertmlm/{RELEASE}?urlpath=lab/tree/notebooks/{name}.ipynb"}


def test_the_colab_cell_installs_the_release_and_nothing_of_colabs():
    """Pinned to the release tag the badges open; no TensorFlow, Keras or ipywidgets named, so pip keeps Colab's."""
    for name in LESSONS:
        source = next(c.source for c in nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
                      if c.cell_type == "code")
        installs = re.findall(r'"pip", "install", ([^\]]+)\]', source)
        assert installs == [f'"-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@{RELEASE}"'], name


def test_every_lesson_row_of_the_readme_opens_its_own_notebook():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| \[(\d\d_\w+)\]\(notebooks/\1\.ipynb\).*$",
                                                          (ROOT / "README.md").read_text(encoding="utf-8"), re.M)}
    assert sorted(rows) == LESSONS
    wrong = [name for name, row in rows.items() if not _expected(name) <= _links(row)]
    assert not wrong, f"README rows without their own Colab and Binder links: {wrong}"


def test_every_notebook_says_where_to_open_it_in_its_first_cell():
    wrong = []
    for name in LESSONS:
        first = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[0]
        if first.cell_type != "markdown" or not _expected(name) <= _links(first.source):
            wrong.append(name)
    assert not wrong, f"first cells without their own Colab and Binder links: {wrong}"


def test_the_licence_file_is_the_one_pyproject_names():
    declared = re.search(r'^license = \{ text = "([^"]+)" \}', (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                         re.M).group(1)  # (tomllib is Python 3.11+; we support 3.10)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert declared == "Apache-2.0" and "Apache License" in text and "Version 2.0, January 2004" in text
