"""Small HTML helpers shared by the widget renderers."""

from __future__ import annotations

import base64
import html
import io


def escape(text) -> str:
    return html.escape(str(text), quote=True)


def error_box(message: str) -> str:
    """A message shown inside the widget instead of a traceback in the cell."""
    return (f'<div class="bertmlm-error" style="color:#8a1c1c;background:#fdecea;border:1px solid #f5c2c0;'
            f'padding:6px 10px;border-radius:4px">{escape(message)}</div>')


def figure_to_img(figure) -> str:
    """A matplotlib figure as an inline <img> (PNG, base64), then closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{encoded}"/>'


def review_widget(render, text: str, css_class: str, failure: str):
    """A review text box above an HTML view that shows `render(text)` after each edit (an empty text or a
    failure is shown as a message, never a traceback). `css_class` names the box for the browser tests."""
    import ipywidgets as widgets

    box = widgets.Textarea(value=text, description="review", layout=widgets.Layout(width="90%", height="60px"),
                           continuous_update=False)
    box.add_class(css_class)
    view = widgets.HTML()

    def redraw(*_):
        try:
            view.value = render(box.value) if box.value.strip() else error_box("Type a review: the text is empty.")
        except Exception as exc:  # a widget shows problems, never a traceback in the cell
            view.value = error_box(f"{failure}: {exc}")

    box.observe(redraw, names="value")
    redraw()
    return widgets.VBox([box, view])
