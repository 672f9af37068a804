"""Instructor checkpoints: export, import (checked), a shorter preset served by a longer model, refusals."""

import json
import zipfile

import numpy as np
import pytest

from bertmlm_lib import config, instructor, pretrain, stages
from bertmlm_lib.tools import cli
from bertmlm_lib.tools.export import export_checkpoint
from bertmlm_lib.errors import ArtifactError
from bertmlm_lib.fill_mask import FillMasker
from bertmlm_lib.vectorize import Vectorizer, build_vectorizer

TEXTS = ["i have watched this movie and it was awesome", "the acting was bad and the plot was awful",
         "a good story with great acting", "this film is a waste of time"] * 20
SHAPE = dict(vocab_size=40, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16, pretrain_epochs=1,
             heldout_reviews=8, eval_every=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructor")
    cfg = config.load("smoke", artifacts=folder / "teacher", max_length=16, **SHAPE)
    vectorizer = build_vectorizer(TEXTS, cfg.vocab_size, cfg.max_length)
    vectorizer.save(cfg.artifacts_dir, cfg)
    pretrain.pretrain(cfg, pretrain.prepare_corpus(TEXTS, vectorizer, cfg), vectorizer, show=False)
    manifest = export_checkpoint(cfg.artifacts_dir, folder / "class.bertmlm", command="test")
    return cfg, folder / "class.bertmlm", manifest


def test_export_then_import_gives_the_same_predictions(exported, tmp_path):
    teacher, file, manifest = exported
    assert manifest["provenance"]["steps"] >= 1 and manifest["provenance"]["heldout"]["masked_accuracy"] >= 0
    assert file.stat().st_size < 20 * 2**20
    learner = config.load("smoke", artifacts=tmp_path / "learner", max_length=16, **SHAPE)
    instructor.import_checkpoint(file, learner)
    text = ["the acting was [mask] and the plot was awful"]
    theirs = FillMasker.from_artifacts(teacher.artifacts_dir)(text)[0]["masks"][0]["predictions"]
    mine = FillMasker.from_artifacts(learner.artifacts_dir)(text)[0]["masks"][0]["predictions"]
    assert [p["token"] for p in mine] == [p["token"] for p in theirs]
    assert np.allclose([p["prob"] for p in mine], [p["prob"] for p in theirs], atol=1e-5)
    assert Vectorizer.load(learner.artifacts_dir).fingerprint == manifest["vocabulary_sha256"]


def test_a_shorter_preset_keeps_the_first_positions_and_can_keep_training(exported, tmp_path):
    _, file, _ = exported
    short = config.load("smoke", artifacts=tmp_path / "short", max_length=8, **SHAPE)
    instructor.import_checkpoint(file, short)
    assert Vectorizer.load(short.artifacts_dir).max_length == 8
    vectorizer = Vectorizer.load(short.artifacts_dir)
    _, result = pretrain.pretrain(short, pretrain.prepare_corpus(TEXTS, vectorizer, short), vectorizer, resume=True,
                                  show=False)
    assert result.steps >= 1  # the imported model trains on with a fresh optimizer


def test_refusals_name_the_problem(exported, tmp_path):
    _, file, manifest = exported
    with pytest.raises(ArtifactError, match=r"does not fit preset 'smoke' \(embed_dim 16 vs 32"):
        instructor.import_checkpoint(file, config.load("smoke", artifacts=tmp_path / "a", max_length=16,
                                                       **{**SHAPE, "embed_dim": 32}))
    with pytest.raises(ArtifactError, match="max_length 16 < 32"):
        instructor.import_checkpoint(file, config.load("smoke", artifacts=tmp_path / "b", max_length=32, **SHAPE))
    other = config.load("smoke", artifacts=tmp_path / "c", max_length=16, **SHAPE)
    build_vectorizer(["completely different words here"] * 3, 40, 16).save(other.artifacts_dir)
    before = (other.artifacts_dir / "vocabulary.json").read_bytes()
    with pytest.raises(ArtifactError, match="vocabulary mismatch: .* already holds another vocabulary"):
        instructor.import_checkpoint(file, other)
    assert (other.artifacts_dir / "vocabulary.json").read_bytes() == before  # nothing overwritten
    for version in (instructor.FORMAT_VERSION - 1, instructor.FORMAT_VERSION + 1):  # older (keras-hub layers), newer
        other_version = tmp_path / f"version{version}.bertmlm"
        with zipfile.ZipFile(file) as old, zipfile.ZipFile(other_version, "w") as new:
            for item in old.infolist():
                payload = old.read(item.filename)
                if item.filename == "manifest.json":
                    payload = json.dumps({**manifest, "format_version": version}).encode()
                new.writestr(item, payload)
        with pytest.raises(ArtifactError, match=f"format version {version}; this library reads version "
                                                f"{instructor.FORMAT_VERSION}: export it again"):
            instructor.import_checkpoint(other_version, config.load("smoke", artifacts=tmp_path / f"d{version}",
                                                                    max_length=16, **SHAPE))
    (tmp_path / "junk.bertmlm").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="not a bertmlm checkpoint or is damaged"):
        instructor.read_manifest(tmp_path / "junk.bertmlm")


def test_cli_export_and_import_round_trip_and_refusal(exported, tmp_path, capsys):
    teacher, _, _ = exported
    out = tmp_path / "cli.bertmlm"
    assert cli.main(["export", "--artifacts", str(teacher.artifacts_dir), "-o", str(out)]) == 0
    assert "exported" in capsys.readouterr().out and out.is_file()
    code = cli.main(["import", str(out), "--preset", "smoke", "--artifacts", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not fit preset 'smoke'" in err  # smoke is vocab 2,000


def test_the_shipped_checkpoint_serves_the_workshop_preset(tmp_path, capsys):
    """Lessons 06-07 start from the shipped model when the learner has not pretrained: it must load,
    shortened to the workshop's 128 tokens, and it must know its probe."""
    manifest = instructor.read_manifest(instructor.SHIPPED)
    assert instructor.SHIPPED.stat().st_size < 20 * 2**20
    assert {"command", "commit", "minutes", "heldout"} <= set(manifest["provenance"])
    cfg = config.load("workshop", artifacts=tmp_path / "learner")
    with zipfile.ZipFile(instructor.SHIPPED) as pack:
        saved = json.loads(pack.read("vocabulary.json"))
    vectorizer = Vectorizer(saved["tokens"], cfg.max_length, saved["counts"])
    assert instructor.shipped_fits(cfg, vectorizer) and not instructor.shipped_fits(config.load("smoke"))
    assert instructor.shipped_problems(cfg, vectorizer) == []
    other = Vectorizer(saved["tokens"][:-1], cfg.max_length)
    assert instructor.shipped_problems(cfg, other) == ["its vocabulary is not this one"]
    assert any(p.startswith("vocab_size") for p in instructor.shipped_problems(config.load("smoke")))
    encoder = stages.pretrained_encoder(cfg, vectorizer)
    assert "no pretrained encoder in" in (said := capsys.readouterr().out) and "using the instructor's model" in said
    assert encoder(np.zeros((1, cfg.max_length), "int32")).shape == (1, cfg.max_length, cfg.embed_dim)
    top = FillMasker.from_artifacts(cfg.artifacts_dir)("i have watched this [mask] and it was awesome")
    assert top[0]["masks"][0]["predictions"][0]["token"] in ("movie", "film")


def test_a_damaged_encoder_is_an_error_not_a_quiet_fallback(tmp_path):
    """The instructor's model stands in only when there is no encoder at all; a damaged one is reported."""
    cfg = config.load("workshop", artifacts=tmp_path / "learner")
    with zipfile.ZipFile(instructor.SHIPPED) as pack:
        saved = json.loads(pack.read("vocabulary.json"))
    vectorizer = Vectorizer(saved["tokens"], cfg.max_length, saved["counts"])
    stages.pretrained_encoder(cfg, vectorizer)  # unpacks the instructor's model
    (cfg.artifacts_dir / "pretrain" / "encoder.keras").write_bytes(b"damaged")
    with pytest.raises(ArtifactError, match="encoder.keras cannot be read"):
        stages.pretrained_encoder(cfg, vectorizer)
