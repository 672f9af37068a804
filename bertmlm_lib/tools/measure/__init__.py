"""The studies that measured what the book shows: each writes the shipped results in
`bertmlm_lib/experiments/measured/` that `bertmlm_lib.experiments` reads and draws for the lessons."""

from pathlib import Path

MEASUREMENTS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "measurements.md"


def put_tables(text: str, tables: dict[str, str]) -> str:
    """`text` with each markdown table after a `<!-- table:NAME -->` line replaced by `tables[NAME]`
    (a marker whose NAME `tables` lacks keeps its table).

    >>> put_tables("<!-- table:t -->\\n| old |\\n\\nafter", {"t": "| new |"})
    '<!-- table:t -->\\n| new |\\n\\nafter'
    """
    out, skipping = [], False
    for line in text.split("\n"):
        if skipping and line.startswith("|"):
            continue
        skipping = False
        out.append(line)
        name = line[len("<!-- table:"):-len(" -->")] if line.startswith("<!-- table:") else None
        if name in tables:
            out.extend(tables[name].split("\n"))
            skipping = True
    return "\n".join(out)


def fill_tables(tables: dict[str, str], path: Path = MEASUREMENTS_PAGE) -> None:
    """Put each markdown table after its marker in `path` (`<!-- table:NAME -->` is followed by
    `tables[NAME]`), replacing the table that was there: the page shows what the shipped JSON says."""
    path.write_text(put_tables(path.read_text(encoding="utf-8"), tables), encoding="utf-8")
