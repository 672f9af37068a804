import numpy as np
import pytest

from bertmlm_lib import masking as M
from bertmlm_lib.vectorize import FIRST_WORD_ID, MASK_ID, PAD_ID, UNK_ID

VOCAB = 50


def _batch(rows=400, length=64, seed=0):
    """Rows of real words (ids >= 3) sprinkled with [UNK] and [mask], then padding."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(FIRST_WORD_ID, VOCAB, size=(rows, length))
    ids[rng.random(ids.shape) < 0.05] = UNK_ID
    ids[rng.random(ids.shape) < 0.02] = MASK_ID
    lengths = rng.integers(5, length + 1, size=rows)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = PAD_ID
    return ids.astype(np.int32)


@pytest.fixture(scope="module")
def masked():
    ids = _batch(rows=1500)
    return ids, M.mask_numpy(ids, seed=7, vocabulary_size=VOCAB)


def test_shapes_and_dtypes(masked):
    ids, out = masked
    p = M.max_predictions_for(64, 0.15)
    assert p == 10
    assert out["token_ids"].shape == ids.shape and out["actions"].shape == ids.shape
    for name in ("mask_positions", "mask_ids", "mask_weights"):
        assert out[name].shape == (ids.shape[0], p)


def test_rate_is_fifteen_percent_of_real_words(masked):
    ids, out = masked
    real = (ids >= FIRST_WORD_ID).sum(axis=1)
    chosen = out["mask_weights"].sum(axis=1)
    expected = np.minimum(np.maximum(np.round(0.15 * real), 1), 10)
    assert (chosen == expected).all()
    stats = M.masking_statistics(out["actions"], ids)
    assert abs(stats["chosen_share"] - 0.15) < 0.01


def test_eighty_ten_ten_split(masked):
    ids, out = masked
    stats = M.masking_statistics(out["actions"], ids)
    chosen = stats["chosen"]
    assert chosen > 6000
    assert abs(stats["masked"] / chosen - 0.8) < 0.03
    assert abs(stats["replaced by a random word"] / chosen - 0.1) < 0.02
    assert abs(stats["chosen but kept"] / chosen - 0.1) < 0.02


def test_specials_are_never_chosen_and_padding_untouched(masked):
    ids, out = masked
    chosen = out["actions"] != M.UNCHANGED
    assert (ids[chosen] >= FIRST_WORD_ID).all()
    used = out["mask_weights"] > 0
    assert (out["mask_ids"][used] >= FIRST_WORD_ID).all()
    specials = ids < FIRST_WORD_ID
    assert (out["token_ids"][specials] == ids[specials]).all()


def test_labels_are_the_original_words_at_the_positions(masked):
    ids, out = masked
    rows = np.arange(ids.shape[0])[:, None]
    used = out["mask_weights"] > 0
    assert (ids[rows, out["mask_positions"]][used] == out["mask_ids"][used]).all()
    assert (out["mask_ids"][~used] == 0).all()
    # masked positions show [mask]; replaced ones a real word; untouched ones their original word
    assert (out["token_ids"][out["actions"] == M.MASKED] == MASK_ID).all()
    assert (out["token_ids"][out["actions"] == M.REPLACED] >= FIRST_WORD_ID).all()
    same = (out["actions"] == M.UNCHANGED) | (out["actions"] == M.KEPT)
    assert (out["token_ids"][same] == ids[same]).all()


def test_every_real_word_can_be_chosen():
    ids = np.tile(np.arange(FIRST_WORD_ID, 13, dtype=np.int32), (200, 1))  # words 3..12 only
    out = M.mask_numpy(ids, seed=1, vocabulary_size=13)
    chosen_words = set(out["mask_ids"][out["mask_weights"] > 0].tolist())
    assert chosen_words == set(range(FIRST_WORD_ID, 13))  # the most frequent word (id 3) included


def test_same_seed_same_masks_other_seed_other_masks():
    ids = _batch(rows=20)
    a, b, c = (M.mask_numpy(ids, seed=s, vocabulary_size=VOCAB) for s in (3, 3, 4))
    assert (a["token_ids"] == b["token_ids"]).all() and (a["mask_positions"] == b["mask_positions"]).all()
    assert (a["mask_positions"] != c["mask_positions"]).any()


def test_row_without_words_gets_no_prediction():
    ids = np.array([[UNK_ID, MASK_ID, 0, 0], [5, 6, 7, 0]], dtype=np.int32)
    out = M.mask_numpy(ids, seed=0, vocabulary_size=VOCAB, mask_rate=0.5)
    assert out["mask_weights"][0].sum() == 0 and (out["token_ids"][0] == ids[0]).all()
    assert out["mask_weights"][1].sum() == 2


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="mask_rate"):
        M.mask_numpy(_batch(rows=2), seed=0, vocabulary_size=VOCAB, mask_rate=0)
    with pytest.raises(ValueError, match="random_token_share must be at most 1 - mask_token_share"):
        M.mask_numpy(_batch(rows=2), seed=0, vocabulary_size=VOCAB, mask_token_share=0.9, random_token_share=0.2)


def test_dataset_draws_fresh_masks_each_pass_and_is_reproducible():
    ids = _batch(rows=16)

    def positions(ds):
        return [x["mask_positions"].numpy().tolist() for x, _ in ds]

    ds = M.mlm_dataset(ids, VOCAB, batch_size=16, seed=5, shuffle=False, repeat=True)
    first, second = [x["mask_positions"].numpy().tolist() for (x, _), _ in zip(ds, range(2))]
    assert first != second  # same reviews, new masks on the next pass
    again = M.mlm_dataset(ids, VOCAB, batch_size=16, seed=5, shuffle=False, repeat=True)
    assert next(iter(again))[0]["mask_positions"].numpy().tolist() == first
    fixed = M.mlm_dataset(ids, VOCAB, batch_size=8, seed=5, shuffle=False, fixed_masks=True)
    assert positions(fixed) == positions(fixed)


def test_dataset_shuffles_row_numbers_yet_gives_the_batches_shuffling_rows_gives():
    """The stream keeps one copy of the reviews (it shuffles row numbers, then gathers): its batches are
    exactly those of the former pipeline, which shuffled the rows themselves (a second copy in its buffer)."""
    import tensorflow as tf

    ids = _batch(rows=40, length=16)
    kwargs = dict(mask_rate=0.25, mask_token_share=0.8, random_token_share=0.1)
    predictions = M.max_predictions_for(16, 0.25)
    rows = tf.data.Dataset.from_tensor_slices(ids).shuffle(40, seed=3, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=3).batch(2)

    def former(batch, pair):
        out = M.mask_tokens(batch, pair, VOCAB, max_predictions=predictions, **kwargs)
        flat, labels = M.pack_predictions(out["mask_positions"], out["mask_ids"], out["mask_weights"], 16)
        return {"token_ids": out["token_ids"], "mask_positions": flat}, labels

    reference = tf.data.Dataset.zip((rows.batch(8, drop_remainder=True), seeds)).map(former)
    stream = M.mlm_dataset(ids, VOCAB, batch_size=8, seed=3, shuffle=True, repeat=True, drop_remainder=True,
                           max_predictions=predictions, **kwargs)
    for (x, labels), (x_ref, labels_ref) in zip(stream.take(12), reference.take(12)):  # 2.4 passes: reshuffled too
        assert np.array_equal(x["token_ids"], x_ref["token_ids"])
        assert np.array_equal(x["mask_positions"], x_ref["mask_positions"]) and np.array_equal(labels, labels_ref)


def test_dataset_packs_the_real_predictions_of_a_batch():
    ids = _batch(rows=10, length=64)
    (x, labels), = M.mlm_dataset(ids, VOCAB, batch_size=10, seed=0, shuffle=False).take(1)
    assert set(x) == {"token_ids", "mask_positions"} and x["token_ids"].shape == (10, 64)
    flat, labels = x["mask_positions"].numpy(), labels.numpy()
    real = (ids >= FIRST_WORD_ID).sum(axis=1)
    assert len(flat) == len(labels) == np.minimum(np.maximum(np.round(0.15 * real), 1), 10).sum()
    rows, columns = flat // 64, flat % 64
    assert (np.diff(rows) >= 0).all()  # row order
    assert (ids[rows, columns] == labels).all()  # each label is the original word at its packed position


def test_pack_predictions_drops_unused_slots():
    flat, labels = M.pack_predictions(np.array([[3, 1, 0], [2, 0, 0]]), np.array([[7, 8, 0], [9, 0, 0]]),
                                      np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), sequence_length=5)
    assert flat.numpy().tolist() == [3, 1, 7] and labels.numpy().tolist() == [7, 8, 9]
