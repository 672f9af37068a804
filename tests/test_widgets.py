"""The widgets' renderers are pure functions: checked here without a browser."""

import re

import numpy as np
import pytest

from bertmlm_lib import masking, vectorize
from bertmlm_lib.classifier import build_classifier
from bertmlm_lib.vectorize import build_vectorizer
from bertmlm_lib.widgets import fill_mask as fill_widgets
from bertmlm_lib.widgets import masking_explorer as explorer


@pytest.fixture(scope="module")
def vectorizer():
    words = "the movie was great and the acting was bad but the plot was fine".split()
    return build_vectorizer([" ".join(words)] * 3, vocab_size=30, max_length=32)


def _chips(html):
    return re.findall(r'<span class="tok act-(\d)" data-action="\d"', html)


def test_render_masking_colours_each_token_by_its_action():
    html = explorer.render_masking(["a", "good", "film", "indeed"],
                                   [masking.MASKED, masking.UNCHANGED, masking.REPLACED, masking.KEPT],
                                   ["[mask]", "good", "zebra", "indeed"])
    assert _chips(html) == ["1", "0", "2", "3"]
    for action, colour in explorer.COLOURS.items():
        assert f'data-action="{action}"' in html and colour in html
    assert "<s>film</s>" in html  # a replaced word shows what it replaced
    assert 'masked: <b class="count">1</b>' in html and "4 words" in html


def test_render_masking_escapes_html():
    html = explorer.render_masking(["<script>"], [masking.UNCHANGED])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_render_masking_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="must match"):
        explorer.render_masking(["a", "b"], [0])


def test_mask_rate_changes_how_many_tokens_are_masked(vectorizer):
    text = "the movie was great and the acting was bad but the plot was fine " * 2
    low = explorer.render_masking_for_text(vectorizer, text, 0.1, 1.0, 0.0, seed=0)
    high = explorer.render_masking_for_text(vectorizer, text, 0.5, 1.0, 0.0, seed=0)
    assert _chips(low).count("1") == 3 and _chips(high).count("1") == 14


def test_the_chosen_share_counts_real_words_only(vectorizer):
    """[UNK] is never chosen, so the share is of the real words: round(rate x real words) of them."""
    text = "the movie was great zzqx and the acting was bad qqzv but the plot was fine wwxz " * 2
    ids = vectorizer.encode([text])[0]
    words, real = int((ids != 0).sum()), int((ids >= vectorize.FIRST_WORD_ID).sum())
    assert real < words, "the text must hold unknown words for this test"
    html = explorer.render_masking_for_text(vectorizer, text, 0.4, 1.0, 0.0, seed=0)
    chosen = _chips(html).count("1")
    assert chosen == round(0.4 * real)
    assert f'<b class="chosen-share">{chosen / real:.0%}</b> of real words' in html
    assert f"({real} real, {words - real} [UNK] never chosen)" in html


def test_bad_widget_input_gives_a_message_not_an_exception(vectorizer):
    assert "bertmlm-error" in explorer.render_masking_for_text(vectorizer, "   ", 0.15, 0.8, 0.1, 0)
    assert "add up to more than 100%" in explorer.render_masking_for_text(vectorizer, "the movie", 0.15, 0.8, 0.5, 0)
    assert "No words left" in explorer.render_masking_for_text(vectorizer, "!!! ???", 0.15, 0.8, 0.1, 0)


def test_masking_explorer_widget_wires_controls(vectorizer):
    widget = explorer.masking_explorer(vectorizer, ["the movie was great", "the plot was bad"])
    view = widget.children[-1]
    rate = widget.children[2].children[0]
    before = _chips(view.value).count("1")
    rate.value = 0.6
    assert _chips(view.value).count("1") > before
    text = widget.children[1]
    text.value = ""
    assert "bertmlm-error" in view.value


RESULTS = [{"text": "a [mask] film", "masks": [{"position": 1, "predictions": [
    {"token": "great", "prob": 0.5}, {"token": "bad", "prob": 0.25}, {"token": "<b>", "prob": 0.0}]}]}]


def test_render_predictions_draws_one_bar_per_word_with_its_probability():
    html = fill_widgets.render_predictions(RESULTS)
    probs = [float(p) for p in re.findall(r'class="bar" data-prob="([0-9.]+)"', html)]
    assert probs == [0.5, 0.25, 0.0]
    assert "width:50.00%" in html and "width:25.00%" in html
    assert 'data-position="1"' in html and "&lt;b&gt;" in html


def test_training_panel_has_table_and_plot():
    history = [{"step": s, "results": [{"text": "a [mask] film", "masks": [{
        "position": 1, "predictions": [{"token": "great", "prob": p}], "targets": {"movie": p}}]}]}
        for s, p in ((0, 0.01), (10, 0.2))]
    html = fill_widgets.render_training_panel(history, ["movie"])
    assert "top words at step 10" in html and "great (0.20)" in html
    assert html.count("<img") == 1 and "data:image/png;base64," in html


def test_fill_mask_widget_with_a_real_model(vectorizer):
    from bertmlm_lib import config
    from bertmlm_lib.fill_mask import FillMasker
    from bertmlm_lib.model import build_pretraining_model

    cfg = config.load("smoke", max_length=32)
    masker = FillMasker(build_pretraining_model(cfg, vocabulary_size=vectorizer.vocabulary_size), vectorizer)
    widget = fill_widgets.fill_mask_widget(masker, text="the [mask] was great")
    view, top_k = widget.children[-1], widget.children[1]
    assert len(re.findall(r'class="bar" data-prob', view.value)) == 5
    top_k.value = 3
    assert len(re.findall(r'class="bar" data-prob', view.value)) == 3
    widget.children[0].children[0].value = "no mask here"
    assert "has no [mask]" in view.value and "bertmlm-error" in view.value


def test_word_influence_is_leave_one_out():
    from bertmlm_lib.widgets.sentiment import word_influence

    def predict(texts):  # a transparent scorer: the share of the word "good"
        return [t.split().count("good") / max(len(t.split()), 1) for t in texts]

    base, effects = word_influence(predict, "good bad film", str.lower, max_words=10)
    assert base == pytest.approx(1 / 3)
    assert dict(effects)["good"] == pytest.approx(1 / 3 - 0.0) and dict(effects)["bad"] < 0


def test_render_sentiment_labels_and_tints():
    from bertmlm_lib.widgets.sentiment import render_sentiment

    html = render_sentiment(0.8, [("great", 0.3), ("boring", -0.1)])
    assert 'data-label="positive"' in html and 'class="prob">0.800' in html
    assert 'data-effect="0.3000"' in html and "rgba(26,152,80,1.00)" in html and "rgba(215,48,39,0.33)" in html
    assert 'data-label="negative"' in render_sentiment(0.2, [])


def test_attention_maps_rows_sum_to_one_and_ignore_padding():
    from bertmlm_lib import config
    from bertmlm_lib.model import attention_maps, build_encoder
    from bertmlm_lib.widgets.sentiment import render_attention

    cfg = config.load("smoke", vocab_size=30, max_length=8, num_layers=2)
    ids = np.array([[5, 6, 7, 0, 0, 0, 0, 0]])
    maps = attention_maps(build_encoder(cfg), ids)
    assert maps.shape == (2, 1, cfg.num_heads, 8, 8)
    assert np.allclose(maps[:, 0, :, :3].sum(-1), 1, atol=1e-5)
    assert np.allclose(maps[:, 0, :, :3, 3:], 0, atol=1e-6)  # real words never look at padding
    assert render_attention(["a", "b", "c"], maps[0, 0, 0], 0, 0).count("<img") == 1


def test_sentiment_and_attention_widgets_show_bad_input_in_place(vectorizer):
    """Empty, symbol-only and huge texts give a message inside the widget, never an exception."""
    from bertmlm_lib import config, end_to_end
    from bertmlm_lib.model import build_encoder
    from bertmlm_lib.vectorize import standardize_text
    from bertmlm_lib.widgets.sentiment import attention_widget, sentiment_widget

    cfg = config.load("smoke", max_length=vectorizer.max_length, num_layers=2)
    encoder = build_encoder(cfg, vectorizer.vocabulary_size)
    model = end_to_end.build_end_to_end_model(vectorizer, build_classifier(encoder))
    sentiment = sentiment_widget(lambda texts: end_to_end.predict(model, texts), standardize_text, cfg.max_length)
    box, view = sentiment.children
    assert 'class="label"' in view.value
    for bad, message in (("   ", "the text is empty"), ("🎬 !!! ???", "Could not score this text")):
        box.value = bad
        assert "bertmlm-error" in view.value and message in view.value, view.value
    box.value = "great " * 5000  # longer than the model reads: scored on its first words
    assert 'class="label"' in view.value and view.value.count('class="word"') == cfg.max_length
    attention = attention_widget(encoder, vectorizer)
    text, (layer, head), shown = attention.children[0], attention.children[1].children, attention.children[2]
    assert "<img" in shown.value and layer.max == 2 and head.max == cfg.num_heads
    text.value = "!!! ???"
    assert "No words left" in shown.value
    text.value = "the movie was great"
    head.value = 99  # typed beyond the last head: the box clamps it, the view still draws
    assert head.value == cfg.num_heads and "<img" in shown.value
