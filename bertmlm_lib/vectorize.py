"""Stage 2, vectorization: from review text to fixed-length rows of word ids.

A Keras `TextVectorization` layer does the work inside TensorFlow, so the same steps run in
training and, later, inside the model that takes raw strings. Its vocabulary is built from the
pretraining corpus (train + unsup) only, never from test.

Word ids are fixed for the specials: 0 is padding, 1 is `[UNK]` (a word outside the vocabulary),
2 is `[mask]`. Every id from 3 up is a real word, and all of them can be masked later.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np

from .artifacts import read_json, write_json
from .backend import load_tensorflow
from .config import fields_of
from .errors import ArtifactError, ConfigError

PAD_ID, UNK_ID, MASK_ID = 0, 1, 2
MASK_TOKEN = "[mask]"
SPECIAL_TOKENS = ("", "[UNK]", MASK_TOKEN)
FIRST_WORD_ID = len(SPECIAL_TOKENS)
VOCABULARY_FILE = "vocabulary.json"
FORMAT_VERSION = 1
# Config settings that decide which vocabulary gets built (test_reviews too: copies of test
# reviews are dropped from the corpus).
VOCABULARY_FIELDS = fields_of("vocabulary", "data")
STANDARDIZATION = "bertmlm-1: lowercase, html tags out, [mask] kept, non-letters/digits out"

REBUILD_IT = "build it with `bertmlm vectorize --artifacts FOLDER` (or run notebook 02)."
_PLACEHOLDER = "\x01"  # stands in for [mask] while punctuation is stripped


def _tf():
    return load_tensorflow()


def _register(function):
    """Register with Keras so models that contain the layer reload with safe_mode=True."""
    load_tensorflow()
    import keras

    return keras.saving.register_keras_serializable(package="bertmlm")(function)


@_register
def standardize(texts):
    """Lowercase, drop HTML tags such as `<br />`, strip punctuation, keep `[mask]` as one token.

    Works on a string tensor (any shape). `[MASK]` and `[mask]` both come out as `[mask]`.
    """
    tf = _tf()
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _PLACEHOLDER, " ")
    texts = tf.strings.regex_replace(texts, r"</?[a-z]+\s*/?>", " ")
    texts = tf.strings.regex_replace(texts, r"\[mask\]", f" {_PLACEHOLDER} ")
    texts = tf.strings.regex_replace(texts, rf"[^\p{{L}}\p{{N}}\s{_PLACEHOLDER}]", "")
    return tf.strings.regex_replace(texts, _PLACEHOLDER, MASK_TOKEN)


def standardize_text(text: str) -> str:
    """`standardize` on one Python string, with spaces folded: what the model will read."""
    value = standardize(_tf().constant([text]))[0].numpy().decode("utf-8")
    return " ".join(value.split())


def count_words(texts: list[str], batch_size: int = 512) -> Counter:
    """How often each standardized word occurs in `texts` (counted in TensorFlow, batch by batch)."""
    tf = _tf()
    counts: Counter = Counter()
    for start in range(0, len(texts), batch_size):
        words = tf.strings.split(standardize(tf.constant(texts[start:start + batch_size]))).flat_values
        unique, _, frequency = tf.unique_with_counts(words)
        counts.update(dict(zip(unique.numpy().tolist(), frequency.numpy().tolist())))
    return Counter({word.decode("utf-8"): n for word, n in counts.items()})


def words_per_text(texts: list[str], batch_size: int = 4096) -> np.ndarray:
    """How many tokens each text has after standardization, before any cut to max_length."""
    tf = _tf()
    lengths = [tf.strings.split(standardize(tf.constant(texts[start:start + batch_size]))).row_lengths().numpy()
               for start in range(0, len(texts), batch_size)]
    return np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)


def most_frequent(counts: Counter, n: int) -> list[tuple[str, int]]:
    """The `n` most frequent real words (specials excluded), ties broken alphabetically."""
    words = [(word, c) for word, c in counts.items() if word not in SPECIAL_TOKENS]
    words.sort(key=lambda pair: (-pair[1], pair[0]))
    return words[:n]


class Vectorizer:
    """A TextVectorization layer with fixed special ids, plus encode/decode and coverage helpers.

    >>> v = Vectorizer(["", "[UNK]", "[mask]", "good", "film"], max_length=4)
    >>> v.encode(["A good [MASK]!"]).tolist()
    [[1, 3, 2, 0]]
    """

    SPECIALS = SPECIAL_TOKENS  # ids 0, 1, 2 (a subword vocabulary names padding "[PAD]")
    KIND = "word"
    UNIT = "words"  # what a token is, in messages

    def __init__(self, tokens: list[str], max_length: int, counts: list[int] | None = None):
        tokens = list(tokens)
        if tuple(tokens[:FIRST_WORD_ID]) != self.SPECIALS:
            raise ArtifactError(
                f"a vocabulary must start with the specials {list(self.SPECIALS)}, got {tokens[:FIRST_WORD_ID]}: "
                "rebuild it with `bertmlm vectorize`."
            )
        if len(set(tokens)) != len(tokens):
            raise ArtifactError("the vocabulary has repeated words: rebuild it with `bertmlm vectorize`.")
        self.tokens = tokens
        self.max_length = int(max_length)
        self.counts = list(counts) if counts is not None else [0] * len(tokens)
        self._index = {token: i for i, token in enumerate(tokens)}
        self._layers = {}

    # -- the Keras layer -------------------------------------------------------------------
    @property
    def layer(self):
        """The `keras.layers.TextVectorization` that maps strings to `[batch, max_length]` ids."""
        return self.text_layer()

    def text_layer(self, length: int | None = None):
        """A `TextVectorization` with this vocabulary whose output is `[batch, length]` ids (default
        `max_length`; the classifier reads longer texts, in windows of `max_length`)."""
        import keras

        length = int(length or self.max_length)
        if length not in self._layers:
            self._layers[length] = keras.layers.TextVectorization(
                standardize=standardize,
                split="whitespace",
                output_mode="int",
                output_sequence_length=length,
                vocabulary=self.tokens,
                name="text_vectorization",
            )
        return self._layers[length]

    @property
    def vocabulary_size(self) -> int:
        return len(self.tokens)

    @property
    def fingerprint(self) -> str:
        """sha256 of the words in id order: two vocabularies agree on every id iff these match."""
        return hashlib.sha256("\n".join(self.tokens).encode("utf-8")).hexdigest()

    # -- encode / decode -------------------------------------------------------------------
    def encode(self, texts, batch_size: int = 512, length: int | None = None) -> np.ndarray:
        """Word ids (int32), shape `[len(texts), length]` (default `max_length`): cut after that many
        words, padded with 0. Batches of 512 reviews are as fast as larger ones, and the memory
        TensorFlow's string ops leave behind is half what batches of 4,096 leave (~110 vs ~200 MB for
        75,000 reviews)."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        tf = _tf()
        layer = self.text_layer(length)
        rows = [layer(tf.constant(texts[start:start + batch_size])).numpy().astype(np.int32)
                for start in range(0, len(texts), batch_size)]
        return np.concatenate(rows) if rows else np.zeros((0, int(length or self.max_length)), dtype=np.int32)

    def decode(self, ids, keep_padding: bool = False) -> str:
        """The words for a row of ids, padding dropped (unless asked), joined by spaces."""
        ids = np.asarray(ids).reshape(-1)
        bad = ids[(ids < 0) | (ids >= len(self.tokens))]
        if bad.size:
            raise ValueError(f"id {int(bad[0])} is outside this vocabulary of {len(self.tokens)} words.")
        words = [self.tokens[i] if i != PAD_ID else "[pad]" for i in ids.tolist() if keep_padding or i != PAD_ID]
        return " ".join(words)

    @property
    def is_continuation(self) -> np.ndarray:
        """For every id, whether it continues the word before it: never, for whole words (see
        `WordPieceVectorizer`, where pieces do); what whole-word masking reads."""
        return np.zeros(len(self.tokens), dtype=bool)

    @property
    def can_fill_mask(self) -> np.ndarray:
        """For every id, whether a `[mask]` may be filled with it: a real token that starts a word."""
        fill = ~self.is_continuation
        fill[:FIRST_WORD_ID] = False
        return fill

    def count_tokens(self, words: list[str]) -> int:
        """How many tokens standardized `words` become, before any cut to max_length (here: one each)."""
        return len(words)

    def id_of(self, word: str) -> int:
        """The id of a word as the model sees it (UNK_ID for a word outside the vocabulary)."""
        return self._index.get(word, UNK_ID)

    def ids_of_word(self, word: str) -> tuple[int, ...]:
        """The ids one standardized word becomes: here one (UNK_ID if unknown); pieces may give several."""
        return (self.id_of(word),)

    # -- coverage ------------------------------------------------------------------------
    def coverage(self, texts: list[str], counts: Counter | None = None) -> dict:
        """Share of the words in `texts` that the vocabulary knows, and how often reviews get cut.

        Pass `counts` (from `count_words(texts)`) when you already have them, to skip a recount.
        """
        counts = counts if counts is not None else count_words(texts)
        total = sum(counts.values())
        known = sum(n for word, n in counts.items() if word in self._index)
        lengths = words_per_text(texts)
        return {
            "tokens": int(total),
            "known_share": known / total if total else 0.0,
            "unknown_rate": 1 - known / total if total else 0.0,
            "distinct_words": len(counts),
            "distinct_known": sum(1 for word in counts if word in self._index),
            "truncated_share": float((lengths > self.max_length).mean()) if len(lengths) else 0.0,
        }

    # -- saving ----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, cfg=None) -> Path:
        """Write `vocabulary.json` (words, counts, length, fingerprint) atomically into `folder`.

        Pass the run's `cfg` to record the settings it was built with: later stages then reuse it
        only under the same settings (see `stages.vocabulary`).
        """
        built_with = {name: getattr(cfg, name) for name in VOCABULARY_FIELDS} if cfg is not None else None
        return write_json(Path(folder) / VOCABULARY_FILE, {
            "format_version": FORMAT_VERSION,
            "tokenizer": self.KIND,
            "built_with": built_with,
            "standardization": STANDARDIZATION,
            "max_length": self.max_length,
            "vocabulary_size": self.vocabulary_size,
            "fingerprint": self.fingerprint,
            "tokens": self.tokens,
            "counts": self.counts,
        })

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Vectorizer":
        """Read a saved vocabulary back, refusing a damaged file, one from another format, or one of
        another kind of token (`vocabularies.load` picks the right class for any saved vocabulary)."""
        path = Path(folder) / VOCABULARY_FILE
        return cls.from_saved(read_json(path, "vocabulary", REBUILD_IT), path)

    @classmethod
    def from_saved(cls, saved, path: str | os.PathLike) -> "Vectorizer":
        """The vocabulary a saved `vocabulary.json` holds (its parsed contents, read from `path`), checked."""
        fix = REBUILD_IT
        if not isinstance(saved, dict) or saved.get("format_version") != FORMAT_VERSION:
            version = saved.get("format_version") if isinstance(saved, dict) else None
            raise ArtifactError(f"{path} has vocabulary format {version!r}, this library reads {FORMAT_VERSION}: {fix}")
        if saved.get("standardization") != STANDARDIZATION:
            raise ArtifactError(f"{path} was built with another text standardization: {fix}")
        if saved_kind(saved) != cls.KIND:
            raise ArtifactError(f"{path} holds a {saved_kind(saved)!r} vocabulary, not a {cls.KIND!r} one: read it "
                                "with `bertmlm_lib.vocabularies.load`, which picks the kind.")
        vectorizer = cls(saved["tokens"], saved["max_length"], saved.get("counts"))
        if vectorizer.fingerprint != saved.get("fingerprint"):
            raise ArtifactError(f"{path} does not match its own fingerprint (edited or damaged): {fix}")
        return vectorizer


def saved_kind(saved: dict) -> str:
    """The kind of token a saved vocabulary holds ("word" for files from before WordPiece existed)."""
    return saved.get("tokenizer", "word")


def build_vectorizer(texts: list[str], vocab_size: int, max_length: int,
                     counts: Counter | None = None) -> Vectorizer:
    """Adapt a vectorizer to `texts`: the specials, then the `vocab_size - 3` most frequent words.

    This is what `TextVectorization.adapt` does, done by hand so the word counts stay available
    (for the Zipf plot and coverage curves) and the special ids are fixed.
    """
    if vocab_size <= FIRST_WORD_ID:
        raise ConfigError(f"vocab_size={vocab_size} leaves no room for words: it must be at least {FIRST_WORD_ID + 1}.")
    counts = counts if counts is not None else count_words(texts)
    if not counts:
        raise ConfigError("cannot build a vocabulary from no words: the corpus given is empty.")
    words = most_frequent(counts, vocab_size - FIRST_WORD_ID)
    tokens = list(SPECIAL_TOKENS) + [word for word, _ in words]
    return Vectorizer(tokens, max_length, [0] * FIRST_WORD_ID + [n for _, n in words])


def coverage_curve(counts: Counter, sizes) -> list[dict]:
    """For each vocabulary size, the share of corpus words it would know (specials count as ids)."""
    frequencies = np.array(sorted((n for w, n in counts.items() if w not in SPECIAL_TOKENS), reverse=True))
    cumulative = np.concatenate([[0], np.cumsum(frequencies)])
    total = cumulative[-1] or 1
    out = []
    for size in sizes:
        words = min(max(int(size) - FIRST_WORD_ID, 0), len(frequencies))
        out.append({"vocab_size": int(size), "known_share": float(cumulative[words] / total)})
    return out


def plot_zipf(counts: Counter, ax=None, label_ranks=(1, 10, 100, 1000, 10000)):
    """Word frequency against rank on log-log axes: a near-straight line is Zipf's law.

    A dot and its word mark each of `label_ranks` (one per power of ten, so the labels never overlap)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    ranked = most_frequent(counts, len(counts))
    frequencies = np.array([n for _, n in ranked])
    ranks = np.arange(1, len(frequencies) + 1)
    ax.loglog(ranks, frequencies, linewidth=1.5)
    for rank in (r for r in label_ranks if r <= len(ranked)):
        word, n = ranked[rank - 1]
        ax.plot(rank, n, "o", color="#b45f06", markersize=4)
        ax.annotate(f"#{rank:,} {word!r}: {n:,}", (rank, n), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_title("Zipf's law: a few words are most of the text")
    ax.set_xlabel("rank of the word (1 = most frequent)")
    ax.set_ylabel("occurrences in the corpus")
    return ax


def plot_coverage(curve: list[dict], chosen: int | None = None, ax=None):
    """Share of corpus words known against vocabulary size, with the preset's size marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    ax.semilogx([p["vocab_size"] for p in curve], [100 * p["known_share"] for p in curve], marker="o")
    if chosen:
        ax.axvline(chosen, color="gray", linestyle="--", label=f"this preset: {chosen:,} ids")
        ax.legend()
    ax.set_title("How much of the text does a vocabulary cover?")
    ax.set_xlabel("vocabulary size (ids, log scale)")
    ax.set_ylabel("words known (%)")
    ax.grid(True, which="both", alpha=0.3)
    return ax
