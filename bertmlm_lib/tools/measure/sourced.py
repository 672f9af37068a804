"""Numbers in docs, printed from their source, so that none is typed by hand (typed numbers drift).

A number the project measured names the JSON it comes from, and one command prints it again. In a
markdown page such a number stands between two HTML comments, which the rendered page hides:

    <!-- from docs/workshop-run/report.json:classifier.test_accuracy:.4f -->0.8854<!-- end -->

The opening comment names a JSON file (its path from the repository root), a key path into it and a
Python format spec (`.4f`, `.1%`, `,`, `.0f`; empty: the value as it is). Dots separate the steps of
the key path: a dictionary's key (a key that holds a dot, such as "first_step_at_0.60", is found
whole), a list's index (`rows.0.labels`), or `field=value`, the list item whose field has that value
(`lessons.notebook=05_pretraining.seconds`). A list prints as its items, each formatted, joined by
", "; a string takes a spec too (`.10` keeps its first ten characters).

A line `<!-- table:NAME -->` is followed by a table printed from a shipped JSON: `fill` prints again
the ones `tables.TABLES` knows; the studies print theirs with their own commands.

    python -m bertmlm_lib.tools.measure.sourced            # every page of docs/, in place
    python -m bertmlm_lib.tools.measure.sourced docs/instructor.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ...errors import BertmlmError
from . import put_tables
from .tables import STUDY_TABLES, TABLES

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
OPENING = "<!-- from "
CLOSING = "<!-- end -->"
MARKER = re.compile(r"<!-- from (?P<path>[^\s:]+):(?P<key>[^\n]*?):(?P<spec>[^:\n]*?) -->"
                    r"(?P<value>[^\n]*?)<!-- end -->")
TABLE = re.compile(r"^<!-- table:(\S+) -->$", re.M)


class SourceError(BertmlmError, ValueError):
    """A marker names a file, a key or a format its source does not have."""


def lookup(data, key: str):
    """The value at the dotted `key` in `data` (parsed JSON); KeyError says which step is missing.

    >>> data = {"rows": [{"labels": 500, "acc": 0.77}], "at_0.60": 3}
    >>> lookup(data, "rows.0.acc"), lookup(data, "rows.labels=500.acc"), lookup(data, "at_0.60")
    (0.77, 0.77, 3)
    """
    parts, here, done = key.split("."), data, 0
    while done < len(parts):
        where = ".".join(parts[:done]) or "the top"
        if isinstance(here, dict):
            found = next((end for end in range(len(parts), done, -1) if ".".join(parts[done:end]) in here), None)
            if found is None:
                raise KeyError(f"no key {parts[done]!r} at {where} (it has {', '.join(map(str, here))[:300]})")
            here, done = here[".".join(parts[done:found])], found
        elif isinstance(here, list):
            part = parts[done]
            if "=" in part:
                field, value = part.split("=", 1)
                here = next((item for item in here if isinstance(item, dict) and str(item.get(field)) == value),
                            None)
                if here is None:
                    raise KeyError(f"no item with {field} = {value} in the list at {where}")
            elif part.lstrip("-").isdigit() and -len(here) <= int(part) < len(here):
                here = here[int(part)]
            else:
                raise KeyError(f"no item {part!r} in the list of {len(here)} at {where}")
            done += 1
        else:
            raise KeyError(f"{where} holds {here!r}, which has no {parts[done]!r}")
    return here


def printed(value, spec: str) -> str:
    """`value` as a page prints it with the format `spec` (a list: its items, joined by ", ").

    >>> printed(0.8854, ".1%"), printed(6012.9, ",.0f"), printed(["movie", "film"], "")
    ('88.5%', '6,013', 'movie, film')
    >>> printed("2026-12-04 08:56:41", ".10")
    '2026-12-04'
    """
    if isinstance(value, list):
        return ", ".join(printed(item, spec) for item in value)
    if value is None or isinstance(value, dict):
        raise ValueError(f"{value!r} is not a number or a text")
    return format(value, spec)


def fill(text: str, root=ROOT) -> str:
    """`text` with every marker's value printed again from its source under `root`, and every table that
    `tables.TABLES` knows printed again after its `<!-- table:NAME -->` line. SourceError names the
    marker, its file and its key when something is missing.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "run.json").write_text('{"rows": [{"labels": 500, "accuracy": 0.7656}]}')
    >>> fill("fine-tuned <!-- from run.json:rows.labels=500.accuracy:.1% -->80%<!-- end -->", root)
    'fine-tuned <!-- from run.json:rows.labels=500.accuracy:.1% -->76.6%<!-- end -->'
    """
    sources = {}

    def source(path: str, marker: str):
        if path not in sources:
            file = Path(root) / path
            if not file.is_file():
                raise SourceError(f"{marker}: there is no file {path} under {root}; give the JSON's path from the "
                                  "repository root")
            try:
                sources[path] = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise SourceError(f"{marker}: {path} is not JSON ({error})") from None
        return sources[path]

    def again(match: re.Match) -> str:
        marker = match.group(0)[:match.start("value") - match.start()]
        path, key, spec = match.group("path", "key", "spec")
        try:
            value = lookup(source(path, marker), key)
        except KeyError as error:
            raise SourceError(f"{marker}: {path} has no key {key}: {error.args[0]}") from None
        try:
            return f"{marker}{printed(value, spec)}{CLOSING}"
        except ValueError as error:
            raise SourceError(f"{marker}: the value at {key} in {path} does not print with {spec!r} ({error})") \
                from None

    unclosed = text.count(OPENING) - len(MARKER.findall(text))
    if unclosed:
        first = next(m.start() for m in re.finditer(re.escape(OPENING), text) if not MARKER.match(text, m.start()))
        raise SourceError(f"{text[first:first + 120].splitlines()[0]!r}: a marker without its closing {CLOSING} on the "
                          "same line, or without a path, a key and a format (`from PATH:KEY:SPEC`)")
    text = MARKER.sub(again, text)
    names = [name for name in TABLE.findall(text) if name in TABLES]
    return put_tables(text, {name: TABLES[name](root) for name in names}) if names else text


def without_sourced(text: str) -> str:
    """`text` without its marker spans (the markers and the numbers between them): what is left must type
    no measured number.

    >>> without_sourced("reached <!-- from a.json:x:.1% -->26.4%<!-- end --> in 2 minutes")
    'reached  in 2 minutes'
    """
    return MARKER.sub("", text)


def without_tables(text: str) -> str:
    """`text` without the tables printed after `<!-- table:NAME -->` lines, for NAMEs that a generator prints
    (`tables.TABLES` or a study's, `tables.STUDY_TABLES`).

    >>> without_tables("<!-- table:runs -->\\n| a |\\n|---|\\n\\n| typed |")
    '<!-- table:runs -->\\n\\n\\n| typed |'
    """
    return put_tables(text, {name: "" for name in (*TABLES, *STUDY_TABLES)})


def fill_file(path, root=ROOT) -> bool:
    """Print every number of the page at `path` again from its source, in place; whether it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    again = fill(text, root)
    if again != text:
        path.write_text(again, encoding="utf-8")
    return again != text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bertmlm_lib.tools.measure.sourced",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", help="markdown pages (default: every docs/*.md)")
    args = parser.parse_args(argv)
    pages = [Path(page) for page in args.pages] or sorted(DOCS.glob("*.md"))
    for page in pages:
        try:
            changed = fill_file(page)
        except (OSError, SourceError) as error:
            print(f"error: {page}: {error}", file=sys.stderr)
            return 2
        print(f"{page}: {'printed again from its sources' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
