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

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

import keras

from ..artifacts import ENCODER_FILE, PRETRAIN_FOLDER, REPORT_FILE, load_model
from ..backend import release_free_memory
from ..baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
from ..checkpoints import last_heldout, read_checkpoint_meta
from ..classifier import accuracy, classifier_for, encode_reviews
from ..config import Config, from_dict, load as load_config
from ..data import balanced_indices, balanced_subset, load_imdb, split_validation
from ..finetune import finetune
from ..model import build_encoder
from ..vectorize import Vectorizer
from . import load_measured

# The two encoder arms: the pretrained encoder, and a randomly initialised one of the same shape.
EncoderArm = Literal["pretrained", "scratch"]
# Learning rates of the encoder, tried per arm (the same grid for both: neither gets a better search).
RATE_GRIDS = {"pretrained": (3e-4, 1e-3), "scratch": (3e-4, 1e-3)}


@dataclass
class Arm:
    """One fitted arm: its classifier, the rate it chose, and its validation accuracy."""

    classifier: object
    rate: float
    val_accuracy: float


def fit_arm(name: EncoderArm, make_encoder, train_ids, train_labels, val_ids, val_labels, cfg: Config, epochs: int,
            rates=None) -> Arm:
    """Fine-tune a fresh classifier per learning rate of the arm's grid; keep the best on validation."""
    if name not in RATE_GRIDS:
        raise ValueError(f"arm must be one of {', '.join(map(repr, RATE_GRIDS))}. Received: {name!r}")
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
    sizes = sorted({min(int(n), len(labels)) for n in sizes})
    order = balanced_indices(labels, sizes[-1], seed)
    return {n: order[:n] for n in sizes}


def test_subset(test, cfg: Config):
    """The label-balanced slice of test the curve is scored on (`cfg.label_test_reviews`; None: all)."""
    return balanced_subset(test, cfg.label_test_reviews, cfg.seed + 11)


def validation_subset(validation, cfg: Config):
    """The label-balanced slice of validation each arm picks its rate on (`cfg.label_validation_reviews`)."""
    return balanced_subset(validation, cfg.label_validation_reviews, cfg.seed + 13)


def measure(train, validation, test, vectorizer, cfg: Config, encoder_path, sizes, epochs: int = 4,
            progress: bool = False) -> list[dict]:
    """The label-efficiency rows: `{"labels", "pretrained", "scratch", "tfidf", ...rates}` per size.

    With `progress`, one line per fitted arm on stderr (the curve takes minutes)."""
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
            if progress:
                print(f"label efficiency: {n:,} labels, {name} encoder: test accuracy {row[name]:.3f} "
                      f"(rate {arm.rate:g} chosen on validation)", file=sys.stderr, flush=True)
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
    report = cfg.artifacts_dir / REPORT_FILE
    if report.is_file():
        saved = json.loads(report.read_text(encoding="utf-8"))
        if saved.get("label_efficiency"):
            return {"rows": saved["label_efficiency"], "source": f"this folder's `bertmlm run` ({saved['preset']})",
                    "test_reviews": saved.get("label_efficiency_test_reviews")}
    return load_measured(SHIPPED_CURVE)


def downstream_check(folders: dict, labels: int = 1000, test_reviews: int = 5000, data_path=None,
                     base: Config | None = None, scratch_like: str | None = None, epochs: int = 4) -> dict:
    """Fine-tune a classifier on `labels` labelled reviews from each pretrained encoder; test accuracy.

    `folders` maps a name to an artifacts folder written by `pretrain` (vocabulary + encoder).
    With `scratch_like=name`, the same classifier is also trained from a randomly initialised
    encoder of that run's shape, and TF-IDF + logistic regression on the same labels. Each arm picks
    its learning rate on validation (from train); test is scored once.
    """
    base = base or load_config("workshop")
    imdb = load_imdb(data_path, train_reviews=2 * labels, test_reviews=test_reviews, unsup_reviews=2,
                     seed=base.seed, progress=False)
    train, validation = split_validation(imdb.train, 0.5, base.seed)
    report = {"labels": len(train), "validation": len(validation), "test_reviews": len(imdb.test), "runs": {}}
    runs = {name: (folder, "pretrained") for name, folder in folders.items()}
    if scratch_like:
        runs["scratch (random encoder)"] = (folders[scratch_like], "scratch")
    for name, (folder, arm_name) in runs.items():
        folder = Path(folder)
        vectorizer = Vectorizer.load(folder)
        meta = read_checkpoint_meta(folder / PRETRAIN_FOLDER)
        cfg = from_dict({**meta["config"], "preset": base.preset, "artifacts": str(folder)})
        scratch = arm_name == "scratch"
        make = ((lambda: build_encoder(cfg, vectorizer.vocabulary_size)) if scratch else
                (lambda: load_model(folder / PRETRAIN_FOLDER / ENCODER_FILE, "pretrained encoder", "run `bertmlm pretrain`")))
        started = time.monotonic()
        arm = fit_arm(arm_name, make, encode_reviews(vectorizer, train.texts, cfg), train.labels,
                      encode_reviews(vectorizer, validation.texts, cfg), validation.labels, cfg.replace(batch_size=32),
                      epochs)
        report["runs"][name] = {
            "pretraining_minutes": 0.0 if scratch else round(float(meta.get("seconds", 0)) / 60, 1),
            "heldout_masked_accuracy": None if scratch else (last_heldout(folder / PRETRAIN_FOLDER) or {}).get("masked_accuracy"),
            "rate": arm.rate, "val_accuracy": arm.val_accuracy,
            "test_accuracy": accuracy(arm.classifier, encode_reviews(vectorizer, imdb.test.texts, cfg), imdb.test.labels),
            "seconds": round(time.monotonic() - started, 1),
        }
    baseline = tfidf_logistic_regression(train.texts, train.labels, validation.texts, validation.labels, seed=base.seed)
    report["tfidf"] = baseline_accuracy(baseline, imdb.test.texts, imdb.test.labels)
    return report
