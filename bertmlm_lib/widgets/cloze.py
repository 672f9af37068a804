"""Ask the MLM a cloze question about a typed review: which class's words it would write at the `[mask]`,
from one or more models side by side (yours and the instructor's, in lesson 06).

`render_cloze` turns `Cloze.answer` results (plain data) into HTML; `cloze_widget` wires a text box to it.
"""

from __future__ import annotations

from .html import escape, review_widget

CLASS_NAMES = ("negative", "positive")
COLOURS = ("#d73027", "#1a9850")


def render_cloze(question: str, answers: dict[str, dict]) -> str:
    """One block per model: P(each class's words) at the `[mask]` as bars, the calibrated verdict,
    and the words the MLM would write there."""
    blocks = []
    for name, answer in answers.items():
        bars = []
        for entry in answer["words"]:
            c = entry["class"]
            label = CLASS_NAMES[c] if len(answer["words"]) == 2 else f"class {c}"
            width = min(100.0, 100 * entry["prob"])
            bars.append(f'<div class="class-bar" data-class="{c}" data-prob="{entry["prob"]:.6f}">'
                        f'<span style="display:inline-block;width:90px">{label}</span>'
                        f'<span style="display:inline-block;width:220px;height:12px;background:#eee;vertical-align:middle">'
                        f'<span style="display:block;width:{width:.1f}%;height:12px;background:{COLOURS[c % 2]}"></span></span>'
                        f' P({escape(", ".join(entry["words"]))}) = {entry["prob"]:.3f}</div>')
        verdict = answer["label"]
        verdict_name = CLASS_NAMES[verdict] if len(answer["words"]) == 2 else f"class {verdict}"
        top = ", ".join(f"{escape(word)} {p:.3f}" for word, p in answer["top"])
        blocks.append(f'<div class="bertmlm-cloze-model" data-model="{escape(name)}" style="margin:6px 0">'
                      f'<b>{escape(name)}</b>: <b class="verdict" data-label="{verdict}">{verdict_name}</b> '
                      f'(calibrated P = {answer["class_probs"][verdict]:.2f}){"".join(bars)}'
                      f'<div style="font-size:90%">its own top guesses: {top}</div></div>')
    return (f'<div class="bertmlm-cloze"><div style="font-size:90%">asked: '
            f'<i>{escape(question)}</i></div>{"".join(blocks)}</div>')


def cloze_widget(askers: dict, text: str = "the plot was thin but the acting was wonderful and i loved every minute"):
    """A text box; each `Cloze` of `askers` (name -> Cloze) answers the question about the typed review."""
    def render(review: str) -> str:
        question = next(iter(askers.values())).prompt.template.replace("{review}", review.strip())
        return render_cloze(question, {name: asked.answer([review])[0] for name, asked in askers.items()})

    return review_widget(render, text, "bertmlm-cloze-text", "Could not ask the model")
