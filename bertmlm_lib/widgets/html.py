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
