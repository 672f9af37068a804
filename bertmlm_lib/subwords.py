"""Subwords: the WordPiece vocabulary real BERT reads, learned and applied with keras-hub.

A word-level vocabulary of 8,000 words turns every rarer word into `[UNK]`: the model can neither
read it nor be asked to fill it in. WordPiece keeps the frequent words whole and spells every other
word from smaller pieces, so almost nothing is unknown: "unwatchable" becomes `unw ##atch ##able`,
where `##` marks a piece that continues the word before it. The price: a review takes more tokens.

keras-hub does the work: `compute_word_piece_vocabulary` learns the pieces, `WordPieceTokenizer`
splits text with them (both run on tensorflow-text). They are imported inside the functions that
use them, never at module import: loading keras-hub loads every model family it has (~150 MB), and
the lessons and stages that do not use subwords should not pay for it. Encoding, and the layer a
saved model reads raw strings with, call tensorflow-text's splitter (the one keras-hub's tokenizer
runs) directly, so only learning a vocabulary loads keras-hub.

The text is standardized exactly as for words (`vectorize.standardize`), and the three special ids
are the same as the word vocabulary's: 0 padding, 1 `[UNK]`, 2 `[mask]`.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter

import numpy as np

from .backend import load_tensorflow
from .errors import ConfigError
from .vectorize import MASK_TOKEN, SPECIAL_TOKENS, Vectorizer, most_frequent, standardize, words_per_text

load_tensorflow()

import keras  # noqa: E402

CONTINUATION = "##"  # the mark of a piece that continues the word before it
SPECIAL_PIECES = ("[PAD]", "[UNK]", MASK_TOKEN)  # WordPiece needs a visible name for padding
INSTALL_HINT = "pip install keras-hub tensorflow-text (both come with `pip install bertmlm`)"


def _installed(modules: tuple[str, ...], needed_for: str) -> list:
    """The modules, imported; or a clear error saying what needs them and how to install them."""
    load_tensorflow()
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError as error:
        packages = " and ".join(name.replace("_", "-") for name in modules)
        raise ConfigError(f"{needed_for} {packages} ({error}): {INSTALL_HINT}.") from error


def keras_hub(needed_for: str = "subwords need"):
    """The keras_hub module (with tensorflow-text, which its WordPiece runs on), or a clear error."""
    return _installed(("keras_hub", "tensorflow_text"), needed_for)[0]


def tensorflow_text(needed_for: str = "subwords need"):
    """The tensorflow_text module, or a clear error saying what needs it and how to install it."""
    return _installed(("tensorflow_text",), needed_for)[0]


def learn_wordpiece(counts: Counter, vocab_size: int, min_count: int = 2, max_words: int | None = 10_000) -> list[str]:
    """Learn a WordPiece vocabulary of at most `vocab_size` pieces (specials first) from word counts.

    `counts` is what `vectorize.count_words` gives for the corpus. keras-hub's learner reads a
    stream of words; it gets each distinct word repeated as often as it occurred, which is the
    corpus itself, without re-reading the text. Words seen fewer than `min_count` times are left
    out, and so are all but the `max_words` most frequent: the learner's time grows with the number
    of distinct words. The cost: the rare words, the ones pieces exist for, never shape the pieces
    (they are still spelled, from the pieces the frequent ones taught).
    The learner aims at `vocab_size` within a few percent, so a vocabulary may come out smaller.
    """
    if vocab_size <= len(SPECIAL_PIECES):
        raise ConfigError(f"vocab_size={vocab_size} leaves no room for pieces: it must be at least "
                          f"{len(SPECIAL_PIECES) + 1}.")
    words = [(word, n) for word, n in most_frequent(counts, max_words or len(counts)) if n >= min_count]
    if not words:
        raise ConfigError(f"no word occurs {min_count} times or more in the corpus given: give more text or "
                          "a smaller min_count.")
    hub = keras_hub()
    tf = load_tensorflow()
    # Each word as often as it occurred, in chunks of 65,536 (bounded memory: one chunk holding the
    # most frequent words' repeats whole would be most of the corpus at once).
    stream = (tf.data.Dataset.from_tensor_slices(([w for w, _ in words], [n for _, n in words]))
              .map(lambda word, n: tf.repeat(word, n)).unbatch().batch(65_536))
    pieces = hub.tokenizers.compute_word_piece_vocabulary(
        stream, vocab_size, split=False, suffix_indicator=CONTINUATION, reserved_tokens=list(SPECIAL_PIECES))
    return list(pieces)


def _wordpiece_tokenizer(tokens: list[str]):
    """keras-hub's `WordPieceTokenizer` over `tokens`, for text `standardize` has already cleaned."""
    return keras_hub().tokenizers.WordPieceTokenizer(
        vocabulary=list(tokens), suffix_indicator=CONTINUATION, oov_token=SPECIAL_PIECES[1],
        lowercase=False, strip_accents=False, split=True, split_on_cjk=False,
        special_tokens=[MASK_TOKEN], special_tokens_in_strings=True)


def _piece_splitter(tokens: list[str], needed_for: str = "subwords need"):
    """tensorflow-text's `FastWordpieceTokenizer` over `tokens`: the splitter keras-hub's tokenizer runs.

    Standardized text has nothing left to split on but spaces, so it gets the words straight from
    `tf.strings.split` and the same pieces keras-hub would give (a test checks it), without loading
    keras-hub and its model families (~150 MB): a stage or a saved model that reads pieces needs
    tensorflow-text only."""
    tf = load_tensorflow()
    return tensorflow_text(needed_for).FastWordpieceTokenizer(
        vocab=list(tokens), suffix_indicator=CONTINUATION, unknown_token=SPECIAL_PIECES[1], no_pretokenization=True,
        support_detokenization=False, token_out_type=tf.int32)


def split_into_pieces(splitter, texts):
    """Raw strings `[B]` -> their piece ids, ragged `[B, (pieces)]`: standardize, split at spaces, spell each
    word in pieces (`[mask]` is a piece of its own)."""
    tf = load_tensorflow()
    return splitter.tokenize(tf.strings.split(standardize(texts))).merge_dims(-2, -1)


@keras.saving.register_keras_serializable(package="bertmlm")
class WordPieceText(keras.layers.Layer):
    """Raw strings `[B]` -> WordPiece ids `[B, length]` inside a model: standardize, split into
    pieces, cut after `length`, pad with 0. The pieces are its config, so a saved model carries its
    vocabulary; loading one needs tensorflow-text installed (it comes with `pip install bertmlm`)."""

    def __init__(self, vocabulary, length: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.length = int(length)
        self._splitter = _piece_splitter(self.vocabulary)

    def build(self, input_shape=None):  # nothing to learn: the pieces are fixed
        self.built = True

    def call(self, texts):
        return split_into_pieces(self._splitter, texts).to_tensor(shape=[None, self.length])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "length": self.length}


UNKNOWN_ID = SPECIAL_PIECES.index("[UNK]")
MAX_BYTES_PER_WORD = 100  # a longer word is one [UNK], as in tensorflow-text's FastWordpieceTokenizer
SPELLINGS_KEPT = 50_000  # distinct words whose pieces a vectorizer remembers (~10 MB; Zipf: most of the text)


def spell(word: str, index: dict[str, int]) -> tuple[int, ...]:
    """WordPiece's rule for one word: from the left, the longest piece in `index` (piece -> id) that
    matches, `##` marking every piece after the first; `(UNKNOWN_ID,)` if some part matches none.

    >>> pieces = {"un": 3, "##watch": 4, "##able": 5, "unwatch": 6}
    >>> spell("unwatchable", pieces), spell("unwatched", pieces)
    ((6, 5), (1,))
    """
    if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
        return (UNKNOWN_ID,)
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
            if piece in index:
                pieces.append(index[piece])
                start = end
                break
        else:
            return (UNKNOWN_ID,)
    return tuple(pieces)


class WordPieceVectorizer(Vectorizer):
    """Text to rows of WordPiece ids, with the same interface as the word-level `Vectorizer`.

    >>> v = WordPieceVectorizer(["[PAD]", "[UNK]", "[mask]", "good", "film", "un", "##watch", "##able"], 6)
    >>> v.encode(["A good [MASK]: unwatchable!"]).tolist()
    [[1, 3, 2, 5, 6, 7]]
    >>> v.pieces("unwatchable")
    ['un', '##watch', '##able']
    """

    SPECIALS = SPECIAL_PIECES
    KIND = "wordpiece"
    UNIT = "WordPiece pieces"

    def __init__(self, tokens: list[str], max_length: int, counts: list[int] | None = None):
        super().__init__(tokens, max_length, counts)
        self._tokenizer = None
        self._spelled: dict[str, tuple[int, ...]] = {}

    @property
    def tokenizer(self):
        """keras-hub's `WordPieceTokenizer` with this vocabulary (for standardized text): what a keras-hub
        model would use. Encoding here runs the same splitter through tensorflow-text alone."""
        if self._tokenizer is None:
            self._tokenizer = _wordpiece_tokenizer(self.tokens)
        return self._tokenizer

    def text_layer(self, length: int | None = None):
        """A `WordPieceText` layer with these pieces: strings in, `[batch, length]` ids out (default
        `max_length`), what the model on raw strings starts with."""
        length = int(length or self.max_length)
        if length not in self._layers:
            self._layers[length] = WordPieceText(self.tokens, length, name="text_vectorization")
        return self._layers[length]

    @property
    def fingerprint(self) -> str:
        """sha256 of the tokenizer's kind and its pieces in id order (a word vocabulary never matches it)."""
        return hashlib.sha256("\n".join([self.KIND, *self.tokens]).encode("utf-8")).hexdigest()

    @property
    def is_continuation(self) -> np.ndarray:
        """For every id, whether its piece continues the word before it (`##...`)."""
        return np.array([token.startswith(CONTINUATION) for token in self.tokens])

    def encode(self, texts, batch_size: int = 512, length: int | None = None) -> np.ndarray:
        """Piece ids (int32), shape `[len(texts), length]` (default `max_length`): cut after that many
        pieces, padded with 0."""
        length = int(length or self.max_length)
        rows = [row for batch in self._tokenized([texts] if isinstance(texts, str) else texts, batch_size)
                for row in batch]
        out = np.zeros((len(rows), length), dtype=np.int32)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, :len(row)] = row
        return out

    def _tokenized(self, texts, batch_size: int = 512):
        """The piece ids of `texts`, a list per text, one batch at a time (no cut, no padding).

        TensorFlow standardizes; the words are spelled here, in Python, by WordPiece's rule (at each
        point, the longest piece that matches; a word that cannot be spelled is one `[UNK]`), each
        distinct word once. That is what tensorflow-text's `FastWordpieceTokenizer` computes (a test
        checks the ids against keras-hub's tokenizer), without importing tensorflow-text (~120 MB):
        a stage that only encodes reviews stays as small with pieces as with words."""
        tf = load_tensorflow()
        texts = list(texts)
        for start in range(0, len(texts), batch_size):
            cleaned = standardize(tf.constant(texts[start:start + batch_size])).numpy()
            yield [[piece for word in text.decode("utf-8").split() for piece in self.ids_of_word(word)] for text in cleaned]

    def ids_of_word(self, word: str) -> tuple[int, ...]:
        """The ids of one standardized word's pieces, longest match first (`(UNKNOWN_ID,)` if it cannot be
        spelled; remembered for the frequent words)."""
        spelled = self._spelled.get(word)
        if spelled is None:
            spelled = spell(word, self._index)
            if len(self._spelled) < SPELLINGS_KEPT:
                self._spelled[word] = spelled
        return spelled

    def _count_pieces(self, texts) -> tuple[np.ndarray, int]:
        """In one pass over `texts`: the pieces of each (before any cut), and how many are `[UNK]`."""
        lengths, unknown = [], 0
        for batch in self._tokenized(texts):
            lengths.extend(len(row) for row in batch)
            unknown += sum(row.count(UNKNOWN_ID) for row in batch)
        return np.array(lengths, dtype=np.int64), unknown

    def pieces_per_text(self, texts) -> np.ndarray:
        """How many pieces each text has after standardization, before any cut to max_length."""
        return self._count_pieces(texts)[0]

    def count_tokens(self, words: list[str]) -> int:
        """How many pieces standardized `words` become, before any cut to max_length."""
        return sum(len(self.ids_of_word(word)) for word in words)

    def count_pieces_of_words(self, counts: Counter) -> list[int]:
        """How often each piece occurs in a corpus whose word counts are `counts` (every distinct word
        is spelled once and its pieces counted as often as it occurs): the counts a vocabulary keeps."""
        totals = np.zeros(len(self.tokens), dtype=np.int64)
        for word, n in counts.items():
            for piece in spell(word, self._index):
                totals[piece] += n
        return totals.tolist()

    def pieces(self, word: str) -> list[str]:
        """How one word is spelled in pieces (`[UNK]` if even its letters are unknown)."""
        ids = self.encode([word], length=64)[0]
        return [self.tokens[i] for i in ids if i != 0]

    def decode(self, ids, keep_padding: bool = False) -> str:
        """The text for a row of ids: continuation pieces joined to the word before them."""
        words: list[str] = []
        for piece in super().decode(ids, keep_padding).split():
            if piece.startswith(CONTINUATION) and words:
                words[-1] += piece[len(CONTINUATION):]
            else:
                words.append(piece)
        return " ".join(words)

    def coverage(self, texts: list[str], counts: Counter | None = None) -> dict:
        """Share of the pieces of `texts` that are `[UNK]`, pieces per word, and how often reviews get
        cut (`counts` is accepted for the word-level signature and not needed)."""
        return self._coverage(*self._count_pieces(texts), words_per_text(texts))

    def _coverage(self, pieces: np.ndarray, unknown: int, words: np.ndarray) -> dict:
        """`coverage` from counts already made: pieces and words per text, and the `[UNK]` pieces."""
        total = int(pieces.sum())
        return {
            "tokens": total,
            "known_share": 1 - unknown / total if total else 0.0,
            "unknown_rate": unknown / total if total else 0.0,
            "pieces_per_word": total / max(int(words.sum()), 1),
            "truncated_share": float((pieces > self.max_length).mean()) if len(pieces) else 0.0,
        }


def build_wordpiece_vectorizer(counts: Counter, vocab_size: int, max_length: int, **learning) -> WordPieceVectorizer:
    """Learn the pieces from word counts (`learn_wordpiece`, which takes `learning`) and wrap them for
    encoding, with each piece's count in the corpus."""
    vectorizer = WordPieceVectorizer(learn_wordpiece(counts, vocab_size, **learning), max_length)
    vectorizer.counts = vectorizer.count_pieces_of_words(counts)
    return vectorizer


def compare(word_vectorizer: Vectorizer, pieces: WordPieceVectorizer, texts: list[str]) -> dict:
    """Words against pieces on the same texts: the `[UNK]` share of each, and tokens per text (the
    texts are cut into pieces once, for both the lengths and the `[UNK]` count)."""
    piece_lengths, unknown = pieces._count_pieces(texts)
    lengths = {"words": words_per_text(texts), "pieces": piece_lengths}
    reports = {"words": word_vectorizer.coverage(texts), "pieces": pieces._coverage(piece_lengths, unknown, lengths["words"])}
    return {**{kind: {**reports[kind], "lengths": lengths[kind], "median_length": float(np.median(lengths[kind]))}
               for kind in reports},
            "texts": len(texts), "max_length": pieces.max_length}


def plot_comparison(comparison: dict, axes=None):
    """Two panels: the share of tokens read as `[UNK]`, and how many tokens a review becomes."""
    import matplotlib.pyplot as plt

    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(11, 3.8))[1]
    left, right = axes
    kinds = {"words": ("#1f77b4", "words"), "pieces": ("#b45f06", "WordPiece pieces")}
    shares = [100 * comparison[kind]["unknown_rate"] for kind in kinds]
    bars = left.bar([label for _, label in kinds.values()], shares, color=[color for color, _ in kinds.values()])
    for bar, share in zip(bars, shares):
        left.annotate(f"{share:.2f}%", (bar.get_x() + bar.get_width() / 2, share), ha="center", va="bottom",
                      xytext=(0, 3), textcoords="offset points")
    left.set_ylabel("tokens read as [UNK] (%)")
    left.set_title(f"Unknown tokens, {comparison['texts']:,} unseen reviews")
    left.set_ylim(0, max(shares) * 1.25 or 1)
    longest = np.percentile(np.concatenate([comparison[kind]["lengths"] for kind in kinds]), 99)
    bins = np.linspace(0, longest, 40)
    for kind, (color, label) in kinds.items():
        lengths = comparison[kind]["lengths"]
        right.hist(lengths, bins=bins, alpha=0.55, color=color,
                   label=f"{label}: median {np.median(lengths):.0f}")
    right.axvline(comparison["max_length"], color="gray", linestyle="--",
                  label=f"max_length {comparison['max_length']}: the rest is cut")
    right.set_xlabel("tokens per review (99% of reviews shown)")
    right.set_ylabel("reviews")
    right.set_title("A review in pieces is longer")
    right.legend(fontsize=8)
    return axes


assert SPECIAL_TOKENS[1:] == SPECIAL_PIECES[1:], "the special ids mean the same for words and pieces"
