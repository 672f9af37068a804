"""The window-count study reads validation only and reports every window count and seed."""

import json

from bertmlm_lib import config, pretrain, stages
from bertmlm_lib.tools.measure import windows

TINY = dict(vocab_size=60, max_length=16, embed_dim=16, num_heads=2, ff_dim=32, batch_size=4, pretrain_epochs=1,
            heldout_reviews=4, eval_every=4, finetune_epochs=1, frozen_steps=2)


def test_each_window_count_is_scored_on_validation(tiny_archive, tmp_path, monkeypatch):
    cfg = config.load("smoke", artifacts=tmp_path / "run", **TINY)
    vectorizer = stages.vocabulary(cfg, tiny_archive, progress=False)
    corpus = stages.pretraining_corpus(cfg, vectorizer, tiny_archive, progress=False)
    pretrain.pretrain(cfg, corpus, vectorizer, show=False)
    read = []
    real_load = stages.reviews
    monkeypatch.setattr(stages, "reviews", lambda *a, **k: read.append(k) or real_load(*a, **k))
    report = windows.measure(str(cfg.artifacts_dir), windows=(1, 2), seeds=2, data_path=tiny_archive,
                             out=tmp_path / "windows.json", preset="smoke", **TINY)
    assert [row["windows"] for row in report["rows"]] == [1, 2] and [row["tokens"] for row in report["rows"]] == [16, 32]
    assert all(len(row["runs"]) == 2 and 0 <= row["val_accuracy"] <= 1 for row in report["rows"])
    assert report["scored_on"] == "validation" and report["validation_reviews"] > 0
    assert read == [{"unlabelled": False}]  # the labelled reviews once; scoring is on the validation split
    assert json.loads((tmp_path / "windows.json").read_text()) == report


def test_the_measurements_page_shows_the_shipped_windows_table():
    """docs/measurements.md carries the study's table as the shipped JSON gives it (`windows --docs` writes it)."""
    from bertmlm_lib.experiments import load_measured
    from bertmlm_lib.tools.measure import MEASUREMENTS_PAGE

    text = windows.table(load_measured("windows.json"))
    assert text.count("\n") == 1 + len(load_measured("windows.json")["rows"])
    assert f"<!-- table:windows -->\n{text}\n" in MEASUREMENTS_PAGE.read_text(encoding="utf-8")


def test_the_workshop_preset_reads_the_window_count_chosen_on_validation():
    from bertmlm_lib.experiments import load_measured

    assert config.load("workshop").classifier_windows == windows.chosen(load_measured("windows.json"))
