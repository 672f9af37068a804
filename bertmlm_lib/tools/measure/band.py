"""The reference band behind lesson 05's curve and `bertmlm run`'s report, measured.

The preset's recipe pretrains with several seeds, once with lesson 05's minutes and once with the
preset's whole budget, the held-out reviews scored every 100 steps (the clock stops meanwhile). The
band at each step is the lowest, mean and highest seed, up to the last step every seed reached:

    python -m bertmlm_lib.tools.measure.band --seeds 3 --out bertmlm_lib/experiments/measured/reference_band.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from ... import stages
from ...config import load as load_config
from ...pretrain import frequent_word_accuracy, pretrain
from . import fill_tables

EVERY = 100  # steps between held-out scores
WHO = {"lesson": "lesson 05", "workshop": "bertmlm run"}  # who trains with each budget


def measure_runs(folder, preset: str = "workshop", seeds=(1, 2, 3), data_path=None) -> list[dict]:
    """Pretrain the preset's recipe per budget ("lesson", "workshop") and seed in `folder`; the held-out curve
    of each run."""
    base = load_config(preset)
    shared = base.replace(artifacts=str(Path(folder) / "vocabulary"))
    vectorizer = stages.vocabulary(shared, data_path, progress=False)
    corpus = stages.pretraining_corpus(shared, vectorizer, data_path, progress=False)
    runs = []
    for budget in ("lesson", "workshop"):
        for seed in seeds:
            cfg = base.replace(artifacts=str(Path(folder) / f"{budget}-{seed}"), seed=seed, eval_every=EVERY)
            cfg = cfg.for_lesson() if budget == "lesson" else cfg
            shutil.copytree(shared.artifacts_dir, cfg.artifacts_dir, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("pretrain"))  # the same vocabulary, a fresh model
            started = time.monotonic()
            _, result = pretrain(cfg, corpus, vectorizer, show=False)
            runs.append({"preset": preset, "budget": budget, "seed": seed, "minutes": cfg.pretrain_minutes,
                         "steps": result.steps, "wall_seconds": round(time.monotonic() - started, 1),
                         "frequent_word": frequent_word_accuracy(vectorizer),
                         "history": [{key: row[key] for key in ("step", "minutes", "val_loss", "val_masked_accuracy")}
                                     for row in result.history]})
    return runs


def summarize(runs: list[dict]) -> list[dict]:
    """One band per (preset, budget): at every `EVERY` steps up to the last step all its seeds reached, the
    lowest, mean and highest held-out masked accuracy (each seed's curve read between its evaluations).

    >>> runs = [{"preset": "p", "budget": "lesson", "seed": s, "minutes": 2, "steps": 200, "frequent_word": 0.06,
    ...          "history": [{"step": 0, "val_masked_accuracy": 0.0}, {"step": 200, "val_masked_accuracy": a}]}
    ...         for s, a in ((1, 0.1), (2, 0.2))]
    >>> band = summarize(runs)[0]
    >>> band["steps"], band["low"], band["mean"], band["high"]
    ([0, 100, 200], [0.0, 0.05, 0.1], [0.0, 0.075, 0.15], [0.0, 0.1, 0.2])
    """
    bands = []
    for key in sorted({(run["preset"], run["budget"]) for run in runs}):
        group = [run for run in runs if (run["preset"], run["budget"]) == key]
        last = min(run["history"][-1]["step"] for run in group)
        steps = list(range(0, last + 1, EVERY))
        curves = np.array([np.interp(steps, [row["step"] for row in run["history"]],
                                     [row["val_masked_accuracy"] for row in run["history"]]) for run in group])
        bands.append({"preset": key[0], "budget": key[1], "minutes": group[0]["minutes"], "seeds": len(group),
                      "steps": steps, "low": [round(float(v), 4) for v in curves.min(axis=0)],
                      "mean": [round(float(v), 4) for v in curves.mean(axis=0)],
                      "high": [round(float(v), 4) for v in curves.max(axis=0)],
                      "steps_reached": [run["steps"] for run in group],
                      "frequent_word": round(group[0]["frequent_word"], 4)})
    return bands


def table(report: dict, every: int = 200) -> str:
    """The bands as a markdown table: held-out masked accuracy (lowest, mean, highest seed) every `every`
    steps, one column per (preset, budget)."""
    bands = report["bands"]
    steps = sorted({step for band in bands for step in band["steps"] if step % every == 0})
    head = " | ".join(f"{band['preset']}, {WHO[band['budget']]} ({band['minutes']:g} min, {band['seeds']} seeds)"
                      for band in bands)
    lines = [f"| step | {head} |", "|---|" + "---|" * len(bands)]
    for step in steps:
        cells = []
        for band in bands:
            i = band["steps"].index(step) if step in band["steps"] else None
            cells.append("" if i is None else f"{band['mean'][i]:.1%} ({band['low'][i]:.1%}-{band['high'][i]:.1%})")
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="workshop")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folder", default="build/band", help="where the runs pretrain")
    parser.add_argument("--runs", help="runs measured before, or a band report such as the shipped one (no training)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.runs:  # a list of runs, or a band report (the shipped one) whose runs are summarized again
        loaded = json.loads(Path(args.runs).read_text())
        runs = loaded["runs"] if isinstance(loaded, dict) else loaded
    else:
        runs = measure_runs(args.folder, args.preset, tuple(range(1, args.seeds + 1)))
    report = {"protocol": f"the preset's recipe, {args.seeds} seeds, held-out masked accuracy every {EVERY} steps on "
                          "its 500 held-out reviews (fixed masks); lesson: lesson 05's minutes, workshop: the whole budget",
              "measured": time.strftime("%Y-%m-%d"), "bands": summarize(runs), "runs": runs}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    fill_tables({"band": table(report)})
    for band in report["bands"]:
        print(f"{band['preset']} {band['budget']}: {band['seeds']} seeds to step {band['steps'][-1]:,}, "
              f"mean {band['mean'][-1]:.1%} there")


if __name__ == "__main__":
    main()
