"""Saving and loading stage outputs: atomic writes, so a kill never leaves a half file behind.

It also names the files of an artifacts folder, in one place, for every module that reads or writes
them (the scheduler of `bertmlm run` too, which must not import TensorFlow to check them):

    vocabulary.json                     the vocabulary (`vectorize.VOCABULARY_FILE`)
    pretrain/checkpoint.keras + .json   the pretraining model with its optimizer, and its metadata
    pretrain/encoder.keras              the encoder alone, what fine-tuning starts from
    pretrain/log.jsonl, fill_mask.jsonl one line per pretraining run; the fill-mask panel's history
    pretrain/snapshots/                 the encoder at chosen training minutes (`snapshot_minutes`), and
                                        snapshots.json: step, minutes and held-out scores of each
    finetune/sentiment.keras            the end-to-end model on raw strings
    finetune/finetune.json, evaluate.json
    report.json                         what `bertmlm run` found (and report.md, its plots)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from .errors import ArtifactError

PRETRAIN_FOLDER = "pretrain"
CHECKPOINT_FILE = "checkpoint.keras"
CHECKPOINT_META = "checkpoint.json"
ENCODER_FILE = "encoder.keras"
LOG_FILE = "log.jsonl"
FILL_MASK_LOG = "fill_mask.jsonl"
SNAPSHOT_FOLDER = "snapshots"
SNAPSHOT_INDEX = "snapshots.json"
FINETUNE_FOLDER = "finetune"
MODEL_FILE = "sentiment.keras"
FINETUNE_SUMMARY = "finetune.json"
EVALUATE_FILE = "evaluate.json"
REPORT_FILE = "report.json"  # what `bertmlm run` reports


def snapshot_file(minutes: float) -> str:
    """The file name of the encoder snapshot taken after `minutes` of training.

    >>> snapshot_file(5), snapshot_file(120)
    ('encoder_at_5min.keras', 'encoder_at_120min.keras')
    """
    return f"encoder_at_{minutes:g}min.keras"


def ensure_folder(folder: str | os.PathLike) -> Path:
    """Create the artifacts folder if needed, with a clear error when it cannot be written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(
            f"cannot create the artifacts folder {folder} ({exc.strerror or exc}). "
            "Pass a writable folder with --artifacts (or set BERTMLM_ARTIFACTS)."
        ) from exc
    return folder


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place."""
    path = Path(path)
    ensure_folder(path.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are ordinary files
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ArtifactError(
            f"could not write {path} ({exc.strerror or exc}); the previous version, if any, is intact. "
            "Free some disk space or choose another --artifacts folder."
        ) from exc
    return path


def save_model_atomically(model, path: str | os.PathLike) -> Path:
    """`model.save(path)` through a temporary `.keras` file renamed into place: never a half-written model."""
    path = Path(path)
    ensure_folder(path.parent)
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp.keras"
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_json(path: str | os.PathLike, value) -> Path:
    """Atomically write `value` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def read_json(path: str | os.PathLike, what: str, fix: str):
    """Read a JSON artifact; a missing or damaged file raises ArtifactError saying `what` and `fix`."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no {what} at {path}: {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"the {what} at {path} is damaged ({exc}): {fix}") from exc


def load_model(path: str | os.PathLike, what: str, make_it: str, compile: bool = False):
    """Load a saved Keras model (`safe_mode=True`). Missing or unreadable -> ArtifactError naming the file,
    `what` it is and the command that makes it (`make_it`, e.g. "run `bertmlm pretrain`")."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no {what} at {path}: {make_it} first.")
    try:
        return load_keras_file(path, compile=compile)
    except Exception as exc:  # Keras raises many types for a truncated zip, a foreign format, an unknown layer
        raise ArtifactError(
            f"the {what} {path} cannot be read ({type(exc).__name__}: {str(exc)[:160]}): it is damaged or from "
            f"another version; delete it and {make_it} again."
        ) from exc


# Where Keras keeps the classes whose saved settings are plain keyword arguments (explicit signatures).
_SETTINGS_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints")


def drop_settings_unknown_here(node, dropped: list) -> None:
    """Remove, in place, the settings of initializers, regularizers and constraints that this Keras does
    not know and that hold their default (None): what a newer Keras writes and an older one refuses.

    Keras 3.15, for one, saves `GlorotUniform(input_axes=None, output_axes=None)`; Keras 3.13 (Colab's)
    raises on the unknown keywords. Dropping a None is lossless; anything else is kept, and fails loudly.
    `dropped` collects "Class.setting" for each removal.
    """
    import importlib
    import inspect

    if isinstance(node, list):
        for item in node:
            drop_settings_unknown_here(item, dropped)
        return
    if not isinstance(node, dict):
        return
    if node.get("module") in _SETTINGS_MODULES and isinstance(node.get("config"), dict):
        cls = getattr(importlib.import_module(node["module"]), str(node.get("class_name")), None)
        if cls is not None:
            known = inspect.signature(cls.__init__).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in known.values()):
                for key in [k for k, v in node["config"].items() if k not in known and v is None]:
                    del node["config"][key]
                    dropped.append(f"{node['class_name']}.{key}")
    for value in node.values():
        drop_settings_unknown_here(value, dropped)


def load_keras_file(path: str | os.PathLike, compile: bool = False):
    """`keras.saving.load_model` in safe mode that also reads a file saved by a newer Keras, when all it
    added are default-valued settings this Keras does not know (see `drop_settings_unknown_here`)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (TypeError, ValueError) as first:
        if "unexpected keyword argument" not in str(first) and "could not be deserialized" not in str(first):
            raise
        with zipfile.ZipFile(path) as saved:
            settings = json.loads(saved.read("config.json"))
            dropped: list[str] = []
            drop_settings_unknown_here(settings, dropped)
            if not dropped:
                raise
            with tempfile.TemporaryDirectory() as scratch:
                portable = Path(scratch) / Path(path).name
                with zipfile.ZipFile(portable, "w", zipfile.ZIP_DEFLATED) as out:
                    for name in saved.namelist():
                        out.writestr(name, json.dumps(settings) if name == "config.json" else saved.read(name))
                return keras.saving.load_model(portable, compile=compile, safe_mode=True)


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (used to tell abandoned temporary files from live ones)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(folder: Path, pattern: str, pid_group: int = 1) -> int:
    """Delete entries of `folder` matching regex `pattern` whose embedded process id is gone; return how many."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        match = re.fullmatch(pattern, entry.name)
        if match and not pid_alive(int(match.group(pid_group))):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


LOCK_FILE = ".bertmlm.lock"
_HELD: dict[Path, int] = {}  # locks this process holds -> depth, so a stage inside a stage does not block itself
# Set by a lock holder for the child process it starts (`bertmlm run` runs each stage in one): "pid:lock path".
HELD_LOCK_ENV = "BERTMLM_HELD_LOCK"


def held_lock_environment(folder: str | os.PathLike) -> dict:
    """Environment entries that let a child of this process work in `folder`, whose lock this process holds."""
    return {HELD_LOCK_ENV: f"{os.getpid()}:{(ensure_folder(folder) / LOCK_FILE).resolve()}"}


def _held_by_parent(key: Path) -> bool:
    """Whether our parent process holds this lock and passed it down (see `held_lock_environment`)."""
    pid, _, path = os.environ.get(HELD_LOCK_ENV, "").partition(":")
    return path == str(key) and pid == str(os.getppid())


class exclusive:
    """Hold an artifacts folder for one run: a second run on the same folder is refused, not interleaved.

    The lock is an OS file lock (`flock`) on `<folder>/.bertmlm.lock`, released when the holder ends,
    even by `kill -9`, so a killed run never leaves the folder locked. The file records the holder's
    process id for the message. On systems without `fcntl` (Windows) no lock is taken.

    >>> with exclusive(folder, "pretraining"):  # doctest: +SKIP
    ...     train()
    """

    def __init__(self, folder: str | os.PathLike, what: str):
        self.path, self.what, self.handle = ensure_folder(folder) / LOCK_FILE, what, None

    def __enter__(self):
        key = self.path.resolve()
        if _HELD.get(key) or _held_by_parent(key):
            _HELD[key] = _HELD.get(key, 0) + 1
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ArtifactError(
                f"the artifacts folder {self.path.parent} is in use by another bertmlm run ({holder}); "
                f"{self.what} would overwrite its files: wait for it to finish, or pass another --artifacts folder."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}, {self.what}")
        handle.flush()
        self.handle = handle
        _HELD[key] = 1
        return self

    def __exit__(self, *exc):
        key = self.path.resolve()
        if _HELD.get(key, 0) > 1:
            _HELD[key] -= 1
            return
        _HELD.pop(key, None)
        if self.handle is not None:
            self.handle.close()  # closing releases the lock
            self.handle = None
