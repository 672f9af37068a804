import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from bertmlm_lib import evaluate as E

CALIBRATION_KEYS = {"from", "to", "count", "mean_probability", "share_positive"}


# ROC AUC: the share of (positive, negative) pairs the model orders correctly, a tie counting half.

def test_auc_hand_computed():
    # 4 pairs: 0.35 > 0.1, 0.35 < 0.4, 0.8 beats both -> 3 of 4
    assert E.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert E.roc_auc([0, 1], [0.1, 0.9]) == 1.0 and E.roc_auc([0, 1], [0.9, 0.1]) == 0.0
    # 6 pairs (positives 0.3, 0.7; negatives 0.2, 0.6, 0.9): 0.3 beats 0.2; 0.7 beats 0.2 and 0.6 -> 3 of 6
    assert E.roc_auc([1, 0, 1, 0, 0], [0.3, 0.2, 0.7, 0.6, 0.9]) == pytest.approx(0.5)


def test_auc_ties_count_half():
    # positive 0.5 vs negatives 0.2 (win) and 0.5 (tie); positive 0.9 beats both: (1 + 0.5 + 1 + 1) / 4
    assert E.roc_auc([0, 1, 0, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    assert E.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)  # all tied: a coin flip


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probs = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1).round(2)  # ties on purpose
    pos, neg = probs[labels == 1], probs[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert E.roc_auc(labels, probs) == pytest.approx(pairwise)


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0], []])
def test_auc_is_nan_without_both_classes_and_does_not_warn(labels):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's UndefinedMetricWarning would fail here
        value = E.roc_auc(labels, np.linspace(0.1, 0.9, len(labels)))
    assert isinstance(value, float) and math.isnan(value)


def test_auc_returns_a_python_float():
    assert type(E.roc_auc([0, 1, 1], np.array([0.2, 0.6, 0.4], dtype=np.float32))) is float


# Confusion matrix at a threshold (predicted positive when probability >= threshold).

def test_confusion_hand_computed():
    labels, probs = [1, 1, 0, 0, 1], [0.9, 0.4, 0.2, 0.7, 0.5]  # 0.5 is on the threshold: predicted positive
    counts = E.confusion(labels, probs)
    assert counts == {"true_positive": 2, "false_positive": 1, "true_negative": 1, "false_negative": 1}
    assert all(type(v) is int for v in counts.values())
    assert E.confusion(labels, probs, threshold=0.8) == {"true_positive": 1, "false_positive": 0,
                                                         "true_negative": 2, "false_negative": 2}
    assert E.confusion(labels, probs, threshold=0.1) == {"true_positive": 3, "false_positive": 2,
                                                         "true_negative": 0, "false_negative": 0}


def test_confusion_one_class_and_empty():
    assert E.confusion([1, 1], [0.9, 0.1]) == {"true_positive": 1, "false_positive": 0, "true_negative": 0, "false_negative": 1}
    assert E.confusion([0, 0, 0], [0.9, 0.1, 0.2]) == {"true_positive": 0, "false_positive": 1, "true_negative": 2,
                                                       "false_negative": 0}
    assert E.confusion([], []) == {"true_positive": 0, "false_positive": 0, "true_negative": 0, "false_negative": 0}


def test_summary_and_mismatched_counts():
    labels, probs = [1, 1, 0, 0, 1], [0.9, 0.4, 0.2, 0.7, 0.5]
    report = E.summary(labels, probs)
    assert set(report) == {"accuracy", "auc", "confusion", "reviews"}
    assert report["accuracy"] == pytest.approx(0.6) and report["reviews"] == 5
    # pairs: 0.9 beats 0.2, 0.7; 0.4 beats 0.2 only; 0.5 beats 0.2 only -> 4 of 6
    assert report["auc"] == pytest.approx(4 / 6)
    assert report["confusion"] == E.confusion(labels, probs)
    for function in (E.summary, E.roc_auc, E.confusion, E.calibration):
        with pytest.raises(ValueError, match=r"^got 2 labels but 1 probabilities: they must match\.$"):
            function([1, 0], [0.5])


# Calibration: per bin, mean predicted probability vs share actually positive.

def test_calibration_hand_computed():
    rows = E.calibration([0, 1, 1, 0], [0.05, 0.95, 0.9, 0.55], bins=10)
    assert all(set(r) == CALIBRATION_KEYS for r in rows)
    assert [(r["from"], r["to"], r["count"]) for r in rows] == [(0.0, pytest.approx(0.1), 1), (0.5, pytest.approx(0.6), 1),
                                                                (0.9, 1.0, 2)]
    assert [r["mean_probability"] for r in rows] == pytest.approx([0.05, 0.55, 0.925])
    assert [r["share_positive"] for r in rows] == [0.0, 0.0, 1.0]
    # 2 bins: [0, 0.5) holds 0.1, 0.2, 0.4 (one positive); [0.5, 1] holds 0.5, 0.8 (both positive)
    rows = E.calibration([0, 1, 0, 1, 1], [0.1, 0.2, 0.4, 0.5, 0.8], bins=2)
    assert [(r["from"], r["to"], r["count"]) for r in rows] == [(0.0, 0.5, 3), (0.5, 1.0, 2)]
    assert [r["mean_probability"] for r in rows] == pytest.approx([0.7 / 3, 0.65])
    assert [r["share_positive"] for r in rows] == pytest.approx([1 / 3, 1.0])


def test_calibration_edges_go_to_the_bin_above_and_the_ends_are_closed():
    rows = E.calibration([0, 1, 1, 0, 1], [0.0, 0.5, 1.0, -0.2, 1.3], bins=4)
    assert [(r["from"], r["to"], r["count"]) for r in rows] == [(0.0, 0.25, 2), (0.5, 0.75, 1), (0.75, 1.0, 2)]
    assert E.calibration([], [], bins=10) == []


def test_calibration_counts_sum_to_n_and_agree_with_scikit_learn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 500)
    probs = rng.random(500)  # continuous: no value sits exactly on a bin edge
    for bins in (1, 5, 10, 15):
        rows = E.calibration(labels, probs, bins=bins)
        assert all(set(r) == CALIBRATION_KEYS for r in rows)
        assert sum(r["count"] for r in rows) == 500
        assert all(r["from"] <= r["mean_probability"] < r["to"] for r in rows)
        share_positive, mean_probability = calibration_curve(labels, probs, n_bins=bins, strategy="uniform")
        assert [r["share_positive"] for r in rows] == pytest.approx(share_positive.tolist())
        assert [r["mean_probability"] for r in rows] == pytest.approx(mean_probability.tolist())


# The rest of the module.

def test_accuracy_by_length_groups():
    groups = E.accuracy_by_length([1, 0, 1], [0.9, 0.9, 0.1], [50, 150, 150])
    assert [(g["count"], g["accuracy"]) for g in groups] == [(1, 1.0), (2, 0.0)]


def test_most_confident_mistakes_come_first():
    mistakes = E.most_confident_mistakes(["a", "b", "c", "d"], [1, 0, 1, 0], [0.45, 0.99, 0.02, 0.1], n=2)
    assert [m["text"] for m in mistakes] == ["b", "c"]  # 0.99 for a negative is surer than 0.02 for a positive


def test_module_imports_without_tensorflow_or_keras():
    code = ("import sys, bertmlm_lib.evaluate; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'sklearn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sklearn']"
