"""What a learner does in JupyterLab, as Playwright steps: open a notebook, run every cell, read outputs.

Readiness is read from JupyterLab itself (exposed to the page with `expose_app_in_browser`): the
kernel's status and the cells' execution counts. "Run All Cells" sent right after the kernel turns
idle is sometimes dropped (measured: 4 of 12 tries), so it is re-sent until a cell is queued or runs;
nothing waits a fixed time.
"""

from __future__ import annotations

import time

PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"

KERNEL_IDLE = f"""() => {{
  const panel = {PANEL};
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!(kernel && kernel.status === 'idle' && panel.content && panel.content.widgets.length > 0);
}}"""

RUN_STATE = f"""() => {{
  const panel = {PANEL};
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const running = Array.from(panel.node.querySelectorAll('.jp-InputPrompt')).some(p => p.textContent.includes('*'));
  const executed = cells.filter(cell => cell.model.executionCount !== null).length;
  let errors = [];
  for (const cell of cells) {{
    for (let i = 0; i < cell.model.outputs.length; i++) {{
      const output = cell.model.outputs.get(i);
      if (output.type === 'error') {{
        const value = output.toJSON();
        errors.push(value.ename + ': ' + value.evalue);
      }}
    }}
  }}
  return {{code: cells.length, executed, running, errors}};
}}"""


class NotebookError(AssertionError):
    """A cell of the notebook showed an error output."""


def open_notebook(page, lab: dict, name: str, timeout: float = 120) -> None:
    """Open `notebooks/<name>` in JupyterLab and wait until its kernel is idle."""
    # ?reset: no tabs restored from earlier tests; the token logs this fresh browser context in
    page.goto(f"{lab['url']}/lab/tree/notebooks/{name}?reset&token={lab['token']}")
    page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000)


def run_all_cells(page, timeout: float = 600, attempts: int = 5) -> dict:
    """Run every cell like "Run > Run All Cells" and wait until all finished (or one failed)."""
    for _ in range(attempts):
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:  # accepted when a cell is queued ([*]) or has already run
            page.wait_for_function(f"() => {{ const s = ({RUN_STATE})(); return s.running || s.executed > 0; }}",
                                   timeout=15_000)
            break
        except Exception:  # Playwright's TimeoutError: the command was dropped; send it again
            continue
    else:
        raise AssertionError(f"'Run All Cells' was never accepted in {attempts} tries")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(f"({RUN_STATE})()")
        if state["errors"]:
            raise NotebookError("a cell shows an error output: " + "; ".join(state["errors"]))
        if not state["running"] and state["executed"] == state["code"]:
            return state
        page.wait_for_timeout(500)  # polling interval, not a fixed wait for readiness
    raise AssertionError(f"the notebook did not finish within {timeout:.0f} s: {state}")


def assert_clean(page) -> None:
    """No uncaught exception in the page, and no console error from widget code."""
    assert not page.uncaught, f"uncaught exceptions in the page: {page.uncaught}"
    widget_errors = [text for text in page.console_errors
                     if any(word in text.lower() for word in ("widget", "bertmlm", "render", "comm"))]
    assert not widget_errors, f"widget errors in the browser console: {widget_errors}"
