"""What does pretraining buy per labelled review? The fair ablation, as a curve with seeds.

For each number of labelled reviews n (nested, label-balanced subsets of train), these arms:
- `pretrained`: the classifier fine-tuned on the pretrained encoder;
- `scratch`: the same classifier fine-tuned on a randomly initialised encoder of the same shape;
- `probe_pretrained` / `probe_scratch`: a linear probe, logistic regression on the frozen encoder's
  mean-pooled vectors: what pretraining put into the vectors, without fine-tuning's noise;
- `tfidf`: TF-IDF of words and word pairs + logistic regression.

The protocol (`Protocol`, recorded beside the numbers) is the same for every encoder arm: the same
tokens read, the same optimizer steps and schedule (a frozen phase for all or none, no early
stopping: the best epoch is picked on validation), the same learning-rate grid. Each point is
measured with several seeds (a different labelled subset and initialisation each) and reported as
mean and standard deviation. Every choice is made on validation (carved from train); test is scored
once per arm and seed, after the choice.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

import keras

from ..artifacts import REPORT_FILE
from ..backend import release_free_memory
from ..baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
from ..classifier import (accuracy, build_classifier, encoder_length, pooled_features, reading_length,
                          shrink_word_vectors)
from ..config import Config
from ..data import balanced_indices, balanced_subset
from ..finetune import Recipe, finetune
from . import load_measured

# The arms of the curve, in the order they are drawn, with the names a plot shows.
ARMS = {"pretrained": "pretrained encoder, fine-tuned", "scratch": "random encoder, fine-tuned",
        "probe_pretrained": "pretrained encoder, linear probe", "probe_scratch": "random encoder, linear probe",
        "tfidf": "TF-IDF + LR"}


@dataclass(frozen=True)
class Protocol:
    """What every encoder arm of a comparison gets, recorded with its numbers.

    `classifier_length` tokens of each review are read by every arm (in windows of the encoder's
    length); `epochs` in all, the first `frozen_epochs` of them (at most `frozen_steps` batches
    each) with the encoder frozen, for every arm; each rate of `rates` tried, the best on
    validation kept; `seeds` repeats of every point; the probe's C chosen from `probe_grid`.
    """

    classifier_length: int
    epochs: int = 4
    frozen_epochs: int = 1
    frozen_steps: int | None = None
    rates: tuple = (3e-4, 1e-3)
    head_learning_rate: float = 1e-3
    batch_size: int = 32
    seeds: int = 3
    probe_grid: tuple = (0.01, 0.1, 1.0)
    shrink_word_vectors: bool = False  # every encoder's word vectors shrunk before fine-tuning (see lesson 06)

    @classmethod
    def of(cls, cfg: Config, **changes) -> "Protocol":
        """The protocol of a preset: its reading length, frozen-phase length, batch size and seeds."""
        fields = {"classifier_length": cfg.classifier_length, "frozen_steps": cfg.frozen_steps,
                  "batch_size": cfg.batch_size, "seeds": cfg.label_seeds}
        return cls(**{**fields, **changes})

    def windows_for(self, encoder) -> int:
        """How many windows of the encoder's length cover `classifier_length` tokens."""
        return math.ceil(self.classifier_length / encoder_length(encoder))

    def as_dict(self) -> dict:
        return {**asdict(self), "rates": list(self.rates), "probe_grid": list(self.probe_grid)}

    def recipe(self, rate: float) -> Recipe:
        """Fine-tuning's recipe for one rate of the grid: every epoch run (no early stop), so every arm takes
        the same steps."""
        return Recipe(head_learning_rate=self.head_learning_rate, encoder_learning_rate=rate,
                      frozen_epochs=self.frozen_epochs, unfrozen_epochs=self.epochs - self.frozen_epochs, patience=None)


@dataclass
class Arm:
    """One fitted arm: its classifier, the rate it chose, its validation accuracy and its optimizer steps."""

    classifier: object
    rate: float
    val_accuracy: float
    steps: int
    reads_tokens: int  # of each review: the protocol's length, or less if the classifier reads fewer


def fit_arm(make_encoder, train_ids, train_labels, val_ids, val_labels, cfg: Config, protocol: Protocol,
            seed: int) -> Arm:
    """Fine-tune a fresh classifier per rate of the protocol's grid; keep the best on validation.

    Every call with the same protocol takes the same steps with the same schedule, whatever the
    encoder: that is what makes the pretrained and the random arm comparable."""
    best = None
    run_cfg = cfg.replace(batch_size=protocol.batch_size, frozen_steps=protocol.frozen_steps, seed=seed)
    for rate in protocol.rates:
        keras.utils.set_random_seed(seed)
        encoder = make_encoder()
        if protocol.shrink_word_vectors:
            shrink_word_vectors(encoder)
        classifier = build_classifier(encoder, dropout=cfg.dropout, windows=protocol.windows_for(encoder))
        result = finetune(classifier, (train_ids, train_labels), (val_ids, val_labels), run_cfg, protocol.recipe(rate))
        if best is None or result.val_accuracy > best.val_accuracy:
            best = Arm(classifier, rate, result.val_accuracy, result.steps,
                       min(protocol.classifier_length, reading_length(classifier)))
        del encoder, classifier  # the losing rate's classifier goes before the next is built
        _let_go()
    return best


def scored_arm(make_encoder, train_ids, train_labels, val_ids, val_labels, test_ids, test_labels, cfg: Config,
               protocol: Protocol, seed: int) -> dict:
    """`fit_arm`, then its test accuracy: `{"test_accuracy", "rate", "steps", "reads_tokens"}`.

    Only numbers come back, so the fitted classifier is gone when this returns and its memory can go
    back before the next arm is built (lesson 06 fits several in one kernel, on Binder's 2 GB)."""
    arm = fit_arm(make_encoder, train_ids, train_labels, val_ids, val_labels, cfg, protocol, seed)
    return {"test_accuracy": accuracy(arm.classifier, test_ids, test_labels), "rate": arm.rate, "steps": arm.steps,
            "reads_tokens": arm.reads_tokens}


def probe_features(make_encoder, id_sets, protocol: Protocol, seed: int) -> list:
    """Frozen, mean-pooled vectors of each array of `id_sets` from a fresh `make_encoder()` (the linear
    probe's input); the encoder is gone when this returns."""
    keras.utils.set_random_seed(seed)
    encoder = make_encoder()
    windows = protocol.windows_for(encoder)
    return [pooled_features(encoder, ids, windows) for ids in id_sets]


def linear_probe(train_features, train_labels, val_features, val_labels, grid=(0.01, 0.1, 1.0), seed: int = 0) -> dict:
    """Logistic regression on frozen encoder vectors (standardised), C chosen on validation.

    Returns `{"model", "C", "val_accuracy"}`; `model.predict(features)` gives labels. Seconds to fit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    best = None
    for c in grid:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
        model.fit(train_features, np.asarray(train_labels))
        val_accuracy = float((model.predict(val_features) == np.asarray(val_labels)).mean())
        if best is None or val_accuracy > best["val_accuracy"]:
            best = {"model": model, "C": c, "val_accuracy": val_accuracy}
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


def summarize(runs: dict[str, list[float]]) -> dict:
    """Mean, standard deviation (0 for one seed) and the runs themselves, per arm: `{arm, arm_std, arm_runs}`."""
    row = {}
    for name, values in runs.items():
        row[name] = round(float(np.mean(values)), 4)
        row[f"{name}_std"] = round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 4)
        row[f"{name}_runs"] = [round(float(v), 4) for v in values]
    return row


def _let_go():
    """Hand back the memory of models nothing refers to any more (a curve fits dozens).

    Callers must drop their own references first: a name still bound in the caller keeps its model."""
    keras.backend.clear_session()
    release_free_memory()


def plot(rows: list[dict], ax=None, title: str | None = None):
    """Test accuracy against labelled reviews, one line per arm (log scale of labels), with error
    bars of one standard deviation over seeds where the rows have them. Probes are dashed."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    labels = [row["labels"] for row in rows]
    colours = {"pretrained": "C0", "scratch": "C1", "tfidf": "grey"}  # an encoder's probe shares its colour
    for key, name in ARMS.items():
        if not all(key in row for row in rows):
            continue  # an older curve without this arm
        errors = [row.get(f"{key}_std", 0.0) for row in rows]
        ax.errorbar(labels, [row[key] for row in rows], yerr=errors if any(errors) else None, marker="o",
                    capsize=3, linestyle="--" if key.startswith("probe") else "-", label=name,
                    color=colours[key.removeprefix("probe_")], markerfacecolor="white" if key.startswith("probe") else None)
    ax.set_xscale("log")
    ax.set_xticks(labels, [f"{n:,}" for n in labels])
    ax.minorticks_off()
    ax.set_xlabel("labelled training reviews")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "What pretraining buys per label")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the data
    return ax


def plot_budget(report: dict, ax=None):
    """Test accuracy at one label budget against minutes of pretraining (0 = a random encoder), from a
    `downstream_check` report: fine-tuned and probe, mean and one standard deviation over seeds,
    TF-IDF on the same labels dashed."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    runs = sorted(report["runs"].values(), key=lambda run: run["pretraining_minutes"])
    minutes = [run["pretraining_minutes"] for run in runs]
    for key, name in (("test_accuracy", "fine-tuned"), ("probe", "linear probe")):
        ax.errorbar(minutes, [run[key] for run in runs], yerr=[run[f"{key}_std"] for run in runs], marker="o",
                    capsize=3, linestyle="-" if key == "test_accuracy" else "--", label=name)
    ax.axhline(report["tfidf"], color="grey", linestyle=":", label="TF-IDF + LR, same labels")
    ax.set_xscale("symlog", linthresh=5)
    ax.set_xticks(minutes, [f"{m:g}" for m in minutes])
    ax.minorticks_off()
    ax.set_xlabel("minutes of MLM pretraining (2-core CPU; 0 = random encoder)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"What more pretraining buys at {report['labels']:,} labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_payoff(report: dict, ax=None):
    """The tutorial's thesis as one picture: downstream test accuracy (fine-tuned and linear probe, mean
    and spread over seeds) against held-out masked accuracy, one point per encoder of a `downstream_check`
    report."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.0, 3.8))[1]
    runs = list(report["runs"].items())
    x = [100 * (run["heldout_masked_accuracy"] or 0.0) for _, run in runs]
    for key, name, marker in (("test_accuracy", "fine-tuned", "o"), ("probe", "linear probe", "s")):
        ax.errorbar(x, [run[key] for _, run in runs], yerr=[run[f"{key}_std"] for _, run in runs], marker=marker,
                    linestyle="none", capsize=3, label=name, markerfacecolor="white" if key == "probe" else None)
    # snapshots crowd the right end: short labels (their minutes), above and below their points in turn
    for rank, i in enumerate(sorted(range(len(runs)), key=x.__getitem__)):
        name, run = runs[i]
        if x[i] < 5:  # the random encoder, alone at the left edge: its name, right of its point
            ax.annotate(name, (x[i], run["test_accuracy"]), textcoords="offset points", xytext=(6, -3), fontsize=8,
                        ha="left", va="top")
            continue
        above = rank % 2 == 0
        ax.annotate(name.replace(" min", ""), (x[i], run["test_accuracy"]), textcoords="offset points",
                    xytext=(0, 7 if above else -9), fontsize=8, ha="center", va="bottom" if above else "top")
    ax.axhline(report["tfidf"], color="grey", linestyle=":", label="TF-IDF + LR, same labels")
    ax.set_xlabel("held-out masked accuracy of the encoder (%)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Better at the blanks, better at sentiment? ({report['labels']:,} labels)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", title="numbers: minutes of pretraining", title_fontsize=8)
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


def compare_encoders(encoders: dict, pool, validation, test, vectorizer, cfg: Config, labels: int,
                     protocol: Protocol, progress: bool = False) -> dict:
    """Each encoder (name -> a function that makes it) fine-tuned and linearly probed on the same
    `labels` labelled reviews of `pool`, with the same protocol, and scored once on `test`; TF-IDF on
    the same labels beside. Every seed draws another label-balanced set and initialisation.

    Returns `{"labels", "validation", "test_reviews", "protocol", "runs": {name: {"test_accuracy",
    "probe" (each with `_std` and `_runs`), "rates", "steps", "reads_tokens"}}, "tfidf", ...}`."""
    labels = min(labels, len(pool))
    length = protocol.classifier_length
    pool_ids, val_ids, test_ids = (vectorizer.encode(split.texts, length=length) for split in (pool, validation, test))
    runs = {name: {"fine-tuned": [], "probe": [], "rates": [], "steps": [], "reads_tokens": []} for name in encoders}
    tfidf = []
    for s in range(protocol.seeds):
        seed = cfg.seed + s
        indices = balanced_indices(pool.labels, labels, seed)
        train_labels = pool.labels[indices]
        for name, make in encoders.items():
            started = time.monotonic()
            arm = scored_arm(make, pool_ids[indices], train_labels, val_ids, validation.labels, test_ids, test.labels,
                             cfg, protocol, seed)
            _let_go()
            runs[name]["fine-tuned"].append(arm["test_accuracy"])
            for key, column in (("rate", "rates"), ("steps", "steps"), ("reads_tokens", "reads_tokens")):
                runs[name][column].append(arm[key])
            features = probe_features(make, (pool_ids[indices], val_ids, test_ids), protocol, seed)
            _let_go()
            probe = linear_probe(features[0], train_labels, features[1], validation.labels, protocol.probe_grid, seed)
            runs[name]["probe"].append(float((probe["model"].predict(features[2]) == test.labels).mean()))
            if progress:
                print(f"seed {s + 1}/{protocol.seeds}, {name}: fine-tuned {runs[name]['fine-tuned'][-1]:.3f}, "
                      f"linear probe {runs[name]['probe'][-1]:.3f} ({time.monotonic() - started:.0f} s)",
                      file=sys.stderr, flush=True)
        subset = pool.take(indices)
        baseline = tfidf_logistic_regression(subset.texts, subset.labels, validation.texts, validation.labels, seed=seed)
        tfidf.append(baseline_accuracy(baseline, test.texts, test.labels))
    report = {"labels": labels, "validation": len(validation), "test_reviews": len(test),
              "protocol": protocol.as_dict(), "runs": {}, **summarize({"tfidf": tfidf})}
    for name in encoders:
        report["runs"][name] = {**summarize({"test_accuracy": runs[name]["fine-tuned"], "probe": runs[name]["probe"]}),
                                **{key: runs[name][key] for key in ("rates", "steps", "reads_tokens")}}
    return report


