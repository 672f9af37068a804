"""Stage 6, fine-tuning: a sentiment classifier on top of the pretrained encoder.

The classifier pools the encoder's vectors over the real tokens of a review (padding excluded),
applies dropout and one sigmoid unit: the probability that the review is positive (label 1).
Training has two phases:

1. the encoder **frozen**: only the new head learns, so its random start cannot wreck what
   pretraining learned;
2. the encoder **unfrozen** at a lower learning rate: everything adapts to sentiment.

Each phase stops early when validation accuracy stops improving and restores its best weights.
Validation comes from the held-out part of train; test is never looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import load_tensorflow
from .config import Config

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402


@keras.saving.register_keras_serializable(package="bertmlm")
class MaskedPooling(keras.layers.Layer):
    """Average (or max) of the token vectors over real tokens only: `[B, L, D]` + ids `[B, L]` -> `[B, D]`.

    Padding (id 0) is excluded, so a short review is not diluted by its padding.

    Args:
        mode: "mean" or "max".
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"`mode` should be 'mean' or 'max'. Received: mode={mode!r}")
        self.mode = mode

    def call(self, sequence, token_ids):
        real = ops.expand_dims(ops.cast(ops.not_equal(token_ids, 0), sequence.dtype), -1)  # [B, L, 1]
        if self.mode == "mean":
            return ops.sum(sequence * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0)
        return ops.max(sequence + (real - 1.0) * 1e9, axis=1)

    def compute_output_shape(self, sequence_shape, token_ids_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_classifier(encoder: keras.Model, pooling: str = "mean", dropout: float = 0.1,
                     name: str = "sentiment_classifier") -> keras.Model:
    """Encoder + masked pooling + dropout + sigmoid: ids `[B, L]` -> P(positive) `[B, 1]`."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    pooled = MaskedPooling(pooling, name="pooling")(encoder(token_ids), token_ids)
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    probability = keras.layers.Dense(1, activation="sigmoid", name="positive_probability")(pooled)
    return keras.Model(token_ids, probability, name=name)


@dataclass
class FinetuneResult:
    """Per-epoch curves of both phases, where the encoder was unfrozen, and the best validation accuracy."""

    history: list = field(default_factory=list)
    unfrozen_at_epoch: int = 0
    val_accuracy: float = 0.0


def _dataset(ids, labels, batch_size, shuffle, seed):
    tf = load_tensorflow()
    ds = tf.data.Dataset.from_tensor_slices((ids.astype(np.int32), labels.astype(np.float32)))
    if shuffle:
        ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def finetune(classifier: keras.Model, encoder: keras.Model, train_ids, train_labels, val_ids, val_labels,
             cfg: Config, head_learning_rate: float = 1e-3, encoder_learning_rate: float = 1e-4,
             frozen_epochs: int | None = None, unfrozen_epochs: int | None = None, patience: int = 1,
             verbose: int = 0) -> FinetuneResult:
    """Train the classifier in two phases (encoder frozen, then unfrozen); best weights kept per phase."""
    frozen_epochs = frozen_epochs if frozen_epochs is not None else max(1, cfg.finetune_epochs // 2)
    unfrozen_epochs = unfrozen_epochs if unfrozen_epochs is not None else cfg.finetune_epochs
    train = _dataset(train_ids, train_labels, cfg.batch_size, True, cfg.seed)
    val = _dataset(val_ids, val_labels, cfg.batch_size, False, cfg.seed)
    result = FinetuneResult()
    best_weights = None
    for trainable, rate, epochs in ((False, head_learning_rate, frozen_epochs), (True, encoder_learning_rate, unfrozen_epochs)):
        if epochs <= 0:
            continue
        encoder.trainable = trainable
        classifier.compile(optimizer=keras.optimizers.AdamW(rate, weight_decay=0.01, global_clipnorm=1.0),
                           loss="binary_crossentropy", metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
        stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
                                             restore_best_weights=True)
        history = classifier.fit(train, validation_data=val, epochs=epochs, callbacks=[stop], verbose=verbose,
                                 shuffle=False)  # the dataset shuffles itself
        if trainable:
            result.unfrozen_at_epoch = len(result.history)
        for i in range(len(history.epoch)):
            result.history.append({"phase": "encoder frozen" if not trainable else "encoder unfrozen",
                                   **{k: float(v[i]) for k, v in history.history.items()}})
        phase_best = max(history.history["val_accuracy"])
        if phase_best > result.val_accuracy:  # keep whichever phase validated best
            result.val_accuracy, best_weights = phase_best, classifier.get_weights()
    if best_weights is not None:
        classifier.set_weights(best_weights)
    encoder.trainable = True
    return result


def accuracy(classifier: keras.Model, ids, labels, batch_size: int = 256) -> float:
    """Share of reviews whose predicted label (probability >= 0.5) matches."""
    probabilities = classifier.predict(ids.astype(np.int32), batch_size=batch_size, verbose=0).reshape(-1)
    return float(((probabilities >= 0.5).astype(int) == labels.astype(int)).mean())


FINETUNE_FOLDER = "finetune"
MODEL_FILE = "sentiment.keras"


def load_pretrained_encoder(cfg: Config, vectorizer) -> keras.Model:
    """The encoder pretrained in this artifacts folder, refused if it was made with another vocabulary."""
    from .errors import ArtifactError
    from .pretrain import ENCODER_FILE, PRETRAIN_FOLDER, read_checkpoint_meta

    folder = cfg.artifacts_dir / PRETRAIN_FOLDER
    if read_checkpoint_meta(folder).get("vocabulary_fingerprint") != vectorizer.fingerprint:
        raise ArtifactError(f"the encoder in {folder} was pretrained with another vocabulary: "
                            "pretrain again in this artifacts folder.")
    return keras.saving.load_model(folder / ENCODER_FILE, safe_mode=True)


def pretrained_encoder(cfg: Config, vectorizer, data_path=None, progress: bool = True) -> keras.Model:
    """The encoder pretrained in this artifacts folder for this vocabulary. If there is none: the
    shipped instructor checkpoint when it fits the preset and the vocabulary, else pretrained now."""
    from . import instructor
    from .errors import ArtifactError
    from .pretrain import run_pretraining

    try:
        return load_pretrained_encoder(cfg, vectorizer)
    except (ArtifactError, OSError, ValueError):
        pass
    if instructor.shipped_fits(cfg, vectorizer):
        instructor.import_checkpoint(instructor.SHIPPED, cfg)
        print(f"using the instructor's pretrained model ({instructor.describe(instructor.SHIPPED)})")
        return load_pretrained_encoder(cfg, vectorizer)
    model, _ = run_pretraining(cfg, data_path, progress=progress, fill_mask_display=False)
    return model.encoder


def run_finetuning(cfg: Config, data_path=None, progress: bool = True, from_scratch: bool = False) -> dict:
    """The whole stage: data, vocabulary and pretrained encoder from the artifacts, two-phase fine-tuning,
    then the end-to-end model on raw strings saved as `finetune/sentiment.keras`. Returns a summary.
    A second run on the same artifacts folder at the same time is refused (`ArtifactError`)."""
    from .artifacts import exclusive

    with exclusive(cfg.artifacts_dir, "fine-tuning"):
        return _finetune_stage(cfg, data_path, progress, from_scratch)


def _finetune_stage(cfg, data_path, progress, from_scratch, imdb=None, vectorizer=None) -> dict:
    import time

    from . import data, end_to_end
    from .artifacts import ensure_folder, write_json
    from .distribute import strategy_for
    from .model import build_encoder
    from .vectorize import Vectorizer

    started = time.monotonic()
    folder = cfg.artifacts_dir
    vectorizer = vectorizer or Vectorizer.load(folder)
    imdb = imdb or data.load_imdb(data_path, cfg=cfg, progress=progress)
    train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    with strategy_for(cfg).scope():  # one device by default; all of them under --strategy mirrored
        encoder = (build_encoder(cfg, vectorizer.vocabulary_size) if from_scratch
                   else load_pretrained_encoder(cfg, vectorizer))
        classifier = build_classifier(encoder, dropout=cfg.dropout)
        result = finetune(classifier, encoder, vectorizer.encode(train.texts), train.labels,
                          vectorizer.encode(validation.texts), validation.labels, cfg,
                          frozen_epochs=0 if from_scratch else None, verbose=0)
    model = end_to_end.build_end_to_end_model(vectorizer, classifier)
    out = ensure_folder(folder / FINETUNE_FOLDER)
    end_to_end.save(model, out / MODEL_FILE)
    summary = {"model": str(out / MODEL_FILE), "val_accuracy": result.val_accuracy, "from_scratch": from_scratch,
               "train_reviews": len(train), "validation_reviews": len(validation),
               "unfrozen_at_epoch": result.unfrozen_at_epoch, "history": result.history,
               "seconds": round(time.monotonic() - started, 1)}
    write_json(out / "finetune.json", summary)
    return summary


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
