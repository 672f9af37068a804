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
from .progress import Progress

load_tensorflow()

import keras  # noqa: E402

from .classifier import PREDICT_BATCH, LengthGroupedBatches  # noqa: E402
from .schedules import GlobalClipAdamW, WarmupLinearDecay  # noqa: E402


@dataclass
class FinetuneResult:
    """Per-epoch curves of both phases, where the encoder was unfrozen, and the best validation accuracy."""

    history: list = field(default_factory=list)
    unfrozen_at_epoch: int = 0
    val_accuracy: float = 0.0
    steps: int = 0  # optimizer steps taken in both phases (what a fair comparison holds equal)


def finetune(classifier: keras.Model, encoder: keras.Model, train_ids, train_labels, val_ids, val_labels,
             cfg: Config, head_learning_rate: float = 3e-3, encoder_learning_rate: float | None = None,
             frozen_epochs: int | None = None, unfrozen_epochs: int | None = None, patience: int | None = 1,
             verbose: int = 0, progress: bool = False) -> FinetuneResult:
    """Train the classifier in two phases (encoder frozen, then unfrozen); best weights kept per phase.

    Phase 1 runs `frozen_epochs` rounds (default half of `cfg.finetune_epochs`, at least one), each of
    one epoch or `cfg.frozen_steps` batches, whichever is fewer: the new head only needs a few hundred
    batches to stop being random. Phase 2 runs `unfrozen_epochs` (default `cfg.finetune_epochs`) at
    `encoder_learning_rate` (default `cfg.finetune_learning_rate`), warmed up over its first 10% of
    batches and decayed linearly to zero. Each phase stops after `patience` epochs without a better
    validation accuracy; `patience=None` runs every epoch (so two runs take the same steps) and still
    keeps the best epoch's weights. `progress` shows one progress display per phase.
    """
    encoder_learning_rate = encoder_learning_rate or cfg.finetune_learning_rate
    frozen_epochs = frozen_epochs if frozen_epochs is not None else max(1, cfg.finetune_epochs // 2)
    unfrozen_epochs = unfrozen_epochs if unfrozen_epochs is not None else cfg.finetune_epochs
    train = LengthGroupedBatches(train_ids, train_labels, cfg.batch_size, cfg.seed, shuffle=True)
    val = LengthGroupedBatches(val_ids, val_labels, PREDICT_BATCH, cfg.seed, shuffle=False)
    frozen_steps = min(len(train), cfg.frozen_steps or len(train))
    result = FinetuneResult()
    best_weights = None
    for trainable, epochs in ((False, frozen_epochs), (True, unfrozen_epochs)):
        if epochs <= 0:
            continue
        encoder.trainable = trainable
        rate = (WarmupLinearDecay(encoder_learning_rate, epochs * len(train), 0.1) if trainable
                else head_learning_rate)
        classifier.compile(optimizer=GlobalClipAdamW(rate, weight_decay=0.01, global_clipnorm=1.0),
                           loss="binary_crossentropy", metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
        stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience or epochs,
                                             restore_best_weights=True)
        phase = "encoder unfrozen" if trainable else "encoder frozen"
        steps = len(train) if trainable else frozen_steps
        shown = BatchProgress(f"fine-tuning, {phase} · batches", epochs * steps, enabled=progress)
        history = classifier.fit(train.dataset(epochs), validation_data=val.dataset(), epochs=epochs,
                                 callbacks=[stop, shown], verbose=verbose, steps_per_epoch=steps,
                                 shuffle=False)  # the batches come shuffled already
        if trainable:
            result.unfrozen_at_epoch = len(result.history)
        result.steps += len(history.epoch) * steps
        for i in range(len(history.epoch)):
            result.history.append({"phase": phase,
                                   **{k: float(v[i]) for k, v in history.history.items()}})
        phase_best = max(history.history["val_accuracy"])
        if phase_best > result.val_accuracy:  # keep whichever phase validated best
            result.val_accuracy, best_weights = phase_best, classifier.get_weights()
    if best_weights is not None:
        classifier.set_weights(best_weights)
    encoder.trainable = True
    release_free_memory()  # what training freed goes back to the system: a kernel's next cells start lower
    return result


class BatchProgress(keras.callbacks.Callback):
    """A progress display over the batches of a `fit` (one line a minute in a log), with the running accuracy."""

    def __init__(self, description: str, total_batches: int, enabled: bool = True):
        super().__init__()
        self.description = description
        self.bar = Progress(total_batches, description, enabled=enabled, min_interval=1.0)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.description = f"{self.description} (accuracy {(logs or {}).get('accuracy', float('nan')):.3f})"
        self.bar.update(1)

    def on_train_end(self, logs=None):
        with self.bar:  # draws the final state (a disabled bar draws nothing)
            pass


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
