"""WordPiece with keras-hub (`subwords.py`): learned from word counts, applied to raw text."""

import subprocess
import sys

import pytest

from bertmlm_lib import subwords, vectorize
from bertmlm_lib.errors import ArtifactError, ConfigError

# Words sharing stems, so the learner has pieces worth keeping ("watch", "##able", ...).
CORPUS = [
    "I watched it and it was watchable, the acting was good and the plot was good.",
    "Unwatchable! I stopped watching, the acting was bad and the plot was bad.",
    "A rewatchable movie: we watched it twice, watching the good parts again.",
    "The actors were bad, the actress was good, the movies were long and the movie was short.",
] * 5


@pytest.fixture(scope="module")
def counts():
    return vectorize.count_words(CORPUS)


@pytest.fixture(scope="module")
def pieces(counts):
    return subwords.build_wordpiece_vectorizer(counts, vocab_size=60, max_length=16)


def test_the_vocabulary_starts_with_the_specials_and_spells_words_in_pieces(pieces):
    assert tuple(pieces.tokens[:3]) == ("[PAD]", "[UNK]", "[mask]")
    assert pieces.vocabulary_size <= 60
    continuing = [token for token in pieces.tokens if token.startswith(subwords.CONTINUATION)]
    assert continuing, "a small vocabulary must spell words from pieces"
    assert list(pieces.is_continuation).count(True) == len(continuing)


def test_a_word_outside_the_vocabulary_is_spelled_not_unknown(pieces):
    spelled = pieces.pieces("unwatchable")
    assert "[UNK]" not in spelled and len(spelled) > 1
    assert "".join(p.removeprefix(subwords.CONTINUATION) for p in spelled) == "unwatchable"
    assert all(p.startswith(subwords.CONTINUATION) for p in spelled[1:]) and not spelled[0].startswith("##")


def test_encode_keeps_mask_and_decode_joins_the_pieces(pieces):
    text = "The acting was [MASK], unwatchable!"
    ids = pieces.encode([text])
    assert ids.shape == (1, 16) and ids.dtype.name == "int32"
    assert (ids[0] == vectorize.MASK_ID).sum() == 1
    assert pieces.decode(ids[0]) == vectorize.standardize_text(text)
    assert pieces.encode([text], length=4).shape == (1, 4), "cut after `length` pieces"


def test_a_character_never_seen_is_unknown_and_counted(pieces):
    report = pieces.coverage(["the plot was good", "the plot was ζζζ"])
    assert report["tokens"] == 8 and report["unknown_rate"] == pytest.approx(1 / 8)
    assert report["pieces_per_word"] == 1.0


def test_pieces_know_more_of_new_text_than_words_with_the_same_number_of_ids(pieces, counts):
    words = vectorize.build_vectorizer(CORPUS, pieces.vocabulary_size, 16, counts=counts)
    new_text = ["We rewatched the unwatchable movies, watching actors act badly."]
    assert pieces.coverage(new_text)["unknown_rate"] < words.coverage(new_text)["unknown_rate"]
    assert pieces.coverage(new_text)["pieces_per_word"] > 1, "the price: more tokens per word"


def test_the_fingerprint_covers_the_tokenizer(pieces):
    other = subwords.WordPieceVectorizer(pieces.tokens[:-1], 16)
    assert other.fingerprint != pieces.fingerprint
    assert pieces.fingerprint != vectorize.Vectorizer(["", *pieces.tokens[1:]], 16).fingerprint


@pytest.mark.parametrize("vocab_size, min_count, message", [
    (3, 2, "leaves no room"),
    (50, 1_000, "no word occurs 1000 times"),
])
def test_bad_settings_say_what_to_change(counts, vocab_size, min_count, message):
    with pytest.raises(ConfigError, match=message):
        subwords.learn_wordpiece(counts, vocab_size, min_count=min_count)


def test_a_word_vocabulary_and_a_piece_vocabulary_refuse_each_other(pieces):
    with pytest.raises(ArtifactError, match="must start with the specials"):
        vectorize.Vectorizer(pieces.tokens, 16)
    with pytest.raises(ArtifactError, match="must start with the specials"):
        subwords.WordPieceVectorizer(["", "[UNK]", "[mask]", "good"], 16)


def test_without_keras_hub_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # makes `import keras_hub` fail
    with pytest.raises(ConfigError, match="pip install keras-hub tensorflow-text"):
        subwords.keras_hub()


def test_importing_the_library_does_not_load_keras_hub():
    """keras-hub costs ~150 MB to import: only code that uses subwords may load it."""
    code = ("import sys, bertmlm_lib, bertmlm_lib.subwords, bertmlm_lib.hub, bertmlm_lib.stages, bertmlm_lib.tools.cli, bertmlm_lib.tools.pipeline; "
            "print('keras_hub' in sys.modules, 'tensorflow_text' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("size", [60, 8])
def test_encoding_gives_the_pieces_keras_hubs_tokenizer_gives(counts, pieces, size):
    """Encoding spells words in Python; keras-hub's `WordPieceTokenizer` and the model's `WordPieceText` layer
    (tensorflow-text's splitter) give the same ids, `[UNK]` and `[mask]` included."""
    import tensorflow as tf

    vocabulary = pieces if size == 60 else subwords.WordPieceVectorizer(pieces.tokens[:size], 16)  # letters missing
    texts = CORPUS[:4] + ["A [MASK] film, réalisé à Paris: 10/10 <br /> unwatchable-ish", "x" * 150, "ok [mask][mask]"]
    mine = vocabulary.encode(texts, length=64)
    keras_hubs = tf.function(lambda text: vocabulary.tokenizer.tokenize(vectorize.standardize(text)))  # graph: ragged out
    assert (mine == keras_hubs(tf.constant(texts)).to_tensor(shape=[None, 64]).numpy()).all()
    in_a_model = vocabulary.text_layer(64)(tf.constant(texts)).numpy()  # tensorflow-text's splitter, in the graph
    assert (mine == in_a_model).all()
    assert (mine == 1).any() and (mine == 2).any(), "the texts exercise [UNK] and [mask]"
