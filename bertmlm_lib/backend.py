"""Import TensorFlow and Keras once, quietly.

TensorFlow prints start-up lines from C++ (CUDA probes, oneDNN notes) straight to the process's
stderr, before its own log settings apply, so they would land in every notebook's output. We
import it with the stderr file descriptor pointed at /dev/null, and let device discovery happen
inside the same window. Errors still raise as usual; later messages are shown as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _silenced_stderr_fd():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded shells): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow():
    """Return the `tensorflow` module, importing it (and keras) silently the first time."""
    if "tensorflow" in sys.modules and getattr(load_tensorflow, "_ready", False):
        return sys.modules["tensorflow"]
    with _silenced_stderr_fd():
        import tensorflow as tf
        import keras  # noqa: F401  (keras picks its backend now; bertmlm_lib set tensorflow)

        tf.config.list_physical_devices()
    load_tensorflow._ready = True
    return tf
