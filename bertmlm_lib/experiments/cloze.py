"""The cloze study's shipped results (`measured/cloze.json`), read for lesson 06: the few-shot curve through
the MLM head beside the classic arms, the rate each size chose on validation, and its tables and figure.
(`tools/measure/cloze.py` measured them.)"""

from __future__ import annotations

import json
import math

from . import MEASURED


MIN_STEPS = 32  # few-shot optimizer steps at the least (4 epochs of 32 labels would be 4 steps)


CURVE_SIZES = (32, 100, 500, 1000)  # the label counts of the shipped curve: its subsets nest in the largest


def epochs_for(labels: int, batch_size: int, epochs: int = 4, min_steps: int = MIN_STEPS) -> int:
    """The curve's 4 epochs, or more where 4 epochs would take fewer than `min_steps` optimizer steps."""
    return max(epochs, math.ceil(min_steps / math.ceil(labels / batch_size)))


def summary(measured: dict) -> str:
    """The shipped results in a few lines: the instructor model zero-shot and few-shot, the learner's run."""
    lines = []
    if "instructor" in measured:
        result = measured["instructor"]
        chosen, zero = result["chosen"], result["zero_shot"]
        lines.append(f"question chosen on {result['validation_reviews']:,} validation reviews: {chosen['template']!r}, "
                     f"verbalizer {chosen['verbalizer']}, keep the review's {chosen['keep']}, calibration "
                     f"{chosen['calibration']} ({chosen['val_accuracy']:.3f} on validation)")
        lines.append(f"instructor's MLM, zero-shot, all {zero['test_reviews']:,} test reviews: {zero['test_accuracy']:.3f} "
                     f"(uncalibrated {zero['test_accuracy_uncalibrated']:.3f})")
        classic = {row["labels"]: row for row in result.get("classic", [])}
        for row in result.get("few_shot", []):
            line = (f"  few-shot, {row['labels']:5,} labels: {row['cloze_pretrained']:.3f} +- "
                    f"{row['cloze_pretrained_std']:.3f} ({len(row['cloze_pretrained_runs'])} seeds); "
                    f"TF-IDF {row['tfidf']:.3f} +- {row['tfidf_std']:.3f}")
            if row["labels"] in classic:
                other = classic[row["labels"]]
                line += (f"; new head: pretrained {other['pretrained']:.3f}, random {other['random']:.3f}; "
                         f"probe {other['probe_pretrained']:.3f}")
            lines.append(line)
    if "workshop" in measured:
        result = measured["workshop"]
        best = max(result["zero_shot_by_step"], key=lambda r: r["val_accuracy"])
        lines.append(f"a {result['minutes']:g}-minute workshop run ({result['steps']:,} steps), zero-shot on validation: "
                     f"best {best['val_accuracy']:.3f} at step {best['step']:,}; "
                     + (f"first >= 0.60 at step {result['first_step_at_0.60']:,}" if result["first_step_at_0.60"]
                        else "never 0.60 within the run"))
        for row in result.get("few_shot", []):
            lines.append(f"  few-shot, {row['labels']:5,} labels: pretrained MLM {row['cloze_pretrained']:.3f} +- "
                         f"{row['cloze_pretrained_std']:.3f}, random MLM {row['cloze_random']:.3f} +- "
                         f"{row['cloze_random_std']:.3f}")
    return "\n".join(lines)


def chosen_rate(measured: dict, labels: int) -> float:
    """The few-shot rate that validation chose most often over the shipped seeds at `labels` labels."""
    row = next(r for r in measured["instructor"]["few_shot"] if r["labels"] == labels)
    rates = row["cloze_pretrained_rates"]
    return max(sorted(set(rates)), key=rates.count)


def table(measured: dict, key: str = "few_shot") -> str:
    """The instructor's arms by labelled reviews as a markdown table (mean +- one standard deviation over
    seeds, 5,000 test reviews; 0 labels: zero-shot on all test reviews), as `docs/measurements.md` shows it."""
    result = measured["instructor"]
    classic = {row["labels"]: row for row in result.get("classic", [])}
    zero = result["zero_shot"]

    def cell(row, key):
        return f"{row[key]:.3f} +- {row[key + '_std']:.3f}" if row and key in row else "-"

    lines = ["| labels | MLM head, cloze | new head, pretrained | new head, random | probe, pretrained | "
             "probe, random | TF-IDF + LR |", "|---|---|---|---|---|---|---|",
             f"| 0 | {zero['test_accuracy']:.3f} (zero-shot, {zero['test_reviews']:,} test reviews) | - | - | - | - | - |"]
    for row in result.get(key, []):
        other = classic.get(row["labels"])
        lines.append(f"| {row['labels']:,} | {cell(row, 'cloze_pretrained')} | {cell(other, 'pretrained')} | "
                     f"{cell(other, 'random')} | {cell(other, 'probe_pretrained')} | {cell(other, 'probe_random')} | "
                     f"{cell(row, 'tfidf')} |")
    return "\n".join(lines)


def turns_table(measured: dict) -> str:
    """`measured["turns"]` as a markdown table: per encoder (random, then each snapshot), its held-out masked
    accuracy and its fine-tuned test accuracy, with word vectors shrunk (and as the curve fine-tunes it, if measured)."""
    turns = measured["turns"]
    plain, shrunk = (turns.get(name, {}).get("runs", {}) for name in ("plain", "shrunk"))
    columns = [(f"fine-tuned, {turns['labels']:,} labels", plain), ("word vectors shrunk first", shrunk)]
    columns = [(title, runs) for title, runs in columns if runs]
    lines = ["| encoder | held-out masked accuracy | " + " | ".join(title for title, _ in columns) + " | linear probe |",
             "|---|---|" + "---|" * len(columns) + "---|"]
    for name in plain or shrunk:
        run = plain.get(name) or shrunk[name]
        masked = run["heldout_masked_accuracy"] or 0.0
        cells = [f"{runs[name]['test_accuracy']:.3f} +- {runs[name]['test_accuracy_std']:.3f}" for _, runs in columns]
        lines.append(f"| {name} | {masked:.1%} | " + " | ".join(cells) + f" | {run['probe']:.3f} |")
    return "\n".join(lines)


def plot(result: dict, curve: dict | None = None, ax=None):
    """Test accuracy against labelled reviews: few-shot through the head (mean and one standard deviation
    over seeds), the zero-shot level as a line at 0 labels' height, and, from the shipped label-efficiency
    `curve` on the same reviews, the classic arms and TF-IDF."""
    import matplotlib.pyplot as plt

    from .label_efficiency import ARMS

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    rows = result["few_shot"]
    labels = [row["labels"] for row in rows]
    seeds = len(rows[0]["cloze_pretrained_runs"])
    ax.errorbar(labels, [row["cloze_pretrained"] for row in rows], yerr=[row["cloze_pretrained_std"] for row in rows],
                marker="o", capsize=3, color="C3", linewidth=2,
                label=f"MLM head, few-shot (cloze), {seeds} seed{'s' * (seeds > 1)}")
    ax.axhline(result["zero_shot"]["test_accuracy"], color="C3", linestyle=":",
               label=f"MLM head, zero-shot ({result['zero_shot']['test_reviews']:,} test reviews)")
    ax.errorbar(labels, [row["tfidf"] for row in rows], yerr=[row["tfidf_std"] for row in rows], marker="s",
                capsize=3, color="grey", label="TF-IDF + LR")
    # the classic arms measured on these very reviews (`classic`), else the shipped curve's (other subsets)
    classic = result.get("classic") or [{**row, "random": row["scratch"], "random_std": row["scratch_std"]}
                                        for row in (curve or {}).get("rows", []) if "scratch" in row]
    names = {"pretrained": ARMS["pretrained"], "random": ARMS["scratch"], "probe_pretrained": ARMS["probe_pretrained"]}
    for key, colour in (("pretrained", "C0"), ("random", "C1"), ("probe_pretrained", "C0")):
        points = [(row["labels"], row[key], row[f"{key}_std"]) for row in classic if key in row]
        if points:
            x, y, err = zip(*points)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colour, label=names[key],
                        linestyle="--" if key.startswith("probe") else "-",
                        markerfacecolor="white" if key.startswith("probe") else None)
    ticks = sorted({*labels, *(row["labels"] for row in classic)})
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{n:,}" for n in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled training reviews" + (" (the same reviews and 5,000 test reviews for every line)"
                                                 if result.get("classic") else ""))
    ax.set_ylabel("test accuracy")
    ax.set_title("Asking the MLM itself vs a new classifier head (the instructor's model)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return ax


def instructor_at_its_end(measured: dict) -> dict:
    """The instructor's MLM as one point for `cloze.plot_over_steps`: its steps, and the chosen question's
    validation accuracy (its run kept no MLM snapshots, so only the end is known)."""
    if "instructor" not in measured:
        return {}
    steps = json.loads((MEASURED / "instructor.provenance.json").read_text())["steps"]
    return {"the instructor's MLM at its end (validation)": [{"step": steps,
                                                              "accuracy": measured["instructor"]["chosen"]["val_accuracy"]}]}
