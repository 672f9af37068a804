"""Stage 3, masking: hide some words so the model has something to predict.

BERT's recipe (Devlin et al., 2019): choose a share (15%) of the real words of each review; of the
chosen ones, 80% become `[mask]`, 10% become a random word and 10% stay as they are. The model
must predict the original word at every chosen position, so it cannot learn "only `[mask]`
positions matter" nor "the word I see is always right".

What comes out is made for a head that only looks at the chosen positions:

- `token_ids`      [B, L]  the review with the changes applied (the model's input),
- `mask_positions` [B, P]  where the chosen words are (P = most predictions per review),
- `mask_ids`       [B, P]  the original words there (the labels),
- `mask_weights`   [B, P]  1.0 for a real prediction, 0.0 for an unused slot,
- `actions`        [B, L]  what happened to each token (for the explorer widget).

With subwords (WordPiece, `subwords.py`) a word may be several pieces. **Whole-word masking**
(`continuation=`, which pieces continue a word) chooses words, not pieces: all pieces of a chosen
word are chosen together and share one fate, so the model never fills in `##able` while seeing
`unwatch`; the share `mask_rate` still counts pieces, as BERT's whole-word release did.

Masks are drawn inside the `tf.data` pipeline, so every pass over the corpus hides different
words (the reference tutorial drew them once, before training). Everything is stateless and
seeded: the same seed gives the same masks.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .backend import load_tensorflow, without_autotuning
from .config import masking_problem
from .vectorize import FIRST_WORD_ID, MASK_ID

# What happened to a token, as stored in `actions`.
UNCHANGED, MASKED, REPLACED, KEPT = 0, 1, 2, 3
# Batches masked at once while the model trains on others: one per core (masking is light next to a step).
PIPELINE_THREADS = min(4, os.cpu_count() or 2)
ACTION_NAMES = {UNCHANGED: "not chosen", MASKED: "masked", REPLACED: "replaced by a random word",
                KEPT: "chosen but kept"}


def max_predictions_for(max_length: int, mask_rate: float) -> int:
    """P: room for every chosen word of a full-length review (at least one)."""
    return max(1, math.ceil(max_length * mask_rate))


def _check_rates(mask_rate, mask_token_share, random_token_share):
    """The config's rule (`config.masking_problem`), raised as a ValueError naming the value."""
    problem = masking_problem(mask_rate, mask_token_share, random_token_share)
    if problem:
        values = dict(mask_rate=mask_rate, mask_token_share=mask_token_share, random_token_share=random_token_share)
        raise ValueError(f"{problem[0]} must be {problem[1]}, got {values[problem[0]]}.")


def mask_tokens(token_ids, seed, vocabulary_size: int, mask_rate: float = 0.15,
                mask_token_share: float = 0.8, random_token_share: float = 0.1,
                max_predictions: int | None = None, continuation=None) -> dict:
    """Apply BERT masking to a batch of word ids `[B, L]`; returns the dict described above.

    `seed` is a pair of integers (a `[2]` tensor inside tf.data). Only real words (ids >= 3) can be
    chosen: never padding, `[UNK]` or `[mask]`. Each review gets `round(mask_rate * words)` chosen
    positions (at least one, at most P). A random replacement is a real word drawn uniformly.

    `continuation`: for whole-word masking, a boolean per id, True for a piece that continues the
    word before it (`WordPieceVectorizer.is_continuation`). Whole words are then chosen, in random
    order, as long as all their pieces fit in `round(mask_rate * pieces)` (at least the first word,
    at most P), and every piece of a word gets the same fate.
    """
    _check_rates(mask_rate, mask_token_share, random_token_share)
    tf = load_tensorflow()
    ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
    length = ids.shape[1]
    if length is None and max_predictions is None:
        raise ValueError("pass max_predictions when the sequence length is not known in advance.")
    predictions = max_predictions or max_predictions_for(length, mask_rate)
    if length is not None:
        predictions = min(predictions, length)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)

    candidate = ids >= FIRST_WORD_ID
    words = tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1)
    wanted = tf.cast(tf.round(mask_rate * tf.cast(words, tf.float32)), tf.int32)
    chosen_count = tf.minimum(tf.where(words > 0, tf.maximum(wanted, 1), 0), predictions)
    if continuation is None:
        positions, used, fate = _choose_tokens(ids, candidate, chosen_count, predictions, seeds)
    else:
        positions, used, fate = _choose_whole_words(ids, candidate, words, chosen_count, predictions, seeds,
                                                    continuation)
    original = tf.where(used, tf.gather(ids, positions, batch_dims=1), 0)

    # 80 / 10 / 10: one uniform draw per chosen slot (`fate`) decides what it becomes.
    to_mask = used & (fate < mask_token_share)
    to_random = used & (fate >= mask_token_share) & (fate < mask_token_share + random_token_share)
    random_words = tf.random.stateless_uniform(tf.shape(positions), seed=seeds[2], minval=FIRST_WORD_ID,
                                               maxval=vocabulary_size, dtype=tf.int32)
    new_values = tf.where(to_mask, MASK_ID, tf.where(to_random, random_words, original))
    action_values = tf.where(to_mask, MASKED, tf.where(to_random, REPLACED, KEPT))

    rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, tf.newaxis], tf.shape(positions))
    where_used = tf.boolean_mask(tf.stack([rows, positions], axis=-1), used)
    masked_ids = tf.tensor_scatter_nd_update(ids, where_used, tf.boolean_mask(new_values, used))
    actions = tf.tensor_scatter_nd_update(tf.zeros_like(ids), where_used, tf.boolean_mask(action_values, used))
    return {
        "token_ids": masked_ids,
        "mask_positions": positions,
        "mask_ids": original,
        "mask_weights": tf.cast(used, tf.float32),
        "actions": actions,
    }


def _choose_tokens(ids, candidate, chosen_count, predictions: int, seeds):
    """BERT's choice: `chosen_count` random real words per review. Returns the chosen positions `[B, P]`,
    which slots are used, and one uniform draw per slot for its 80/10/10 fate."""
    tf = load_tensorflow()
    scores = tf.where(candidate, tf.random.stateless_uniform(tf.shape(ids), seed=seeds[0]), 2.0)  # others sort last
    order = tf.argsort(scores, axis=1, stable=True, direction="ASCENDING")[:, :predictions]
    used = tf.range(predictions)[tf.newaxis, :] < chosen_count[:, tf.newaxis]
    positions = tf.where(used, order, 0)
    return positions, used, tf.random.stateless_uniform(tf.shape(positions), seed=seeds[1])


def _choose_whole_words(ids, candidate, words, chosen_count, predictions: int, seeds, continuation):
    """Whole-word masking: random words, all of their pieces, as long as they fit in `chosen_count` pieces
    (at least the first word); every piece of a word shares its word's fate. Returns what `_choose_tokens` does."""
    tf = load_tensorflow()
    word, word_length, offset = _words(ids, candidate, tf.constant(np.asarray(continuation, dtype=bool)))
    scores = tf.gather(tf.random.stateless_uniform(tf.shape(ids), seed=seeds[0]), word, batch_dims=1)
    scores = tf.where(candidate, scores, 2.0)  # one score per word; others sort last
    order = tf.argsort(scores, axis=1, stable=True, direction="ASCENDING")[:, :predictions]
    slot = tf.range(predictions)[tf.newaxis, :]
    first = tf.gather(word_length, order[:, :1], batch_dims=1)[:, 0]  # a word's pieces sit side by side in `order`
    room = tf.minimum(tf.where(words > 0, tf.maximum(chosen_count, first), 0), predictions)
    ends = slot - tf.gather(offset, order, batch_dims=1) + tf.gather(word_length, order, batch_dims=1)
    used = (ends <= room[:, tf.newaxis]) & tf.gather(candidate, order, batch_dims=1)  # a word only if all of it fits
    positions = tf.where(used, order, 0)
    fates = tf.random.stateless_uniform(tf.shape(ids), seed=seeds[1])
    return positions, used, tf.gather(tf.gather(fates, word, batch_dims=1), positions, batch_dims=1)


def _words(ids, candidate, continuation):
    """For each token of `ids` [B, L]: the position where its word starts, how many pieces the word
    has, and the token's place in it. A piece continues a word when `continuation[id]` and the token
    before it is a real word too; anything else starts one (padding and specials are words of one)."""
    tf = load_tensorflow()
    length = tf.shape(ids)[1]
    position = tf.broadcast_to(tf.range(length)[tf.newaxis, :], tf.shape(ids))
    before = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]])
    continues = tf.gather(continuation, ids) & candidate & before
    word = tf.cumsum(tf.cast(~continues, tf.int32), axis=1) - 1  # each token's word, numbered per row
    flat = tf.reshape(word + length * tf.range(tf.shape(ids)[0])[:, tf.newaxis], [-1])
    segments = tf.size(flat)
    first = tf.math.unsorted_segment_min(tf.reshape(position, [-1]), flat, segments)
    sizes = tf.math.unsorted_segment_sum(tf.ones_like(flat), flat, segments)
    start = tf.reshape(tf.gather(first, flat), tf.shape(ids))
    return start, tf.reshape(tf.gather(sizes, flat), tf.shape(ids)), position - start


def mask_numpy(token_ids, seed: int, vocabulary_size: int, **rates) -> dict:
    """`mask_tokens` on a NumPy array with an integer seed; returns NumPy arrays (for widgets, tests)."""
    tf = load_tensorflow()
    ids = np.atleast_2d(np.asarray(token_ids))
    out = mask_tokens(tf.constant(ids), tf.constant([seed, 0], tf.int64), vocabulary_size, **rates)
    return {name: value.numpy() for name, value in out.items()}


def pack_predictions(mask_positions, mask_ids, mask_weights, sequence_length: int):
    """Flatten the real predictions of a batch into one list: `(flat_positions [N], labels [N])`.

    `flat_positions` index the batch's tokens laid end to end (`row * sequence_length + position`),
    in row order; unused slots (weight 0) are dropped, so the head never spends work on them.
    """
    tf = load_tensorflow()
    rows = tf.range(tf.shape(mask_positions)[0], dtype=tf.int32)[:, tf.newaxis]
    flat = tf.cast(mask_positions, tf.int32) + rows * sequence_length
    used = tf.cast(mask_weights, tf.float32) > 0
    return tf.boolean_mask(flat, used), tf.boolean_mask(tf.cast(mask_ids, tf.int32), used)


def mlm_dataset(token_ids: np.ndarray, vocabulary_size: int, batch_size: int, seed: int,
                mask_rate: float = 0.15, mask_token_share: float = 0.8, random_token_share: float = 0.1,
                max_predictions: int | None = None, shuffle: bool = True, repeat: bool = False,
                fixed_masks: bool = False, drop_remainder: bool = False, continuation=None):
    """A `tf.data.Dataset` of `(inputs, labels)` batches for `model.fit`.

    `inputs` is `{"token_ids": [B, L], "mask_positions": [N]}` with the real predictions of the
    batch packed into one list (see `pack_predictions`), and `labels` the N original words. The ids
    are held in memory once; masks are drawn per batch in the graph, fresh on every pass unless
    `fixed_masks` (for a held-out set whose score must be comparable between evaluations).
    """
    _check_rates(mask_rate, mask_token_share, random_token_share)
    tf = load_tensorflow()
    token_ids = np.asarray(token_ids, dtype=np.int32)
    predictions = max_predictions or max_predictions_for(token_ids.shape[1], mask_rate)
    # The pipeline shuffles and batches row numbers and gathers the rows per batch: a shuffle buffer of
    # whole reviews would hold a second copy of the corpus (~40 MB in the workshop preset). The order
    # is the one shuffling the rows themselves gives, since a shuffle never looks at what it moves.
    rows = tf.constant(token_ids)
    ds = tf.data.Dataset.range(len(token_ids))
    if shuffle:
        ds = ds.shuffle(len(token_ids), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(lambda index: tf.gather(rows, index))
    if fixed_masks:
        seeds = tf.data.Dataset.range(np.iinfo(np.int64).max).map(lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    else:
        seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))

    length = token_ids.shape[1]

    def to_training_example(ids, pair):
        out = mask_tokens(ids, pair, vocabulary_size, mask_rate, mask_token_share, random_token_share, predictions,
                          continuation=continuation)
        flat_positions, labels = pack_predictions(out["mask_positions"], out["mask_ids"], out["mask_weights"], length)
        return {"token_ids": out["token_ids"], "mask_positions": flat_positions}, labels

    # fixed parallelism, no autotuning: see `backend.without_autotuning` (a stall of up to a minute)
    return without_autotuning(ds.map(to_training_example, num_parallel_calls=PIPELINE_THREADS).prefetch(2))


def masking_statistics(actions: np.ndarray, token_ids: np.ndarray) -> dict:
    """Counts of each action over real words, and the shares the recipe promises."""
    real = np.asarray(token_ids) >= FIRST_WORD_ID
    actions = np.asarray(actions)
    counts = {ACTION_NAMES[a]: int(((actions == a) & real).sum()) for a in ACTION_NAMES}
    chosen = counts["masked"] + counts["replaced by a random word"] + counts["chosen but kept"]
    words = int(real.sum())
    return {
        "words": words,
        "chosen": chosen,
        "chosen_share": chosen / words if words else 0.0,
        **counts,
    }


def plot_action_shares(stats: dict, mask_token_share: float = 0.8, random_token_share: float = 0.1, ax=None):
    """Bars of what happened to the chosen words, next to the recipe's target shares."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    names = ["masked", "replaced by a random word", "chosen but kept"]
    measured = [stats[name] / max(stats["chosen"], 1) for name in names]
    target = [mask_token_share, random_token_share, 1 - mask_token_share - random_token_share]
    x = np.arange(len(names))
    ax.bar(x - 0.2, target, width=0.4, label="recipe", color="#bbbbbb")
    ax.bar(x + 0.2, measured, width=0.4, label=f"measured on {stats['chosen']:,} chosen words", color="#4c78a8")
    ax.set_xticks(x, ["[mask]", "random word", "kept"])
    ax.set_ylabel("share of chosen words")
    ax.set_title(f"{stats['chosen_share']:.1%} of {stats['words']:,} words chosen; what happened to them")
    ax.legend()
    return ax
