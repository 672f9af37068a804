import dataclasses

import pytest

from bertmlm_lib import config
from bertmlm_lib.errors import ConfigError


def test_presets_are_frozen_and_named():
    cfg = config.load("smoke")
    assert cfg.preset == "smoke"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vocab_size = 10


def test_full_preset_keeps_the_reference_model_and_lists_each_departure():
    cfg = config.load("full")
    assert (cfg.max_length, cfg.embed_dim, cfg.num_heads, cfg.ff_dim, cfg.num_layers, cfg.batch_size) == (
        256, 128, 8, 128, 1, 32)
    assert set(config.FULL_PRESET_DEPARTURES) >= {"recipe", "labels", "pretraining corpus", "validation"}
    assert str(cfg.vocab_size) in config.FULL_PRESET_DEPARTURES["recipe"].replace(",", "")


def test_presets_learn_short_reviews_first():
    for name in ("workshop", "full"):
        cfg = config.load(name)
        assert cfg.short_length == 64 < cfg.max_length and 0 < cfg.short_share < 1 and cfg.pretrain_minutes


def test_environment_chooses_the_preset_and_argument_wins(monkeypatch):
    monkeypatch.setenv("BERTMLM_PRESET", "smoke")
    assert config.load().preset == "smoke"
    assert config.load("full").preset == "full"
    monkeypatch.delenv("BERTMLM_PRESET")
    assert config.load().preset == config.DEFAULT_PRESET == "workshop"


def test_overrides_apply_and_are_checked():
    assert config.load("smoke", vocab_size=500, seed=3).vocab_size == 500
    with pytest.raises(ConfigError, match="unknown config setting.*vocab_sise"):
        config.load("smoke", vocab_sise=500)
    with pytest.raises(ConfigError, match="num_heads=3 .*divisor of embed_dim=32"):
        config.load("smoke", num_heads=3)
    with pytest.raises(ConfigError, match="mask_rate"):
        config.load("smoke", mask_rate=1.5)
    with pytest.raises(ConfigError, match="random_token_share"):
        config.load("smoke", mask_token_share=0.9, random_token_share=0.2)
    with pytest.raises(ConfigError, match="train_reviews"):
        config.load("smoke", train_reviews=0)
    with pytest.raises(ConfigError, match="vocab_size"):
        config.load("smoke", vocab_size=3)


def test_unknown_preset_names_the_choices(monkeypatch):
    with pytest.raises(ConfigError, match="unknown preset 'tiny'; choose one of: smoke, workshop, full"):
        config.load("tiny")
    monkeypatch.setenv("BERTMLM_PRESET", "tiny")
    with pytest.raises(ConfigError, match="from BERTMLM_PRESET"):
        config.load()


def test_artifacts_folder_argument_then_environment_then_cache(tmp_path, monkeypatch):
    assert config.load("smoke", artifacts=tmp_path / "a").artifacts_dir == tmp_path / "a"
    monkeypatch.setenv("BERTMLM_ARTIFACTS", str(tmp_path / "b"))
    assert config.load("smoke").artifacts_dir == tmp_path / "b"
    monkeypatch.delenv("BERTMLM_ARTIFACTS")
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "c"))
    assert config.load("smoke").artifacts_dir == tmp_path / "c" / "artifacts" / "smoke"
    assert config.load("full").artifacts_dir == tmp_path / "c" / "artifacts" / "full"


def test_replace_keeps_checks():
    cfg = config.load("smoke")
    assert cfg.replace(max_length=32).max_length == 32
    with pytest.raises(ConfigError):
        cfg.replace(batch_size=0)
    assert cfg.to_dict()["preset"] == "smoke"


def test_workshop_preset_is_the_measured_winner_of_the_recipe_benchmark():
    """The workshop preset trains exactly as the candidate the README and lesson 05 report as the winner."""
    from bertmlm_lib import quality

    cfg = config.load("workshop")
    winner = quality.CANDIDATES[quality.WORKSHOP_RECIPE][1]
    assert {k: getattr(cfg, k) for k in winner} == winner
    assert config.load("full").position_encoding == cfg.position_encoding == "rope"
    assert cfg.eval_every_seconds and 120 / cfg.eval_every_seconds >= 8  # a readable curve in the 2-minute lesson
