import numpy as np
import pytest

from bertmlm_lib import config, model as M


@pytest.fixture(scope="module")
def cfg():
    return config.load("smoke", vocab_size=300, max_length=32, dropout=0.0)


@pytest.fixture(scope="module")
def mlm(cfg):
    return M.build_pretraining_model(cfg)


def _ids(rows=3, real=10, length=32, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, length), np.int32)
    ids[:, :real] = rng.integers(3, 300, size=(rows, real))
    return ids


def test_output_shapes(mlm, cfg):
    positions = M.flat_positions([[0, 3], [5], [1, 2, 9]], 32)
    assert positions.tolist() == [0, 3, 37, 65, 66, 73]
    logits = mlm({"token_ids": _ids(), "mask_positions": positions})
    assert tuple(logits.shape) == (6, 300)
    assert tuple(mlm.encoder(_ids()).shape) == (3, 32, cfg.embed_dim)


def test_padding_leak_helper_measures_isolation(mlm):
    assert M.padding_leak(mlm.encoder, _ids(length=32)) < 1e-5


def test_padding_mask_isolates_padding(mlm):
    """Outputs at real positions do not change when more padding is added, or when padding changes."""
    ids = _ids(length=16)
    short = np.asarray(mlm.encoder(ids))
    longer = np.asarray(mlm.encoder(np.pad(ids, ((0, 0), (0, 16)))))
    assert np.allclose(short[:, :10], longer[:, :10], atol=1e-5)
    # and a real-token change does move the outputs (the comparison can fail)
    changed = ids.copy()
    changed[:, 1] = 7
    assert not np.allclose(np.asarray(mlm.encoder(changed))[:, :10], short[:, :10], atol=1e-3)


def test_head_projection_shares_the_embedding_weights(mlm):
    embedding = M.token_embedding_of(mlm.encoder)
    assert mlm.head.token_embedding is embedding
    ids = {id(w) for w in mlm.trainable_weights}
    assert len(ids) == len(mlm.trainable_weights)  # the shared matrix is one variable
    # changing the embedding matrix changes the head's output
    positions = np.array([1, 2, 33], np.int32)
    before = np.asarray(mlm({"token_ids": _ids(), "mask_positions": positions}))
    matrix = embedding.embeddings
    original = matrix.numpy()
    matrix.assign(original * 2.0)
    after = np.asarray(mlm({"token_ids": _ids(), "mask_positions": positions}))
    matrix.assign(original)
    assert not np.allclose(before, after)


def test_parameter_counts_count_the_tied_matrix_once(mlm, cfg):
    counts = M.parameter_counts(mlm)
    assert counts["total"] == sum(int(np.prod(w.shape)) for w in mlm.trainable_weights)
    embedding_size = 300 * cfg.embed_dim
    assert counts["mlm_head"] < embedding_size  # the projection matrix is not counted again


def test_head_cost_of_the_reference_config():
    cost = M.head_cost(config.load("full", mask_rate=0.15))  # the reference masks 15%
    assert cost["positions_scored_reference"] == 32 * 256
    assert cost["positions_scored_masked_head"] == 32 * 39
    assert 6.5 < cost["saving_factor"] < 6.7


def test_saved_model_reloads_with_tied_weights(mlm, tmp_path):
    import keras

    path = tmp_path / "mlm.keras"
    mlm.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert again.head.token_embedding is M.token_embedding_of(again.encoder)
    inputs = {"token_ids": _ids(), "mask_positions": np.array([1, 2, 40], np.int32)}
    assert np.allclose(np.asarray(mlm(inputs)), np.asarray(again(inputs)), atol=1e-6)


def test_head_scores_the_vector_at_each_packed_position(mlm):
    """Logits for position (row r, column c) depend on that token's vector only."""
    ids = _ids()
    both = np.asarray(mlm({"token_ids": ids, "mask_positions": np.array([4, 32 + 7], np.int32)}))
    alone = np.asarray(mlm({"token_ids": ids, "mask_positions": np.array([32 + 7], np.int32)}))
    assert np.allclose(both[1], alone[0], atol=1e-5) and not np.allclose(both[0], both[1])


def test_config_knobs_reach_the_model():
    cfg = config.load("smoke", vocab_size=100, max_length=16, embed_dim=24, num_heads=3, ff_dim=40,
                      pre_layer_norm=True, activation="gelu", num_layers=2, dropout=0.2, position_encoding="alibi")
    encoder = M.build_encoder(cfg)
    blocks = [layer for layer in encoder.layers if layer.name.startswith("encoder_block_")]
    assert len(blocks) == 2 and all(b.pre_layer_norm for b in blocks)
    assert all(b.hidden.activation.__name__ == "gelu" and b.hidden.units == 40 for b in blocks)
    assert all(b.attention.num_heads == 3 and b.dropout == 0.2 for b in blocks)
    assert encoder.get_layer("final_norm") is not None
    embedding = M.token_embedding_of(encoder)
    assert (embedding.input_dim, embedding.output_dim) == (100, 24)
    assert encoder.get_layer("embeddings").sequence_length == 16
    assert all(b.position_encoding == "alibi" and b.attention.position_encoding == "alibi" for b in blocks)


def test_transformer_block_refuses_bad_head_count():
    with pytest.raises(ValueError, match="divisible by `num_heads`.*embed_dim=10, num_heads=3"):
        M.TransformerBlock(embed_dim=10, num_heads=3, ff_dim=8)


@pytest.mark.parametrize("scheme", M.POSITION_ENCODINGS)
def test_every_position_scheme_isolates_padding_and_reloads(scheme, tmp_path):
    import keras

    cfg = config.load("smoke", vocab_size=300, max_length=32, dropout=0.0, position_encoding=scheme)
    mlm = M.build_pretraining_model(cfg)
    block = mlm.encoder.get_layer("encoder_block_0")
    assert block.position_encoding == scheme
    assert isinstance(block.attention, M.SelfAttention)
    assert block.attention.position_encoding == ("none" if scheme in M.ADDED_POSITIONS else scheme)
    embedding = mlm.encoder.get_layer("embeddings")
    assert (embedding.position_embedding is not None) == (scheme == "learned")
    assert M.padding_leak(mlm.encoder, _ids(length=32)) < 1e-5
    path = tmp_path / f"{scheme}.keras"
    mlm.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert again.encoder.get_layer("encoder_block_0").position_encoding == scheme
    inputs = {"token_ids": _ids(), "mask_positions": np.array([1, 2, 40], np.int32)}
    assert np.allclose(np.asarray(mlm(inputs)), np.asarray(again(inputs)), atol=1e-6)


@pytest.mark.parametrize("scheme", M.POSITION_ENCODINGS)
def test_every_position_scheme_knows_word_order(scheme):
    """Swapping two words changes the vectors of the words that stayed (attention alone would only permute them).

    A new model's weights start at std 0.02: its attention is nearly uniform and adds little to each
    vector, so a scheme that acts inside attention (RoPE turns q and k) changes the vectors by only
    ~1e-6 to 1e-4, which made this test flaky. Training makes the weights larger; here the attention
    kernels (x10) and T5's bucket biases (x50) are scaled up as in a model that has begun to learn.
    Measured over 25 random models: every scheme moves the unmoved words by >= 3e-3; attention with
    no position scheme moves them by ~1e-9.
    """
    cfg = config.load("smoke", vocab_size=300, max_length=32, dropout=0.0, position_encoding=scheme)
    encoder = M.build_encoder(cfg)
    for weight in encoder.weights:
        if "attention/" in weight.path and weight.path.endswith("kernel"):
            weight.assign(weight * 10.0)
        elif weight.path.endswith("relative_bias"):
            weight.assign(weight * 50.0)
    ids = _ids(rows=1)
    swapped = ids.copy()
    swapped[0, [2, 7]] = ids[0, [7, 2]]
    a, b = np.asarray(encoder(ids))[0], np.asarray(encoder(swapped))[0]
    assert np.abs(a[[0, 1, 3]] - b[[0, 1, 3]]).max() > 1e-4  # the unmoved words see another order


def test_alibi_penalises_distance_per_head():
    bias = np.asarray(M.alibi_bias(4, 5))
    assert bias.shape == (4, 5, 5) and np.allclose(np.diagonal(bias, axis1=1, axis2=2), 0)
    assert np.allclose(bias, bias.transpose(0, 2, 1))  # both directions alike: an encoder reads both ways
    assert np.allclose(bias[0, 0], -0.25 * np.arange(5)) and (bias[0] <= bias[3]).all()  # first head is steepest
    # on equal scores, ALiBi attention puts most weight on the token itself and its neighbours
    attention = M.SelfAttention(num_heads=4, key_dim=2, position_encoding="alibi")
    x = np.zeros((1, 9, 8), "float32")
    _, weights = attention(x, padding_mask=np.ones((1, 9), bool), return_attention_scores=True)
    row = np.asarray(weights)[0, 0, 4]
    assert row.argmax() == 4 and row[3] == pytest.approx(row[5]) and row[3] > row[0]


def test_t5_buckets_tell_near_words_apart_and_both_directions():
    buckets = np.asarray(M.relative_buckets(200, num_buckets=32, max_distance=128))
    query = 100
    before, after = buckets[query, query - 8:query][::-1], buckets[query, query + 1:query + 9]  # distances 1..8
    assert buckets[query, query] == 0 and len(set(before)) == len(set(after)) == 8  # a bucket per near distance
    assert set(before).isdisjoint(after)  # a word before the query is not one after it
    assert buckets[150, 0] == buckets[199, 0] == 15 and buckets[0, 150] == buckets.max() == 31  # past 128: the last
    assert all(np.diff(buckets[query, query:]) >= 0)  # buckets widen with distance, never go back
    # the learned bias is one number per (bucket, head): the same distance gets the same bias everywhere
    attention = M.SelfAttention(num_heads=2, key_dim=4, position_encoding="t5")
    x = np.zeros((1, 12, 8), "float32")
    _, weights = attention(x, padding_mask=np.ones((1, 12), bool), return_attention_scores=True)
    assert attention.relative_bias.shape == (32, 2)
    weights = np.asarray(weights)[0]
    assert not np.allclose(weights[0, 5], 1 / 12)  # equal scores, yet not uniform: position alone moves weight
    assert weights[0, 3, 4] / weights[0, 3, 2] == pytest.approx(weights[0, 7, 8] / weights[0, 7, 6], rel=1e-5)


def test_warmup_schedule_rises_then_holds():
    from bertmlm_lib import pretrain

    cfg = config.load("smoke", schedule="warmup", warmup_share=0.1, learning_rate=1e-3)
    rate = pretrain.make_optimizer(cfg, total_steps=100).learning_rate
    schedule = pretrain.make_optimizer(cfg, 100)._learning_rate
    assert [round(float(schedule(step)), 6) for step in (0, 5, 10, 50, 100, 500)] == [0.0, 5e-4, 1e-3, 1e-3, 1e-3, 1e-3]
    assert float(rate) == 0.0  # at step 0
    decayed = pretrain.make_optimizer(cfg.replace(schedule="linear"), 100)._learning_rate
    assert float(decayed(100)) == 0.0 and float(decayed(55)) == pytest.approx(5e-4)


def test_word_vectors_start_with_the_configured_spread():
    from bertmlm_lib import pretrain
    from bertmlm_lib.vectorize import build_vectorizer

    vectorizer = build_vectorizer(["a b c d e f g h i j"] * 3, vocab_size=14, max_length=16)
    for std in (0.02, 0.1):
        cfg = config.load("smoke", vocab_size=14, max_length=16, embedding_init_std=std)
        words = np.asarray(M.token_embedding_of(pretrain.build_model_for(cfg, vectorizer).encoder).embeddings)
        assert words.std() == pytest.approx(std * 0.88, rel=0.35)  # a truncated normal's spread is ~0.88 sigma


def test_rotary_scores_depend_on_relative_position_only():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 1, 1, 8)).astype("float32"), rng.normal(size=(1, 1, 1, 8)).astype("float32")
    at = lambda i: np.tile(q, (1, 12, 1, 1)), lambda i: np.tile(k, (1, 12, 1, 1))  # noqa: E731
    qs, ks = np.asarray(M.rotate_by_position(at[0](0))), np.asarray(M.rotate_by_position(at[1](0)))
    score = lambda i, j: float(qs[0, i, 0] @ ks[0, j, 0])  # noqa: E731
    assert score(2, 5) == pytest.approx(score(6, 9), abs=1e-4) and score(2, 5) != pytest.approx(score(2, 6), abs=1e-3)
    assert np.allclose(qs[0, 0], q[0, 0])  # position 0 is not turned


def test_saved_settings_from_before_position_encoding_mean_learned():
    from bertmlm_lib.config import from_dict

    saved = config.load("workshop").to_dict()
    del saved["position_encoding"]
    assert from_dict(saved).position_encoding == "learned"
    settings = M.encoder_settings({k: v for k, v in saved.items() if k in M.ENCODER_SETTINGS})
    assert settings["position_encoding"] == "learned"


def test_unknown_position_scheme_is_refused():
    with pytest.raises(ValueError, match="position_encoding.*Received: position_encoding='absolute'"):
        M.TokenAndPositionEmbedding(10, 8, 4, position_encoding="absolute")
    from bertmlm_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="position_encoding='absolute' is invalid.*'alibi'"):
        config.load("smoke", position_encoding="absolute")


def test_attention_masks_padding_sees_both_sides_causal_only_the_left():
    masks = M.attention_masks(real=5, length=8)
    padding, causal = masks["padding"], masks["causal"]
    assert padding.shape == causal.shape == (8, 8)
    assert padding[:, :5].all() and not padding[:, 5:].any()  # every word sees every real word, no padding
    assert causal[3, :4].all() and not causal[3, 4:].any()  # word 3 sees 0-3 only
    assert not np.triu(causal, k=1).any() and (causal <= padding).all()
    axes = M.plot_attention_masks(real=5, length=8)
    assert len(axes) == 2 and "both sides" in axes[0].get_title()
