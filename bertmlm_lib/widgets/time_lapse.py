"""A time-lapse of a pretraining run: what the MLM knew at each held-out evaluation, behind one slider.

Pretraining keeps the whole MLM at every evaluation (`checkpoints.save_moment`, at most
`checkpoints.MOMENTS_KEPT`). `TimeLapse(folder).at(step)` asks the MLM of that moment four things, as
plain data: its guesses for the probe sentences (and one sentence of your own), where the first
probe's `[mask]` looks, the nearest neighbours of a few words, and the cloze question about a good and
a bad review. `render_moment` draws that data as HTML (pure: tested without a browser);
`time_lapse_widget(folder)` puts a slider over the moments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, BertmlmError
from ..vectorize import FIRST_WORD_ID
from .html import error_box, escape

NEIGHBOUR_WORDS = ("good", "movie", "funny")
REVIEWS = {"positive": "a wonderful film , the acting is great and i loved every minute of it",
           "negative": "a dull and boring film , the acting is awful and i hated every minute of it"}


class TimeLapse:
    """The moments a pretraining run kept, each asked the same questions (`at`)."""

    def __init__(self, folder, sentences=None, words=NEIGHBOUR_WORDS, reviews=None):
        from ..checkpoints import load_pretrained, read_moments
        from ..fill_mask import PROBES

        self.moments = read_moments(folder)
        if not self.moments:
            raise ArtifactError(f"{folder} keeps no time-lapse: pretrain again (lesson 05 or `bertmlm pretrain`), "
                                "which keeps the MLM at every held-out evaluation.")
        self.model, self.vectorizer, _ = load_pretrained(Path(folder))  # its own copy: the learner's stays as it is
        self.sentences = list(sentences or PROBES)
        self.words = [word for word in words if self.vectorizer.id_of(word) >= FIRST_WORD_ID]  # words this vocabulary has
        self.reviews = dict(reviews or REVIEWS)
        self.loaded, self._asked = None, {}

    @property
    def steps(self) -> list[int]:
        return [moment["step"] for moment in self.moments]

    def load(self, step: int):
        """The MLM as it was at `step` (one of `steps`)."""
        from ..checkpoints import load_mlm_snapshot

        moment = next((m for m in self.moments if m["step"] == step), None)
        if moment is None:
            raise ArtifactError(f"no moment at step {step}: the run kept steps {self.steps}.")
        if self.loaded != step:
            load_mlm_snapshot(self.model, Path(moment["file"]))
            self.loaded = step
        return self.model

    def at(self, step: int, sentence: str | None = None) -> dict:
        """What the MLM knew at `step`: {"step", "masked_accuracy", "guesses", "attention", "neighbours",
        "reviews"}, with `sentence` (one with `[mask]`) guessed after the probes."""
        if step not in self._asked:
            self._asked[step] = self._ask(step)
        asked = dict(self._asked[step])
        if sentence:
            from ..fill_mask import FillMasker

            asked["guesses"] = asked["guesses"] + FillMasker(self.load(step), self.vectorizer)([sentence], top_k=3)
        return asked

    def _ask(self, step: int) -> dict:
        from ..fill_mask import FillMasker
        from ..representations import mask_attention, nearest_words

        model = self.load(step)
        words, weights = mask_attention(model.encoder, self.vectorizer, self.sentences[0])
        scores = self._sentiment(model)
        return {"step": step, "masked_accuracy": next(m["masked_accuracy"] for m in self.moments if m["step"] == step),
                "guesses": FillMasker(model, self.vectorizer)(self.sentences, top_k=3),
                "attention": {"words": words, "weights": [float(w) for w in weights]},
                "neighbours": {word: [w for w, _ in near] for word, near in
                               nearest_words(model.encoder, self.vectorizer, self.words, k=5).items()},
                "reviews": scores}

    def _sentiment(self, model) -> dict:
        """Per review, log P(a good word) - log P(a bad word) at the `[mask]` of lesson 06's question
        (`fill_mask.TEMPLATE`); {} if the vocabulary lacks every word of a class."""
        from ..fill_mask import TEMPLATE, VERBALIZER, FillMasker

        classes = [[w for w in words if self.vectorizer.id_of(w) >= FIRST_WORD_ID] for words in VERBALIZER]
        if not all(classes):
            return {}
        questions = [self._question(TEMPLATE, text) for text in self.reviews.values()]
        asked = FillMasker(model, self.vectorizer)(questions, top_k=1, targets=[w for words in classes for w in words])
        totals = [[sum(result["masks"][0]["targets"][w] for w in words) for words in classes] for result in asked]
        return {name: float(np.log(good) - np.log(bad)) for name, (bad, good) in zip(self.reviews, totals)}


    def _question(self, template: str, review: str) -> str:
        """The question about `review`, its first words let go until the `[mask]` is within what the model reads."""
        from ..vectorize import MASK_ID

        words = review.split()
        while words and MASK_ID not in self.vectorizer.encode([template.replace("{review}", " ".join(words))])[0]:
            words = words[1:]
        return template.replace("{review}", " ".join(words))


def _guesses(moment: dict) -> str:
    rows = "".join(
        f"<tr><td class='text'>{escape(result['text'])}</td><td class='top'>"
        + ", ".join(f"<b>{escape(p['token'])}</b> {p['prob']:.3f}" for p in result["masks"][0]["predictions"])
        + "</td></tr>" for result in moment["guesses"] if result["masks"])
    return f"<table class='guesses'><tr><th>sentence</th><th>top guesses</th></tr>{rows}</table>"


def _attention(moment: dict) -> str:
    attention = moment["attention"]
    even = 1 / max(1, len(attention["words"]))  # spread evenly, every word is pale; 3x its share is darkest
    chips = "".join(
        f"<span class='tok' data-weight='{weight:.4f}' style='padding:1px 4px;margin:1px;"
        f"background:rgba(76,120,168,{min(1.0, weight / (3 * even)):.2f})'>{escape(word)}</span>"
        for word, weight in zip(attention["words"], attention["weights"]))
    return f"<div class='attention'>where <b>[mask]</b> looks (darker: more attention): {chips}</div>"


def _neighbours(moment: dict) -> str:
    rows = "".join(f"<li><b>{escape(word)}</b>: {escape(', '.join(near))}</li>"
                   for word, near in moment["neighbours"].items())
    return f"<div class='neighbours'>nearest word vectors<ul style='margin:2px 0'>{rows}</ul></div>"


def _reviews(moment: dict) -> str:
    scores = moment["reviews"]
    if not scores:
        return "<div class='reviews'>(this vocabulary lacks the cloze question's words)</div>"
    gap = round(scores.get("positive", 0) - scores.get("negative", 0), 2)  # as shown: +0.00 is no difference
    told = gap > 0
    rows = ", ".join(f"{escape(name)} review {score:+.2f}" for name, score in scores.items())
    verdict = (f"rates the positive review higher, by {gap:.2f}" if told
               else "does not rate the positive review higher yet")
    return (f"<div class='reviews' data-told='{str(told).lower()}'>lesson 06's question, \"... all in all the movie "
            f"was [mask]\", log P(a good word) - log P(a bad word): {rows}; the MLM {verdict}</div>")


def render_moment(moment: dict) -> str:
    """One moment of the time-lapse as HTML: the step and its held-out accuracy, then the guesses, the
    `[mask]`'s attention, the neighbours and the two reviews."""
    accuracy = moment.get("masked_accuracy")
    said = f", held-out masked accuracy {accuracy:.1%}" if accuracy is not None else ""
    return (f"<div class='bertmlm-time-lapse' data-step='{moment['step']}'>"
            f"<div class='title'><b>step {moment['step']:,}</b>{said}</div>"
            f"{_guesses(moment)}{_attention(moment)}{_neighbours(moment)}{_reviews(moment)}</div>")


def time_lapse_widget(folder, sentence: str = ""):
    """A slider over the run's moments (the last one first) and a box for a sentence of your own."""
    import ipywidgets as widgets

    try:
        lapse = TimeLapse(folder)
    except BertmlmError as exc:
        return widgets.HTML(error_box(str(exc)))
    slider = widgets.SelectionSlider(options=[(f"{step:,}", step) for step in lapse.steps], value=lapse.steps[-1],
                                     description="step", continuous_update=False, layout=widgets.Layout(width="80%"))
    box = widgets.Text(value=sentence, placeholder="a sentence of your own with [mask]", description="yours",
                       continuous_update=False, layout=widgets.Layout(width="80%"))
    slider.add_class("bertmlm-time-lapse-step")  # for the browser tests
    box.add_class("bertmlm-time-lapse-text")
    view = widgets.HTML()

    def redraw(*_):
        try:
            view.value = render_moment(lapse.at(slider.value, box.value.strip() or None))
        except Exception as exc:  # a widget shows problems, never a traceback in the cell
            view.value = error_box(f"Could not show step {slider.value}: {exc}")

    slider.observe(redraw, names="value")
    box.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, box, view])
