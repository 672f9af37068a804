"""Learner journeys in a real browser: open a committed notebook in JupyterLab, run it, use its widget.

Each journey asserts what a learner would see (counts that follow the slider, probability bars,
a label that flips), that no cell shows an error, and that the console has no widget exception.
`test_a_broken_widget_fails_the_journey` shows the journeys can fail: the same fill-mask journey
on a copy of the notebook whose renderer raises must not pass.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import SCREENSHOTS
from .lab import assert_clean, open_notebook, run_all_cells

pytestmark = pytest.mark.browser


def _shot(page, name: str, locator=None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (locator or page).screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# ------------------------------------------------------------------------------------------------
# masking explorer (notebook 03)
# ------------------------------------------------------------------------------------------------

EXPLORER = ".widget-vbox:has(.bertmlm-mask-rate) .bertmlm-masking"  # the widget's view, not a static render


def _masking_state(page) -> dict:
    """What the explorer shows: words, chosen count, per-action counts in the legend and chip colours."""
    return page.evaluate("""selector => {
      const view = document.querySelector(selector);
      if (!view) return null;
      const chips = Array.from(view.querySelectorAll('.tokens .tok'));
      const legend = {};
      for (const item of view.querySelectorAll('.legend')) {
        legend[item.dataset.action] = {count: Number(item.querySelector('.count').textContent),
                                       colour: getComputedStyle(item).backgroundColor};
      }
      const chipCounts = {}, mismatched = [];
      for (const chip of chips) {
        chipCounts[chip.dataset.action] = (chipCounts[chip.dataset.action] || 0) + 1;
        if (getComputedStyle(chip).backgroundColor !== legend[chip.dataset.action].colour) mismatched.push(chip.textContent);
      }
      // [UNK] is never chosen: the rate applies to the other words
      const maskable = chips.filter(chip => !chip.title.startsWith('[UNK]:')).length;
      return {words: chips.length, maskable, chosen: Number(view.querySelector('.chosen').textContent),
              masked: Number(view.querySelector('.masked-count').textContent), legend, chipCounts, mismatched};
    }""", EXPLORER)


def _slider_value(page, name: str) -> float:
    text = page.locator(f".bertmlm-{name} .widget-readout").first.inner_text()
    return float(text.strip().rstrip("%")) / 100


def _drag_slider(page, name: str, value: float, low: float, high: float) -> None:
    """Drag a slider's handle to `value` with the mouse, as a learner does (the widget updates on release)."""
    track = page.locator(f".bertmlm-{name} .noUi-target").first
    handle = page.locator(f".bertmlm-{name} .noUi-handle").first
    track.scroll_into_view_if_needed()
    box, grip = track.bounding_box(), handle.bounding_box()
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (value - low) / (high - low), box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def test_masking_explorer_follows_the_mask_rate_slider(page, lab):
    open_notebook(page, lab, "03_masking.ipynb")
    run_all_cells(page)
    page.locator(EXPLORER).first.wait_for()
    before = _masking_state(page)
    rate_before = _slider_value(page, "mask-rate")
    assert before["words"] > 10 and rate_before == pytest.approx(0.15)
    assert before["chosen"] == max(1, round(rate_before * before["maskable"])), before

    _drag_slider(page, "mask-rate", 0.40, low=0.05, high=0.60)
    page.wait_for_function("([selector, old]) => Number(document.querySelector(selector + ' .chosen').textContent) !== old",
                           arg=[EXPLORER, before["chosen"]], timeout=30_000)
    after = _masking_state(page)
    rate_after = _slider_value(page, "mask-rate")
    assert rate_after == pytest.approx(0.40)
    assert after["words"] == before["words"]
    assert after["chosen"] == max(1, round(rate_after * after["maskable"])), after
    assert after["masked"] > before["masked"]
    for state in (before, after):  # colours follow the legend; the legend counts match the chips
        assert not state["mismatched"], f"chips coloured unlike their legend entry: {state['mismatched']}"
        for action, entry in state["legend"].items():
            assert entry["count"] == state["chipCounts"].get(action, 0), state
    _shot(page, "masking-explorer", page.locator(".widget-vbox:has(.bertmlm-mask-rate)").first)
    assert_clean(page)


# ------------------------------------------------------------------------------------------------
# fill-mask widget (notebook 05)
# ------------------------------------------------------------------------------------------------

def fill_mask_journey(page, lab, notebook: str, text: str = "the acting was [mask] and the plot made no sense"):
    """Type a sentence with [mask] into the fill-mask widget, submit, check the bars."""
    open_notebook(page, lab, notebook)
    run_all_cells(page)
    box = page.locator(".bertmlm-fill-mask-text input").first
    box.scroll_into_view_if_needed()
    box.fill(text)
    box.press("Enter")
    result = page.locator(".bertmlm-fill-mask-result", has_text=text.replace("[mask]", "")[:10])
    try:
        page.wait_for_function(
            "text => Array.from(document.querySelectorAll('.bertmlm-fill-mask-result .text')).some(n => n.textContent === text)",
            arg=text, timeout=30_000)
    except Exception as exc:
        shown = page.locator(".bertmlm-error").all_inner_texts()
        raise AssertionError(f"no fill-mask result for {text!r}; the widget shows: {shown}") from exc
    result = page.locator(".bertmlm-fill-mask-result").filter(has=page.locator(".text", has_text=text)).first
    bars = result.locator(".bar")
    probabilities = [float(bars.nth(i).get_attribute("data-prob")) for i in range(bars.count())]
    words = result.locator(".word").all_inner_texts()
    assert probabilities and all(0.0 <= p <= 1.0 for p in probabilities), probabilities
    assert sum(probabilities) <= 1.0 + 1e-6 and probabilities == sorted(probabilities, reverse=True)
    vocabulary = set(json.loads((lab["artifacts"] / "vocabulary.json").read_text())["tokens"])
    assert words[0] in vocabulary and re.fullmatch(r"[a-z0-9']+", words[0]), words
    return result


def test_fill_mask_widget_shows_probability_bars_and_the_time_lapse_replays_the_run(page, lab):
    result = fill_mask_journey(page, lab, "05_pretraining.ipynb")
    _shot(page, "fill-mask", result)
    time_lapse_journey(page)
    assert_clean(page)


LAPSE = ".widget-vbox:has(.bertmlm-time-lapse-step) .bertmlm-time-lapse"


def time_lapse_journey(page):
    """In the same notebook: drag the time-lapse slider to the run's start, then type a sentence."""
    view = page.locator(LAPSE).first
    view.wait_for()
    last = int(view.get_attribute("data-step"))
    readout = page.locator(".bertmlm-time-lapse-step .widget-readout").first
    assert last > 0 and int(readout.inner_text().replace(",", "")) == last, "it opens at the run's last moment"
    _drag_slider(page, "time-lapse-step", 0.0, low=0.0, high=1.0)
    page.wait_for_function("selector => document.querySelector(selector).dataset.step === '0'", arg=LAPSE,
                           timeout=30_000)
    assert readout.inner_text().strip() == "0", "the view follows the slider"
    assert view.locator(".guesses tr").count() > 1 and view.locator(".attention .tok").count() > 3
    box = page.locator(".bertmlm-time-lapse-text input").first
    sentence = "the ending was [mask] and sad"
    box.fill(sentence)
    box.press("Enter")
    page.wait_for_function("([selector, text]) => Array.from(document.querySelectorAll(selector + ' .guesses .text'))"
                           ".some(n => n.textContent === text)", arg=[LAPSE, sentence], timeout=30_000)
    _shot(page, "time-lapse", page.locator(".widget-vbox:has(.bertmlm-time-lapse-step)").first)


def test_a_broken_widget_fails_the_journey(page, lab):
    """The same journey on a notebook whose fill-mask renderer raises must fail."""
    source = lab["served"] / "notebooks" / "05_pretraining.ipynb"
    notebook = json.loads(source.read_text())
    sabotage = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "id": "sabotage",
                "source": ["import bertmlm_lib.widgets.fill_mask as shown\n",
                           "def broken(results):\n", "    raise RuntimeError('renderer broken on purpose')\n",
                           "shown.render_predictions = broken"]}
    notebook["cells"].insert(2, sabotage)
    (source.parent / "05_broken.ipynb").write_text(json.dumps(notebook))
    with pytest.raises(AssertionError, match="no fill-mask result|renderer broken"):
        fill_mask_journey(page, lab, "05_broken.ipynb")


# ------------------------------------------------------------------------------------------------
# sentiment and attention widgets (notebook 07)
# ------------------------------------------------------------------------------------------------

def _label_after_typing(page, text: str) -> tuple[str, float]:
    box = page.locator(".bertmlm-sentiment-text textarea").first
    old = page.locator(".bertmlm-sentiment .prob").first.inner_text()
    box.fill(text)
    box.press("Tab")  # the text box updates when it loses focus
    page.wait_for_function("old => document.querySelector('.bertmlm-sentiment .prob').textContent !== old || "
                           "document.querySelector('.bertmlm-sentiment-text textarea').value === ''", arg=old,
                           timeout=30_000)
    label = page.locator(".bertmlm-sentiment .label").first
    return label.get_attribute("data-label"), float(page.locator(".bertmlm-sentiment .prob").first.inner_text())


def test_sentiment_label_flips_and_attention_heads_switch(page, lab):
    open_notebook(page, lab, "07_end_to_end.ipynb")
    run_all_cells(page)
    page.locator(".bertmlm-sentiment").first.wait_for()
    # gushing praise and a rant: the smoke preset's tiny classifier is weak, so the words must be plain
    positive = "great great movie! excellent, wonderful, the best film. loved it, perfect, brilliant, amazing, superb"
    negative = "worst movie ever. awful, terrible, boring, a waste. bad acting, stupid and horrible, just bad"
    label_pos, p_pos = _label_after_typing(page, positive)
    _shot(page, "sentiment-positive", page.locator(".bertmlm-sentiment").first)
    label_neg, p_neg = _label_after_typing(page, negative)
    _shot(page, "sentiment-negative", page.locator(".bertmlm-sentiment").first)
    assert (label_pos, label_neg) == ("positive", "negative"), (p_pos, p_neg)
    assert 0 <= p_neg < 0.5 <= p_pos <= 1

    picture = page.locator(".bertmlm-attention img").first
    picture.scroll_into_view_if_needed()
    first = picture.get_attribute("src")
    head = page.locator(".bertmlm-attention-head input").first
    head.fill("2")
    head.press("Enter")
    page.wait_for_function("old => document.querySelector('.bertmlm-attention img').getAttribute('src') !== old",
                           arg=first, timeout=30_000)
    _shot(page, "attention", page.locator(".bertmlm-attention").first)
    assert_clean(page)


# ------------------------------------------------------------------------------------------------
# the MLM asked a cloze question (notebook 06)
# ------------------------------------------------------------------------------------------------

INSTRUCTOR = ".bertmlm-cloze-model[data-model=\"instructor's MLM\"]"


def _cloze_after_typing(page, text: str) -> dict:
    """Type a review into lesson 06's box; return the instructor's verdict and its two class bars."""
    box = page.locator(".bertmlm-cloze-text textarea").first
    old = page.locator(".bertmlm-cloze").first.inner_html()
    box.fill(text)
    box.press("Tab")  # the text box updates when it loses focus
    page.wait_for_function("old => document.querySelector('.bertmlm-cloze').innerHTML !== old", arg=old,
                           timeout=60_000)
    block = page.locator(INSTRUCTOR).first
    bars = block.locator(".class-bar")
    return {"label": block.locator(".verdict").get_attribute("data-label"),
            "probs": [float(bars.nth(i).get_attribute("data-prob")) for i in range(bars.count())],
            "models": page.locator(".bertmlm-cloze-model").count()}


def test_cloze_widget_asks_both_mlms_and_the_instructor_hears_the_sentiment(page, lab):
    open_notebook(page, lab, "06_finetuning.ipynb")
    run_all_cells(page, timeout=900)
    page.locator(".bertmlm-cloze").first.wait_for()
    # the instructor's MLM is the shipped four-hour one, so plain reviews are enough (the smoke MLM guesses)
    positive = _cloze_after_typing(page, "a wonderful film with a moving story and great acting , i loved it")
    _shot(page, "cloze-positive", page.locator(".bertmlm-cloze").first)
    negative = _cloze_after_typing(page, "a boring mess , the acting was awful and the story made no sense")
    _shot(page, "cloze-negative", page.locator(".bertmlm-cloze").first)
    assert positive["models"] == negative["models"] == 2
    assert (positive["label"], negative["label"]) == ("1", "0"), (positive, negative)
    # P(good words) rises and P(bad words) falls from the rant to the praise, and neither is over 1
    assert negative["probs"][0] > positive["probs"][0] and positive["probs"][1] > negative["probs"][1]
    assert all(0 < p <= 1 for p in positive["probs"] + negative["probs"])
    assert_clean(page)
