"""Stage 7, end to end: one Keras model that takes raw review strings and returns P(positive).

The reference tutorial's "end-to-end" model only overrode `evaluate` to vectorize text outside
the model, so the saved model still needed Python preprocessing code. Ours puts the
`TextVectorization` layer inside: `[B]` strings -> `[B, L]` ids -> classifier -> `[B, 1]`
probabilities. Saved as one `.keras` file, it reloads with `safe_mode=True` in a fresh process
(the standardization function is registered with Keras) and gives identical predictions.
With a WordPiece vocabulary the text layer is `subwords.WordPieceText`: loading such a model needs
tensorflow-text installed (it comes with `pip install bertmlm`; keras-hub is not needed).
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import numpy as np

from .artifacts import load_model, save_model_atomically
from .backend import load_tensorflow
from .errors import checked_texts
from .vectorize import Vectorizer

load_tensorflow()

import keras  # noqa: E402

# Importing these registers the custom layers with Keras (the vectorizer registers the standardization
# function, the schedule the learning rate a saved optimizer names), so a saved model reloads in a
# process that has imported nothing else of ours.
from . import model as _registers_encoder_layers  # noqa: E402,F401
from . import schedules as _registers_schedule  # noqa: E402,F401
from . import subwords  # noqa: E402  (registers WordPieceText; keras-hub is imported only when one is built)
from .classifier import reading_length  # noqa: E402


def build_end_to_end_model(vectorizer: Vectorizer, classifier: keras.Model, name: str = "end_to_end") -> keras.Model:
    """Raw strings `[B]` -> P(positive) `[B, 1]`: the vectorizer's layer (as many tokens as the
    classifier reads), then the classifier."""
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = vectorizer.text_layer(reading_length(classifier))(text)
    ids = keras.layers.Identity(name="token_ids")(keras.ops.cast(ids, "int32"))
    return keras.Model(text, classifier(ids), name=name)


def predict(model: keras.Model, texts, batch_size: int = 32) -> np.ndarray:
    """P(positive) for each raw text, batched. Long texts are cut to the model's length, never refused.

    Texts go through in order of length (then back to the given order), so a batch of short reviews
    is not padded to the length of a long one."""
    texts = checked_texts(texts, "give a review with some words.")
    tf = load_tensorflow()
    order = np.argsort([len(text) for text in texts], kind="stable")
    probabilities = np.empty(len(texts), dtype=np.float32)
    probabilities[order] = model.predict(tf.constant([texts[i] for i in order]), batch_size=batch_size,
                                         verbose=0).reshape(-1)
    return probabilities


def inference_speed(model: keras.Model, texts, batch_size: int = 256, repeats: int = 3) -> dict:
    """Reviews per second from raw strings to probabilities: the median of `repeats` timed passes,
    after one untimed pass (which traces the graph)."""
    predict(model, texts[:batch_size], batch_size=batch_size)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(model, texts, batch_size=batch_size)
        seconds.append(time.perf_counter() - started)
    median = float(np.median(seconds))
    return {"reviews": len(texts), "batch_size": batch_size, "repeats": repeats, "seconds": [round(s, 3) for s in seconds],
            "reviews_per_s": round(len(texts) / median, 1)}


def save(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save the end-to-end model as one `.keras` file, atomically."""
    return save_model_atomically(model, Path(path))


def load(path: str | os.PathLike) -> keras.Model:
    """Load a saved end-to-end model with `safe_mode=True`; a missing or damaged file gets a clear error, and so
    does a model that reads WordPiece pieces where tensorflow-text is not installed."""
    _require_what_it_reads(Path(path))
    return load_model(path, "end-to-end model", "run `bertmlm finetune` (or notebook 06)")


def _require_what_it_reads(path: Path) -> None:
    """A model whose text layer is `WordPieceText` needs tensorflow-text: say so before Keras fails deep inside."""
    try:
        with zipfile.ZipFile(path) as pack:
            config = pack.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return  # missing or damaged: `load_model` names the problem
    if b'"WordPieceText"' in config:
        subwords.tensorflow_text(f"the model {path} reads WordPiece pieces: loading it needs")
