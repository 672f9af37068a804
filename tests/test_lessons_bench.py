"""`bertmlm bench --lessons`: each notebook in a fresh kernel, its seconds and its peak memory."""

import json

import pytest

from bertmlm_lib.tools import cli
from bertmlm_lib.errors import BertmlmError
from bertmlm_lib.tools.measure import lessons


def _notebook(path, *cells):
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["# a lesson"], "metadata": {}}] + [
        {"cell_type": "code", "source": [cell], "metadata": {}, "outputs": [], "execution_count": None}
        for cell in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_each_notebook_runs_in_a_fresh_kernel_and_its_peak_memory_is_seen(tmp_path):
    big = _notebook(tmp_path / "01_big.ipynb", "import os, numpy as np\nkept = np.ones(400 * 2**20 // 8)",
                    "assert os.environ['BERTMLM_PRESET'] == 'smoke'\nprint(kept.sum())")
    small = _notebook(tmp_path / "02_small.ipynb", "assert 'kept' not in globals(), 'a fresh kernel'")
    report = lessons.run([big, small], preset="smoke", progress=lambda line: None)
    first, second = report["lessons"]
    assert first["notebook"] == "01_big" and first["peak_kernel_mb"] > 300 > second["peak_kernel_mb"]
    assert first["peak_mb"] == first["peak_kernel_mb"], "nothing but the kernel counted without a server"
    assert 0 < second["seconds"] and report["server_counted"] is False
    assert len(first["cell_seconds"]) == 2 and sum(first["cell_seconds"]) <= first["seconds"]
    assert lessons.format_table(report).splitlines()[2].startswith("| 01_big |")


def test_figures_are_drawn_as_in_a_notebook_and_saved(tmp_path):
    drawing = _notebook(tmp_path / "01_plot.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
                        "x = 1")
    report = lessons.run([drawing], figures=tmp_path / "figures", progress=lambda line: None)
    assert report["lessons"][0]["figures"] == ["01_plot_cell01_1.png"]
    assert (tmp_path / "figures" / "01_plot_cell01_1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_cell_is_named_not_timed(tmp_path):
    broken = _notebook(tmp_path / "01_broken.ipynb", "x = 1", "raise ValueError('the lesson broke')")
    with pytest.raises(BertmlmError, match=r"01_broken.ipynb, code cell 2 failed \(ValueError: the lesson broke\)"):
        lessons.run([broken], progress=lambda line: None)


def test_the_command_needs_the_lessons_folder(tmp_path, capsys):
    assert cli.main(["bench", "--lessons", "--notebooks", str(tmp_path)]) != 0
    assert "no lesson notebooks ([0-9][0-9]_*.ipynb)" in capsys.readouterr().err
