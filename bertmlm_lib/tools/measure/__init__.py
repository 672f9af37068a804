"""The studies that measured what the book shows: each writes the shipped results in
`bertmlm_lib/experiments/measured/` that `bertmlm_lib.experiments` reads and draws for the lessons."""

from pathlib import Path

MEASUREMENTS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "measurements.md"


def fill_tables(tables: dict[str, str], path: Path = MEASUREMENTS_PAGE) -> None:
    """Put each markdown table after its marker in `path` (`<!-- table:NAME -->` is followed by
    `tables[NAME]`), replacing the table that was there: the page shows what the shipped JSON says."""
    lines, out, skipping = path.read_text(encoding="utf-8").split("\n"), [], False
    for line in lines:
        if skipping and line.startswith("|"):
            continue
        skipping = False
        out.append(line)
        name = line[len("<!-- table:"):-len(" -->")] if line.startswith("<!-- table:") else None
        if name in tables:
            out.extend(tables[name].split("\n"))
            skipping = True
    path.write_text("\n".join(out), encoding="utf-8")
