"""The `tokenizer` setting end to end on a tiny archive: `bertmlm run --set tokenizer=wordpiece` builds a
WordPiece vocabulary, pretrains with whole words masked, fills masks with words, fine-tunes, saves a
model on raw strings that reloads in a fresh process, and exports an instructor checkpoint that only a
WordPiece preset can import."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import python_lines

from bertmlm_lib import config, instructor, pretrain, stages, vocabularies
from bertmlm_lib.tools.export import export_checkpoint
from bertmlm_lib.checkpoints import read_checkpoint_meta
from bertmlm_lib.errors import ArtifactError, ConfigError
from bertmlm_lib.fill_mask import FillMasker
from bertmlm_lib.subwords import CONTINUATION, WordPieceText, WordPieceVectorizer
from bertmlm_lib.vectorize import FIRST_WORD_ID, MASK_ID, VOCABULARY_FILE, Vectorizer

SETTINGS = ["--set", "tokenizer=wordpiece", "--set", "whole_word_masking=true"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`bertmlm run --preset smoke` with WordPiece and whole-word masking, set from the command line."""
    from conftest import imdb_members, write_archive

    folder = tmp_path_factory.mktemp("wordpiece-run")
    archive = write_archive(folder / "aclImdb_v1.tar.gz", imdb_members())
    done = subprocess.run(
        [sys.executable, "-m", "bertmlm_lib.tools.cli", "run", "--preset", "smoke", *SETTINGS, "--data", str(archive),
         "--artifacts", str(folder / "run"), "--quiet"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "BERTMLM_CACHE": str(folder / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    cfg = config.load("smoke", artifacts=folder / "run", tokenizer="wordpiece", whole_word_masking=True)
    return cfg, archive


def test_the_run_reads_pieces_and_records_the_setting(run):
    cfg, _ = run
    vectorizer = vocabularies.load(cfg.artifacts_dir)
    assert isinstance(vectorizer, WordPieceVectorizer)
    assert json.loads((cfg.artifacts_dir / VOCABULARY_FILE).read_text())["tokenizer"] == "wordpiece"
    assert any(token.startswith(CONTINUATION) for token in vectorizer.tokens)
    assert sum(vectorizer.counts[FIRST_WORD_ID:]) > 0, "pieces keep their corpus counts"
    meta = read_checkpoint_meta(cfg.artifacts_dir / "pretrain")
    assert meta["architecture"]["tokenizer"] == "wordpiece" and meta["config"]["whole_word_masking"] is True
    report = json.loads((cfg.artifacts_dir / "report.json").read_text())
    assert report["config"]["tokenizer"] == "wordpiece"
    assert 0 <= report["classifier"]["test_accuracy"] <= 1


def test_a_word_level_reader_refuses_a_wordpiece_vocabulary(run):
    cfg, _ = run
    with pytest.raises(ArtifactError, match="holds a 'wordpiece' vocabulary, not a 'word' one"):
        Vectorizer.load(cfg.artifacts_dir)


def test_fill_mask_guesses_words_and_counts_positions_in_words(run):
    cfg, _ = run
    masker = FillMasker.from_artifacts(cfg.artifacts_dir)
    first = "actorsfilm"  # not a piece of its own: spelled from several
    assert len(masker.vectorizer.pieces(first)) > 1
    [result] = masker([f"{first} [mask] about a film"], top_k=10)
    [mask] = result["masks"]
    assert mask["position"] == 1, "the [mask] is the second word, whatever pieces the first took"
    guesses = [p["token"] for p in mask["predictions"]]
    assert len(guesses) == 10 and not any(g.startswith(CONTINUATION) for g in guesses), guesses
    assert not set(guesses) & set(masker.vectorizer.SPECIALS)
    assert np.isclose(sum(p["prob"] for p in masker([f"{first} [mask]"], top_k=10_000)[0]["masks"][0]["predictions"]), 1)
    long = f"{first} [mask] " + "film " * 70 + "[mask]"
    pieces = len(masker.vectorizer.pieces(first)) + 72
    assert masker([long])[0]["note"] == (f"only the first {cfg.max_length} of {pieces} WordPiece pieces are read; "
                                         "1 [mask] after them ignored")


def test_whole_words_are_masked_together_in_the_training_stream(run):
    cfg, _ = run
    vectorizer = vocabularies.load(cfg.artifacts_dir)
    assert pretrain.whole_words(cfg.replace(whole_word_masking=False), vectorizer) is None
    continues = pretrain.whole_words(cfg, vectorizer)
    words = ["unlabelled reviews about actorsfilm and wonderfulness"] * 40
    corpus = pretrain.prepare_corpus(words, vectorizer, cfg.replace(heldout_reviews=8))
    assert continues[corpus.train_ids].any(), "some words here are spelled in several pieces"
    train, _ = pretrain.datasets(corpus, cfg.replace(batch_size=8), vectorizer.vocabulary_size, 0, continues)
    for inputs, _ in train.take(4):
        for masked, before in zip(inputs["token_ids"].numpy(), corpus.train_ids):
            starts = np.cumsum(~continues[before])  # the word each piece belongs to
            for word in np.unique(starts[before >= FIRST_WORD_ID]):
                is_mask = masked[(starts == word) & (before >= FIRST_WORD_ID)] == MASK_ID
                assert is_mask.all() or not is_mask.any(), "a word is masked whole or not at all"


def test_the_model_on_raw_strings_reloads_in_a_fresh_process(run):
    cfg, _ = run
    from bertmlm_lib import end_to_end

    path = stages.finetuned_model_path(cfg)
    model = end_to_end.load(path)
    assert isinstance(model.get_layer("text_vectorization"), WordPieceText)
    texts = ["A wonderful film, truly great!", "Awful. The worst movie ever.", "unwatchableness " * 300]
    expected = end_to_end.predict(model, texts).tolist()
    script = ("import json, sys; from bertmlm_lib import end_to_end; "
              "m = end_to_end.load(sys.argv[1]); print(json.dumps(end_to_end.predict(m, json.loads(sys.argv[2])).tolist()))")
    done = subprocess.run([sys.executable, "-c", script, str(path), json.dumps(texts)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert np.allclose(json.loads(done.stdout.strip().splitlines()[-1]), expected, atol=1e-6)


def test_an_instructor_checkpoint_keeps_its_tokenizer(run, tmp_path):
    cfg, _ = run
    packed = tmp_path / "class.bertmlm"
    manifest = export_checkpoint(cfg.artifacts_dir, packed, command="test")
    assert manifest["config"]["tokenizer"] == "wordpiece"
    with pytest.raises(ArtifactError, match="tokenizer 'wordpiece' vs 'word'"):
        instructor.import_checkpoint(packed, config.load("smoke", artifacts=tmp_path / "word"))
    student = cfg.replace(artifacts=str(tmp_path / "student"))
    instructor.import_checkpoint(packed, student)
    imported = vocabularies.load(student.artifacts_dir)
    assert isinstance(imported, WordPieceVectorizer)
    assert imported.fingerprint == vocabularies.load(cfg.artifacts_dir).fingerprint
    model, vectorizer = instructor.load(packed)
    assert isinstance(vectorizer, WordPieceVectorizer)


def test_changing_the_tokenizer_rebuilds_the_vocabulary(tiny_archive, tmp_path):
    words = config.load("smoke", artifacts=tmp_path / "run")
    assert type(stages.vocabulary(words, tiny_archive, progress=False)) is Vectorizer
    pieces = stages.vocabulary(words.replace(tokenizer="wordpiece"), tiny_archive, progress=False)
    assert isinstance(pieces, WordPieceVectorizer)
    assert isinstance(vocabularies.load(words.artifacts_dir), WordPieceVectorizer)


def test_a_vocabulary_saved_before_the_setting_reads_as_words(tiny_archive, tmp_path):
    cfg = config.load("smoke", artifacts=tmp_path / "run")
    stages.vocabulary(cfg, tiny_archive, progress=False)
    path = cfg.artifacts_dir / VOCABULARY_FILE
    saved = json.loads(path.read_text())
    del saved["tokenizer"], saved["built_with"]["tokenizer"]
    path.write_text(json.dumps(saved))
    assert type(vocabularies.load(cfg.artifacts_dir)) is Vectorizer
    before = path.stat().st_mtime_ns
    stages.vocabulary(cfg, tiny_archive, progress=False)
    assert path.stat().st_mtime_ns == before, "an older word vocabulary of the same settings is reused"
    saved["tokenizer"] = "bytes"
    path.write_text(json.dumps(saved))
    with pytest.raises(ArtifactError, match="kind 'bytes'.*'word' or 'wordpiece'"):
        vocabularies.load(cfg.artifacts_dir)


@pytest.mark.parametrize("text, message", [
    ("tokenizer=bpe", "tokenizer must be one of 'word', 'wordpiece'"),
    ("whole_word_masking=maybe", "whole_word_masking must be true or false"),
])
def test_bad_values_are_named(text, message):
    with pytest.raises(ConfigError, match=message):
        config.parse_setting(text)
    with pytest.raises(ConfigError, match="whole_word_masking"):
        config.load("smoke", whole_word_masking="yes")


def test_the_model_on_pieces_loads_without_keras_hub_and_says_what_it_needs(run, monkeypatch):
    cfg, _ = run
    from bertmlm_lib import end_to_end

    path = str(stages.finetuned_model_path(cfg))
    script = ("import sys; sys.modules['keras_hub'] = None; from bertmlm_lib import end_to_end; "  # as if not installed
              f"m = end_to_end.load({path!r}); print(end_to_end.predict(m, ['a fine film']).shape, "
              "'keras_hub' in sys.modules and sys.modules['keras_hub'] is not None)")
    assert python_lines(script)[-1] == "(1,) False", "a saved model on pieces needs tensorflow-text, not keras-hub"
    monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # `import tensorflow_text` now fails
    with pytest.raises(ConfigError, match="reads WordPiece pieces: loading it needs tensorflow-text "
                                          r".*pip install keras-hub tensorflow-text"):
        end_to_end.load(stages.finetuned_model_path(cfg))
