"""Asking the MLM itself (`bertmlm_lib/cloze.py`): the question's layout, the verbalizer, calibration,
few-shot training through the head and the model on raw strings, on a tiny real Keras MLM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bertmlm_lib import cloze, config
from bertmlm_lib.errors import ConfigError, TextError
from bertmlm_lib.model import build_pretraining_model
from bertmlm_lib.subwords import WordPieceVectorizer
from bertmlm_lib.vectorize import MASK_ID, Vectorizer

WORDS = ["", "[UNK]", "[mask]", "the", "movie", "was", "all", "in", "good", "bad", "great", "awful", "a", "film",
         "plot", "it", "loved", "hated", "boring", "fun"]
PROMPT = cloze.Prompt("{review} . all in all the movie was [mask] .", (("bad", "awful"), ("good", "great")))


@pytest.fixture(scope="module")
def vectorizer():
    return Vectorizer(WORDS, max_length=12)


@pytest.fixture()
def mlm(vectorizer):
    import keras

    keras.utils.set_random_seed(0)
    return build_pretraining_model(config.load("smoke"), vectorizer.vocabulary_size)


def test_the_mask_is_never_cut_off_and_the_review_keeps_its_end(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    long_review = " ".join(["plot"] * 30 + ["loved", "it"])
    ids, positions = asked.questions(["a fun film", long_review])
    assert ids.shape == (2, 12)
    assert ids[np.arange(2), positions].tolist() == [MASK_ID, MASK_ID]
    assert vectorizer.decode(ids[0]) == "a fun film all in all the movie was [mask]"
    # 12 tokens, 7 of them the question: the review's last 5 words are kept
    assert vectorizer.decode(ids[1]) == "plot plot plot loved it all in all the movie was [mask]"
    start = cloze.Cloze(mlm, vectorizer, cloze.Prompt(PROMPT.template, PROMPT.verbalizer, keep="start"))
    assert start.vectorizer.decode(start.questions([long_review])[0][0]).startswith("plot plot plot plot plot all")


def test_a_mask_before_the_review_stays_where_the_template_puts_it(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, cloze.Prompt("it was [mask] . {review}", PROMPT.verbalizer))
    ids, positions = asked.questions(["loved it", " ".join(["plot"] * 40)])
    assert positions.tolist() == [2, 2]
    assert vectorizer.decode(ids[0]) == "it was [mask] loved it"
    assert (ids[1] != 0).sum() == 12


@pytest.mark.parametrize("template, problem", [("all in all it was [mask]", "{review} exactly once"),
                                               ("{review} it was good", "0 [mask]s"),
                                               ("[mask] {review} [mask]", "2 [mask]s")])
def test_a_template_needs_one_review_slot_and_one_mask(template, problem):
    with pytest.raises(TextError, match=problem.replace("[", r"\[").replace("{", r"\{").replace("}", r"\}")):
        cloze.Prompt(template)


def test_a_verbalizer_word_the_vocabulary_lacks_is_a_clear_error(mlm, vectorizer):
    with pytest.raises(TextError, match="'superb' is not one token of this vocabulary \\(the vocabulary does not hold it"):
        cloze.Cloze(mlm, vectorizer, cloze.Prompt(PROMPT.template, (("bad",), ("good", "superb"))))
    with pytest.raises(TextError, match="one word to two classes"):
        cloze.Cloze(mlm, vectorizer, cloze.Prompt(PROMPT.template, (("bad", "good"), ("good",))))
    with pytest.raises(TextError, match="for each of 2 or more classes"):
        cloze.Prompt(PROMPT.template, ("bad", "good"))


def test_with_pieces_a_verbalizer_word_must_be_one_whole_piece():
    pieces = WordPieceVectorizer(["[PAD]", "[UNK]", "[mask]", "good", "bad", "film", "un", "##watch", "##able",
                                  "the", "movie", "was", "all", "in"], 12)
    model = build_pretraining_model(config.load("smoke"), pieces.vocabulary_size)
    with pytest.raises(TextError, match="'unwatchable' is not one token .* \\(it is 3 WordPiece pieces"):
        cloze.Cloze(model, pieces, cloze.Prompt(PROMPT.template, (("bad", "unwatchable"), ("good",))))
    asked = cloze.Cloze(model, pieces, cloze.Prompt(PROMPT.template, (("bad",), ("good",))))
    ids, positions = asked.questions(["unwatchable film"])
    assert ids[0, positions[0]] == MASK_ID and asked.raw_scores(["unwatchable film"]).shape == (1, 2)


def test_scores_are_the_log_probability_of_each_class_words_at_the_mask(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    texts = ["loved it", "hated it, boring"]
    log_probs = asked.mask_log_probs(texts)
    assert np.allclose(np.exp(log_probs).sum(axis=1), 1.0, atol=1e-5)
    good, great, bad, awful = (vectorizer.id_of(w) for w in ("good", "great", "bad", "awful"))
    expected = np.log(np.stack([np.exp(log_probs[:, bad]) + np.exp(log_probs[:, awful]),
                                np.exp(log_probs[:, good]) + np.exp(log_probs[:, great])], axis=1))
    assert np.allclose(asked.raw_scores(texts), expected, atol=1e-5)


def test_calibration_reads_unlabelled_texts_only_and_centres_each_class(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    unlabelled = ["a film", "the plot", "fun movie", "it was boring", "loved the film", "hated the plot"]
    raw = asked.raw_scores(unlabelled)
    asked.calibrate(unlabelled)  # no labels can be passed: the signature has none
    assert np.allclose(asked.offset, raw.mean(axis=0)) and asked.calibration == "unlabelled"
    assert np.allclose(asked.scores(unlabelled).mean(axis=0), 0.0, atol=1e-6)
    asked.calibrate(method="content_free")
    assert np.allclose(asked.offset, asked.raw_scores(list(cloze.CONTENT_FREE)).mean(axis=0))
    with pytest.raises(Exception, match="choose 'unlabelled', 'content_free' or 'none'"):
        asked.calibrate(unlabelled, "test_labels")


def test_few_shot_trains_through_the_head_for_the_steps_the_other_arms_take(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    texts = ["loved it good fun", "great film loved it", "good movie fun", "hated it bad", "awful boring plot",
             "bad film hated"] * 3
    labels = [1, 1, 1, 0, 0, 0] * 3
    before = asked.raw_scores(texts)
    result = cloze.few_shot(asked, texts, labels, texts, labels, rate=3e-3, epochs=6, batch_size=4, seed=1)
    assert result.steps == math.ceil(18 / 4) * 6  # what the curve's arms take: epochs x batches
    assert [h["epoch"] for h in result.history] == [2, 3, 4, 6]  # 4 evaluations, evenly spaced, the last included
    assert result.val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert result.val_accuracy == 1.0
    assert not np.allclose(before, asked.raw_scores(texts))  # the MLM itself was trained
    assert asked.accuracy(texts, labels) == result.val_accuracy  # the best epoch's weights are the ones kept


def test_few_shot_starts_from_the_calibrated_question_and_keeps_its_offset(mlm, vectorizer):
    asked = cloze.Cloze(mlm, vectorizer, PROMPT).calibrate(["a film", "the plot", "boring movie"])
    offset = asked.offset.copy()
    first = asked.classifier()  # what training starts from: the calibrated scores
    ids, positions = asked.questions(["loved it", "hated it"])
    assert np.allclose(np.asarray(first({"token_ids": ids, "mask_positions": positions})), asked.scores(["loved it", "hated it"]),
                       atol=1e-5)
    cloze.few_shot(asked, ["good fun", "bad plot"] * 4, [1, 0] * 4, ["good"], [1], epochs=2, batch_size=4)
    assert np.array_equal(asked.offset, offset) and asked.calibration == "unlabelled"
    twin = cloze.Cloze(mlm, vectorizer, PROMPT).calibrate_like(asked)
    assert np.array_equal(twin.offset, offset) and twin.calibration == "unlabelled"
    other = cloze.Cloze(mlm, vectorizer, cloze.Prompt(PROMPT.template, (("bad",), ("good",))))
    with pytest.raises(ConfigError, match="different verbalizers"):
        other.calibrate_like(asked)


def test_few_shot_counts_real_optimizer_steps(mlm, vectorizer):
    import keras

    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    seen = []
    original = keras.Model.compile

    def spy(self, *args, **kwargs):
        seen.append(kwargs["optimizer"])
        return original(self, *args, **kwargs)

    keras.Model.compile = spy
    try:
        result = cloze.few_shot(asked, ["good"] * 10, [1] * 10, ["bad"], [0], epochs=3, batch_size=4)
    finally:
        keras.Model.compile = original
    assert int(seen[0].iterations) == result.steps == 9


def test_the_model_on_raw_strings_gives_the_calibrated_answer_and_reloads(mlm, vectorizer, tmp_path):
    import keras

    asked = cloze.Cloze(mlm, vectorizer, PROMPT).calibrate(["a film", "the plot", "boring movie"])
    texts = ["loved it, a good fun film", " ".join(["plot"] * 50 + ["awful"])]
    expected = np.asarray(keras.ops.softmax(asked.scores(texts)))
    model = asked.end_to_end()
    import tensorflow as tf

    assert np.allclose(model.predict(tf.constant(texts), verbose=0), expected, atol=1e-5)
    model.save(tmp_path / "cloze.keras")
    again = keras.saving.load_model(tmp_path / "cloze.keras", safe_mode=True)
    assert np.allclose(again.predict(tf.constant(texts), verbose=0), expected, atol=1e-5)


def test_answer_and_its_rendering_show_what_the_model_would_write(mlm, vectorizer):
    from bertmlm_lib.widgets.cloze import render_cloze

    asked = cloze.Cloze(mlm, vectorizer, PROMPT).calibrate(["a film", "the plot"])
    answer = asked.answer(["loved it"], top_k=3)[0]
    log_probs = asked.mask_log_probs(["loved it"])[0]
    assert [round(p, 6) for _, p in answer["top"]] == [round(p, 6) for p in sorted(np.exp(log_probs), reverse=True)[:3]]
    assert np.isclose(answer["words"][1]["prob"], np.exp(log_probs[vectorizer.id_of("good")]) +
                      np.exp(log_probs[vectorizer.id_of("great")]))
    assert answer["label"] == int(asked.predict(["loved it"])[0]) and np.isclose(sum(answer["class_probs"]), 1.0)
    html = render_cloze("loved it all in all the movie was [mask]", {"yours": answer, "<b>": answer})
    assert html.count('class="bertmlm-cloze-model"') == 2 and "&lt;b&gt;" in html
    assert f'data-prob="{answer["words"][0]["prob"]:.6f}"' in html
    assert f'data-label="{answer["label"]}"' in html


def test_predict_zero_shot_on_the_command_line(tmp_path, capsys):
    """The shipped instructor's MLM, asked from the command line; calibrated on a file of unlabelled reviews."""
    import json

    from bertmlm_lib.tools import cli

    texts = ["a wonderful film, i loved every minute of it", "boring and far too long, the plot made no sense"]
    assert cli.main(["predict", "--zero-shot", "--instructor", "--json", *texts]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in results] == ["pos", "neg"]
    assert all(set(r) == {"text", "label", "prob_pos", "words"} and 0 < r["words"]["pos"] < 1 for r in results)
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("\n".join(["a film", "the plot was long", "an actor in a movie", "it ended"]))
    assert cli.main(["predict", "--zero-shot", "--instructor", "--calibrate-on", str(unlabelled), texts[0]]) == 0
    out = capsys.readouterr().out
    assert f"calibrated on {unlabelled}" in out and out.strip().splitlines()[-1].startswith("pos")
    assert cli.main(["predict", "--instructor", texts[0]]) == 2
    assert "go with --zero-shot" in capsys.readouterr().err


def test_the_library_asks_the_question_chosen_on_validation():
    """The default prompt is the one the shipped study chose on validation reviews (never on test)."""
    from bertmlm_lib.experiments import cloze as shipped, load_measured
    from bertmlm_lib.tools.measure import cloze as study

    measured = load_measured("cloze.json")["instructor"]
    chosen = measured["chosen"]
    assert measured["candidates"][0] == chosen and all(r["val_accuracy"] <= chosen["val_accuracy"] for r in measured["candidates"])
    assert study.prompt_of(chosen) == cloze.Prompt() and chosen["calibration"] == "unlabelled"
    assert measured["zero_shot"]["test_reviews"] == 25_000
    assert "instructor" in shipped.summary(load_measured("cloze.json"))


def test_few_shot_takes_the_curves_steps_and_never_fewer_than_the_floor():
    from bertmlm_lib.experiments.cloze import MIN_STEPS, epochs_for

    assert epochs_for(500, 32) * math.ceil(500 / 32) == 64  # the label-efficiency curve's 4 epochs
    assert epochs_for(1000, 32) == 4
    assert epochs_for(32, 32) * 1 >= MIN_STEPS and epochs_for(100, 32) * 4 >= MIN_STEPS


def test_review_vector_spread_and_the_rate_chosen_on_validation():
    from bertmlm_lib.tools.measure.why_finetuning import chosen, review_vector_spread

    same = review_vector_spread(np.ones((5, 4)) + np.random.default_rng(0).normal(0, 1e-3, (5, 4)))
    apart = review_vector_spread(np.random.default_rng(1).normal(0, 1, (200, 16)))
    assert same["mean_cosine"] > 0.99 and same["varying_share"] < 0.01
    assert abs(apart["mean_cosine"]) < 0.1 and apart["varying_share"] > 0.9
    rows = [{"rate": 1e-3, "val_accuracy": 0.7, "test_accuracy": 0.68}, {"rate": 3e-3, "val_accuracy": 0.8, "test_accuracy": 0.75},
            {"rate": 1e-2, "val_accuracy": 0.9, "test_accuracy": 0.6}]
    assert chosen(rows, (1e-3, 3e-3)) == 0.75 and chosen(rows, (1e-3, 3e-3, 1e-2)) == 0.6  # validation decides, not test


def test_shrinking_the_mlms_word_vectors_keeps_every_answer(mlm, vectorizer):
    words = mlm.encoder.get_layer("embeddings").token_embedding.embeddings
    words.assign(np.asarray(words) * 6.0)
    asked = cloze.Cloze(mlm, vectorizer, PROMPT)
    texts = ["loved it, a good fun film", "hated the plot"]
    before = asked.mask_log_probs(texts)
    factor = cloze.shrink_word_vectors(mlm)
    assert factor < 0.5 and np.allclose(asked.mask_log_probs(texts), before, atol=1e-3)


def test_the_measurements_page_shows_the_shipped_tables():
    """docs/measurements.md carries the cloze study's tables as the shipped JSON gives them."""
    from bertmlm_lib import experiments
    from bertmlm_lib.tools.measure import cloze as study

    page = study.DOCS.read_text(encoding="utf-8")
    tables = study.docs_tables(experiments.load_measured("cloze.json"), experiments.load_measured("why_finetuning.json"))
    assert "cloze" in tables
    for name, text in tables.items():
        assert f"<!-- table:{name} -->\n{text}\n" in page, name


def test_every_part_of_the_study_draws_the_same_labelled_reviews_whatever_sizes_it_runs():
    """A nested subset depends on the largest size drawn: a run of fewer sizes must still get the curve's."""
    from bertmlm_lib.tools.measure.cloze import curve_sizes
    from bertmlm_lib.experiments.label_efficiency import nested_subsets

    cfg = config.load("workshop")
    labels = np.array([0, 1] * 1500)
    few = nested_subsets(labels, curve_sizes((32, 100), cfg), 7)
    all_of_them = nested_subsets(labels, curve_sizes((32, 100, 500, 1000), cfg), 7)
    assert all((few[n] == all_of_them[n]).all() for n in (32, 100))
    assert not (nested_subsets(labels, [32, 100], 7)[32] == all_of_them[32]).all()  # what went wrong without it
