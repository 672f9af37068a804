"""Do what repo2docker does, in a new venv: its Jupyter, binder/requirements.txt, then postBuild.

It takes a minute or two, mostly waiting on pip, so `conftest.py` starts it in a background thread as
soon as the tests are collected and `test_binder.py` checks what it found, last. Every step's failure
is kept and raised by the test, with pip's own message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = ("jupyterlab", "jupyter-server", "ipykernel", "ipywidgets", "jupyterlab-widgets", "widgetsnbextension")


def _run(*command, env, cwd=None, timeout=900) -> str:
    done = subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")
    return done.stdout


def _frozen(python, env) -> dict:
    """name -> version of what a venv has installed."""
    lines = _run(python, "-m", "pip", "freeze", env=env).splitlines()
    return dict(line.lower().split("==", 1) for line in lines if "==" in line)


def install(folder: Path) -> dict:
    """Install as repo2docker would into `folder`/venv; what the checks need: the Jupyter packages before
    and after the requirements, the library's versions, JupyterLab's version and its settings folder."""
    venv = folder / "venv"
    _run(sys.executable, "-m", "venv", venv, env=os.environ)
    python = venv / "bin" / "python"
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    # repo2docker's base environment brings JupyterLab 4 and ipywidgets 8 (its environment.yml)
    _run(python, "-m", "pip", "install", "-q", "jupyterlab==4.*", "ipywidgets==8.*", env=env)
    before = _frozen(python, env)
    _run(python, "-m", "pip", "install", "-q", "-r", ROOT / "binder" / "requirements.txt", env=env)
    after = _frozen(python, env)
    _run("bash", ROOT / "binder" / "postBuild", env=env, cwd=ROOT, timeout=600)
    return {
        "jupyter_before": {name: before.get(name) for name in JUPYTER},
        "jupyter_after": {name: after.get(name) for name in JUPYTER},
        "versions": _run(python, "-c", "import bertmlm_lib; print(bertmlm_lib.check_versions())", env=env),
        "lab_version": _run(venv / "bin" / "jupyter", "lab", "--version", env=env).strip(),
        "has_command": (venv / "bin" / "bertmlm").exists(),
        # JupyterLab reads its default overrides from <application directory>/settings/overrides.json
        "app_dir": _run(venv / "bin" / "jupyter", "lab", "path", env=env).split("Application directory:")[1]
                   .splitlines()[0].strip(),
    }


class BackgroundInstall:
    """`install` in a thread of its own, in a temporary folder removed by `close`."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="bertmlm-binder-"))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="binder-install")
        self.future: Future = self._pool.submit(install, self.folder)

    def result(self, timeout: float = 1800) -> dict:
        return self.future.result(timeout=timeout)

    def close(self) -> None:
        self.future.cancel()
        self._pool.shutdown(wait=True)
        shutil.rmtree(self.folder, ignore_errors=True)
