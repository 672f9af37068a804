"""What does pretraining buy per labelled review? The honest ablation, as a curve.

For each number of labelled reviews n (nested, label-balanced subsets of train), three arms:
- `pretrained`: the classifier on the pretrained encoder (one epoch with the encoder frozen, the
  rest unfrozen);
- `scratch`: the same classifier on a randomly initialised encoder of the same shape (all epochs
  trainable);
- `tfidf`: TF-IDF of words and word pairs + logistic regression.
Every arm gets the same number of epochs and picks its own learning rate (C for TF-IDF) on the
validation split, which is carved from train; test is scored once per arm, after the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Config

# Learning rates of the encoder, tried per arm (the same grid for both: neither gets a better search).
RATE_GRIDS = {"pretrained": (3e-4, 1e-3), "scratch": (3e-4, 1e-3)}


@dataclass
class Arm:
    """One fitted arm: its classifier, the rate it chose, and its validation accuracy."""

    classifier: object
    rate: float
    val_accuracy: float


def fit_arm(name: str, make_encoder, train_ids, train_labels, val_ids, val_labels, cfg: Config, epochs: int,
            rates=None) -> Arm:
    """Fine-tune a fresh classifier per learning rate of the arm's grid; keep the best on validation."""
    from .finetune import classifier_for, finetune

    best = None
    for rate in rates or RATE_GRIDS[name]:
        encoder = make_encoder()
        classifier = classifier_for(encoder, cfg)
        frozen = 1 if name == "pretrained" and epochs > 1 else 0  # same total epochs for both arms
        result = finetune(classifier, encoder, train_ids, train_labels, val_ids, val_labels, cfg,
                          head_learning_rate=1e-3, encoder_learning_rate=rate, frozen_epochs=frozen,
                          unfrozen_epochs=epochs - frozen, patience=2)
        if best is None or result.val_accuracy > best.val_accuracy:
            best = Arm(classifier, rate, result.val_accuracy)
    return best


def nested_subsets(labels: np.ndarray, sizes, seed: int) -> dict[int, np.ndarray]:
    """Indices of label-balanced subsets, each size's subset containing the smaller ones."""
    from .data import balanced_indices

    sizes = sorted({min(int(n), len(labels)) for n in sizes})
    order = balanced_indices(labels, sizes[-1], seed)
    return {n: order[:n] for n in sizes}


def test_subset(test, cfg: Config):
    """The label-balanced slice of test the curve is scored on (`cfg.label_test_reviews`; None: all)."""
    from .data import balanced_subset

    return balanced_subset(test, cfg.label_test_reviews, cfg.seed + 11)


def validation_subset(validation, cfg: Config):
    """The label-balanced slice of validation each arm picks its rate on (`cfg.label_validation_reviews`)."""
    from .data import balanced_subset

    return balanced_subset(validation, cfg.label_validation_reviews, cfg.seed + 13)


def measure(train, validation, test, vectorizer, cfg: Config, encoder_path, sizes, epochs: int = 4) -> list[dict]:
    """The label-efficiency rows: `{"labels", "pretrained", "scratch", "tfidf", ...rates}` per size."""
    import keras

    from .artifacts import load_model
    from .backend import release_free_memory
    from .baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
    from .finetune import accuracy, encode_reviews
    from .model import build_encoder

    encoders = {"pretrained": lambda: load_model(encoder_path, "pretrained encoder", "run `bertmlm pretrain`"),
                "scratch": lambda: build_encoder(cfg, vectorizer.vocabulary_size)}
    validation = validation_subset(validation, cfg)
    val_ids, test_ids = encode_reviews(vectorizer, validation.texts, cfg), encode_reviews(vectorizer, test.texts, cfg)
    rows = []
    for n, indices in nested_subsets(train.labels, sizes, cfg.seed).items():
        subset = train.take(indices)
        ids = encode_reviews(vectorizer, subset.texts, cfg)
        row = {"labels": n}
        for name, make in encoders.items():
            arm = fit_arm(name, make, ids, subset.labels, val_ids, validation.labels, cfg, epochs)
            row[name] = accuracy(arm.classifier, test_ids, test.labels)
            row[f"{name}_rate"], row[f"{name}_val_accuracy"] = arm.rate, arm.val_accuracy
            del arm  # eight classifiers per size: let each one's memory go before the next is built
            keras.backend.clear_session()
            release_free_memory()
        baseline = tfidf_logistic_regression(subset.texts, subset.labels, validation.texts, validation.labels,
                                             seed=cfg.seed)
        row["tfidf"] = baseline_accuracy(baseline, test.texts, test.labels)
        row["tfidf_C"], row["tfidf_val_accuracy"] = baseline["C"], baseline["val_accuracy"]
        rows.append(row)
    return rows


def plot(rows: list[dict], ax=None, title: str | None = None):
    """Test accuracy against labelled reviews, one line per arm (log scale of labels)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    labels = [row["labels"] for row in rows]
    for key, name in (("pretrained", "pretrained encoder"), ("scratch", "random encoder"), ("tfidf", "TF-IDF + LR")):
        ax.plot(labels, [row[key] for row in rows], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training reviews")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "What pretraining buys per label")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_budget(points: list[dict], tfidf: float | None = None, ax=None, labels: int | None = None):
    """Test accuracy at one label budget against minutes of pretraining (0 = a random encoder).

    `points` are `{"minutes", "test_accuracy", "name"}`; `tfidf` draws the baseline at the same labels.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    points = sorted(points, key=lambda p: p["minutes"])
    ax.plot([p["minutes"] for p in points], [p["test_accuracy"] for p in points], marker="o",
            label="BERT classifier")
    for p in points:
        ax.annotate(p["name"], (p["minutes"], p["test_accuracy"]), textcoords="offset points", xytext=(4, -12),
                    fontsize=8)
    if tfidf is not None:
        ax.axhline(tfidf, color="grey", linestyle="--", label="TF-IDF + LR, same labels")
    ax.set_xlabel("minutes of MLM pretraining (2-core CPU)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"What more pretraining buys{f' at {labels:,} labels' if labels else ''}")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


SHIPPED_CURVE = "label_efficiency.json"


def latest_curve(cfg: Config) -> dict:
    """The label-efficiency curve to show: the one `bertmlm run` wrote into this artifacts folder's report,
    else the one measured for the project and shipped with it (`measured/label_efficiency.json`).

    Returns `{"rows", "source", "test_reviews", ...}`; the curve takes longer than a lesson has, so
    lessons read it instead of measuring it live."""
    import json

    from .quality import MEASURED

    report = cfg.artifacts_dir / "report.json"
    if report.is_file():
        saved = json.loads(report.read_text(encoding="utf-8"))
        if saved.get("label_efficiency"):
            return {"rows": saved["label_efficiency"], "source": f"this folder's `bertmlm run` ({saved['preset']})",
                    "test_reviews": saved.get("label_efficiency_test_reviews")}
    return json.loads((Path(MEASURED) / SHIPPED_CURVE).read_text(encoding="utf-8"))
