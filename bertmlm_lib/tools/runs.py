"""`bertmlm runs`: one line per past run, read from the `report.json` each `bertmlm run` leaves."""

from __future__ import annotations

import json
from pathlib import Path

from ..artifacts import REPORT_FILE

COLUMNS = ("finished", "preset", "vocab", "length", "layers", "pretrain_min", "total_s", "masked_acc", "test_acc",
           "tfidf", "folder")


def collect(folders) -> list[dict]:
    """Rows for every report in `folders` (each an artifacts folder or a folder of them), newest first."""
    rows = []
    for folder in map(Path, folders):
        candidates = [folder / REPORT_FILE] if (folder / REPORT_FILE).is_file() else sorted(folder.glob(f"*/{REPORT_FILE}"))
        for path in candidates:
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
                cfg = report["config"]
                rows.append({
                    "finished": report.get("finished_at", ""), "preset": report["preset"], "vocab": cfg["vocab_size"],
                    "length": cfg["max_length"], "layers": cfg["num_layers"], "pretrain_min": cfg["pretrain_minutes"],
                    "total_s": report["timings_s"]["total"], "masked_acc": report["mlm"]["masked_accuracy"],
                    "test_acc": report["classifier"]["test_accuracy"], "tfidf": report["baselines"]["tfidf_lr"],
                    "folder": str(path.parent),
                })
            except (OSError, ValueError, KeyError, TypeError):  # a damaged or foreign report: listed as such
                rows.append({"finished": "", "preset": "?", "folder": str(path.parent), "damaged": True})
    return sorted(rows, key=lambda row: row["finished"], reverse=True)


def table(rows: list[dict]) -> str:
    """Aligned text columns; a message when there is nothing to list."""
    if not rows:
        return "no runs yet: `bertmlm run --preset smoke` makes one (reports are read from report.json)."

    def cell(row, name):
        value = row.get(name, "")
        if name in ("masked_acc",) and isinstance(value, float):
            return f"{value:.1%}"
        if name in ("test_acc", "tfidf") and isinstance(value, float):
            return f"{value:.4f}"
        return "damaged report" if name == "preset" and row.get("damaged") else str(value if value is not None else "-")

    cells = [[cell(row, name) for name in COLUMNS] for row in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, name in enumerate(COLUMNS)]
    lines = ["  ".join(name.ljust(w) for name, w in zip(COLUMNS, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
