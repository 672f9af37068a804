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

import time
from pathlib import Path

from .. import stages
from ..artifacts import ENCODER_FILE, load_model
from ..checkpoints import checkpoint_folder, last_heldout, read_checkpoint_meta
from ..config import Config, load as load_config
from ..data import load_imdb, split_validation
from ..model import build_encoder
from .label_efficiency import Protocol, compare_encoders

# name -> (the settings it changes, the label a table or plot shows)
RECIPES = {
    "word": ({"tokenizer": "word"}, "words"),
    "wordpiece": ({"tokenizer": "wordpiece", "whole_word_masking": False}, "WordPiece, pieces masked one by one"),
    "wordpiece_wwm": ({"tokenizer": "wordpiece", "whole_word_masking": True}, "WordPiece, whole words masked"),
}


def pretrain_recipes(folder, data_path=None, base: Config | None = None, recipes=tuple(RECIPES),
                     progress: bool = False) -> dict:
    """Pretrain each recipe in `folder/<name>` with the base preset's budget (kept if already there)."""
    base = base or load_config("workshop")
    done = {}
    for name in recipes:
        cfg = base.replace(artifacts=str(Path(folder) / name), **RECIPES[name][0])
        if not (checkpoint_folder(cfg) / ENCODER_FILE).is_file():
            started = time.monotonic()
            stages.run_pretraining(cfg, data_path, progress=progress, fill_mask_display=False)
            if progress:
                print(f"{name}: pretrained in {time.monotonic() - started:.0f} s")
        meta = read_checkpoint_meta(checkpoint_folder(cfg))
        done[name] = {"cfg": cfg, "steps": meta.get("step"), "training_seconds": meta.get("seconds")}
    return done


def compare(folder, data_path=None, base: Config | None = None, labels: int = 1000, test_reviews: int = 5000,
            protocol: Protocol | None = None, progress: bool = False) -> dict:
    """Pretrain every recipe (`pretrain_recipes`), then compare them downstream at `labels` labelled reviews:
    per vocabulary kind, a random encoder and that kind's pretrained ones, on the same reviews."""
    base = base or load_config("workshop")
    protocol = protocol or Protocol(classifier_length=2 * base.max_length, frozen_steps=300, batch_size=32, seeds=3)
    pretrained = pretrain_recipes(folder, data_path, base, progress=progress)
    imdb = load_imdb(data_path, train_reviews=4 * labels, test_reviews=test_reviews, unsup_reviews=2, seed=base.seed,
                     progress=False)
    pool, validation = split_validation(imdb.train, 0.25, base.seed)
    report = {"labels": labels, "protocol": protocol.as_dict(), "base_preset": base.preset,
              "pretrain_minutes": base.pretrain_minutes, "recipes": {}, "by_tokenizer": {}}
    for kind in ("word", "wordpiece"):
        names = [name for name in pretrained if RECIPES[name][0]["tokenizer"] == kind]
        if not names:
            continue
        first = pretrained[names[0]]["cfg"]
        learned = {name: stages.vocabulary(pretrained[name]["cfg"], data_path, progress=False) for name in names}
        vectorizer = learned[names[0]]
        differ = [name for name in names if learned[name].fingerprint != vectorizer.fingerprint]
        if differ:
            raise RuntimeError(f"recipes {names[0]} and {differ[0]} learned different vocabularies: they cannot share one "
                               "comparison")
        encoders = {f"random ({kind})": lambda cfg=first, size=vectorizer.vocabulary_size: build_encoder(cfg, size)}
        for name in names:
            path = checkpoint_folder(pretrained[name]["cfg"]) / ENCODER_FILE
            encoders[name] = lambda path=path: load_model(path, "pretrained encoder", "pretrain it")
        result = compare_encoders(encoders, pool, validation, imdb.test, vectorizer, first, labels, protocol, progress)
        report["by_tokenizer"][kind] = result
        for name in names:
            heldout = last_heldout(checkpoint_folder(pretrained[name]["cfg"])) or {}
            report["recipes"][name] = {"label": RECIPES[name][1], "settings": RECIPES[name][0],
                                       "pretraining_steps": pretrained[name]["steps"],
                                       "training_seconds": pretrained[name]["training_seconds"],
                                       "heldout_masked_accuracy": heldout.get("masked_accuracy"),
                                       **result["runs"][name]}
        report["recipes"][f"random ({kind})"] = result["runs"][f"random ({kind})"]
        report.setdefault("tfidf", result["tfidf"])
        report.setdefault("tfidf_std", result["tfidf_std"])
    return report


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
    axes[0].set_ylabel("test accuracy (%)")
    seeds = report["protocol"]["seeds"]
    axes[0].figure.suptitle(f"Words or pieces after {report['pretrain_minutes']:g} minutes of pretraining "
                            f"(mean of {seeds} seeds, whiskers: one standard deviation)", fontsize=10)
    return axes
