"""bertmlm: masked language modeling with a small BERT in Keras 3, one module per stage.

The TensorFlow backend is chosen here, before anything imports keras, because the string
preprocessing (TextVectorization) lives inside the models we save. A user who already set
KERAS_BACKEND keeps their choice; the library checks it when a stage needs TensorFlow.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ log lines (CUDA probes, oneDNN kernel notes) land in notebook outputs and are
# noise in a lesson; Python errors still raise. Set TF_CPP_MIN_LOG_LEVEL=0 to see them again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .errors import BertmlmError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["BertmlmError", "__version__", "check_versions", "keep_on_drive", "start_lesson"]

MINIMUM_VERSIONS = {"tensorflow": "2.20", "keras": "3.13"}  # what Colab ships; CI tests both ends
COLAB_DRIVE = Path("/content/drive/MyDrive")  # where Colab mounts a learner's Google Drive


def _as_tuple(version):
    """'3.15.1' -> (3, 15): enough to compare against the minimums above."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_versions():
    """Return the versions the tutorial runs on, raising if one is older than it was tested with.

    The first cell of every notebook calls this, so a stale Colab or Binder image fails with a
    message instead of a confusing error three lessons later.
    """
    import importlib

    from .backend import load_tensorflow

    load_tensorflow()
    found = {}
    for module_name, minimum in MINIMUM_VERSIONS.items():
        module = importlib.import_module(module_name)
        found[module_name] = module.__version__
        if _as_tuple(module.__version__) < _as_tuple(minimum):
            raise BertmlmError(
                f"{module_name} {module.__version__} is older than {minimum}, which this tutorial "
                f"needs: run `pip install -U 'bertmlm'` (or the README's install command) and restart the kernel."
            )
    backend = os.environ.get("KERAS_BACKEND")
    if backend != "tensorflow":
        raise BertmlmError(
            f"KERAS_BACKEND is {backend!r}, but the tutorial's models keep their string preprocessing "
            "inside TensorFlow: unset KERAS_BACKEND (or set it to 'tensorflow') and restart the kernel."
        )
    found["python"] = ".".join(map(str, __import__("sys").version_info[:3]))
    return found


def keep_on_drive(drive: str | os.PathLike | None = None) -> Path | None:
    """On Colab with Google Drive mounted (at `drive`, default `COLAB_DRIVE`), keep the data and the
    artifacts in `MyDrive/bertmlm` (it sets BERTMLM_CACHE), so each notebook's fresh Colab machine finds
    what the lessons before it made, and the archive is downloaded once per Drive. Returns that folder;
    None off Colab, without a mounted Drive, or when BERTMLM_CACHE is already set (your choice wins)."""
    from .config import CACHE_ENV

    drive = Path(drive or COLAB_DRIVE)
    if "google.colab" not in sys.modules or os.environ.get(CACHE_ENV) or not drive.is_dir():
        return None
    folder = drive / "bertmlm"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[CACHE_ENV] = str(folder)
    return folder


def start_lesson():
    """What every notebook does first: check versions, load the config (BERTMLM_PRESET, else
    workshop), print both in one line, and return the config. On Colab it keeps the work on Google
    Drive when Drive is mounted (`keep_on_drive`), and says how otherwise."""
    from . import config

    versions = check_versions()
    kept = keep_on_drive()
    cfg = config.load()
    print(", ".join(f"{name} {version}" for name, version in versions.items())
          + f" | preset {cfg.preset!r}, artifacts in {cfg.artifacts_dir}")
    if kept:
        print(f"Google Drive: data and artifacts kept in {kept}, so the next notebook finds your model")
    elif "google.colab" in sys.modules and not os.environ.get(config.CACHE_ENV):
        print("Colab gives each notebook a fresh machine: to keep your model (and the data) for the next "
              "notebook, mount Google Drive (Files panel, 'Mount Drive'), then run this cell again")
    return cfg
