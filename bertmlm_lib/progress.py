"""One in-place progress display: a line that rewrites itself, never a stream of lines.

In Jupyter it is a single output updated in place (so saved notebooks hold one line, not
hundreds); in a terminal it rewrites one line with a carriage return; when output goes to a
file or CI log it prints one line a minute (`LOG_EVERY_SECONDS`) and the final line, so a log
shows the run is alive without filling up.
"""

from __future__ import annotations

import sys
import time

LOG_EVERY_SECONDS = 60.0  # how often a display writes a line when its output is a file or a CI log


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Binder, Colab), where displays can update in place.

    A kernel's shell has a `kernel` attribute; a terminal IPython's does not.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _human(n: float, unit: str) -> str:
    if unit == "B":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if n >= scale:
                return f"{n / scale:.1f} {suffix}"
        return f"{int(n)} B"
    number = f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"
    return f"{number}{(' ' + unit) if unit else ''}"


class Progress:
    """Track `total` units of work under a description; use as a context manager.

    >>> with Progress(3, "reading", enabled=False) as bar:
    ...     bar.update(3)
    """

    def __init__(self, total: float | None, description: str, unit: str = "", enabled: bool = True,
                 min_interval: float = 0.25, log_every: float = LOG_EVERY_SECONDS):
        self.total, self.description, self.unit = total, description, unit
        self.done = 0.0
        self.enabled = enabled
        self.min_interval, self.log_every = min_interval, log_every
        self._last_logged = time.monotonic()
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._handle = None
        self._mode = None
        if enabled:
            if _in_notebook():
                self._mode = "notebook"
            elif sys.stderr.isatty():
                self._mode = "terminal"
            else:
                self._mode = "log"

    def text(self) -> str:
        """The status line as it would be shown now."""
        elapsed = time.monotonic() - self._start
        if self.total:
            share = min(self.done / self.total, 1.0)
            done = _human(self.done, self.unit if self.unit == "B" else "")
            return f"{self.description}: {done} of {_human(self.total, self.unit)} ({share:.0%}) in {elapsed:.1f} s"
        return f"{self.description}: {_human(self.done, self.unit)} in {elapsed:.1f} s"

    def update(self, amount: float = 1) -> None:
        """Record `amount` more units done and redraw, at most every `min_interval` seconds."""
        self.done += amount
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw(final=False)

    def _draw(self, final: bool) -> None:
        if self._mode == "notebook":
            from IPython.display import display

            if self._handle is None:
                self._handle = display(self.text(), display_id=True)
            else:
                self._handle.update(self.text())
        elif self._mode == "terminal":
            sys.stderr.write("\r" + self.text() + ("\n" if final else ""))
            sys.stderr.flush()
        elif self._mode == "log" and (final or time.monotonic() - self._last_logged >= self.log_every):
            self._last_logged = time.monotonic()
            print(self.text(), file=sys.stderr, flush=True)

    def close(self) -> None:
        """Draw the final state once."""
        self._draw(final=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.close()
