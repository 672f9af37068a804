"""Evaluation of a sentiment classifier on held-out reviews: the numbers and the pictures.

Accuracy, ROC AUC, the confusion matrix, calibration (is "0.8" right 80% of the time?), accuracy
by review length, and the reviews the model got most confidently wrong. The metrics come from
scikit-learn (`roc_auc_score`, `confusion_matrix`; calibration uses `calibration_curve`'s uniform
bins, binned here because the lesson also shows each bin's edges and count); this module adds what
the lesson needs around them: a plain explanation of each number, dicts that the reports and
notebooks read, and the plots. It takes probabilities as plain arrays (no TensorFlow or Keras
here), so any model's predictions can be scored.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score


def _arrays(labels, probabilities):
    labels = np.asarray(labels).astype(int).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels.shape != probabilities.shape:
        raise ValueError(f"got {labels.size} labels but {probabilities.size} probabilities: they must match.")
    return labels, probabilities


def roc_auc(labels, probabilities) -> float:
    """Area under the ROC curve: the chance that a random positive review scores above a random negative one.

    It asks only whether the model *ranks* reviews in the right order, whatever threshold you later
    pick: 0.5 is a coin flip, 1.0 puts every positive above every negative, and a tie counts as
    half. With only one class present there are no pairs to compare, so the answer is NaN.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8])  # the tie counts as half a win
    0.875
    """
    labels, probabilities = _arrays(labels, probabilities)
    if not (labels == 1).any() or not (labels == 0).any():
        return float("nan")  # checked here: scikit-learn warns (newer) or raises (older) instead
    return float(roc_auc_score(labels, probabilities))


def confusion(labels, probabilities, threshold: float = 0.5) -> dict:
    """Counts of true/false positives/negatives at the threshold.

    A review is predicted positive when its probability is at least `threshold`. The four counts
    show *which* mistakes the model makes (praising bad films or panning good ones), which a
    single accuracy number hides.
    """
    labels, probabilities = _arrays(labels, probabilities)
    if not labels.size:  # scikit-learn refuses empty input; no reviews means zero of everything
        return {"true_positive": 0, "false_positive": 0, "true_negative": 0, "false_negative": 0}
    predicted = (probabilities >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(labels, predicted, labels=[0, 1])
    return {"true_positive": int(tp), "false_positive": int(fp), "true_negative": int(tn), "false_negative": int(fn)}


def calibration(labels, probabilities, bins: int = 10) -> list[dict]:
    """Per probability bin: the mean predicted probability and the share actually positive.

    A calibrated model's "0.8" is right 80% of the time, so in each bin the two numbers agree; a
    gap shows over- or under-confidence, which matters when the probability itself is used. The
    bins are scikit-learn's `calibration_curve(..., strategy="uniform")` ones (`bins` equal slices
    of [0, 1], empty ones left out), binned here so each row can carry its edges and count. One
    difference: a value exactly on an edge goes in the bin above (0.5 sits in [0.5, 0.6) with the
    reviews `confusion` calls positive), where scikit-learn puts it in the bin below; 1.0 goes in the
    last bin, and anything outside [0, 1] in the nearer end bin.
    """
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
