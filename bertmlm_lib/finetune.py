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
from pathlib import Path

import numpy as np

from .backend import load_tensorflow
from .config import Config

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from .schedules import WarmupLinearDecay  # noqa: E402  (registers it: saved classifiers name it)


@keras.saving.register_keras_serializable(package="bertmlm")
class ReadWindows(keras.layers.Layer):
    """Cut ids `[B, L]` into windows the encoder can read: `[B * W, window]`, W = windows needed.

    The encoder learned positions 0..window-1 only, but most reviews are longer. So the classifier
    reads a review as consecutive windows of `window` tokens (up to `max_windows` of them), each
    through the same encoder, and pools over all of them. Windows that hold only padding in every
    review of the batch are dropped first, so a batch of short reviews costs what short reviews cost.
    (Dynamic shapes: fine on TensorFlow, the backend this project uses.)
    """

    def __init__(self, window: int, max_windows: int = 1, **kwargs):
        super().__init__(**kwargs)
        if window < 1 or max_windows < 1:
            raise ValueError(f"window and max_windows must be >= 1. Received: {window}, {max_windows}")
        self.window, self.max_windows = int(window), int(max_windows)

    @property
    def max_tokens(self) -> int:
        """How many tokens of a review the classifier reads at most."""
        return self.window * self.max_windows

    def kept_ids(self, token_ids):
        """The ids cut to `max_tokens` and to whole windows, trailing all-padding windows dropped: `[B, W * window]`."""
        token_ids = token_ids[:, :self.max_tokens]
        shortfall = (-ops.shape(token_ids)[1]) % self.window
        token_ids = ops.pad(token_ids, [[0, 0], [0, shortfall]])
        longest = ops.max(ops.sum(ops.cast(ops.not_equal(token_ids, 0), "int32"), axis=1))
        windows = ops.maximum((longest + self.window - 1) // self.window, 1)
        return token_ids[:, :windows * self.window]

    def call(self, token_ids):
        kept = self.kept_ids(token_ids)
        return kept, ops.reshape(kept, (-1, self.window))

    def compute_output_spec(self, token_ids):
        return (keras.KerasTensor((token_ids.shape[0], None), dtype=token_ids.dtype),
                keras.KerasTensor((None, self.window), dtype=token_ids.dtype))

    def get_config(self):
        return {**super().get_config(), "window": self.window, "max_windows": self.max_windows}


@keras.saving.register_keras_serializable(package="bertmlm")
class JoinWindows(keras.layers.Layer):
    """Put the windows of each review back in a row: `[B * W, window, D]` -> `[B, W * window, D]`."""

    def call(self, windows, kept_ids):
        return ops.reshape(windows, (ops.shape(kept_ids)[0], -1, ops.shape(windows)[-1]))

    def compute_output_spec(self, windows, kept_ids):
        return keras.KerasTensor((kept_ids.shape[0], None, windows.shape[-1]), dtype=windows.dtype)


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


def build_classifier(encoder: keras.Model, pooling: str = "mean", dropout: float = 0.1, windows: int = 1,
                     name: str = "sentiment_classifier") -> keras.Model:
    """Encoder read in windows + masked pooling + dropout + sigmoid: ids `[B, L]` -> P(positive) `[B, 1]`.

    The classifier reads up to `windows` x the encoder's length tokens of each review (see `ReadWindows`).
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    kept, windowed = ReadWindows(encoder_length(encoder), windows, name="read_windows")(token_ids)
    sequence = JoinWindows(name="join_windows")(encoder(windowed), kept)
    pooled = MaskedPooling(pooling, name="pooling")(sequence, kept)
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    probability = keras.layers.Dense(1, activation="sigmoid", name="positive_probability")(pooled)
    return keras.Model(token_ids, probability, name=name)


def classifier_for(encoder: keras.Model, cfg: Config, pooling: str = "mean") -> keras.Model:
    """The preset's classifier on `encoder`: its dropout, reading `cfg.classifier_windows` windows."""
    return build_classifier(encoder, pooling=pooling, dropout=cfg.dropout, windows=cfg.classifier_windows)


def encode_reviews(vectorizer, texts, cfg: Config) -> np.ndarray:
    """Ids of reviews as the classifier reads them: `[N, cfg.classifier_length]`."""
    return vectorizer.encode(texts, length=cfg.classifier_length)


def encoder_length(encoder: keras.Model) -> int:
    """The number of positions the encoder has embeddings for (its pretraining length)."""
    from .model import EMBEDDING_LAYER

    return int(encoder.get_layer(EMBEDDING_LAYER).sequence_length)


def reading_length(classifier: keras.Model) -> int:
    """How many tokens of a review the classifier reads at most (windows x the encoder's length)."""
    return classifier.get_layer("read_windows").max_tokens


@dataclass
class FinetuneResult:
    """Per-epoch curves of both phases, where the encoder was unfrozen, and the best validation accuracy."""

    history: list = field(default_factory=list)
    unfrozen_at_epoch: int = 0
    val_accuracy: float = 0.0


class LengthGroupedBatches(keras.utils.PyDataset):
    """Training batches of reviews of similar length, in a new random order every epoch.

    Reviews are shuffled, taken in pools of 50 batches, sorted by length inside each pool and cut
    into batches; the batch order is shuffled too. `ReadWindows` then drops the windows no review of
    a batch reaches, so short reviews are not padded up to the longest review of the corpus.
    """

    POOL_BATCHES = 50

    def __init__(self, ids, labels, batch_size: int, seed: int, shuffle: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.ids, self.labels = np.asarray(ids, dtype=np.int32), np.asarray(labels, dtype=np.float32)
        self.batch_size, self.seed, self.shuffle, self.epoch = int(batch_size), seed, shuffle, 0
        self.lengths = (self.ids != 0).sum(axis=1)
        self.batches = self._batches()

    def _batches(self) -> list[np.ndarray]:
        n, size = len(self.ids), self.batch_size
        if not self.shuffle:  # one sort by length: the fewest padded windows
            order = np.argsort(self.lengths, kind="stable")
            return [order[i:i + size] for i in range(0, n, size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order, pool = rng.permutation(n), size * self.POOL_BATCHES
        batches = []
        for start in range(0, n, pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + size] for i in range(0, len(chunk), size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        return self.ids[rows], self.labels[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self.batches = self._batches()


# Reviews per batch when only predicting: a batch of 32 reviews of 512 tokens already holds ~67 MB of
# attention weights per layer; bigger batches cost memory and were no faster on a 2-core CPU.
PREDICT_BATCH = 32


def predict_ids(classifier: keras.Model, ids, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """P(positive) per row of ids, computed in batches of similar length (fast), in the rows' order."""
    ids = np.asarray(ids, dtype=np.int32)
    order = np.argsort((ids != 0).sum(axis=1), kind="stable")
    probabilities = np.empty(len(ids), dtype=np.float32)
    for start in range(0, len(ids), batch_size):
        rows = order[start:start + batch_size]
        probabilities[rows] = np.asarray(classifier.predict_on_batch(ids[rows])).reshape(-1)
    return probabilities


def finetune(classifier: keras.Model, encoder: keras.Model, train_ids, train_labels, val_ids, val_labels,
             cfg: Config, head_learning_rate: float = 3e-3, encoder_learning_rate: float | None = None,
             frozen_epochs: int | None = None, unfrozen_epochs: int | None = None, patience: int = 1,
             verbose: int = 0) -> FinetuneResult:
    """Train the classifier in two phases (encoder frozen, then unfrozen); best weights kept per phase.

    Phase 1 runs `frozen_epochs` rounds (default half of `cfg.finetune_epochs`, at least one), each of
    one epoch or `cfg.frozen_steps` batches, whichever is fewer: the new head only needs a few hundred
    batches to stop being random. Phase 2 runs `unfrozen_epochs` (default `cfg.finetune_epochs`) at
    `encoder_learning_rate` (default `cfg.finetune_learning_rate`), warmed up over its first 10% of
    batches and decayed linearly to zero.
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
        classifier.compile(optimizer=keras.optimizers.AdamW(rate, weight_decay=0.01, global_clipnorm=1.0),
                           loss="binary_crossentropy", metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
        stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
                                             restore_best_weights=True)
        history = classifier.fit(train, validation_data=val, epochs=epochs, callbacks=[stop], verbose=verbose,
                                 steps_per_epoch=None if trainable else frozen_steps)
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


def accuracy(classifier: keras.Model, ids, labels, batch_size: int = PREDICT_BATCH) -> float:
    """Share of reviews whose predicted label (probability >= 0.5) matches."""
    probabilities = predict_ids(classifier, ids, batch_size)
    return float(((probabilities >= 0.5).astype(int) == labels.astype(int)).mean())


FINETUNE_FOLDER = "finetune"
MODEL_FILE = "sentiment.keras"


def load_pretrained_encoder(cfg: Config, vectorizer) -> keras.Model:
    """The encoder pretrained in this artifacts folder, refused if it was made with another vocabulary."""
    from .artifacts import load_model
    from .errors import ArtifactError
    from .pretrain import ENCODER_FILE, PRETRAIN_FOLDER, read_checkpoint_meta

    folder = cfg.artifacts_dir / PRETRAIN_FOLDER
    if read_checkpoint_meta(folder).get("vocabulary_fingerprint") != vectorizer.fingerprint:
        raise ArtifactError(f"the encoder in {folder} was pretrained with another vocabulary: "
                            "pretrain again in this artifacts folder.")
    return load_model(folder / ENCODER_FILE, "pretrained encoder", "run `bertmlm pretrain` (or notebook 05)")


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


def run_finetuning(cfg: Config, data_path=None, progress: bool = True, from_scratch: bool = False,
                   train_reviews: int | None = None) -> dict:
    """The whole stage: data, vocabulary and pretrained encoder from the artifacts, two-phase fine-tuning,
    then the end-to-end model on raw strings saved as `finetune/sentiment.keras`. Returns a summary.
    `train_reviews` keeps a label-balanced share of the labelled reviews (a lesson's slot); None: all.
    A second run on the same artifacts folder at the same time is refused (`ArtifactError`)."""
    from .artifacts import exclusive

    with exclusive(cfg.artifacts_dir, "fine-tuning"):
        return _finetune_stage(cfg, data_path, progress, from_scratch, train_reviews=train_reviews)


def lesson_model(cfg: Config, vectorizer, data_path=None) -> Path:
    """The end-to-end model lesson 06 saved, for the lessons after it; if it is missing, made now the
    way lesson 06 makes it (the pretrained encoder, else the instructor's; the lesson's share of labels)."""
    path = cfg.artifacts_dir / FINETUNE_FOLDER / MODEL_FILE
    if not path.is_file():
        pretrained_encoder(cfg, vectorizer, data_path, progress=False)  # makes sure an encoder exists
        run_finetuning(cfg, data_path, progress=False, train_reviews=cfg.lesson_train_reviews)
    return path


def _finetune_stage(cfg, data_path, progress, from_scratch, imdb=None, vectorizer=None,
                    train_reviews: int | None = None) -> dict:
    import time

    from . import data
    from .distribute import strategy_for
    from .model import build_encoder
    from .vectorize import Vectorizer

    started = time.monotonic()
    folder = cfg.artifacts_dir
    vectorizer = vectorizer or Vectorizer.load(folder)
    imdb = imdb or data.load_imdb(data_path, cfg=cfg, progress=progress)
    train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    if train_reviews:
        train = data.balanced_subset(train, train_reviews, cfg.seed)
    with strategy_for(cfg).scope():  # one device by default; all of them under --strategy mirrored
        encoder = (build_encoder(cfg, vectorizer.vocabulary_size) if from_scratch
                   else load_pretrained_encoder(cfg, vectorizer))
        classifier = classifier_for(encoder, cfg)
        result = finetune(classifier, encoder, encode_reviews(vectorizer, train.texts, cfg), train.labels,
                          encode_reviews(vectorizer, validation.texts, cfg), validation.labels, cfg,
                          frozen_epochs=0 if from_scratch else None, verbose=0)
    return save_end_to_end(cfg, vectorizer, classifier, result, {
        "from_scratch": from_scratch, "train_reviews": len(train), "validation_reviews": len(validation),
        "seconds": round(time.monotonic() - started, 1)})


def save_end_to_end(cfg: Config, vectorizer, classifier: keras.Model, result: FinetuneResult, facts: dict) -> dict:
    """Save the classifier as the end-to-end model on raw strings (`finetune/sentiment.keras`) with its
    summary (`finetune/finetune.json`), where lesson 07, `bertmlm evaluate` and `predict` find it."""
    from . import end_to_end
    from .artifacts import ensure_folder, write_json

    out = ensure_folder(cfg.artifacts_dir / FINETUNE_FOLDER)
    end_to_end.save(end_to_end.build_end_to_end_model(vectorizer, classifier), out / MODEL_FILE)
    summary = {"model": str(out / MODEL_FILE), "val_accuracy": result.val_accuracy, **facts,
               "unfrozen_at_epoch": result.unfrozen_at_epoch, "history": result.history}
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
