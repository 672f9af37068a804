"""What the project measured, and how the lessons read it: the shipped results and their figures.

- `quality`: time to quality, which pretraining recipe leaves the frequent-word plateau soonest;
- `label_efficiency`: what pretraining buys per labelled review, and the fair protocol that compares
  encoders (lesson 06 runs it in class);
- `cloze`: the MLM asked itself, zero-shot and few-shot through its head;
- `tokenizers`: words or pieces, downstream.

`measured/` holds the results measured for the project and shipped with it, so the lessons (in
Colab and Binder too) show measured numbers without spending the minutes to measure them. The
studies that measured them live with the tools (`bertmlm_lib/tools/measure/`), which no lesson imports.
"""

import json
from pathlib import Path

MEASURED = Path(__file__).resolve().parent / "measured"


def load_measured(name: str, folder=None) -> dict:
    """A saved result: by default one measured for the project and shipped in `measured/`
    ("quality.json": time to quality; "downstream.json": the downstream check at 1,000 labels;
    "label_efficiency.json": the label-efficiency curve)."""
    return json.loads((Path(folder or MEASURED) / name).read_text(encoding="utf-8"))
