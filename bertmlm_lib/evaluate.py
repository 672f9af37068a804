"""Evaluation of a sentiment classifier on held-out reviews: the numbers and the pictures.

Accuracy, ROC AUC, the confusion matrix, calibration (is "0.8" right 80% of the time?), accuracy
by review length, and the reviews the model got most confidently wrong. Plain NumPy, so any
model's probabilities can be scored.
"""

from __future__ import annotations

import numpy as np


def _arrays(labels, probabilities):
    labels = np.asarray(labels).astype(int).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels.shape != probabilities.shape:
        raise ValueError(f"got {labels.size} labels but {probabilities.size} probabilities: they must match.")
    return labels, probabilities


def roc_auc(labels, probabilities) -> float:
    """Area under the ROC curve: the chance that a random positive review scores above a random negative one."""
    labels, probabilities = _arrays(labels, probabilities)
    positives, negatives = probabilities[labels == 1], probabilities[labels == 0]
    if not len(positives) or not len(negatives):
        return float("nan")
    order = np.argsort(np.concatenate([negatives, positives]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    scores = np.concatenate([negatives, positives])
    for value in np.unique(scores):  # ties share their average rank
        tied = scores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    positive_ranks = ranks[len(negatives):].sum()
    return float((positive_ranks - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def confusion(labels, probabilities, threshold: float = 0.5) -> dict:
    """Counts of true/false positives/negatives at the threshold."""
    labels, probabilities = _arrays(labels, probabilities)
    predicted = probabilities >= threshold
    return {"true_positive": int((predicted & (labels == 1)).sum()), "false_positive": int((predicted & (labels == 0)).sum()),
            "true_negative": int((~predicted & (labels == 0)).sum()), "false_negative": int((~predicted & (labels == 1)).sum())}


def calibration(labels, probabilities, bins: int = 10) -> list[dict]:
    """Per probability bin: the mean predicted probability and the share actually positive."""
    labels, probabilities = _arrays(labels, probabilities)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append({"from": float(edges[b]), "to": float(edges[b + 1]), "count": int(inside.sum()),
                         "mean_probability": float(probabilities[inside].mean()),
                         "share_positive": float(labels[inside].mean())})
    return rows


def accuracy_by_length(labels, probabilities, lengths, edges=(0, 100, 200, 400, 800, 10**9)) -> list[dict]:
    """Accuracy for reviews grouped by length in words."""
    labels, probabilities = _arrays(labels, probabilities)
    lengths = np.asarray(lengths)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (lengths >= low) & (lengths < high)
        if inside.any():
            correct = (probabilities[inside] >= 0.5).astype(int) == labels[inside]
            rows.append({"words_from": int(low), "words_to": int(high), "count": int(inside.sum()),
                         "accuracy": float(correct.mean())})
    return rows


def most_confident_mistakes(texts, labels, probabilities, n: int = 5) -> list[dict]:
    """The `n` wrong predictions the model was surest of."""
    labels, probabilities = _arrays(labels, probabilities)
    wrong = np.flatnonzero((probabilities >= 0.5).astype(int) != labels)
    confidence = np.abs(probabilities[wrong] - 0.5)
    picked = wrong[np.argsort(-confidence, kind="stable")[:n]]
    return [{"text": texts[i], "label": int(labels[i]), "prob_pos": float(probabilities[i])} for i in picked]


def summary(labels, probabilities) -> dict:
    """Accuracy, ROC AUC and the confusion matrix in one dict."""
    labels, probabilities = _arrays(labels, probabilities)
    return {"accuracy": float(((probabilities >= 0.5).astype(int) == labels).mean()),
            "auc": roc_auc(labels, probabilities), "confusion": confusion(labels, probabilities), "reviews": int(labels.size)}


def plot_reliability(rows: list[dict], ax=None):
    """Calibration: mean predicted probability against the share actually positive, per bin."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfectly calibrated")
    ax.plot([r["mean_probability"] for r in rows], [r["share_positive"] for r in rows], marker="o", label="model")
    ax.set_title("Reliability: is '0.8' right 80% of the time?")
    ax.set_xlabel("predicted P(positive)")
    ax.set_ylabel("share of reviews actually positive")
    ax.legend()
    return ax


def plot_confusion(counts: dict, ax=None):
    """The confusion matrix as a 2 x 2 grid of counts."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(3.8, 3.4))[1]
    grid = np.array([[counts["true_negative"], counts["false_positive"]],
                     [counts["false_negative"], counts["true_positive"]]])
    ax.imshow(grid, cmap="Blues")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, f"{value:,}", ha="center", va="center", color="black")
    ax.set_xticks([0, 1], ["predicted neg", "predicted pos"])
    ax.set_yticks([0, 1], ["actual neg", "actual pos"])
    ax.set_title("Confusion matrix on test")
    return ax
