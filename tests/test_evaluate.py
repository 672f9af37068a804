import numpy as np
import pytest

from bertmlm_lib import evaluate as E


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probs = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1).round(2)  # ties on purpose
    pos, neg = probs[labels == 1], probs[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert E.roc_auc(labels, probs) == pytest.approx(pairwise)
    assert E.roc_auc([0, 1], [0.1, 0.9]) == 1.0 and E.roc_auc([0, 1], [0.9, 0.1]) == 0.0


def test_confusion_and_summary():
    labels, probs = [1, 1, 0, 0, 1], [0.9, 0.4, 0.2, 0.7, 0.5]
    assert E.confusion(labels, probs) == {"true_positive": 2, "false_positive": 1, "true_negative": 1, "false_negative": 1}
    assert E.summary(labels, probs)["accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="must match"):
        E.summary([1, 0], [0.5])


def test_calibration_bins_and_length_groups():
    rows = E.calibration([0, 1, 1, 1], [0.05, 0.95, 0.9, 0.55], bins=10)
    assert [r["count"] for r in rows] == [1, 1, 2] and rows[-1]["share_positive"] == 1.0
    groups = E.accuracy_by_length([1, 0, 1], [0.9, 0.9, 0.1], [50, 150, 150])
    assert [(g["count"], g["accuracy"]) for g in groups] == [(1, 1.0), (2, 0.0)]


def test_most_confident_mistakes_come_first():
    mistakes = E.most_confident_mistakes(["a", "b", "c", "d"], [1, 0, 1, 0], [0.45, 0.99, 0.02, 0.1], n=2)
    assert [m["text"] for m in mistakes] == ["b", "c"]  # 0.99 for a negative is surer than 0.02 for a positive
