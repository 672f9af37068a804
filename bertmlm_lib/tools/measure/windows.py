"""How many windows of `max_length` tokens the workshop classifier reads, decided on validation.

`python -m bertmlm_lib.tools.measure.windows --artifacts DIR` on a workshop run's artifacts: the
preset's fine-tuning (`stages.fine_tune`, the recipe `bertmlm run` uses) once per window count and
seed, on the same training reviews, scored on the validation split only (the test reviews are not
read), with the seconds each took. The split is the preset's (its seed); the seeds vary the
classifier's initialisation and the order of the batches.

Results go to `measured/windows.json`; `--docs` puts its table (`table`) in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import keras

from ... import config, stages
from ...checkpoints import checkpoint_folder
from ...experiments import MEASURED
from . import fill_tables

OUT = MEASURED / "windows.json"


def measure(artifacts: str, windows=(1, 2, 3, 4), seeds: int = 2, data_path=None, out=OUT, preset: str = "workshop",
            **settings) -> dict:
    """Validation accuracy and seconds of the preset's fine-tuning per window count (`seeds` runs each)."""
    cfg = config.load(preset, artifacts=artifacts, **settings)
    vectorizer, train, validation = stages.finetuning_inputs(cfg, data_path, progress=False)
    runs = {w: [] for w in windows}
    for s in range(seeds):
        for w in windows:
            run_cfg = cfg.replace(classifier_windows=w, seed=cfg.seed + s)
            keras.utils.set_random_seed(run_cfg.seed)
            encoder = stages.pretrained_encoder(run_cfg, vectorizer, data_path, progress=False)
            started = time.monotonic()
            _, result = stages.fine_tune(run_cfg, vectorizer, encoder, train, validation, progress=False)
            runs[w].append({"val_accuracy": round(result.val_accuracy, 4), "seconds": round(time.monotonic() - started, 1)})
            print(f"seed {s + 1}/{seeds}, {w} windows ({w * cfg.max_length} tokens): validation "
                  f"{result.val_accuracy:.4f} in {runs[w][-1]['seconds']:.0f} s", flush=True)
            keras.backend.clear_session()
    rows = [{"windows": w, "tokens": w * cfg.max_length,
             "val_accuracy": round(float(np.mean([r["val_accuracy"] for r in runs[w]])), 4),
             "val_accuracy_std": round(float(np.std([r["val_accuracy"] for r in runs[w]])), 4),
             "seconds": round(float(np.mean([r["seconds"] for r in runs[w]])), 1), "runs": runs[w]} for w in windows]
    report = {"preset": preset, "encoder": str(checkpoint_folder(cfg)), "train_reviews": len(train),
              "validation_reviews": len(validation), "seeds": seeds, "scored_on": "validation", "rows": rows}
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def chosen(report: dict) -> int:
    """The fewest windows (the cheapest to read) whose validation accuracy is within one standard error of
    the best: a smaller difference is what another draw of the same number of validation reviews could give.

    >>> chosen({"validation_reviews": 2500, "rows": [{"windows": 1, "val_accuracy": 0.85},
    ...         {"windows": 2, "val_accuracy": 0.889}, {"windows": 3, "val_accuracy": 0.891}]})
    2
    """
    best = max(row["val_accuracy"] for row in report["rows"])
    error = float(np.sqrt(best * (1 - best) / report["validation_reviews"]))
    return min(row["windows"] for row in report["rows"] if row["val_accuracy"] >= best - error)


def table(report: dict) -> str:
    """The study as a markdown table: validation accuracy (mean +- spread over seeds) per window count."""
    lines = [f"| windows (tokens read) | validation accuracy, {report['validation_reviews']:,} reviews, "
             f"{report['seeds']} seeds |", "|---|---|"]
    pick = chosen(report)
    for row in report["rows"]:
        mark = " (chosen)" if row["windows"] == pick else ""
        lines.append(f"| {row['windows']} ({row['tokens']}){mark} | {row['val_accuracy']:.4f} +- {row['val_accuracy_std']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bertmlm_lib.tools.measure.windows", description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", required=True, help="a workshop run's artifacts (vocabulary and encoder)")
    parser.add_argument("--windows", default="1,2,3,4", help="window counts to compare")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--data", default=None, help="the IMDB archive (default: as `bertmlm run` finds it)")
    parser.add_argument("--docs", action="store_true", help="only put the shipped result's table in docs/measurements.md")
    args = parser.parse_args(argv)
    if args.docs:
        return fill_tables({"windows": table(json.loads(OUT.read_text()))})
    report = measure(args.artifacts, tuple(int(w) for w in args.windows.split(",")), args.seeds, args.data)
    for row in report["rows"]:
        print(f"{row['windows']} windows: {row['val_accuracy']:.4f} +- {row['val_accuracy_std']:.4f}, {row['seconds']:.0f} s")
    print(f"chosen: {chosen(report)} windows (the fewest within one standard error of the best)")


if __name__ == "__main__":
    main()
