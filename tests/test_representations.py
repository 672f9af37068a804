"""The pictures that look inside the model: the architecture diagram (lesson 04), reference lines on
the pretraining curves, word neighbours, contextual vectors and the [mask]'s attention (lesson 05)."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from bertmlm_lib import config, diagram, instructor, model as M, pretrain, representations as R  # noqa: E402
from bertmlm_lib.errors import TextError  # noqa: E402
from bertmlm_lib.fill_mask import FillMasker  # noqa: E402
from bertmlm_lib.vectorize import FIRST_WORD_ID, Vectorizer  # noqa: E402

WORDS = ["the", "movie", "was", "good", "bad", "film", "great", "plot", "acting", "not"]


@pytest.fixture(scope="module")
def cfg():
    return config.load("smoke", vocab_size=len(WORDS) + FIRST_WORD_ID, max_length=16, dropout=0.0)


@pytest.fixture(scope="module")
def vectorizer():
    return Vectorizer(["", "[UNK]", "[mask]", *WORDS], max_length=16, counts=[0, 0, 0, 50, *range(20, 11, -1)])


@pytest.mark.parametrize("settings", [{}, {"num_layers": 2, "position_encoding": "learned", "pre_layer_norm": True}])
def test_the_diagram_counts_every_weight_once_and_follows_the_preset(settings):
    mlm = M.build_pretraining_model(config.load("smoke", **settings))
    rows = diagram.architecture_rows(mlm)
    assert sum(row["parameters"] for row in rows) == mlm.count_params()
    blocks = [row for row in rows if row["name"].startswith("encoder block")]
    assert len(blocks) == mlm.encoder_config["num_layers"]
    assert rows[0]["name"] == "token ids" and rows[-1]["name"] == "MLM head"
    assert rows[1]["parameters"] >= mlm.vocabulary_size * mlm.encoder_config["embed_dim"], "the word vectors live here"
    word = "learned vector per position" if settings else "rotary"
    assert word in rows[1]["detail"]
    ax = diagram.plot_architecture(mlm)
    assert len(ax.patches) == len(rows) + 1  # a box per part and the tied-weights arrow
    assert f"{mlm.count_params():,} parameters" in ax.get_title()


def test_reference_levels_are_the_uniform_guess_and_the_most_frequent_word(vectorizer):
    levels = pretrain.reference_levels(vectorizer)
    assert levels["loss"][0] == pytest.approx(math.log(vectorizer.vocabulary_size))
    assert levels["perplexity"][0] == vectorizer.vocabulary_size
    assert levels["masked_accuracy"][0] == pytest.approx(50 / sum([50, *range(20, 11, -1)]))
    assert "'the'" in levels["masked_accuracy"][1]
    axes = pretrain.plot_curves([{"step": 0, "val_loss": 2.5, "val_masked_accuracy": 0.0, "val_perplexity": 12.0},
                                 {"step": 10, "loss": 2.0, "val_loss": 2.0, "masked_accuracy": 0.2,
                                  "val_masked_accuracy": 0.3, "perplexity": 7.4, "val_perplexity": 7.4}],
                                references=levels)
    dashed = [line for ax in axes for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_ydata()[0] for line in dashed] == [levels[key][0] for key in ("loss", "masked_accuracy", "perplexity")]


def test_nearest_words_by_direction_without_the_word_itself(cfg, vectorizer):
    encoder = M.build_encoder(cfg, vectorizer.vocabulary_size)
    words = M.token_embedding_of(encoder).embeddings
    table = np.asarray(words)
    good, great = vectorizer.id_of("good"), vectorizer.id_of("great")
    table[great] = 3.0 * table[good]  # same direction, longer
    words.assign(table)
    nearest = R.nearest_words(encoder, vectorizer, ["good"], k=3)["good"]
    assert nearest[0] == ("great", pytest.approx(1.0))
    assert "good" not in [word for word, _ in nearest] and len(nearest) == 3
    assert all(word not in ("", "[UNK]", "[mask]") for word, _ in R.nearest_words(encoder, vectorizer, ["the"], k=9)["the"])
    with pytest.raises(TextError, match="not in the vocabulary"):
        R.nearest_words(encoder, vectorizer, ["zebra"])


def test_contextual_vectors_are_the_encoders_output_at_the_word(cfg, vectorizer):
    encoder = M.build_encoder(cfg, vectorizer.vocabulary_size)
    sentences = ["the movie was good", "good film", "not good not bad"]
    vectors = R.contextual_vectors(encoder, vectorizer, sentences, "good")
    assert vectors.shape == (3, cfg.embed_dim)
    outputs = np.asarray(encoder(vectorizer.encode(sentences)))
    np.testing.assert_allclose(vectors, outputs[[0, 1, 2], [3, 0, 1]], atol=1e-6)
    similarity = R.cosine_matrix(vectors)
    np.testing.assert_allclose(np.diag(similarity), 1.0, atol=1e-9)
    with pytest.raises(TextError, match="does not occur"):
        R.contextual_vectors(encoder, vectorizer, ["the plot"], "good")


def test_mask_attention_is_the_mask_rows_weights_over_the_real_words(cfg, vectorizer):
    encoder = M.build_encoder(cfg, vectorizer.vocabulary_size)
    words, weights = R.mask_attention(encoder, vectorizer, "the movie was [mask] not bad")
    assert words == ["the", "movie", "was", "[mask]", "not", "bad"]
    assert weights.shape == (6,) and weights.sum() == pytest.approx(1.0, abs=1e-5)
    maps = M.attention_maps(encoder, vectorizer.encode(["the movie was [mask] not bad"])[:, :6])
    np.testing.assert_allclose(weights, maps[-1, 0, :, 3].mean(axis=0), atol=1e-6)
    assert R.neighbour_share(words, weights) == pytest.approx(weights[2] + weights[4])
    assert R.neighbour_share(["[mask]", "a", "b"], np.array([0.2, 0.5, 0.3])) == pytest.approx(0.5)
    with pytest.raises(TextError, match="no \\[mask\\]"):
        R.mask_attention(encoder, vectorizer, "the movie was good")
    axes = R.plot_mask_attention({"a": (encoder, vectorizer), "b": (encoder, vectorizer)}, ["the [mask] was good"] * 2)
    assert np.shape(axes) == (2, 2) and len(axes[0][0].patches) == 4


def test_the_shipped_instructor_model_loads_with_its_own_vocabulary():
    mlm, vectorizer = instructor.load()
    manifest = instructor.read_manifest(instructor.SHIPPED)
    assert vectorizer.fingerprint == manifest["vocabulary_sha256"]
    assert vectorizer.max_length == manifest["config"]["max_length"]
    [result] = FillMasker(mlm, vectorizer)(["what a [mask] of time"], top_k=1)
    assert result["masks"][0]["predictions"][0]["token"] == "waste"
    assert R.nearest_words(mlm.encoder, vectorizer, ["movie"], k=1)["movie"][0][0] == "film"
