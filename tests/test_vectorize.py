import json

import numpy as np
import pytest

from bertmlm_lib import vectorize as V
from bertmlm_lib import stages
from bertmlm_lib.errors import ArtifactError, ConfigError

CORPUS = [
    "The film was great. The film was long!",
    "The acting: great; the plot <br /><br />was not.",
    "A film, a plot, an ending.",
]


@pytest.fixture(scope="module")
def vectorizer():
    return V.build_vectorizer(CORPUS, vocab_size=10, max_length=8)


@pytest.mark.parametrize("raw, expected", [
    ("Hello, WORLD!", "hello world"),
    ("great<br />movie<br/>ever<BR>", "great movie ever"),
    ("I have watched this [MASK] and it was [mask]", "i have watched this [mask] and it was [mask]"),
    ("a[mask]b", "a [mask] b"),
    ("\"Quoted\" words -- and (brackets) [not a mask]", "quoted words and brackets not a mask"),
    ("Café ÉCOLE naïve", "café école naïve"),
    ("numbers 10/10 stay", "numbers 1010 stay"),
    ("emoji 🎬 gone", "emoji gone"),
    ("", ""),
])
def test_standardization(raw, expected):
    assert V.standardize_text(raw) == expected


def test_special_ids_are_fixed(vectorizer):
    assert vectorizer.tokens[:3] == ["", "[UNK]", "[mask]"]
    assert (V.PAD_ID, V.UNK_ID, V.MASK_ID) == (0, 1, 2)
    assert vectorizer.id_of("[mask]") == 2 and vectorizer.id_of("zebra") == V.UNK_ID
    assert vectorizer.encode(["[MASK] [mask]"])[0, :2].tolist() == [2, 2]


def test_most_frequent_word_gets_the_first_word_id_and_is_a_real_word(vectorizer):
    # "the" is the most frequent word; the reference tutorial's `<= 2` test silently excluded it
    assert vectorizer.tokens[V.FIRST_WORD_ID] == "the"
    assert vectorizer.id_of("the") == V.FIRST_WORD_ID == 3


def test_vocabulary_size_is_respected_and_counts_sorted(vectorizer):
    assert vectorizer.vocabulary_size == 10
    counts = vectorizer.counts[V.FIRST_WORD_ID:]
    assert counts == sorted(counts, reverse=True) and counts[0] == 4


def test_encode_pads_and_truncates(vectorizer):
    ids = vectorizer.encode(["the film", "the film was great the film was great the film"])
    assert ids.shape == (2, 8)
    assert ids[0, 2:].tolist() == [0] * 6
    assert (ids[1] != 0).all()


def test_encode_decode_round_trip(vectorizer):
    text = "the film was great [mask]"
    assert vectorizer.decode(vectorizer.encode(text)[0]) == text
    assert vectorizer.decode(vectorizer.encode("the zebra")[0]) == "the [UNK]"
    assert vectorizer.decode(vectorizer.encode("the")[0], keep_padding=True).split()[1] == "[pad]"
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vectorizer.decode([99])


def test_coverage(vectorizer):
    report = vectorizer.coverage(["the film zebra giraffe"])
    assert report["tokens"] == 4 and report["known_share"] == 0.5 and report["unknown_rate"] == 0.5
    assert report["truncated_share"] == 0.0
    assert vectorizer.coverage(["the " * 9])["truncated_share"] == 1.0


def test_coverage_curve_grows_to_one():
    counts = V.count_words(CORPUS)
    curve = V.coverage_curve(counts, [3, 4, 6, 1000])
    shares = [p["known_share"] for p in curve]
    assert shares[0] == 0.0 and shares == sorted(shares) and shares[-1] == 1.0
    assert shares[1] == counts["the"] / sum(counts.values())


def test_save_and_load(vectorizer, tmp_path):
    path = vectorizer.save(tmp_path)
    loaded = V.Vectorizer.load(tmp_path)
    assert loaded.tokens == vectorizer.tokens and loaded.max_length == 8
    assert loaded.fingerprint == vectorizer.fingerprint
    assert (loaded.encode(CORPUS) == vectorizer.encode(CORPUS)).all()
    assert not list(tmp_path.glob(".*.tmp"))
    saved = json.loads(path.read_text())
    saved["tokens"][5] = "edited"
    path.write_text(json.dumps(saved))
    with pytest.raises(ArtifactError, match="fingerprint"):
        V.Vectorizer.load(tmp_path)


def test_load_refuses_missing_damaged_and_other_formats(vectorizer, tmp_path):
    with pytest.raises(ArtifactError, match="no vocabulary at .*bertmlm vectorize"):
        V.Vectorizer.load(tmp_path)
    path = vectorizer.save(tmp_path)
    path.write_text(path.read_text()[:50])
    with pytest.raises(ArtifactError, match="damaged"):
        V.Vectorizer.load(tmp_path)
    vectorizer.save(tmp_path)
    saved = json.loads(path.read_text())
    saved["format_version"] = 99
    path.write_text(json.dumps(saved))
    with pytest.raises(ArtifactError, match="format 99"):
        V.Vectorizer.load(tmp_path)


def test_bad_vocabularies_are_refused():
    with pytest.raises(ArtifactError, match="must start with the specials"):
        V.Vectorizer(["the", "[UNK]", "[mask]"], max_length=4)
    with pytest.raises(ConfigError, match="vocab_size=3"):
        V.build_vectorizer(CORPUS, vocab_size=3, max_length=4)
    with pytest.raises(ConfigError, match="empty"):
        V.build_vectorizer([""], vocab_size=10, max_length=4)


def test_layer_is_a_keras_text_vectorization(vectorizer):
    import keras

    layer = vectorizer.layer
    assert isinstance(layer, keras.layers.TextVectorization)
    out = np.asarray(layer(np.array(["the film"])))
    assert out.shape == (1, 8) and out[0, 0] == 3


def test_load_or_build_reuses_only_a_vocabulary_built_with_the_same_settings(tiny_archive, tmp_path):
    from bertmlm_lib import config

    cfg = config.load("smoke", artifacts=tmp_path / "run", vocab_size=30, max_length=16)
    first = stages.vocabulary(cfg, tiny_archive, progress=False)
    stamp = (tmp_path / "run" / "vocabulary.json").stat().st_mtime_ns
    assert stages.vocabulary(cfg, tiny_archive, progress=False).fingerprint == first.fingerprint
    assert (tmp_path / "run" / "vocabulary.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    smaller = stages.vocabulary(cfg.replace(vocab_size=12), tiny_archive, progress=False)
    assert smaller.vocabulary_size == 12
    built_by_hand = V.build_vectorizer(["a b c"], 10, 16)
    built_by_hand.save(tmp_path / "run")  # saved without its settings: not trusted for a preset
    assert stages.vocabulary(cfg, tiny_archive, progress=False).fingerprint == first.fingerprint
    labelled_only = stages.reviews(cfg, tiny_archive, progress=False, unlabelled=False)
    assert not labelled_only.unsup.texts
    stages.build_vocabulary(cfg.replace(vocab_size=12), tiny_archive, progress=False, imdb=labelled_only)
    assert V.Vectorizer.load(tmp_path / "run").fingerprint == smaller.fingerprint  # read again, with the unlabelled
