"""Lesson 06, first part: ask the pretrained MLM itself whether a review is positive.

Pretraining taught the model one skill, filling in blanks, so we phrase sentiment as a blank (a
*cloze* question): the review, then "all in all the movie was [mask]". A *verbalizer* names words for
each class (bad, awful, ... for label 0; great, good, ... for label 1). A class's score is the log
of the probability the MLM head puts on its words at the `[mask]`, all words of the class together.

- **Zero-shot**: no label at all. A model leans toward some words whatever the review, so the scores
  are *calibrated* first (Zhao et al. 2021): `calibrate(unlabelled_texts)` subtracts each class's
  mean score over reviews nobody labelled, so neither class wins by default.
- **Few-shot**: `few_shot(...)` trains the whole MLM on a few labelled reviews asked the same
  question, the loss on the class scores (PET: Schick & Schütze 2021). Nothing new is added to the
  model: the head that filled blanks answers.

The review is cut so that the question always fits in what the model reads (the `[mask]` is never
cut off): by default its last words are kept, where reviewers sum up. A verbalizer word must be one
token of the vocabulary (with WordPiece: a word that is one whole piece); another is a clear error.

>>> split_template("{review} . all in all it was [mask] .")
('', '. all in all it was [mask] .')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .backend import load_tensorflow
from .checkpoints import load_mlm_snapshot, mlm_snapshots
from .errors import ConfigError, TextError, checked_texts
from .vectorize import FIRST_WORD_ID, MASK_ID, MASK_TOKEN, standardize_text

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from . import model as _registers_model_layers  # noqa: E402,F401  (a saved cloze model reloads the MLM)
from .model import flat_positions  # noqa: E402

REVIEW = "{review}"
# The question and its words (`fill_mask.TEMPLATE`, `fill_mask.VERBALIZER`: lesson 05's time-lapse asks it too).
from .fill_mask import TEMPLATE, VERBALIZER  # noqa: E402,F401
# Reviews per forward pass when scoring: a batch's attention weights are [batch, heads, length, length] floats,
# 268 MB for 128 reviews of the instructor's 256 tokens; 32 keep a lesson's kernel within Binder's memory.
SCORE_BATCH = 32
# How many tokens of a review are read before its end is kept (IMDB's longest review has ~2,500 words).
LONGEST_REVIEW = 3_000


def split_template(template: str) -> tuple[str, str]:
    """The text before and after `{review}`; a template needs `{review}` once and `[mask]` once."""
    if not isinstance(template, str) or template.count(REVIEW) != 1:
        raise TextError(f"template {template!r} must contain {REVIEW} exactly once, where the review goes; "
                        "e.g. '{review} . all in all the movie was [mask] .'")
    before, after = template.split(REVIEW)
    masks = standardize_text(before).split().count(MASK_TOKEN) + standardize_text(after).split().count(MASK_TOKEN)
    if masks != 1:
        raise TextError(f"template {template!r} has {masks} [mask]s outside the review: put exactly one [mask] "
                        "where the model should name the class word.")
    return before.strip(), after.strip()


@dataclass(frozen=True)
class Prompt:
    """A cloze question: the template (with `{review}` and one `[mask]`), the words of each class
    (index = label), and which end of a long review is kept."""

    template: str = TEMPLATE
    verbalizer: tuple = VERBALIZER
    keep: Literal["end", "start"] = "end"

    def __post_init__(self):
        split_template(self.template)
        if len(self.verbalizer) < 2 or any(isinstance(words, str) or not words for words in self.verbalizer):
            raise TextError(f"verbalizer {self.verbalizer!r} must give, for each of 2 or more classes, a list of "
                            "words, e.g. (('bad', 'awful'), ('good', 'great')).")
        if self.keep not in ("end", "start"):
            raise ConfigError(f"keep={self.keep!r}: keep the review's 'end' or its 'start'.")


def _piece_ids(vectorizer, text: str) -> list[int]:
    """The token ids of a short text, uncut and unpadded."""
    if not standardize_text(text):
        return []
    row = vectorizer.encode([text], length=LONGEST_REVIEW)[0]
    return row[row != 0].tolist()


def verbalizer_ids(vectorizer, verbalizer) -> list[list[int]]:
    """The token id of every verbalizer word, per class; a word that is not one token is an error."""
    classes = []
    for words in verbalizer:
        ids = []
        for word in words:
            cleaned = standardize_text(word)
            pieces = vectorizer.ids_of_word(cleaned) if cleaned and " " not in cleaned else ()
            if len(pieces) != 1 or pieces[0] < FIRST_WORD_ID:
                why = (f"it is {len(pieces)} {vectorizer.UNIT}" if len(pieces) > 1 else
                       "it is not one word" if not pieces else "the vocabulary does not hold it")
                raise TextError(f"verbalizer word {word!r} is not one token of this vocabulary ({why}): the [mask] "
                                "stands for one token, so choose a word the vocabulary holds whole, e.g. a more "
                                "frequent synonym.")
            ids.append(int(pieces[0]))
        classes.append(ids)
    flat = [i for ids in classes for i in ids]
    if len(set(flat)) != len(flat):
        raise TextError(f"verbalizer {verbalizer!r} gives one word to two classes (or twice): each word names one class.")
    return classes


@keras.saving.register_keras_serializable(package="bertmlm")
class ClozeLayout(keras.layers.Layer):
    """Review ids `[B, T]` (0-padded) -> the question's ids `[B, length]` and the `[mask]`'s position `[B]`.

    Lays out `before + review + after`, cutting the review (keeping its `keep` end) so the whole
    question fits in `length` tokens: the `[mask]` is never cut off."""

    def __init__(self, before, after, length: int, keep: str = "end", **kwargs):
        super().__init__(**kwargs)
        self.before, self.after = [int(i) for i in before], [int(i) for i in after]
        self.length, self.keep = int(length), keep
        self.room = self.length - len(self.before) - len(self.after)
        if self.room < 1:
            raise TextError(f"the question takes {len(self.before) + len(self.after)} tokens, leaving no room for the "
                            f"review in the model's {self.length}: shorten the template.")

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        before, after = len(self.before), len(self.after)
        real = ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1)  # [B] review tokens
        used = ops.minimum(real, self.room)
        start = real - used if self.keep == "end" else ops.zeros_like(used)
        slot = ops.arange(self.length, dtype="int32")[None, :]  # [1, length]
        from_review = ops.clip(start[:, None] + slot - before, 0, ops.shape(ids)[1] - 1)
        review = ops.take_along_axis(ids, from_review, axis=1)
        in_after = slot - before - used[:, None]  # [B, length]: index into `after` (< 0: still the review)
        after_ids = ops.take(ops.array(self.after + [0], "int32"), ops.clip(in_after, 0, after))
        before_ids = ops.take(ops.array(self.before + [0], "int32"), ops.clip(slot, 0, before))
        token_ids = ops.where(slot < before, before_ids,
                              ops.where(in_after < 0, review, ops.where(in_after < after, after_ids, 0)))
        if MASK_ID in self.before:
            position = ops.full_like(used, self.before.index(MASK_ID))
        else:
            position = before + used + self.after.index(MASK_ID)
        return token_ids, position

    def compute_output_spec(self, ids):
        batch = ids.shape[0]
        return (keras.KerasTensor((batch, self.length), dtype="int32"), keras.KerasTensor((batch,), dtype="int32"))

    def get_config(self):
        return {**super().get_config(), "before": self.before, "after": self.after, "length": self.length,
                "keep": self.keep}


@keras.saving.register_keras_serializable(package="bertmlm")
class ClassScores(keras.layers.Layer):
    """MLM logits `[B, V]` at the `[mask]` -> log P(class's words) `[B, C]`, minus a calibration offset `[C]`."""

    def __init__(self, class_ids, offset=None, **kwargs):
        super().__init__(**kwargs)
        self.class_ids = [[int(i) for i in ids] for ids in class_ids]
        self.offset = [float(x) for x in (offset if offset is not None else [0.0] * len(self.class_ids))]

    def call(self, logits):
        log_probs = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
        scores = [ops.logsumexp(ops.take(log_probs, ids, axis=1), axis=1) for ids in self.class_ids]
        return ops.stack(scores, axis=1) - ops.array(self.offset, dtype=logits.dtype)

    def compute_output_shape(self, logits_shape):
        return (logits_shape[0], len(self.class_ids))

    def get_config(self):
        return {**super().get_config(), "class_ids": self.class_ids, "offset": self.offset}


class Cloze:
    """A pretrained MLM asked a cloze question: `scores`, `calibrate`, `predict`, `accuracy`.

    `model` is the `BertMaskedLM` (encoder + head) and `vectorizer` its vocabulary; `length` is how many
    tokens the question takes (default: the vocabulary's `max_length`, what the model was trained on)."""

    def __init__(self, model, vectorizer, prompt: Prompt = Prompt(), length: int | None = None):
        self.model, self.vectorizer, self.prompt = model, vectorizer, prompt
        self.length = int(length or vectorizer.max_length)
        before, after = split_template(prompt.template)
        self.class_ids = verbalizer_ids(vectorizer, prompt.verbalizer)
        self.layout = ClozeLayout(_piece_ids(vectorizer, before), _piece_ids(vectorizer, after), self.length,
                                  prompt.keep)
        self.offset = np.zeros(len(self.class_ids))
        self.calibration = "none"

    def questions(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of each review's question `[B, length]` and its `[mask]`'s position `[B]`."""
        texts = checked_texts(texts, "give a review with some words.")
        token_ids, positions = self.layout(self.vectorizer.encode(texts, length=LONGEST_REVIEW))
        return np.asarray(token_ids), np.asarray(positions)

    def mask_log_probs(self, texts, batch_size: int = SCORE_BATCH) -> np.ndarray:
        """log P(word) at each review's `[mask]`, over the whole vocabulary: `[B, V]`."""
        return np.concatenate([_log_softmax(logits) for logits in self._mask_logits(texts, batch_size)])

    def _mask_logits(self, texts, batch_size: int):
        """The MLM's logits at each review's `[mask]`, `[b, V]` per batch of `batch_size` reviews."""
        texts = checked_texts(texts, "give a review with some words.")
        for start in range(0, len(texts), batch_size):
            token_ids, positions = self.questions(texts[start:start + batch_size])
            packed = flat_positions(positions[:, None], self.length)
            yield np.asarray(self.model({"token_ids": token_ids, "mask_positions": packed}, training=False))

    def raw_scores(self, texts, batch_size: int = SCORE_BATCH) -> np.ndarray:
        """log P(class's words at the `[mask]`) for each review, uncalibrated: `[B, C]` (batch by batch, so
        25,000 reviews never hold a `[25,000, V]` array)."""
        scorer = ClassScores(self.class_ids)
        return np.concatenate([np.asarray(scorer(logits)) for logits in self._mask_logits(texts, batch_size)]
                              ).astype(np.float64)

    def scores(self, texts, batch_size: int = SCORE_BATCH) -> np.ndarray:
        """Calibrated class scores `[B, C]`: the raw scores minus the calibration offset."""
        return self.raw_scores(texts, batch_size) - self.offset

    def calibrate(self, unlabelled_texts=(), method: Literal["unlabelled", "content_free", "none"] = "unlabelled"):
        """Set the offset from texts whose labels are never read: "unlabelled" subtracts each class's mean
        score over unlabelled reviews; "content_free" the scores of reviews with no content (Zhao et al.);
        "none" nothing. Returns self."""
        if method == "unlabelled":
            self.offset = self.raw_scores(unlabelled_texts).mean(axis=0)
        elif method == "content_free":
            self.offset = self.raw_scores(CONTENT_FREE).mean(axis=0)
        elif method == "none":
            self.offset = np.zeros(len(self.class_ids))
        else:
            raise ConfigError(f"calibration {method!r}: choose 'unlabelled', 'content_free' or 'none'.")
        self.calibration = method
        return self

    def calibrate_like(self, other: "Cloze") -> "Cloze":
        """Take `other`'s calibration (the same question asked of another copy of the MLM). Returns self."""
        if other.class_ids != self.class_ids:
            raise ConfigError("calibrate_like: the two questions have different verbalizers; calibrate this one itself.")
        self.offset, self.calibration = np.array(other.offset, dtype=float), other.calibration
        return self

    def predict(self, texts) -> np.ndarray:
        """The class of each review: the highest calibrated score."""
        return self.scores(texts).argmax(axis=1)

    def accuracy(self, texts, labels) -> float:
        return float((self.predict(texts) == np.asarray(labels)).mean())

    def answer(self, texts, top_k: int = 5) -> list[dict]:
        """Plain data per review: P(each class's words) at the `[mask]`, P(class) after calibration, the
        class chosen, and the `top_k` words the MLM would write there.

        `{"text", "words": [{"class", "words", "prob"}], "class_probs": [...], "label", "top": [(word, p)]}`"""
        texts = checked_texts(texts, "give a review with some words.")
        logits = np.concatenate(list(self._mask_logits(texts, SCORE_BATCH)))
        log_probs = _log_softmax(logits)
        scores = np.asarray(ClassScores(self.class_ids)(logits)).astype(np.float64) - self.offset
        class_probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        class_probs /= class_probs.sum(axis=1, keepdims=True)
        can_fill = self.vectorizer.can_fill_mask  # the [mask] is a word: never a piece that continues one
        results = []
        for text, row, raw, probs in zip(texts, log_probs, scores + self.offset, class_probs):
            best = [i for i in np.argsort(-row, kind="stable") if can_fill[i]][:top_k]
            results.append({
                "text": text, "class_probs": probs.tolist(), "label": int(probs.argmax()),
                "words": [{"class": c, "words": list(self.prompt.verbalizer[c]), "prob": float(np.exp(raw[c]))}
                          for c in range(len(self.class_ids))],
                "top": [(self.vectorizer.tokens[i], float(np.exp(row[i]))) for i in best]})
        return results

    def classifier(self) -> keras.Model:
        """A Keras model `{token_ids [B, length], mask_positions [B]}` -> calibrated class scores `[B, C]`,
        sharing this MLM's weights (what `few_shot` trains)."""
        return cloze_classifier(self.model, self.class_ids, self.length, self.offset)

    def end_to_end(self, name: str = "cloze_end_to_end") -> keras.Model:
        """Raw strings `[B]` -> class probabilities `[B, C]`: the vocabulary's text layer, the layout,
        the MLM, the calibrated class scores and a softmax, in one model that saves and reloads."""
        text = keras.Input(shape=(), dtype="string", name="text")
        ids = ops.cast(self.vectorizer.text_layer(LONGEST_REVIEW)(text), "int32")
        token_ids, positions = self.layout(ids)
        scores = self.classifier()({"token_ids": token_ids, "mask_positions": positions})
        return keras.Model(text, keras.layers.Softmax(name="class_probabilities")(scores), name=name)


# Reviews with no content, for "content_free" calibration (Zhao et al. 2021 use "N/A", "" and "[MASK]").
CONTENT_FREE = ("n a", "[UNK]", "[mask]")


@keras.saving.register_keras_serializable(package="bertmlm")
class PackPositions(keras.layers.Layer):
    """Row-local positions `[B]` -> the packed `row * length + position` the MLM head takes."""

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = int(length)

    def call(self, positions):
        rows = ops.arange(ops.shape(positions)[0], dtype="int32")
        return rows * self.length + ops.cast(positions, "int32")

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "length": self.length}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def class_scores(log_probs: np.ndarray, class_ids) -> np.ndarray:
    """`[B, V]` log-probabilities at the `[mask]` -> `[B, C]` log P(any of the class's words)."""
    return np.asarray(ClassScores(class_ids)(log_probs)).astype(np.float64)


def cloze_classifier(mlm, class_ids, length: int, offset=None) -> keras.Model:
    """`{token_ids [B, length], mask_positions [B]}` (row-local) -> class scores `[B, C]` from `mlm`'s head."""
    token_ids = keras.Input(shape=(length,), dtype="int32", name="token_ids")
    positions = keras.Input(shape=(), dtype="int32", name="mask_positions")
    logits = mlm({"token_ids": token_ids, "mask_positions": PackPositions(length)(positions)})
    scores = ClassScores(class_ids, offset, name="class_scores")(logits)
    return keras.Model({"token_ids": token_ids, "mask_positions": positions}, scores, name="cloze_classifier")


@dataclass
class FewShotResult:
    """What `few_shot` did: the rate, the best epoch's validation accuracy, optimizer steps, and each epoch's."""

    rate: float
    val_accuracy: float
    best_epoch: int
    steps: int
    history: list = field(default_factory=list)


def few_shot(cloze: Cloze, train_texts, train_labels, val_texts, val_labels, rate: float = 1e-4, epochs: int = 4,
             batch_size: int = 32, seed: int = 1337, weight_decay: float = 0.01, evaluations: int = 4,
             shrink: bool = False) -> FewShotResult:
    """Train the whole MLM of `cloze` on labelled reviews asked its question (PET), the loss being
    cross-entropy over the class scores, for `epochs` passes; score validation after `evaluations`
    of them (evenly spaced, the last included) and keep the best. Changes `cloze.model` in place.
    Training starts from `cloze`'s calibration (calibrate it first on unlabelled reviews: no label is
    read), which stays in the scores as a constant offset. With `shrink`, the word vectors are shrunk
    first (`shrink_word_vectors`: the same answers, larger relative steps)."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs={epochs!r}: train for 1 epoch or more.")
    keras.utils.set_random_seed(seed)
    if shrink:
        shrink_word_vectors(cloze.model)
    train_ids, train_positions = cloze.questions(train_texts)
    val_ids, val_positions = cloze.questions(val_texts)
    train_labels, val_labels = np.asarray(train_labels, "int32"), np.asarray(val_labels)
    classifier = cloze.classifier()
    classifier.compile(optimizer=keras.optimizers.AdamW(rate, weight_decay=weight_decay, clipnorm=1.0),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    scored_after = set(np.linspace(epochs, 0, num=min(evaluations, epochs), endpoint=False).round().astype(int))
    shuffle = np.random.default_rng(seed)
    history, best, best_epoch, best_weights = [], -1.0, 0, None
    for epoch in range(1, epochs + 1):
        order = shuffle.permutation(len(train_labels))
        fit = classifier.fit({"token_ids": train_ids[order], "mask_positions": train_positions[order]},
                             train_labels[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        if epoch not in scored_after:
            continue
        predicted = classifier.predict({"token_ids": val_ids, "mask_positions": val_positions}, batch_size=SCORE_BATCH,
                                       verbose=0).argmax(axis=1)
        accuracy = float((predicted == val_labels).mean())
        history.append({"epoch": epoch, "loss": float(fit.history["loss"][-1]), "val_accuracy": accuracy})
        if accuracy > best:
            best, best_epoch, best_weights = accuracy, epoch, cloze.model.get_weights()
    cloze.model.set_weights(best_weights)
    steps = -(-len(train_labels) // batch_size) * epochs
    return FewShotResult(rate, best, best_epoch, steps, history)


def shrink_word_vectors(mlm) -> float:
    """`classifier.shrink_word_vectors` for the whole MLM: the head's output matrix is the same word vectors, so
    its LayerNorm's scale and shift grow by the inverse factor and every logit stays as it was. Returns the factor."""
    from .classifier import shrink_word_vectors as shrink_encoder

    factor = shrink_encoder(mlm.encoder)
    for weight in (mlm.head.norm.gamma, mlm.head.norm.beta):
        weight.assign(np.asarray(weight) / factor)
    return factor


def ensemble_scores(askers, texts) -> np.ndarray:
    """The calibrated scores of several cloze questions about the same reviews, averaged `[B, C]` (PET
    averages its prompts too: each reads the review from another angle, their errors partly cancel)."""
    return np.mean([asked.scores(texts) for asked in askers], axis=0)


def over_steps(model, vectorizer, folder, texts, labels, unlabelled, prompt: Prompt = Prompt()) -> list[dict]:
    """Zero-shot accuracy of every MLM snapshot a pretraining run kept (`checkpoints.MLM_SNAPSHOT_STEPS`), each
    calibrated on `unlabelled`: `[{"step", "accuracy"}]`. `model` (of the run's shape) is put back as it was."""
    rows, now = [], model.get_weights()
    try:
        for step, path in mlm_snapshots(folder):
            asked = Cloze(load_mlm_snapshot(model, path), vectorizer, prompt).calibrate(unlabelled)
            rows.append({"step": step, "accuracy": asked.accuracy(texts, labels)})
    finally:
        model.set_weights(now)
    return rows


def plot_over_steps(runs: dict, ax=None, mark: float = 0.60):
    """Zero-shot accuracy against pretraining steps, one line per run (`{name: over_steps rows}`), with
    chance (0.5) and the `mark` a learner watches for."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6.5, 3.5))[1]
    for name, rows in runs.items():
        ax.plot([max(r["step"], 1) for r in rows], [r["accuracy"] for r in rows], marker="o" if len(rows) > 1 else "*",
                markersize=6 if len(rows) > 1 else 14, label=name)
    ax.axhline(0.5, color="grey", linewidth=1, linestyle=":", label="chance")
    ax.axhline(mark, color="C3", linewidth=1, linestyle="--", label=f"{mark:.2f}")
    ax.set_xscale("log")
    ax.set_ylim(0.45, max(0.9, ax.get_ylim()[1]))
    ax.set_xlabel("pretraining steps (step 0 drawn at 1)")
    ax.set_ylabel("zero-shot accuracy")
    ax.set_title("When does a model never told about sentiment learn it?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return ax
