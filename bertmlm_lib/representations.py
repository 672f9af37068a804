"""What pretraining put into the model (lesson 05): which words sit near each other, how one word
gets a different vector in a different sentence, and where a `[mask]` looks for its answer.

Each function takes an encoder (the learner's, the instructor's, or a fresh random one) with the
vocabulary it reads, so the lesson can hold models with different vocabularies side by side.
"""

from __future__ import annotations

import numpy as np

from .errors import TextError
from .model import attention_maps, token_embedding_of
from .vectorize import FIRST_WORD_ID, MASK_ID, Vectorizer, standardize_text


def _unit_rows(matrix) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def _word_id(vectorizer: Vectorizer, word: str) -> int:
    cleaned = standardize_text(word)
    if vectorizer.id_of(cleaned) < FIRST_WORD_ID:
        raise TextError(f"{word!r} is not in the vocabulary: pick a word the model knows, e.g. movie.")
    return vectorizer.id_of(cleaned)


def nearest_words(encoder, vectorizer: Vectorizer, words, k: int = 5) -> dict[str, list[tuple[str, float]]]:
    """For each word, the `k` vocabulary words whose input vectors point the most the same way (cosine).

    These are the word vectors before any attention: a random encoder's neighbours are noise,
    a pretrained one's are words used in the same places (often opposites, like good and bad).
    """
    vectors = _unit_rows(token_embedding_of(encoder).embeddings)
    result = {}
    for word in words:
        index = _word_id(vectorizer, word)
        similarity = vectors[FIRST_WORD_ID:] @ vectors[index]
        similarity[index - FIRST_WORD_ID] = -np.inf  # not the word itself
        best = np.argsort(-similarity, kind="stable")[:k]
        result[word] = [(vectorizer.tokens[FIRST_WORD_ID + i], float(similarity[i])) for i in best]
    return result


def contextual_vectors(encoder, vectorizer: Vectorizer, sentences, word: str) -> np.ndarray:
    """The encoder's output vector for `word` in each sentence, `[S, D]`: the same input vector,
    mixed by attention with different neighbours."""
    index = _word_id(vectorizer, word)
    ids = vectorizer.encode(list(sentences))
    rows = []
    for sentence, row in zip(sentences, ids):
        found = np.flatnonzero(row == index)
        if not len(found):
            raise TextError(f"{word!r} does not occur in {sentence[:60]!r}: use it in every sentence.")
        rows.append(found[0])
    outputs = np.asarray(encoder(ids, training=False))
    return outputs[np.arange(len(rows)), rows]


def cosine_matrix(vectors) -> np.ndarray:
    """Cosine similarity of every pair of rows: 1.0 = the same direction."""
    unit = _unit_rows(vectors)
    return unit @ unit.T


def mask_attention(encoder, vectorizer: Vectorizer, sentence: str) -> tuple[list[str], np.ndarray]:
    """How the `[mask]` of `sentence` spreads its attention over the words: `(words, weights)`,
    weights from the last encoder block, averaged over its heads (they sum to 1)."""
    ids = vectorizer.encode([sentence])
    masks = np.flatnonzero(ids[0] == MASK_ID)
    if not len(masks):
        raise TextError(f"{sentence[:60]!r} has no [mask] the model reads: put [mask] where a word should go.")
    real = int((ids[0] != 0).sum())
    weights = attention_maps(encoder, ids[:, :real])[-1, 0].mean(axis=0)[masks[0]]  # [real]
    return [vectorizer.tokens[i] for i in ids[0, :real]], weights


def neighbour_share(words: list[str], weights) -> float:
    """The share of the `[mask]`'s attention on the words right before and after it."""
    position = words.index("[mask]")
    beside = [p for p in (position - 1, position + 1) if 0 <= p < len(words)]
    return float(np.sum(np.asarray(weights)[beside]))


def plot_mask_attention(models: dict, sentences, axes=None):
    """One bar chart per sentence (rows) and model (columns): the `[mask]`'s attention on each word,
    the words beside the mask in orange. `models` maps a name to `(encoder, vectorizer)`."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(len(sentences), len(models), figsize=(4.3 * len(models), 1.9 * len(sentences)),
                               layout="constrained", squeeze=False, sharey=True)
    for column, (name, (encoder, vectorizer)) in enumerate(models.items()):
        for row, sentence in enumerate(sentences):
            ax = axes[row][column]
            words, weights = mask_attention(encoder, vectorizer, sentence)
            position = words.index("[mask]")
            colours = ["#b45f06" if abs(i - position) == 1 else ("#999999" if i == position else "#6fa8dc")
                       for i in range(len(words))]
            ax.bar(range(len(words)), weights, color=colours)
            ax.set_xticks(range(len(words)), words, rotation=35, ha="right", fontsize=8)
            ax.set_title(f"{name}: {neighbour_share(words, weights):.0%} on the neighbours", fontsize=9)
        axes[len(sentences) // 2][0].set_ylabel("attention from [mask]")
    axes[0][0].figure.suptitle("Where the [mask] looks (last block, heads averaged; orange: the words beside it)",
                               fontsize=11)
    return axes
