"""Fill-mask: ask a pretrained model which words fit each `[mask]` of a raw text.

`FillMasker(model, vectorizer)` works on a live pretraining model (the training callback uses it),
and `FillMasker.from_artifacts(folder)` on what `bertmlm pretrain` saved. Results are plain data:

    [{"text": ..., "masks": [{"position": i, "predictions": [{"token": w, "prob": p}, ...],
                              "targets": {w: p, ...}}]}]

`position` is the index of the `[mask]` among the words the model reads (after standardization).

With a WordPiece vocabulary a `[mask]` stands for one word: the guesses are the pieces that can
start a word (never a `##` continuation), their probabilities renormalized among those.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .checkpoints import load_pretrained
from .errors import TextError, checked_texts
from .model import flat_positions
from .vectorize import FIRST_WORD_ID, MASK_ID, MASK_TOKEN, Vectorizer, standardize_text


# Sentences the training panel, the reports and lesson 05 ask about, with the word a reader expects.
PROBES = (
    "i have watched this [mask] and it was awesome",
    "the acting was [mask] and the plot made no sense",
    "one of the best [mask] i have ever seen",
    "this film is a [mask] of time",
)
PROBE_ANSWERS = ("movie", "bad", "movies", "waste")
# The sentiment question an MLM can answer without labels (`cloze`, lesson 06), and the words of each class,
# chosen on validation reviews (`experiments/cloze.py`; the candidates' validation accuracies are in
# `measured/cloze.json`). Index = label: 0 negative, 1 positive.
TEMPLATE = "{review} . all in all the movie was [mask] ."
VERBALIZER = (("bad", "terrible", "awful", "horrible", "boring"),
              ("great", "good", "excellent", "wonderful", "amazing"))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class FillMasker:
    """Top-k words for every `[mask]` in raw texts, from an MLM model and its vocabulary."""

    def __init__(self, model, vectorizer: Vectorizer):
        self.model = model
        self.vectorizer = vectorizer
        self.continues = vectorizer.is_continuation  # per id: does it continue the word before it?
        self.can_fill = vectorizer.can_fill_mask  # real tokens that start a word

    @classmethod
    def from_artifacts(cls, folder: str | os.PathLike) -> "FillMasker":
        """Load the pretrained model and its vocabulary from an artifacts folder, checking they match."""
        model, vectorizer, _ = load_pretrained(Path(folder))
        return cls(model, vectorizer)

    def _check(self, texts) -> list[str]:
        texts = checked_texts(texts, "write a sentence with [mask] where a word should be guessed.")
        for text in texts:
            if MASK_TOKEN not in standardize_text(text).split():
                raise TextError(
                    f"text {text[:60]!r} has no [mask]: put [mask] (or [MASK]) where the model should guess a word."
                )
        return texts

    def probabilities(self, texts) -> tuple[list[str], list[np.ndarray], list[list[int]]]:
        """Per text: the probabilities `[masks, V]` at its kept masks, and those masks' positions among its words."""
        texts = self._check(texts)
        ids = self.vectorizer.encode(texts)
        positions = [np.flatnonzero(row == MASK_ID).tolist() for row in ids]
        for text, found in zip(texts, positions):
            if not found:
                raise TextError(
                    f"every [mask] of {text[:60]!r} lies beyond the model's {self.vectorizer.max_length} tokens: "
                    "put a [mask] nearer the start or shorten the text."
                )
        flat = flat_positions(positions, ids.shape[1])
        logits = np.asarray(self.model({"token_ids": ids, "mask_positions": flat}, training=False)).astype(np.float64)
        if not self.can_fill[FIRST_WORD_ID:].all():  # pieces: a [mask] is a word, so it starts with a word's first piece
            logits[:, ~self.can_fill] = -np.inf
        probs = _softmax(logits)  # [all masks of all texts, V], in text order
        starts = np.cumsum([0] + [len(found) for found in positions])
        words = [self._word_positions(row, found) for row, found in zip(ids, positions)]
        return texts, [probs[starts[i]:starts[i + 1]] for i in range(len(texts))], words

    def _word_positions(self, row: np.ndarray, found: list[int]) -> list[int]:
        """The index among words of each token position in `found` (the same, for whole words)."""
        starts = np.cumsum(~self.continues[row]) - 1  # word index of every token
        return [int(starts[i]) for i in found]

    def __call__(self, texts, top_k: int = 5, targets=None) -> list[dict]:
        """For each text and each of its masks: the `top_k` words with probabilities (and `targets`' probabilities)."""
        if not isinstance(top_k, int) or top_k < 1:
            raise TextError(f"top_k must be a whole number >= 1, got {top_k!r}.")
        target_ids = {}
        for word in targets or []:
            cleaned = standardize_text(word)
            if not cleaned or " " in cleaned:
                raise TextError(f"target {word!r} is not one word: give single words, e.g. movie.")
            if self.vectorizer.id_of(cleaned) < FIRST_WORD_ID:
                raise TextError(f"target {word!r} is not in the vocabulary as one token, so the model cannot "
                                "predict it in one [mask].")
            target_ids[cleaned] = self.vectorizer.id_of(cleaned)
        texts, per_text, positions = self.probabilities(texts)
        top_k = min(top_k, self.vectorizer.vocabulary_size)
        results = []
        for text, probs, found in zip(texts, per_text, positions):
            words = standardize_text(text).split()
            masks = []
            for position, row in zip(found, probs):
                best = np.argsort(-row, kind="stable")[:top_k]
                entry = {
                    "position": int(position),
                    "predictions": [{"token": self.vectorizer.tokens[i], "prob": float(row[i])} for i in best],
                }
                if target_ids:
                    entry["targets"] = {word: float(row[i]) for word, i in target_ids.items()}
                masks.append(entry)
            result = {"text": text, "masks": masks}
            tokens = self.vectorizer.count_tokens(words)
            if tokens > self.vectorizer.max_length:  # said, not hidden: the model reads a fixed length
                ignored = words.count(MASK_TOKEN) - len(found)
                result["note"] = (f"only the first {self.vectorizer.max_length} of {tokens} {self.vectorizer.UNIT} are read"
                                  + (f"; {ignored} [mask] after them ignored" if ignored else ""))
            results.append(result)
        return results


def format_table(results: list[dict]) -> str:
    """A readable table of fill-mask results, one block per text and one line per mask."""
    lines = []
    for result in results:
        lines.append(result["text"])
        for mask in result["masks"]:
            guesses = ", ".join(f"{p['token']} {p['prob']:.3f}" for p in mask["predictions"])
            lines.append(f"  [mask] at word {mask['position']}: {guesses}")
            for word, prob in mask.get("targets", {}).items():
                lines.append(f"    target {word}: {prob:.4f}")
        if result.get("note"):
            lines.append(f"  note: {result['note']}")
    return "\n".join(lines)
