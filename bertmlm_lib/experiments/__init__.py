"""Experiments that measure the tutorial's claims: what each is, and where its measured results live.

- `quality`: time to quality, which pretraining recipe leaves the frequent-word plateau soonest
  (`bertmlm bench --quality`);
- `label_efficiency`: what pretraining buys per labelled review, against a random encoder and TF-IDF;
- `bench`: training speed and memory of our MLM model against the reference tutorial's way
  (`bertmlm bench`).

`measured/` holds the results measured for the project and shipped with it, so the lessons (in
Colab and Binder too) show measured numbers without spending the minutes to measure them.
"""

import json
from pathlib import Path

MEASURED = Path(__file__).resolve().parent / "measured"


def load_measured(name: str, folder=None) -> dict:
    """A saved result: by default one measured for the project and shipped in `measured/`
    ("quality.json": time to quality; "downstream.json": the downstream check at 1,000 labels;
    "label_efficiency.json": the label-efficiency curve)."""
    return json.loads((Path(folder or MEASURED) / name).read_text(encoding="utf-8"))
