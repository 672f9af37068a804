"""The masking explorer: see which words BERT's recipe hides, replaces or keeps.

`render_masking(tokens, actions)` is the pure renderer: it colours every token by what happened to
it and adds a legend with counts. `masking_explorer(vectorizer, texts)` wires sliders for the mask
rate and the 80/10/10 split, a seed and a text box to it.
"""

from __future__ import annotations

from .. import masking
from ..masking import ACTION_NAMES, KEPT, MASKED, REPLACED, UNCHANGED
from ..vectorize import SPECIAL_TOKENS
from .html import error_box, escape

UNKNOWN_TOKEN = SPECIAL_TOKENS[1]

COLOURS = {UNCHANGED: "#f2f2f2", MASKED: "#ffd166", REPLACED: "#ef476f", KEPT: "#06d6a0"}


def render_masking(tokens: list[str], actions: list[int], shown_tokens: list[str] | None = None) -> str:
    """HTML of a masked review: one coloured chip per token, a legend with counts, and totals.

    `tokens` are the original words, `actions` what happened to each (masking.UNCHANGED, MASKED,
    REPLACED or KEPT) and `shown_tokens` what the model reads instead (defaults to `tokens`).
    """
    if len(tokens) != len(actions):
        raise ValueError(f"got {len(tokens)} tokens but {len(actions)} actions: they must match one to one.")
    shown_tokens = shown_tokens or tokens
    counts = {action: 0 for action in ACTION_NAMES}
    chips = []
    for original, shown, action in zip(tokens, shown_tokens, actions):
        action = int(action)
        counts[action] += 1
        label = escape(shown) if action != REPLACED else f"{escape(shown)} <s>{escape(original)}</s>"
        title = escape(f"{original}: {ACTION_NAMES[action]}")
        chips.append(f'<span class="tok act-{action}" data-action="{action}" title="{title}" '
                     f'style="background:{COLOURS[action]};padding:1px 4px;margin:1px;border-radius:3px;'
                     f'display:inline-block">{label}</span>')
    legend = " ".join(
        f'<span class="legend act-{a}" data-action="{a}" style="background:{COLOURS[a]};padding:1px 6px;'
        f'border-radius:3px">{escape(ACTION_NAMES[a])}: <b class="count">{counts[a]}</b></span>'
        for a in (MASKED, REPLACED, KEPT, UNCHANGED)
    )
    chosen = counts[MASKED] + counts[REPLACED] + counts[KEPT]
    unknown = sum(token == UNKNOWN_TOKEN for token in tokens)  # [UNK] is never chosen: the rate counts real words
    real = len(tokens) - unknown
    summary = (f'<div class="summary">{len(tokens)} words'
               + (f' ({real} real, {unknown} [UNK] never chosen)' if unknown else '')
               + f', <b class="chosen">{chosen}</b> chosen (<b class="chosen-share">{(chosen / real) if real else 0:.0%}'
               f'</b> of real words): <b class="masked-count">{counts[MASKED]}</b> masked, '
               f'{counts[REPLACED]} replaced, {counts[KEPT]} kept</div>')
    return (f'<div class="bertmlm-masking">{summary}<div class="legend-row" style="margin:4px 0">{legend}</div>'
            f'<div class="tokens" style="line-height:1.9">{"".join(chips)}</div></div>')


def render_masking_for_text(vectorizer, text: str, mask_rate: float, mask_token_share: float,
                            random_token_share: float, seed: int) -> str:
    """Mask one text with the library's own masking and render it; bad settings give a message, not an error."""

    if not text or not text.strip():
        return error_box("Type or pick a review: the text is empty.")
    if mask_token_share + random_token_share > 1 + 1e-9:
        return error_box(f"The [mask] share ({mask_token_share:.0%}) and the random share ({random_token_share:.0%}) "
                         "add up to more than 100%: lower one of them.")
    ids = vectorizer.encode([text])
    words = int((ids[0] != 0).sum())
    if words == 0:
        return error_box("No words left after standardization: type a few words.")
    out = masking.mask_numpy(ids, seed, vectorizer.vocabulary_size, mask_rate=mask_rate,
                             mask_token_share=mask_token_share, random_token_share=random_token_share)
    original = [vectorizer.tokens[i] for i in ids[0, :words]]
    shown = [vectorizer.tokens[i] for i in out["token_ids"][0, :words]]
    return render_masking(original, out["actions"][0, :words].tolist(), shown)


def masking_explorer(vectorizer, texts: list[str]):
    """Sliders for the mask rate, the 80/10/10 split and a seed, over a chosen or typed review."""
    import ipywidgets as widgets

    choices = [(f"review {i}: {t[:50]}…", t) for i, t in enumerate(texts)]
    pick = widgets.Dropdown(options=choices, description="review")
    text = widgets.Textarea(value=texts[0] if texts else "", layout=widgets.Layout(width="100%", height="70px"),
                            description="text", continuous_update=False)
    rate = widgets.FloatSlider(value=0.15, min=0.05, max=0.6, step=0.05, description="mask rate",
                               readout_format=".0%", continuous_update=False)
    mask_share = widgets.FloatSlider(value=0.8, min=0, max=1, step=0.05, description="→ [mask]",
                                     readout_format=".0%", continuous_update=False)
    random_share = widgets.FloatSlider(value=0.1, min=0, max=1, step=0.05, description="→ random",
                                       readout_format=".0%", continuous_update=False)
    seed = widgets.IntText(value=0, description="seed")
    view = widgets.HTML()
    # stable class names: the browser tests (tests/browser) find the controls by them
    for control, name in ((text, "text"), (rate, "mask-rate"), (mask_share, "mask-share"),
                          (random_share, "random-share"), (seed, "seed")):
        control.add_class(f"bertmlm-{name}")

    def redraw(*_):
        try:
            view.value = render_masking_for_text(vectorizer, text.value, rate.value, mask_share.value,
                                                 random_share.value, int(seed.value))
        except Exception as exc:  # a widget shows problems, it never dumps a traceback in the cell
            view.value = error_box(f"Could not mask this text: {exc}")

    pick.observe(lambda change: setattr(text, "value", change["new"]), names="value")
    for control in (text, rate, mask_share, random_share, seed):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([pick, text, widgets.HBox([rate, seed]), widgets.HBox([mask_share, random_share]), view])
