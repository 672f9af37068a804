"""The vocabulary a config names: whole words or WordPiece pieces, built, read and rebuilt by kind.

`cfg.tokenizer` picks the kind ("word": `vectorize.Vectorizer`, "wordpiece":
`subwords.WordPieceVectorizer`); a saved `vocabulary.json` records its kind, so whatever reads it
back (a later stage, fill-mask, an instructor checkpoint) gets the same tokens with the same ids.
Both kinds share one interface: `encode`, `decode`, `text_layer`, `is_continuation`, `save`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from .artifacts import read_json
from .config import Config
from .errors import ArtifactError
from .subwords import WordPieceVectorizer, build_wordpiece_vectorizer
from .vectorize import REBUILD_IT, VOCABULARY_FILE, Vectorizer, build_vectorizer, count_words, saved_kind

KINDS: dict[str, type[Vectorizer]] = {Vectorizer.KIND: Vectorizer, WordPieceVectorizer.KIND: WordPieceVectorizer}


def build(cfg: Config, texts: list[str], counts: Counter | None = None) -> Vectorizer:
    """The vocabulary of `cfg.tokenizer` with `cfg.vocab_size` ids, learned from `texts` (whose word
    `counts` may be given, to skip a recount)."""
    counts = counts if counts is not None else count_words(texts)
    if cfg.tokenizer == "wordpiece":
        return build_wordpiece_vectorizer(counts, cfg.vocab_size, cfg.max_length)
    return build_vectorizer(texts, cfg.vocab_size, cfg.max_length, counts=counts)


def kind_of(saved: dict, where) -> type[Vectorizer]:
    """The class that reads a saved vocabulary (its parsed `vocabulary.json`, from `where`)."""
    kind = saved_kind(saved) if isinstance(saved, dict) else "word"
    if kind not in KINDS:
        raise ArtifactError(f"{where} holds a vocabulary of kind {kind!r}; this library reads "
                            f"{' or '.join(map(repr, KINDS))}: {REBUILD_IT}")
    return KINDS[kind]


def load(folder: str | os.PathLike) -> Vectorizer:
    """The vocabulary saved in an artifacts folder, of whichever kind it is, checked."""
    path = Path(folder) / VOCABULARY_FILE
    saved = read_json(path, "vocabulary", REBUILD_IT)
    return kind_of(saved, path).from_saved(saved, path)


def from_tokens(kind: str, tokens: list[str], max_length: int, counts=None) -> Vectorizer:
    """A vocabulary of the given kind from its tokens in id order (an instructor checkpoint's)."""
    return kind_of({"tokenizer": kind}, "the checkpoint")(tokens, max_length, counts)
