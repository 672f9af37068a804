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


def _glibc():
    """The C library when it is glibc on Linux (for its allocator controls), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (before TensorFlow starts its threads).

    glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed in an
    arena is rarely handed back: with TensorFlow's thread pools that is hundreds of MB of resident
    memory doing nothing. `MALLOC_ARENA_MAX` in the environment wins; elsewhere (macOS, musl) this is
    a no-op. Returns whether the cap was applied."""
    libc = _glibc()
    if os.environ.get("MALLOC_ARENA_MAX") or libc is None:
        return False
    return bool(libc.mallopt(-8, int(arenas)))  # -8 = M_ARENA_MAX


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning off (its parallelism and buffers then stay as set).

    With autotuning on, deleting a dataset's iterator at the end of a long `fit` waits for the
    autotuning thread, which sleeps up to a minute between rounds: on a 2-core CPU about half of the
    fine-tunings and pretraining runs we measured lost 30-60 s there (seen with gdb, TensorFlow 2.21).
    """
    tf = load_tensorflow()
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def release_free_memory() -> None:
    """Hand memory that glibc's malloc holds but no longer uses back to the system (Linux only):
    keeps the resident size of a long run close to what it really uses, between stages."""
    import gc

    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    On Linux we read VmHWM, which starts afresh at exec; `ru_maxrss` would carry over the peak of
    the process that forked us (e.g. `bertmlm run` scheduling its stages).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux KiB, macOS bytes
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def load_tensorflow():
    """Return the `tensorflow` module, importing it (and keras) silently the first time."""
    if "tensorflow" in sys.modules and getattr(load_tensorflow, "_ready", False):
        return sys.modules["tensorflow"]
    limit_malloc_arenas()
    with _silenced_stderr_fd():
        import tensorflow as tf
        import keras  # noqa: F401  (keras picks its backend now; bertmlm_lib set tensorflow)

        tf.config.list_physical_devices()
    load_tensorflow._ready = True
    return tf
