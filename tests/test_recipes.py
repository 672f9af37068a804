"""Words or pieces, compared downstream (`experiments.tokenizers`): the shipped result decides the default,
and the comparison itself runs end to end on a tiny archive with the fair protocol."""

from pathlib import Path

import pytest

import matplotlib

matplotlib.use("Agg")

from bertmlm_lib import config, vocabularies  # noqa: E402
from bertmlm_lib.experiments import load_measured, tokenizers  # noqa: E402
from bertmlm_lib.tools.measure import tokenizers as measure_tokenizers  # noqa: E402
from bertmlm_lib.experiments.label_efficiency import Protocol  # noqa: E402


def test_the_default_tokenizer_is_the_measured_winner():
    shipped = load_measured("tokenizers.json")
    pretrained = {name: run for name, run in shipped["recipes"].items() if name in tokenizers.RECIPES}
    assert set(pretrained) == set(tokenizers.RECIPES)
    best = max(pretrained, key=lambda name: pretrained[name]["test_accuracy"])
    assert tokenizers.RECIPES[best][0]["tokenizer"] == config.load("workshop").tokenizer
    assert shipped["protocol"]["seeds"] >= 3 and shipped["labels"] == 1000
    for run in shipped["recipes"].values():  # every arm read the same tokens and took the same steps
        assert set(run["reads_tokens"]) == {shipped["protocol"]["classifier_length"]}
        assert len(set(run["steps"])) == 1 and run["steps"] == next(iter(shipped["recipes"].values()))["steps"]


def test_the_default_tokenizer_also_names_the_most_hidden_words():
    """`bench --quality`'s label-free yardstick (the same hidden held-out words for every model) agrees."""
    shipped = load_measured("quality_tokenizers.json")
    reads = {entry["overrides"].get("tokenizer", "word") for entry in shipped["candidates"].values()}
    assert reads == {"word", "wordpiece"}
    assert all(entry["summary"]["named_words"]["n"] >= 2 for entry in shipped["candidates"].values())
    best = max(shipped["candidates"].values(), key=lambda entry: entry["summary"]["named_words"]["mean"])
    assert best["overrides"].get("tokenizer", "word") == config.load("workshop").tokenizer
    hidden = {run["named_words"]["hidden_words"] for entry in shipped["candidates"].values()
              for run in entry["seeds"].values()}
    assert len(hidden) == 1  # one set of hidden words for every run


def test_the_instructor_model_keeps_the_size_that_learned_most_in_equal_minutes():
    """Issue 16: a second layer or a wider model, once past the plateau, in the same minutes (`quality_instructor_size.json`)."""
    shipped = load_measured("quality_instructor_size.json")
    full = config.load("full")
    assert shipped["protocol"]["minutes"] >= 10 and set(shipped["candidates"]) >= {"instructor", "instructor_2_layers",
                                                                                    "instructor_wider"}
    for entry in shipped["candidates"].values():
        assert entry["summary"]["seeds"] >= 2 and entry["summary"]["never_left_plateau"] == 0
    best = max(shipped["candidates"].values(), key=lambda entry: entry["summary"]["named_words"]["mean"])
    size = lambda overrides: (overrides["num_layers"], overrides["embed_dim"], overrides["ff_dim"])
    assert size(best["overrides"]) == (full.num_layers, full.embed_dim, full.ff_dim)


def test_the_all_label_comparison_gave_both_arms_the_same_phases():
    """Issue 16: the instructor encoder and a random one with all labels (`all_labels.json`), read in docs/measurements.md."""
    shipped = load_measured("all_labels.json")
    arms = shipped["runs"]
    assert set(arms) == {"instructor", "random"} and all(len(seeds) >= 3 for seeds in arms.values())
    phases = {tuple(run["phases"]) for seeds in arms.values() for run in seeds.values()}
    assert len(phases) == 1 and next(iter(phases))[0] == "encoder frozen"  # both arms: one frozen round, then the same epochs
    assert {run["test_reviews"] for seeds in arms.values() for run in seeds.values()} == {25_000}
    readme = (Path(__file__).resolve().parents[1] / "docs" / "measurements.md").read_text(encoding="utf-8")
    for arm in arms:
        summary = shipped["summary"][arm]
        assert f"{summary['mean']:.4f} +- {summary['sd']:.4f}" in readme


def test_the_plot_shows_every_encoder_in_both_panels():
    axes = tokenizers.plot(load_measured("tokenizers.json"))
    assert [len(ax.patches) for ax in axes] == [5, 5]
    assert [tick.get_text() for tick in axes[0].get_xticklabels()][1] == "words"


def test_the_comparison_runs_end_to_end(tiny_archive, tmp_path):
    base = config.load("smoke", pretrain_epochs=1)
    report = measure_tokenizers.compare(tmp_path / "recipes", tiny_archive, base=base, labels=8, test_reviews=8,
                                protocol=Protocol(classifier_length=64, epochs=1, frozen_steps=1, batch_size=4, seeds=1))
    assert set(report["recipes"]) == set(tokenizers.RECIPES) | {"random (word)", "random (wordpiece)"}
    for name in tokenizers.RECIPES:
        run = report["recipes"][name]
        assert run["pretraining_steps"] >= 1 and 0 <= run["test_accuracy"] <= 1 and run["reads_tokens"] == [64]
    word, pieces = report["by_tokenizer"]["word"], report["by_tokenizer"]["wordpiece"]
    assert set(pieces["runs"]) == {"random (wordpiece)", "wordpiece", "wordpiece_wwm"}, "pieces share one vocabulary"
    assert word["test_reviews"] == pieces["test_reviews"] == 8, "both kinds are scored on the same reviews"
    assert report["scored_on"] == "validation", "a choice is made on held-out train reviews, not on test"
    pieces_of = [vocabularies.load(tmp_path / "recipes" / name).fingerprint for name in ("wordpiece", "wordpiece_wwm")]
    assert pieces_of[0] == pieces_of[1], "the recipes with pieces learn one vocabulary between them"


def test_the_comparison_refuses_an_unknown_scoring_set(tmp_path):
    from bertmlm_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="scored_on='train'.*validation"):
        measure_tokenizers.compare(tmp_path, scored_on="train")
