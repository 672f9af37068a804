"""Is my run normal? The reference band of lesson 05 and `bertmlm run`, and a verdict in words.

The band is the preset's own recipe pretrained several times with other seeds on a 2-core CPU
(`bertmlm_lib/tools/measure/band.py`), its held-out masked accuracy every 100 steps: the lowest,
mean and highest seed at each step. Steps are the axis, so a slow laptop sits in the band, only
further left when its minutes run out; a run below the band learns less per step than the recipe.
"""

from __future__ import annotations

import json
from pathlib import Path

BAND_FILE = Path(__file__).parent / "experiments" / "measured" / "reference_band.json"
PLATEAU_EXIT = 0.20  # held-out masked accuracy that counts as having left the frequent-word plateau
ON_PLATEAU = 0.02  # within this of always guessing the most frequent word: still on the plateau
BELOW = 0.01  # this far under the lowest reference seed counts as below the band


def load_band(budget: str = "lesson", preset: str = "workshop", path=BAND_FILE) -> dict | None:
    """The shipped band for a preset's `budget` ("lesson": lesson 05's minutes; "workshop": the preset's
    whole budget, as `bertmlm run` trains): {"steps", "low", "mean", "high", "seeds", "frequent_word"}; None
    when none was measured for it."""
    if not Path(path).is_file():  # a copy of the library without its measurements: nothing to compare with
        return None
    bands = json.loads(Path(path).read_text(encoding="utf-8"))["bands"]
    return next((band for band in bands if band["preset"] == preset and band["budget"] == budget), None)


def band_at(band: dict, step: int) -> tuple[float, float, float] | None:
    """(low, mean, high) held-out masked accuracy of the band at `step`, read between its measured steps;
    None past its last step.

    >>> band_at({"steps": [0, 100], "low": [0.0, 0.1], "mean": [0.0, 0.12], "high": [0.0, 0.14]}, 50)
    (0.05, 0.06, 0.07)
    """
    steps = band["steps"]
    if step > steps[-1] or step < steps[0]:
        return None
    right = next(i for i, s in enumerate(steps) if s >= step)
    left = max(right - 1, 0)
    share = 0.0 if steps[right] == steps[left] else (step - steps[left]) / (steps[right] - steps[left])
    return tuple(round(band[k][left] + share * (band[k][right] - band[k][left]), 6) for k in ("low", "mean", "high"))


def stage(accuracy: float, frequent_word: float) -> str:
    """Where a run is by its held-out masked accuracy: "on the plateau" (about as good as always guessing the
    most frequent word), "leaving the plateau" (below `PLATEAU_EXIT`) or "learning"."""
    if accuracy < frequent_word + ON_PLATEAU:
        return "on the plateau"
    return "leaving the plateau" if accuracy < PLATEAU_EXIT else "learning"


STAGE_WORDS = {"on the plateau": "it guesses frequent words whatever surrounds the blank",
               "leaving the plateau": "it starts to use the words around the blank",
               "learning": "past the plateau: it fills blanks from their context"}
CAUSES = ("a setting changed from the preset (compare your cfg with config.load(preset)); a run resumed with "
          "other settings; a vocabulary or corpus of another preset. A slow machine is not a cause: the axis is steps")


def verdict(step: int, accuracy: float, band: dict | None, frequent_word: float) -> str:
    """One sentence on a run at `step` with held-out masked `accuracy`: its stage, and where it stands
    against the band (`load_band`), with the likely causes when it is below.

    >>> band = {"steps": [0, 1000], "low": [0.0, 0.20], "mean": [0.0, 0.22], "high": [0.0, 0.24]}
    >>> stuck = verdict(1000, 0.07, band, 0.063)
    >>> stuck.split("; ")[0]
    'step 1,000: 7.0% held-out masked accuracy, on the plateau (it guesses frequent words whatever surrounds the blank)'
    >>> stuck.split("; ")[1].split(". Check")[0]
    'below the reference band (20.0%-24.0% at this step)'
    >>> verdict(500, 0.115, band, 0.063).split("; ")[1]
    'within the reference band (10.0%-12.0% at this step).'
    >>> verdict(1500, 0.26, band, 0.063).split("; ")[1]
    "past the reference band's last step (the reference runs ended at step 1,000 with 20.0%-24.0%), as far or further."
    """
    where = stage(accuracy, frequent_word)
    head = f"step {step:,}: {accuracy:.1%} held-out masked accuracy, {where} ({STAGE_WORDS[where]})"
    levels = band_at(band, step) if band else None
    if levels is None and band and step > band["steps"][-1]:  # a faster machine: compare with where the band ends
        last, low, high = band["steps"][-1], band["low"][-1], band["high"][-1]
        ended = f"the reference runs ended at step {last:,} with {low:.1%}-{high:.1%}"
        if accuracy < low - BELOW:
            return f"{head}; below where {ended}, though it ran further. Check: {CAUSES}."
        return f"{head}; past the reference band's last step ({ended}), as far or further."
    if levels is None:
        return head + "."
    low, _, high = levels
    if accuracy < low - BELOW:
        return f"{head}; below the reference band ({low:.1%}-{high:.1%} at this step). Check: {CAUSES}."
    if low <= accuracy <= high:
        where = "within"
    elif accuracy < low:
        where = "just under (within a point of)"
    else:
        where = "above" if accuracy > high + BELOW else "just over"
    return f"{head}; {where} the reference band ({low:.1%}-{high:.1%} at this step)."


def of_history(history: list[dict], band: dict | None, frequent_word: float) -> str:
    """The verdict at a run's last held-out score (`history`: its rows, as `PretrainResult.history`)."""
    rows = [row for row in history if row.get("val_masked_accuracy") is not None]
    if not rows:
        return "no held-out score yet."
    return verdict(rows[-1]["step"], rows[-1]["val_masked_accuracy"], band, frequent_word)


def draw(band: dict, ax, label: str | None = None):
    """The band behind a curve of held-out masked accuracy against steps: the seeds' range, and their mean."""
    label = label or f"reference: the recipe, {band['seeds']} seeds (range and mean)"
    ax.fill_between(band["steps"], band["low"], band["high"], color="tab:green", alpha=0.18, linewidth=0, label=label)
    ax.plot(band["steps"], band["mean"], color="tab:green", linewidth=1, alpha=0.7)
    return ax
