"""The sentiment classifier on top of an encoder: how it reads a review, and how it predicts.

- `ReadWindows` / `JoinWindows`: a review longer than the encoder's length is read as consecutive
  windows through the same encoder, then put back in a row;
- `MaskedPooling`: the average (or max) over real tokens only;
- `build_classifier`: ids `[B, L]` -> P(positive) `[B, 1]`;
- `LengthGroupedBatches` and `predict_ids`: batches of reviews of similar length, so short reviews
  are not padded to the longest one.

Lesson 06 trains it (`finetune.py`); lesson 07 wraps it for raw strings (`end_to_end.py`).
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np

from .backend import load_tensorflow, without_autotuning
from .config import Config

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from .model import EMBEDDING_LAYER, INIT_STD  # noqa: E402

# How a review's token vectors become one vector: their average or their maximum (real tokens only).
Pooling = Literal["mean", "max"]


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

    def __init__(self, mode: Pooling = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in typing.get_args(Pooling):
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


def build_classifier(encoder: keras.Model, pooling: Pooling = "mean", dropout: float = 0.1, windows: int = 1,
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


def encoder_of(classifier: keras.Model) -> keras.Model:
    """The encoder a classifier reads with (the one model among its layers)."""
    [encoder] = [layer for layer in classifier.layers if isinstance(layer, keras.Model)]
    return encoder


def shrink_word_vectors(encoder: keras.Model, size: float = INIT_STD) -> float:
    """Scale the encoder's word vectors (and learned position vectors) down to the size fresh ones start at
    (root mean square `size`, BERT's initial spread); returns the factor. Exactly what it computes stays the same: a
    LayerNorm follows the embeddings and undoes any common scale. What changes is fine-tuning: Adam moves
    every weight by about the rate per step whatever its size, so pretrained vectors several times larger
    than fresh ones barely turn in a few dozen steps; shrunk, they turn as fast as a fresh encoder's.

    Refused (ValueError) where a scale would change the function: no LayerNorm right after the embeddings
    (pre-LN blocks), or fixed sinusoids added to them."""
    layer = encoder.get_layer(EMBEDDING_LAYER)
    names = {sub.name for sub in encoder.layers}
    if "embeddings_norm" not in names or layer.position_encoding == "sinusoidal":
        raise ValueError("shrinking word vectors keeps the encoder's function only when a LayerNorm follows the "
                         "embeddings and nothing fixed is added to them (post-LN, not sinusoidal positions).")
    words = layer.token_embedding.embeddings
    factor = size / float(np.sqrt(np.mean(np.square(np.asarray(words)))))
    words.assign(np.asarray(words) * factor)
    if layer.position_embedding is not None:
        table = layer.position_embedding.weights[0]
        table.assign(np.asarray(table) * factor)
    return factor


def classifier_for(encoder: keras.Model, cfg: Config, pooling: Pooling = "mean") -> keras.Model:
    """The preset's classifier on `encoder`: its dropout, reading `cfg.classifier_windows` windows."""
    return build_classifier(encoder, pooling=pooling, dropout=cfg.dropout, windows=cfg.classifier_windows)


def encode_reviews(vectorizer, texts, cfg: Config) -> np.ndarray:
    """Ids of reviews as the classifier reads them: `[N, cfg.classifier_length]`."""
    return vectorizer.encode(texts, length=cfg.classifier_length)


def encoder_length(encoder: keras.Model) -> int:
    """The number of positions the encoder has embeddings for (its pretraining length)."""
    return int(encoder.get_layer(EMBEDDING_LAYER).sequence_length)


def reading_length(classifier: keras.Model) -> int:
    """How many tokens of a review the classifier reads at most (windows x the encoder's length)."""
    return classifier.get_layer("read_windows").max_tokens


class LengthGroupedBatches:
    """Training batches of reviews of similar length, in a new random order every epoch.

    Reviews are shuffled, taken in pools of 50 batches, sorted by length inside each pool and cut
    into batches; the batch order is shuffled too. `ReadWindows` then drops the windows no review of
    a batch reaches, so short reviews are not padded up to the longest review of the corpus.
    `dataset(epochs)` gives `fit` the batches of several epochs.
    """

    POOL_BATCHES = 50

    def __init__(self, ids, labels, batch_size: int, seed: int, shuffle: bool = True):
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

    def dataset(self, epochs: int = 1):
        """The batches of `epochs` epochs, one epoch after another (each in a new order when shuffling),
        as a `tf.data.Dataset` of `(ids, labels)`.

        tf.data's autotuning is off (`backend.without_autotuning`: with it on, the end of a `fit`
        stalled for 30-60 s in about half the fine-tunings measured). There is nothing to tune here
        anyway: each batch is two gathers from memory.
        """
        tf = load_tensorflow()
        order = []
        for _ in range(epochs):
            order += self.batches
            self.on_epoch_end()
        rows = tf.RaggedTensor.from_row_lengths(np.concatenate(order).astype(np.int64), [len(b) for b in order])
        ids, labels = tf.constant(self.ids), tf.constant(self.labels)
        return without_autotuning(tf.data.Dataset.from_tensor_slices(rows)
                                  .map(lambda batch: (tf.gather(ids, batch), tf.gather(labels, batch)))
                                  .prefetch(2))


# Reviews per batch when only predicting: a batch of 32 reviews of 512 tokens already holds ~67 MB of
# attention weights per layer; bigger batches cost memory and were no faster on a 2-core CPU.
PREDICT_BATCH = 32


def _in_length_order(model: keras.Model, ids, batch_size: int) -> np.ndarray:
    """The model's output per row of ids, computed in batches of similar length (fast), in the rows' order."""
    ids = np.asarray(ids, dtype=np.int32)
    order = np.argsort((ids != 0).sum(axis=1), kind="stable")
    outputs = None
    for start in range(0, len(ids), batch_size):
        rows = order[start:start + batch_size]
        batch = np.asarray(model.predict_on_batch(ids[rows]))
        if outputs is None:
            outputs = np.empty((len(ids), *batch.shape[1:]), dtype=np.float32)
        outputs[rows] = batch
    return outputs if outputs is not None else np.empty((0,), dtype=np.float32)


def predict_ids(classifier: keras.Model, ids, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """P(positive) per row of ids, computed in batches of similar length (fast), in the rows' order."""
    return _in_length_order(classifier, ids, batch_size).reshape(-1)


def pooled_features(encoder: keras.Model, ids, windows: int = 1, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """The frozen encoder's vector of each review, `[N, D]`: its token vectors averaged over real tokens,
    read in up to `windows` windows as the classifier reads them. What a linear probe is fitted on."""
    token_ids = keras.Input(shape=(None,), dtype="int32")
    kept, windowed = ReadWindows(encoder_length(encoder), windows)(token_ids)
    pooled = MaskedPooling("mean")(JoinWindows()(encoder(windowed), kept), kept)
    return _in_length_order(keras.Model(token_ids, pooled), ids, batch_size)


def accuracy(classifier: keras.Model, ids, labels, batch_size: int = PREDICT_BATCH) -> float:
    """Share of reviews whose predicted label (probability >= 0.5) matches."""
    probabilities = predict_ids(classifier, ids, batch_size)
    return float(((probabilities >= 0.5).astype(int) == labels.astype(int)).mean())
