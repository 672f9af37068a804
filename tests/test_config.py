import dataclasses

import numpy as np
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
    with pytest.raises(ConfigError, match="unknown config setting.*vocab_sise.*did you mean vocab_size"):
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
    from bertmlm_lib.experiments import quality

    cfg = config.load("workshop")
    winner = quality.CANDIDATES[quality.WORKSHOP_RECIPE][1]
    assert {k: getattr(cfg, k) for k in winner} == winner
    assert config.load("full").position_encoding == cfg.position_encoding == "rope"
    _, seconds = config.cadence(cfg.eval_every)
    assert seconds and 120 / seconds >= 8  # a readable curve in the 2-minute lesson


def test_every_setting_belongs_to_exactly_one_group():
    import collections
    import dataclasses

    names = [f.name for f in dataclasses.fields(config.Config)]
    grouped = collections.Counter(config.fields_of(*config.FIELD_GROUPS))
    assert sorted(set(names) - set(grouped)) == [], "add the new setting to one group of config.FIELD_GROUPS"
    assert sorted(set(grouped) - set(names)) == []
    assert [name for name, count in grouped.items() if count > 1] == []


def test_lists_of_settings_come_from_the_groups():
    """What a vocabulary, a checkpoint, an instructor import and a stage key compare follows the groups."""
    from bertmlm_lib import checkpoints, instructor, model, vectorize
    from bertmlm_lib.tools import pipeline

    assert vectorize.VOCABULARY_FIELDS == config.fields_of("vocabulary", "data")
    assert checkpoints.ARCHITECTURE_FIELDS == config.fields_of("vocabulary", "model")
    assert set(instructor.MUST_MATCH) == {"tokenizer", "vocab_size", *config.fields_of("model")}
    assert set(model.ENCODER_SETTINGS) == {"max_length", "dropout", *config.fields_of("model")}
    staged = [name for fields in pipeline.STAGE_FIELDS.values() for name in fields]
    assert sorted(staged) == sorted(set(config.fields_of(*config.FIELD_GROUPS)) - set(config.FIELD_GROUPS["running"]))


@pytest.mark.parametrize("name", sorted(config.CHOICES))
def test_a_choice_outside_its_literal_is_refused_with_the_choices(name):
    choices = config.CHOICES[name]
    assert config.load("smoke", **{name: choices[-1]}).replace(**{name: choices[0]})
    with pytest.raises(ConfigError, match=f"{name}='nonsense' is invalid: it must be " + " or ".join(map(repr, choices))):
        config.load("smoke", **{name: "nonsense"})


def test_config_and_masking_share_one_rule_for_the_mask_rate():
    from bertmlm_lib import masking

    for rate in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="mask_rate"):
            config.load("smoke", mask_rate=rate)
        with pytest.raises(ValueError, match="mask_rate must be between 0 and 1"):
            masking.mask_numpy(np.ones((1, 8), dtype=np.int32) * 5, seed=0, vocabulary_size=10, mask_rate=rate)
    assert config.load("smoke", mask_rate=0.4).mask_rate == 0.4


def test_a_setting_from_the_command_line_gets_the_type_of_its_field():
    typed = dict(config.parse_setting(text) for text in (
        "mask_rate=0.25", "num_layers=2", "pre_layer_norm=yes", "short_length=none", "label_sizes=500, 1000",
        "schedule=linear", "eval_every=15s", "jit_compile=false"))
    assert typed == {"mask_rate": 0.25, "num_layers": 2, "pre_layer_norm": True, "short_length": None,
                     "label_sizes": (500, 1000), "schedule": "linear", "eval_every": "15s", "jit_compile": False}
    assert all(type(value) is type(getattr(config.load("workshop"), name)) or value is None
               for name, value in typed.items())
    assert config.load("smoke", **typed).label_sizes == (500, 1000)
    with pytest.raises(ConfigError, match="mask_rate must be a number"):
        config.parse_setting("mask_rate=lots")
    with pytest.raises(ConfigError, match="short_length must be a whole number"):
        config.parse_setting("short_length=6.4")


def test_a_config_saved_with_two_evaluation_settings_loads_as_one():
    """Before `eval_every` took seconds too, a config saved the period as two settings."""
    old = config.load("workshop").to_dict()
    old.pop("eval_every")
    assert config.from_dict({**old, "eval_every": 1000, "eval_every_seconds": 15.0}).eval_every == "15s"
    assert config.from_dict({**old, "eval_every": 1000, "eval_every_seconds": None}).eval_every == 1000
    assert config.load("smoke", eval_every="40").eval_every == 40  # a number from the command line is steps
    with pytest.raises(ConfigError, match=r'eval_every=.*"15s"'):
        config.load("smoke", eval_every="15 minutes")
