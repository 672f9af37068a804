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

import numpy as np

from .config import Config

# Learning rates of the encoder, tried per arm: a pretrained encoder wants gentler updates.
RATE_GRIDS = {"pretrained": (1e-4, 3e-4), "scratch": (3e-4, 1e-3)}


@dataclass
class Arm:
    """One fitted arm: its classifier, the rate it chose, and its validation accuracy."""

    classifier: object
    rate: float
    val_accuracy: float


def fit_arm(name: str, make_encoder, train_ids, train_labels, val_ids, val_labels, cfg: Config, epochs: int,
            rates=None) -> Arm:
    """Fine-tune a fresh classifier per learning rate of the arm's grid; keep the best on validation."""
    from .finetune import build_classifier, finetune

    best = None
    for rate in rates or RATE_GRIDS[name]:
        encoder = make_encoder()
        classifier = build_classifier(encoder, dropout=cfg.dropout)
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
    from .data import balanced_indices

    if cfg.label_test_reviews is None:
        return test
    return test.take(balanced_indices(test.labels, cfg.label_test_reviews, cfg.seed + 11))


def measure(train, validation, test, vectorizer, cfg: Config, encoder_path, sizes, epochs: int = 4) -> list[dict]:
    """The label-efficiency rows: `{"labels", "pretrained", "scratch", "tfidf", ...rates}` per size."""
    import keras

    from .baselines import positive_probability, tfidf_logistic_regression
    from .finetune import accuracy
    from .model import build_encoder

    encoders = {"pretrained": lambda: keras.saving.load_model(encoder_path, safe_mode=True),
                "scratch": lambda: build_encoder(cfg, vectorizer.vocabulary_size)}
    val_ids, test_ids = vectorizer.encode(validation.texts), vectorizer.encode(test.texts)
    rows = []
    for n, indices in nested_subsets(train.labels, sizes, cfg.seed).items():
        subset = train.take(indices)
        ids = vectorizer.encode(subset.texts)
        row = {"labels": n}
        for name, make in encoders.items():
            arm = fit_arm(name, make, ids, subset.labels, val_ids, validation.labels, cfg, epochs)
            row[name] = accuracy(arm.classifier, test_ids, test.labels)
            row[f"{name}_rate"], row[f"{name}_val_accuracy"] = arm.rate, arm.val_accuracy
        baseline = tfidf_logistic_regression(subset.texts, subset.labels, validation.texts, validation.labels,
                                             seed=cfg.seed)
        row["tfidf"] = float(((positive_probability(baseline, test.texts) >= 0.5) == test.labels.astype(bool)).mean())
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
