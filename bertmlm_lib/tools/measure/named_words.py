"""Naming hidden words: one held-out score for a model that reads words and one that reads pieces.

Masked accuracy counts tokens, so a model over WordPiece pieces and a model over whole words are
scored on different tasks (a piece is easier to guess than a word, and a word model never has to
name a word its vocabulary lacks). This score asks both the same question. On the same held-out
reviews, the same words are hidden (every token of a hidden word becomes `[mask]`), and a word
counts as **named** only when the model gives it exactly: its id for a word model (a word the
vocabulary lacks is `[UNK]` and cannot be named), every one of its pieces for a piece model.

Both models read the same text: the first `WORDS_READ` words of each review (about 70 pieces, well
within the 128 tokens every preset trains on; the rare review whose words need more pieces than
the model reads is cut there, and hidden words past the cut are not scored for that model). A piece
model sees how many `[mask]`s a hidden word has, so it knows how many pieces to give: that is part
of reading pieces (BERT with whole-word masking sees the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...vectorize import MASK_ID, UNK_ID, standardize

WORDS_READ = 64  # the first words of each review both kinds of model read
HIDDEN_SHARE = 0.15  # the share of those words hidden (at least one per review), as in BERT
BATCH_REVIEWS = 64


@dataclass(frozen=True)
class HiddenWords:
    """Held-out reviews as words, and which words are hidden: the same for every model scored."""

    words: list[list[str]]  # the first WORDS_READ standardized words of each review
    hidden: list[list[int]]  # indices into each review's words, sorted


def hide_words(texts: list[str], seed: int = 0, words_read: int = WORDS_READ,
               share: float = HIDDEN_SHARE) -> HiddenWords:
    """The first `words_read` words of each text, with `share` of them (at least one) chosen to hide.

    >>> held = hide_words(["A fine film, truly a fine one.", "Bad."], seed=1)
    >>> held.words
    [['a', 'fine', 'film', 'truly', 'a', 'fine', 'one'], ['bad']]
    >>> [len(h) for h in held.hidden]
    [1, 1]
    """
    from ...backend import load_tensorflow

    tf = load_tensorflow()
    rng = np.random.default_rng(seed)
    words, hidden = [], []
    for start in range(0, len(texts), 512):
        for text in standardize(tf.constant(texts[start:start + 512])).numpy():
            kept = [w for w in text.decode("utf-8").split() if w != "[mask]"][:words_read]
            if not kept:
                continue
            words.append(kept)
            hidden.append(sorted(rng.choice(len(kept), max(1, round(share * len(kept))), replace=False).tolist()))
    return HiddenWords(words, hidden)


def masked_rows(held: HiddenWords, vectorizer, length: int):
    """What a model with this vocabulary reads: ids `[reviews, length]` with every token of a hidden
    word set to `[mask]`, and for each hidden word `(review, positions, ids)`, the tokens it must give
    (hidden words past `length` tokens are left out)."""
    ids = np.zeros((len(held.words), length), dtype=np.int32)
    targets = []
    for row, (words, hidden) in enumerate(zip(held.words, held.hidden)):
        spelled, position, hidden_set = [], 0, set(hidden)
        for index, word in enumerate(words):
            tokens = vectorizer.ids_of_word(word)
            if position + len(tokens) > length:
                break
            where = list(range(position, position + len(tokens)))
            if index in hidden_set:
                targets.append((row, where, tokens))
                spelled.extend([MASK_ID] * len(tokens))
            else:
                spelled.extend(tokens)
            position += len(tokens)
        ids[row, :len(spelled)] = spelled
    return ids, targets


def named_word_score(model, vectorizer, held: HiddenWords, length: int | None = None) -> dict:
    """The share of hidden words the MLM `model` names exactly (`named`), with how many were hidden
    (`hidden_words`), how many of those could be scored within its reading `length` (default the
    vocabulary's `max_length`), and the share it could never name because they are `[UNK]` to its
    vocabulary (`unknown_share`)."""
    length = int(length or vectorizer.max_length)
    ids, targets = masked_rows(held, vectorizer, length)
    named = unknown = 0
    by_row: dict[int, list] = {}
    for target in targets:
        by_row.setdefault(target[0], []).append(target)
    rows = sorted(by_row)
    for start in range(0, len(rows), BATCH_REVIEWS):
        batch_rows = rows[start:start + BATCH_REVIEWS]
        batch_targets = [t for r in batch_rows for t in by_row[r]]
        flat = [i * length + p for i, r in enumerate(batch_rows) for _, where, _ in by_row[r] for p in where]
        logits = model({"token_ids": ids[batch_rows], "mask_positions": np.asarray(flat, dtype=np.int32)},
                       training=False)
        guesses = np.argmax(np.asarray(logits), axis=-1)
        at = 0
        for _, where, tokens in batch_targets:
            given = guesses[at:at + len(where)]
            at += len(where)
            if UNK_ID in tokens:
                unknown += 1
            elif list(given) == list(tokens):
                named += 1
    scored = len(targets)
    return {"named": named / max(scored, 1), "hidden_words": sum(len(h) for h in held.hidden),
            "scored_words": scored, "unknown_share": unknown / max(scored, 1)}
