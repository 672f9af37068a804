"""Stage 6, fine-tuning: train a sentiment classifier on top of the pretrained encoder.

The classifier (`classifier.py`) pools the encoder's vectors over the real tokens of a review
(padding excluded), applies dropout and one sigmoid unit: the probability that the review is
positive (label 1). Training has two phases:

1. the encoder **frozen**: only the new head learns, so its random start cannot wreck what
   pretraining learned;
2. the encoder **unfrozen** at a lower learning rate: everything adapts to sentiment.

Each phase stops early when validation accuracy stops improving and restores its best weights.
Validation comes from the held-out part of train; test is never looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backend import load_tensorflow, release_free_memory
from .config import Config

load_tensorflow()

import keras  # noqa: E402

from .callbacks import ProgressLine  # noqa: E402
from .classifier import PREDICT_BATCH, LengthGroupedBatches, encoder_of  # noqa: E402
from .schedules import WarmupLinearDecay, adamw  # noqa: E402


@dataclass
class FinetuneResult:
    """Per-epoch curves of both phases, where the encoder was unfrozen, and the best validation accuracy."""

    history: list = field(default_factory=list)
    unfrozen_at_epoch: int = 0
    val_accuracy: float = 0.0
    steps: int = 0  # optimizer steps taken in both phases (what a fair comparison holds equal)


@dataclass(frozen=True)
class Recipe:
    """How fine-tuning runs (None: the preset's setting). Phase 1 trains the head only, `frozen_epochs` rounds
    (default half of `cfg.finetune_epochs`, at least one) at `head_learning_rate`; phase 2 trains everything
    `unfrozen_epochs` (default `cfg.finetune_epochs`) at `encoder_learning_rate` (default
    `cfg.finetune_learning_rate`). Each phase stops after `patience` epochs without a better validation
    accuracy; `patience=None` runs every epoch (so two runs take the same steps)."""

    head_learning_rate: float = 3e-3
    encoder_learning_rate: float | None = None
    frozen_epochs: int | None = None
    unfrozen_epochs: int | None = None
    patience: int | None = 1


def finetune(classifier: keras.Model, train, validation, cfg: Config, recipe: Recipe = Recipe(),
             progress: bool = False) -> FinetuneResult:
    """Train the classifier in two phases (its encoder frozen, then unfrozen); best weights kept.

    `train` and `validation` are (token ids, labels). Each round of phase 1 is one epoch or `cfg.frozen_steps`
    batches, whichever is fewer: the new head only needs a few hundred batches to stop being random.
    Phase 2 warms its rate up over its first 10% of batches and decays it linearly to zero. Whichever phase
    validated best keeps its weights. `progress` shows one progress display per phase.
    """
    encoder = encoder_of(classifier)
    rate = recipe.encoder_learning_rate or cfg.finetune_learning_rate
    frozen_epochs = recipe.frozen_epochs if recipe.frozen_epochs is not None else max(1, cfg.finetune_epochs // 2)
    unfrozen_epochs = recipe.unfrozen_epochs if recipe.unfrozen_epochs is not None else cfg.finetune_epochs
    batches = LengthGroupedBatches(*train, cfg.batch_size, cfg.seed, shuffle=True)
    val = LengthGroupedBatches(*validation, PREDICT_BATCH, cfg.seed, shuffle=False)
    result, best_weights = FinetuneResult(), None
    for trainable, epochs in ((False, frozen_epochs), (True, unfrozen_epochs)):
        if epochs <= 0:
            continue
        encoder.trainable = trainable
        steps = len(batches) if trainable else min(len(batches), cfg.frozen_steps or len(batches))
        schedule = WarmupLinearDecay(rate, epochs * len(batches), 0.1) if trainable else recipe.head_learning_rate
        classifier.compile(optimizer=adamw(schedule, weight_decay=0.01, clipnorm=1.0), loss="binary_crossentropy",
                           metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
        phase = "encoder unfrozen" if trainable else "encoder frozen"
        stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=recipe.patience or epochs,
                                             restore_best_weights=True)
        shown = ProgressLine(f"fine-tuning, {phase}", epochs * steps, enabled=progress)
        history = classifier.fit(batches.dataset(epochs), validation_data=val.dataset(), epochs=epochs, verbose=0,
                                 callbacks=[stop, shown], steps_per_epoch=steps, shuffle=False)  # shuffled already
        shown.close()
        if trainable:
            result.unfrozen_at_epoch = len(result.history)
        result.steps += len(history.epoch) * steps
        result.history += [{"phase": phase, **{k: float(v[i]) for k, v in history.history.items()}}
                           for i in range(len(history.epoch))]
        if max(history.history["val_accuracy"]) > result.val_accuracy:  # keep whichever phase validated best
            result.val_accuracy, best_weights = max(history.history["val_accuracy"]), classifier.get_weights()
    if best_weights is not None:
        classifier.set_weights(best_weights)
    encoder.trainable = True
    release_free_memory()  # what training freed goes back to the system: a kernel's next cells start lower
    return result


def plot_history(history: list[dict], unfrozen_at_epoch: int, ax=None):
    """Training and validation accuracy of both phases on one figure, the unfreeze point marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    epochs = range(1, len(history) + 1)
    ax.plot(epochs, [row["accuracy"] for row in history], marker="o", label="training")
    ax.plot(epochs, [row["val_accuracy"] for row in history], marker="o", label="validation")
    if 0 < unfrozen_at_epoch < len(history):
        ax.axvline(unfrozen_at_epoch + 0.5, color="gray", linestyle="--", label="encoder unfrozen")
    ax.set_title("Fine-tuning: accuracy per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    return ax
