"""Words or WordPiece pieces, with or without whole-word masking: which recipe pays downstream?

Each recipe gets the workshop preset's pretraining budget (the same minutes, schedule and model)
with its own vocabulary of the same size, built from the same corpus. Held-out masked accuracy
cannot compare them (guessing one of 8,000 words is not guessing one of 8,000 pieces), so the
yardstick is downstream: every encoder, and a random one per vocabulary, fine-tuned and linearly
probed on the same 1,000 labelled reviews with the fair protocol (`label_efficiency.compare_encoders`:
the same number of tokens read, steps, schedule and rate grid; several seeds), scored on the same
test reviews. Pieces spell a review in ~1.2x as many tokens as words, so at the same length they
read a little less of it: that is part of what is measured.
"""

from __future__ import annotations



# name -> (the settings it changes, the label a table or plot shows)
RECIPES = {
    "word": ({"tokenizer": "word"}, "words"),
    "wordpiece": ({"tokenizer": "wordpiece", "whole_word_masking": False}, "WordPiece, pieces masked one by one"),
    "wordpiece_wwm": ({"tokenizer": "wordpiece", "whole_word_masking": True}, "WordPiece, whole words masked"),
}


SHORT_NAMES = {"random (word)": "random\n(words)", "word": "words", "random (wordpiece)": "random\n(pieces)",
               "wordpiece": "WordPiece", "wordpiece_wwm": "WordPiece,\nwhole words"}


def plot(report: dict, axes=None):
    """Two panels, fine-tuned and linear probe: each recipe's encoder beside the random one of its vocabulary
    (bars: mean over seeds; whiskers: one standard deviation), TF-IDF dashed."""
    import matplotlib.pyplot as plt

    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)[1]
    names = [name for name in SHORT_NAMES if name in report["recipes"]]
    colors = ["#bbbbbb" if name.startswith("random") else "#4c78a8" for name in names]
    for ax, (key, title) in zip(axes, (("test_accuracy", "fine-tuned"), ("probe", "linear probe, frozen vectors"))):
        means = [100 * report["recipes"][name][key] for name in names]
        spreads = [100 * report["recipes"][name][f"{key}_std"] for name in names]
        bars = ax.bar(range(len(names)), means, yerr=spreads, capsize=4, color=colors)
        for bar, mean, spread in zip(bars, means, spreads):
            ax.annotate(f"{mean:.1f}", (bar.get_x() + bar.get_width() / 2, mean + spread), ha="center", va="bottom",
                        xytext=(0, 3), textcoords="offset points", fontsize=8)
        ax.axhline(100 * report["tfidf"], color="#b45f06", linestyle="--", linewidth=1,
                   label=f"TF-IDF + LR: {100 * report['tfidf']:.1f}")
        ax.set_xticks(range(len(names)), [SHORT_NAMES[name] for name in names], fontsize=8)
        ax.set_title(f"{title}, {report['labels']:,} labels")
        ax.set_ylim(55, 90)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("validation accuracy (%)" if report.get("scored_on") == "validation" else "test accuracy (%)")
    seeds = report["protocol"]["seeds"]
    steps = {run.get("pretraining_steps") for run in report["recipes"].values()} - {None}
    budget = (f"{report['pretrain_minutes']:g} minutes" if report.get("pretrain_minutes")
              else f"{steps.pop():,} steps" if len(steps) == 1 else "equal budgets")
    axes[0].figure.suptitle(f"Words or pieces after {budget} of pretraining "
                            f"(mean of {seeds} seeds, whiskers: one standard deviation)", fontsize=10)
    return axes
