"""The time-lapse of a pretraining run: the MLM kept at every held-out evaluation, thinned to a few, and a
widget whose view at each moment is what that moment's MLM says (real Keras training on a tiny corpus)."""

import numpy as np
import pytest

from bertmlm_lib import checkpoints, config, pretrain
from bertmlm_lib.errors import ArtifactError
from bertmlm_lib.fill_mask import FillMasker, PROBES
from bertmlm_lib.vectorize import build_vectorizer
from bertmlm_lib.widgets.time_lapse import TimeLapse, render_moment, time_lapse_widget

SENTENCES = ["i have watched this movie and it was awesome", "the acting was bad and the plot was awful",
             "a good story with great acting", "this film is a waste of time"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A fresh pretraining run that evaluates every 4 steps, as lesson 05's `pretrain` runs it."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(SENTENCES, size=rng.integers(1, 3))) for _ in range(160)]
    cfg = config.load("smoke", artifacts=tmp_path_factory.mktemp("lapse") / "run", vocab_size=40, max_length=16,
                      embed_dim=16, num_heads=2, ff_dim=32, batch_size=16, pretrain_epochs=2, heldout_reviews=16,
                      eval_every=4, checkpoint_minutes=60.0, learning_rate=3e-3, jit_compile=False)
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    vectorizer.save(cfg.artifacts_dir)
    model, result = pretrain.pretrain(cfg, pretrain.prepare_corpus(texts, vectorizer, cfg), vectorizer, show=False)
    return cfg, model, result


def test_every_evaluation_keeps_a_moment_with_its_heldout_accuracy(run):
    cfg, _, result = run
    moments = checkpoints.read_moments(cfg.artifacts_dir)
    evaluated = {row["step"]: row["val_masked_accuracy"] for row in result.history}
    assert len(evaluated) <= checkpoints.MOMENTS_KEPT, "this run is short enough to keep every evaluation"
    assert {m["step"]: m["masked_accuracy"] for m in moments} == evaluated
    assert moments[0]["step"] == 0 and moments[-1]["step"] == result.steps


def test_a_long_run_keeps_few_moments_spread_over_it(run, tmp_path):
    _, model, _ = run
    for step in range(0, 210, 10):
        kept = checkpoints.save_moment(model, tmp_path, step, 0.1, keep=5)
    steps = [m["step"] for m in kept]
    assert len(steps) == 5 and steps[0] == 0 and steps[-1] == 200, "the start and the latest moment stay"
    assert max(np.diff(steps)) <= 2 * 200 / 4, f"spread over the run, not bunched: {steps}"
    on_disk = sorted(p.name for p in (tmp_path / "snapshots" / "moments").glob("*.npz"))
    assert on_disk == [f"step_{m['step']:06d}.npz" for m in kept], "a dropped moment's file goes too"


def test_a_fresh_run_forgets_the_moments_of_an_earlier_one(run, tmp_path):
    _, model, _ = run
    clock = pretrain.TrainingClock()
    for step in (0, 50, 100):
        pretrain.keep_moment(model, tmp_path, {"step": step, "val_masked_accuracy": 0.2}, clock)
    pretrain.keep_moment(model, tmp_path, {"step": 0, "val_masked_accuracy": 0.1}, clock)
    assert [(m["step"], m["masked_accuracy"]) for m in checkpoints.read_moments(tmp_path)] == [(0, 0.1)]


def test_the_view_at_each_moment_is_what_that_moments_mlm_guesses(run):
    cfg, model, _ = run
    lapse = TimeLapse(cfg.artifacts_dir, sentences=["i have watched this [mask] and it was awesome"])
    direct = pretrain.build_model_for(cfg, lapse.vectorizer)
    direct({"token_ids": np.zeros((1, cfg.max_length), "int32"), "mask_positions": np.zeros((1, 1), "int32")})
    shown_tops = []
    for moment in lapse.moments:
        checkpoints.load_mlm_snapshot(direct, moment["file"])
        expected = FillMasker(direct, lapse.vectorizer)(lapse.sentences, top_k=3)
        asked = lapse.at(moment["step"])
        assert asked["guesses"] == expected, f"step {moment['step']}"
        html = render_moment(asked)
        assert f"data-step='{moment['step']}'" in html and f"<b>{expected[0]['masks'][0]['predictions'][0]['token']}</b>" in html
        shown_tops.append(expected[0]["masks"][0]["predictions"][0]["token"])
    last = lapse.at(lapse.steps[-1])["guesses"][0]["masks"][0]["predictions"]
    trained = FillMasker(model, lapse.vectorizer)(lapse.sentences, top_k=3)[0]["masks"][0]["predictions"]
    assert [p["token"] for p in last] == [p["token"] for p in trained], "the last moment is the trained model"
    assert [p["prob"] for p in last] == pytest.approx([p["prob"] for p in trained], rel=1e-2), "kept in float16"
    assert len(set(shown_tops)) > 1, "the guesses change as the model learns"
    assert set(lapse.at(lapse.steps[-1])["reviews"]) == {"positive", "negative"}, "lesson 06's question, asked"


def test_a_sentence_of_your_own_is_guessed_after_the_probes(run):
    cfg, _, _ = run
    lapse = TimeLapse(cfg.artifacts_dir)
    asked = lapse.at(lapse.steps[-1], "a good [mask] with great acting")
    assert len(asked["guesses"]) == len(PROBES) + 1 and asked["guesses"][-1]["text"] == "a good [mask] with great acting"
    assert len(lapse.at(lapse.steps[-1])["guesses"]) == len(PROBES), "the probes alone when the box is empty"


def test_render_moment_draws_every_part_and_escapes_words():
    moment = {"step": 1200, "masked_accuracy": 0.214,
              "guesses": [{"text": "a <b> [mask]", "masks": [{"position": 2, "predictions": [
                  {"token": "<i>", "prob": 0.5}, {"token": "movie", "prob": 0.25}]}]}],
              "attention": {"words": ["a", "[mask]", "film"], "weights": [0.2, 0.3, 0.5]},
              "neighbours": {"good": ["great", "bad"]}, "reviews": {"positive": -1.5, "negative": -2.0}}
    html = render_moment(moment)
    assert "step 1,200" in html and "21.4%" in html
    assert "&lt;i&gt;" in html and "<i>" not in html and "a &lt;b&gt; [mask]" in html
    assert html.count("class='tok'") == 3 and "data-weight='0.5000'" in html
    assert "great, bad" in html and "data-told='true'" in html
    assert "by 0.50" in html
    assert "data-told='false'" in render_moment({**moment, "reviews": {"positive": -2.5, "negative": -2.0}})
    assert "data-told='false'" in render_moment({**moment, "reviews": {"positive": -2.001, "negative": -2.003}}), \
        "a gap that shows as 0.00 is no difference"
    assert "lacks" in render_moment({**moment, "reviews": {}})


def test_a_folder_without_moments_says_how_to_get_them(tmp_path):
    with pytest.raises(ArtifactError, match="pretrain again"):
        TimeLapse(tmp_path)
    assert "pretrain again" in time_lapse_widget(tmp_path).value


def test_the_widget_follows_its_slider(run):
    cfg, _, _ = run
    widget = time_lapse_widget(cfg.artifacts_dir)
    slider, box, view = widget.children
    assert slider.value == slider.options[-1][1] and f"data-step='{slider.value}'" in view.value
    slider.value = slider.options[0][1]
    assert "data-step='0'" in view.value
    box.value = "this film is a [mask] of time"
    assert "this film is a [mask] of time" in view.value


def test_the_readme_pictures_show_the_runs_own_panel_and_moments(run):
    from bertmlm_lib.tools.measure.screenshots import pages

    cfg, _, result = run
    drawn, shows = pages(cfg.artifacts_dir)
    assert shows["steps"] == result.steps and shows["moments"][0] == 0 and shows["moments"][-1] == result.steps
    assert drawn["live-panel"].startswith("<p><b>Is it normal?</b> step ") and f"top words at step {result.steps}" in drawn["live-panel"]
    assert "data-step='0'" in drawn["time-lapse-start"] and f"data-step='{result.steps}'" in drawn["time-lapse-end"]
