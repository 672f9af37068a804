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


# -- whole-word masking (subwords) ---------------------------------------------------------------
VOCABULARY = 40
CONTINUES = np.zeros(VOCABULARY, dtype=bool)
CONTINUES[20:] = True  # ids 20-39 are "##" pieces


def _pieced_rows(rows=300, length=48, seed=0):
    """Rows of words of 1-4 pieces (a start id 3-19, then continuation ids 20-39), some padding."""
    rng = np.random.default_rng(seed)
    out = np.zeros((rows, length), dtype=np.int32)
    for row in out:
        ids = []
        while len(ids) < length - rng.integers(0, 8):
            ids += [int(rng.integers(FIRST_WORD_ID, 20))] + list(rng.integers(20, VOCABULARY, rng.integers(0, 4)))
        row[:min(len(ids), length)] = ids[:length]
    return out


def _word_groups(row):
    """Lists of positions, one per word (a start and the continuation pieces after it)."""
    groups = []
    for position, token in enumerate(row):
        if token < FIRST_WORD_ID:
            continue
        if CONTINUES[token] and groups and groups[-1][-1] == position - 1:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


def test_whole_word_masking_never_half_masks_a_word():
    ids = _pieced_rows()
    out = M.mask_numpy(ids, 7, VOCABULARY, mask_rate=0.25, continuation=CONTINUES)
    halves = fates_split = chosen = pieces = 0
    for row, actions in zip(ids, out["actions"]):
        for group in _word_groups(row):
            acted = {int(actions[p]) for p in group}
            halves += (M.UNCHANGED in acted) and len(acted) > 1
            fates_split += len(acted - {M.UNCHANGED}) > 1
            chosen += M.UNCHANGED not in acted
        pieces += int((row >= FIRST_WORD_ID).sum())
    assert halves == 0, "every piece of a word is chosen, or none"
    assert fates_split == 0, "the pieces of a chosen word share one fate"
    share = (out["actions"][ids >= FIRST_WORD_ID] != M.UNCHANGED).mean()
    assert 0.2 < share <= 0.26, f"about mask_rate of the pieces are chosen, got {share:.3f}"
    assert chosen > 0 and pieces > 0
    # the labels are the original pieces at the chosen positions
    used = out["mask_weights"] > 0
    assert (np.take_along_axis(ids, out["mask_positions"], 1)[used] == out["mask_ids"][used]).all()


def test_without_continuations_whole_words_choose_the_same_positions_as_plain_masking():
    ids = _pieced_rows(rows=50)
    plain = M.mask_numpy(ids, 3, VOCABULARY, mask_rate=0.15)
    single = M.mask_numpy(ids, 3, VOCABULARY, mask_rate=0.15, continuation=np.zeros(VOCABULARY, dtype=bool))
    assert (plain["mask_positions"] == single["mask_positions"]).all()
    assert (plain["mask_weights"] == single["mask_weights"]).all()


def test_whole_word_masks_in_the_training_dataset():
    ids = _pieced_rows(rows=64)
    ds = M.mlm_dataset(ids, VOCABULARY, batch_size=16, seed=1, mask_rate=0.25, shuffle=False, continuation=CONTINUES)
    inputs, labels = next(iter(ds))
    masked, flat = inputs["token_ids"].numpy(), inputs["mask_positions"].numpy()
    assert labels.shape[0] == flat.shape[0] > 0
    assert (ids[:16].reshape(-1)[flat] == labels.numpy()).all(), "labels are the original pieces"
    for row, before in zip(masked, ids[:16]):  # a [mask] never sits beside an unmasked piece of its own word
        for group in _word_groups(before):
            is_mask = [row[p] == MASK_ID for p in group]
            assert len(set(is_mask)) == 1, "all pieces of a word masked, or none"


def test_training_batches_do_not_autotune():
    """tf.data's autotuning thread made deleting an iterator wait up to a minute at the end of a fit."""
    ids = np.tile(np.arange(3, 13, dtype=np.int32), (20, 1))
    ds = M.mlm_dataset(ids, VOCAB, batch_size=4, seed=0)
    assert ds.options().autotune.enabled is False
    assert len(list(ds)) == 5  # and the batches still come
