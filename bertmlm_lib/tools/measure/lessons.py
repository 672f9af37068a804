"""What each lesson costs a learner: wall time and peak memory of every notebook, run as a learner
runs them (`bertmlm bench --lessons`).

Each notebook gets a fresh kernel, one after another on one artifacts folder, so a lesson finds what
the earlier ones made. The kernel's resident memory (with any child processes) is sampled several
times a second; with `server=True` an idle JupyterLab server runs beside it and is counted too,
because on Binder the server shares the same memory limit.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ...errors import BertmlmError

SAMPLE_SECONDS = 0.2


def _rss_mb(process) -> float:
    """Resident memory of a process and its children, in MB (0 once it is gone)."""
    import psutil

    try:
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except psutil.Error:
        return 0.0


class PeakMemory:
    """Samples the memory of some processes in a thread: `peak_mb` is the largest sum seen, `first_peak_mb`
    the largest of the first process alone."""

    def __init__(self, pids):
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak_mb = self.first_peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            sizes = [_rss_mb(process) for process in self.processes]
            self.peak_mb, self.first_peak_mb = max(self.peak_mb, sum(sizes)), max(self.first_peak_mb, sizes[0])
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def code_cells(path: Path) -> list[str]:
    """The source of each code cell of a notebook, in order."""
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def _save_figures(message, folder: Path, stem: str, cell: int, saved: list) -> None:
    """Write the PNG of a display message (a matplotlib figure) as `<notebook>_cell<N>_<k>.png`."""
    import base64

    if message["msg_type"] in ("display_data", "execute_result") and "image/png" in message["content"]["data"]:
        path = folder / f"{stem}_cell{cell:02d}_{len(saved) + 1}.png"
        path.write_bytes(base64.b64decode(message["content"]["data"]["image/png"]))
        saved.append(path.name)


def run_notebook(path: Path, env: dict, timeout: float = 1800, extra_pids=(), figures: Path | None = None) -> dict:
    """Run one notebook's code cells in a fresh kernel; its seconds (kernel start to last cell, and per code
    cell) and peak memory, of the kernel alone and with `extra_pids` (a Jupyter server) counted.

    Raises BertmlmError naming the cell when one fails: a lesson that breaks is not a timing."""
    from jupyter_client.manager import KernelManager

    started = time.perf_counter()
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(path.parent), stderr=subprocess.DEVNULL)  # its log lines are not the lesson's
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=120)
        cell_seconds, peak_after_cell, saved = [], [], []
        with PeakMemory([manager.provisioner.pid, *extra_pids]) as memory:
            for number, source in enumerate(code_cells(path), start=1):
                cell_started = time.perf_counter()
                errors = []

                def keep_errors(message, errors=errors, number=number):
                    if message["msg_type"] == "error":
                        errors.append(f"{message['content']['ename']}: {message['content']['evalue']}")
                    if figures is not None:
                        _save_figures(message, figures, path.stem, number, saved)

                reply = client.execute_interactive(source, timeout=timeout, output_hook=keep_errors, store_history=False)
                if reply["content"]["status"] != "ok":
                    raise BertmlmError(f"{path.name}, code cell {number} failed ({'; '.join(errors) or 'no message'}): "
                                       f"run the notebook by hand to see the error, fix it, then measure again.")
                cell_seconds.append(round(time.perf_counter() - cell_started, 1))
                peak_after_cell.append(round(memory.first_peak_mb))  # where it rises, that cell set a new peak
        return {"notebook": path.stem, "seconds": round(time.perf_counter() - started, 1),
                "peak_mb": round(memory.peak_mb), "peak_kernel_mb": round(memory.first_peak_mb),
                "cell_seconds": cell_seconds, "kernel_peak_after_cell_mb": peak_after_cell, "figures": saved}
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(folder: Path, env: dict) -> subprocess.Popen:
    """An idle JupyterLab server on a free local port, as Binder runs one beside the kernel."""
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={free_port()}", "--ServerApp.token=",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={folder}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root; Binder does not
        command.append("--allow-root")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)  # let it load its extensions: its memory then stays about level
    if server.poll() is not None:
        raise BertmlmError("the JupyterLab server did not start: is jupyterlab installed (pip install jupyterlab)?")
    return server


def run(notebooks, preset: str = "workshop", artifacts: str | os.PathLike | None = None, server: bool = False,
        figures: str | os.PathLike | None = None, progress=print) -> dict:
    """Run `notebooks` (paths, in order) in `preset` on one artifacts folder; one row per notebook.

    Figures are drawn as in a notebook (matplotlib's inline backend); with `figures`, each is saved
    there as PNG, to look at them at the size a learner sees them."""
    paths = [Path(path) for path in notebooks]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise BertmlmError(f"no notebook at {', '.join(missing)}: run this from a clone of the repository "
                           "(the lessons live in notebooks/), or pass --notebooks.")
    env = {**os.environ, "BERTMLM_PRESET": preset, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if figures:
        Path(figures).mkdir(parents=True, exist_ok=True)
    if artifacts:
        env["BERTMLM_ARTIFACTS"] = str(Path(artifacts).resolve())  # the kernels run in the notebooks' folder
    jupyter = start_server(paths[0].parent, env) if server else None
    rows = []
    try:
        for path in paths:
            row = run_notebook(path, env, extra_pids=[jupyter.pid] if jupyter else (),
                               figures=Path(figures) if figures else None)
            row["words"] = prose_words(path)
            rows.append(row)
            slowest = max(range(len(row["cell_seconds"])), key=row["cell_seconds"].__getitem__, default=None)
            progress(f"{row['notebook']}: {row['seconds']:.0f} s, peak {row['peak_kernel_mb']:,} MB (kernel)"
                     + (f", {row['peak_mb']:,} MB with the JupyterLab server" if server else "")
                     + (f"; slowest: code cell {slowest + 1}, {row['cell_seconds'][slowest]:.0f} s" if slowest is not None
                        else ""))
    finally:
        if jupyter:
            jupyter.terminate()
            jupyter.wait(timeout=30)
    return {"preset": preset, "server_counted": server, "lessons": rows,
            "protocol": "each notebook in a fresh kernel, one after another on one artifacts folder; memory sampled "
                        f"every {SAMPLE_SECONDS} s" + ("; an idle JupyterLab server counted with the kernel" if server
                                                      else "")}


# Minutes each lesson has in the workshop agenda (docs/instructor.md); 01 and 02 share 15.
SLOT_MINUTES = {"01_data": 6, "02_vectorization": 9, "03_masking": 10, "04_model": 10, "05_pretraining": 20,
                "06_finetuning": 20, "07_end_to_end": 15}
WORDS_PER_MINUTE = 200  # a learner's reading speed, for prose they are meant to follow
SLOT_SHARE = 0.6  # reading + running may take this share of a slot; the rest is for talk and exercises
WORDS_IN_LESSONS = 5000  # lessons 01-07 together


def markdown_texts(notebook: str | os.PathLike) -> list[str]:
    """The text of each markdown cell of a notebook (an .ipynb, or its jupytext `py:percent` twin, whose
    `# ` line prefixes are taken off)."""
    path = Path(notebook)
    if path.suffix == ".py":
        cells = re.split(r"^# %%", path.read_text(encoding="utf-8"), flags=re.M)[1:]
        return [re.sub(r"^# ?", "", cell.split("\n", 1)[1] if "\n" in cell else "", flags=re.M)
                for cell in cells if cell.startswith(" [markdown]")]
    import nbformat

    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]


def words_in(text: str) -> int:
    """Words of prose, counted as runs of letters: a reader reads each part of "fill-mask" and of
    `stages.vocabulary`; numbers and markup are not counted.

    >>> words_in("## Call `stages.vocabulary`: 2,000 fill-mask rows.")
    6
    """
    return len(re.findall(r"[A-Za-z]+", text))


def prose_words(notebook: str | os.PathLike) -> int:
    """Words (`words_in`) of a notebook's markdown cells."""
    return sum(words_in(text) for text in markdown_texts(notebook))


def recount_words(report: dict, folder: str | os.PathLike = "notebooks") -> dict:
    """`report` with each row's `words` counted again from the notebooks in `folder` (after prose-only edits,
    which change no run time)."""
    return {**report, "lessons": [{**row, "words": prose_words(Path(folder) / f"{row['notebook']}.ipynb")}
                                  for row in report["lessons"]]}


def reading_and_running_minutes(row: dict) -> float:
    """Minutes a learner spends reading the lesson's prose and waiting for its cells."""
    return row["words"] / WORDS_PER_MINUTE + row["seconds"] / 60


def over_slot(report: dict) -> list[str]:
    """The lessons whose reading and running take more than `SLOT_SHARE` of their slot, and the word total
    of lessons 01-07 if it is over `WORDS_IN_LESSONS`.

    >>> over_slot({"lessons": [{"notebook": "04_model", "words": 900, "seconds": 24},
    ...                        {"notebook": "05_pretraining", "words": 2200, "seconds": 170}]})
    ['05_pretraining: 13.8 of 20 minutes']
    """
    rows = [row for row in report["lessons"] if row["notebook"] in SLOT_MINUTES]
    wrong = [f"{row['notebook']}: {reading_and_running_minutes(row):.1f} of {SLOT_MINUTES[row['notebook']]} minutes"
             for row in rows if reading_and_running_minutes(row) > SLOT_SHARE * SLOT_MINUTES[row["notebook"]]]
    total = sum(row["words"] for row in rows)
    return wrong + ([f"lessons 01-07: {total:,} words"] if total > WORDS_IN_LESSONS else [])


def duration(seconds: float) -> str:
    """How a lesson states its run time: "40 s" under two minutes, "2.9 minutes" above."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def format_table(report: dict) -> str:
    """The README's lesson table: words of prose, seconds and peak memory per notebook (and with the server,
    if counted)."""
    server = report["server_counted"]
    lines = ["| lesson | words | runs in | peak memory, kernel |" + (" kernel + JupyterLab server |" if server else ""),
             "|---|---|---|---|" + ("---|" if server else "")]
    lines += [f"| {row['notebook']} | {row['words']:,} | {row['seconds']:.0f} s | {row['peak_kernel_mb']:,} MB |"
              + (f" {row['peak_mb']:,} MB |" if server else "") for row in report["lessons"]]
    return "\n".join(lines)
