"""On Colab each notebook gets a fresh machine: with Google Drive mounted, the lessons keep the data and
their artifacts there, so lesson 06 finds the model lesson 05 pretrained."""
import sys
import types

import bertmlm_lib
from bertmlm_lib import config


def _on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.delenv("BERTMLM_CACHE", raising=False)
    monkeypatch.delenv("BERTMLM_ARTIFACTS", raising=False)


def test_on_colab_with_drive_mounted_the_work_goes_to_drive(monkeypatch, tmp_path):
    _on_colab(monkeypatch)
    kept = bertmlm_lib.keep_on_drive(tmp_path)
    assert kept == tmp_path / "bertmlm" and kept.is_dir()
    assert config.cache_root() == kept
    assert config.load("workshop").artifacts_dir.is_relative_to(kept), "the next notebook looks there too"


def test_without_drive_or_off_colab_nothing_moves(monkeypatch, tmp_path):
    _on_colab(monkeypatch)
    assert bertmlm_lib.keep_on_drive(tmp_path / "not-mounted") is None
    monkeypatch.delitem(sys.modules, "google.colab")
    assert bertmlm_lib.keep_on_drive(tmp_path) is None
    assert not (tmp_path / "bertmlm").exists()


def test_a_cache_the_learner_chose_wins(monkeypatch, tmp_path):
    _on_colab(monkeypatch)
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "mine"))
    assert bertmlm_lib.keep_on_drive(tmp_path) is None
    assert config.cache_root() == tmp_path / "mine"


def test_start_lesson_on_colab_says_how_to_keep_the_model(monkeypatch, tmp_path, capsys):
    _on_colab(monkeypatch)
    monkeypatch.setattr(bertmlm_lib, "COLAB_DRIVE", tmp_path / "not-mounted")
    bertmlm_lib.start_lesson()
    assert "mount Google Drive" in capsys.readouterr().out
    monkeypatch.setattr(bertmlm_lib, "COLAB_DRIVE", tmp_path)
    cfg = bertmlm_lib.start_lesson()
    assert "Google Drive: data and artifacts kept in" in capsys.readouterr().out
    assert cfg.artifacts_dir.is_relative_to(tmp_path / "bertmlm")
