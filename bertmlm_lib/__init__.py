"""bertmlm: masked language modeling with a small BERT in Keras 3, one module per stage.

The TensorFlow backend is chosen here, before anything imports keras, because the string
preprocessing (TextVectorization) lives inside the models we save. A user who already set
KERAS_BACKEND keeps their choice; the library checks it when a stage needs TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ log lines (CUDA probes, oneDNN kernel notes) land in notebook outputs and are
# noise in a lesson; Python errors still raise. Set TF_CPP_MIN_LOG_LEVEL=0 to see them again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .errors import BertmlmError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["BertmlmError", "__version__", "check_versions", "start_lesson"]

MINIMUM_VERSIONS = {"tensorflow": "2.20", "keras": "3.13"}  # what Colab ships; CI tests both ends


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


def start_lesson():
    """What every notebook does first: check versions, load the config (BERTMLM_PRESET, else
    workshop), print both in one line, and return the config."""
    from . import config

    versions = check_versions()
    cfg = config.load()
    print(", ".join(f"{name} {version}" for name, version in versions.items())
          + f" | preset {cfg.preset!r}, artifacts in {cfg.artifacts_dir}")
    return cfg
