"""Fill-mask views: probability bars for each `[mask]`, and the live training panel.

`render_predictions(results)` and `render_training_panel(history, answers)` are pure renderers
(plain data in, HTML out); `fill_mask_widget(masker)` wires a text box and a top-k control to the
first one.
"""

from __future__ import annotations

from ..errors import BertmlmError
from .html import error_box, escape, figure_to_img


def render_predictions(results: list[dict]) -> str:
    """One block per text and per `[mask]`: a horizontal bar per candidate word, width = probability."""
    blocks = []
    for result in results:
        rows = [f'<div class="text" style="font-family:monospace;margin:4px 0">{escape(result["text"])}</div>']
        for mask in result["masks"]:
            bars = []
            for p in mask["predictions"]:
                width = max(0.0, min(1.0, p["prob"])) * 100
                bars.append(
                    f'<div class="bar-row" style="display:flex;align-items:center;gap:6px">'
                    f'<span class="word" style="width:9em;text-align:right">{escape(p["token"])}</span>'
                    f'<span class="bar" data-prob="{p["prob"]:.6f}" style="display:inline-block;height:12px;'
                    f'width:{width:.2f}%;max-width:60%;background:#4c78a8"></span>'
                    f'<span class="prob">{p["prob"]:.3f}</span></div>'
                )
            rows.append(f'<div class="mask" data-position="{mask["position"]}"><b>[mask] at word '
                        f'{mask["position"]}</b>{"".join(bars)}</div>')
        if result.get("note"):
            rows.append(f'<div class="note" style="color:#8a6d1c">note: {escape(result["note"])}</div>')
        blocks.append(f'<div class="bertmlm-fill-mask-result">{"".join(rows)}</div>')
    return f'<div class="bertmlm-fill-mask">{"".join(blocks)}</div>'


def render_training_panel(history: list[dict], answers: list[str]) -> str:
    """The live panel: the latest top words per probe, and P(expected word) per probe over the steps."""
    import matplotlib.pyplot as plt

    if not history:
        return error_box("No fill-mask snapshot yet.")
    latest = history[-1]
    rows = []
    for result in latest["results"]:
        mask = result["masks"][0]
        guesses = ", ".join(f"{escape(p['token'])} ({p['prob']:.2f})" for p in mask["predictions"])
        rows.append(f"<tr><td style='text-align:left'>{escape(result['text'])}</td>"
                    f"<td style='text-align:left'>{guesses}</td></tr>")
    table = (f"<table class='probes'><caption>top words at step {latest['step']}</caption>"
             "<tr><th>probe</th><th>model's top guesses</th></tr>" + "".join(rows) + "</table>")
    figure, ax = plt.subplots(figsize=(6, 2.8))
    plot_expected_word(history, answers, ax)
    return f"<div class='bertmlm-training-panel'>{table}{figure_to_img(figure)}</div>"


def plot_expected_word(history: list[dict], answers: list[str], ax):
    """P(expected word) per probe against training steps (from the fill-mask snapshots)."""
    steps = [entry["step"] for entry in history]
    for probe_index, answer in enumerate(answers):
        values = [entry["results"][probe_index]["masks"][0].get("targets", {}).get(answer) for entry in history]
        if all(v is not None for v in values):
            ax.plot(steps, values, marker="o", label=f"P({answer}) in probe {probe_index + 1}")
    ax.set_title("Probability of the expected word")
    ax.set_xlabel("training step")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, loc="upper left")
    return ax


def render_fill_mask_for_text(masker, text: str, top_k: int) -> str:
    """Run fill-mask on one text and render it; a text the model cannot use gives a message."""

    try:
        return render_predictions(masker(text, top_k=int(top_k)))
    except BertmlmError as exc:
        return error_box(str(exc))


def fill_mask_widget(masker, text: str = "i have watched this [mask] and it was awesome"):
    """A text box (press Enter or click 'fill in') and a top-k control, with probability bars per mask."""
    import ipywidgets as widgets

    box = widgets.Text(value=text, description="text", layout=widgets.Layout(width="80%"), continuous_update=False)
    top_k = widgets.BoundedIntText(value=5, min=1, max=20, description="top k")
    button = widgets.Button(description="fill in", button_style="primary")
    view = widgets.HTML()
    box.add_class("bertmlm-fill-mask-text")  # for the browser tests
    button.add_class("bertmlm-fill-mask-button")

    def redraw(*_):
        try:
            view.value = render_fill_mask_for_text(masker, box.value, top_k.value)
        except Exception as exc:  # keep the cell free of tracebacks
            view.value = error_box(f"Could not fill in this text: {exc}")

    box.observe(redraw, names="value")
    top_k.observe(redraw, names="value")
    button.on_click(redraw)
    redraw()
    return widgets.VBox([widgets.HBox([box, button]), top_k, view])
