"""Sentiment views: what the classifier says about a typed review, which words moved it, and where
each attention head looks.

Pure renderers (`render_sentiment`, `render_attention`) turn plain data into HTML; `word_influence`
and `sentiment_widget` / `attention_widget` wire a model and core ipywidgets controls to them.
"""

from __future__ import annotations

import numpy as np

from ..model import attention_maps
from .html import error_box, escape, figure_to_img, review_widget


def word_influence(predict_fn, text: str, standardize_fn, max_words: int) -> tuple[float, list[tuple[str, float]]]:
    """P(positive) of `text`, and for each of its words how much leaving it out lowers that probability.

    `predict_fn` maps a list of strings to probabilities. A positive effect means the word pushed
    the review towards "positive". Only the first `max_words` words (what the model reads) count.
    """
    words = standardize_fn(text).split()[:max_words]
    variants = [" ".join(words)] + [" ".join(words[:i] + words[i + 1:]) or "[UNK]" for i in range(len(words))]
    probabilities = np.asarray(predict_fn(variants)).reshape(-1)
    base = float(probabilities[0])
    return base, [(word, base - float(p)) for word, p in zip(words, probabilities[1:])]


def render_sentiment(probability: float, influences: list[tuple[str, float]]) -> str:
    """A probability bar with the label, then the words tinted green (pushed positive) or red (negative)."""
    label = "positive" if probability >= 0.5 else "negative"
    scale = max([abs(effect) for _, effect in influences] + [1e-9])
    chips = []
    for word, effect in influences:
        strength = min(abs(effect) / scale, 1.0)
        colour = f"rgba(26,152,80,{strength:.2f})" if effect > 0 else f"rgba(215,48,39,{strength:.2f})"
        chips.append(f'<span class="word" data-effect="{effect:.4f}" title="{effect:+.3f}" '
                     f'style="background:{colour};padding:1px 3px;margin:1px;border-radius:3px;'
                     f'display:inline-block">{escape(word)}</span>')
    bar = (f'<div class="prob-bar" style="width:300px;height:14px;background:#eee;border-radius:3px">'
           f'<div style="width:{100 * probability:.1f}%;height:14px;background:#4c78a8;border-radius:3px"></div></div>')
    return (f'<div class="bertmlm-sentiment"><div><b class="label" data-label="{label}">{label}</b> '
            f'P(positive) = <span class="prob">{probability:.3f}</span></div>{bar}'
            f'<div class="legend" style="margin:4px 0;font-size:90%">green: this word pushed towards positive; '
            f'red: towards negative (leave-one-out)</div><div class="words">{"".join(chips)}</div></div>')


def render_attention(words: list[str], weights: np.ndarray, layer: int, head: int) -> str:
    """A heatmap of one head's attention over a short review: row = a word, columns = where it looks."""
    import matplotlib.pyplot as plt

    n = len(words)
    if n == 0:
        return error_box("Type a few words to see where attention goes.")
    matrix = np.asarray(weights)[:n, :n]
    figure, ax = plt.subplots(figsize=(0.35 * n + 2, 0.35 * n + 1.5))
    ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(float(matrix.max()), 1e-9))
    ax.set_xticks(range(n), words, rotation=90, fontsize=8)
    ax.set_yticks(range(n), words, fontsize=8)
    ax.set_title(f"layer {layer + 1}, head {head + 1}: where each word (row) looks")
    return f'<div class="bertmlm-attention">{figure_to_img(figure)}</div>'


def sentiment_widget(predict_fn, standardize_fn, max_words: int,
                     text: str = "a wonderful film with a moving story and superb acting"):
    """A text box; shows the label, P(positive) and each word's leave-one-out effect."""
    return review_widget(lambda review: render_sentiment(*word_influence(predict_fn, review, standardize_fn, max_words)),
                         text, "bertmlm-sentiment-text", "Could not score this text")


def attention_widget(encoder, vectorizer, text: str = "the plot was thin but the acting was wonderful"):
    """Layer and head selectors over a short typed review, with the attention heatmap."""
    import ipywidgets as widgets


    box = widgets.Text(value=text, description="text", layout=widgets.Layout(width="80%"), continuous_update=False)
    layer = widgets.BoundedIntText(value=1, min=1, max=1, description="layer")
    head = widgets.BoundedIntText(value=1, min=1, max=1, description="head")
    view = widgets.HTML()
    for control, name in ((box, "attention-text"), (layer, "attention-layer"), (head, "attention-head")):
        control.add_class(f"bertmlm-{name}")  # for the browser tests

    def redraw(*_):
        try:
            ids = vectorizer.encode([box.value])
            n = int((ids[0] != 0).sum())
            if n == 0:
                view.value = error_box("No words left after standardization: type a few words.")
                return
            maps = attention_maps(encoder, ids[:, :max(n, 1)])
            layer.max, head.max = maps.shape[0], maps.shape[2]
            words = [vectorizer.tokens[i] for i in ids[0, :n]]
            view.value = render_attention(words, maps[layer.value - 1, 0, head.value - 1], layer.value - 1, head.value - 1)
        except Exception as exc:
            view.value = error_box(f"Could not show attention for this text: {exc}")

    for control in (box, layer, head):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([box, widgets.HBox([layer, head]), view])
