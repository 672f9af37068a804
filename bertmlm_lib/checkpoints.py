"""Trained models on disk: the pretraining checkpoint, its metadata, and the encoder fine-tuning reads.

Everything that reads a pretrained model goes through here (resuming, fill-mask, fine-tuning,
exporting an instructor checkpoint), so each check is made once, with one message:
- `require_vocabulary`: a model is only meaningful with the vocabulary it was trained on;
- `check_compatible`: resuming needs the same architecture (`config.fields_of("vocabulary", "model")`).

Loading a model needs its layers registered with Keras: importing this module imports `model` and
`schedules`, which register them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .artifacts import (
    CHECKPOINT_FILE,
    CHECKPOINT_META,
    ENCODER_FILE,
    LOG_FILE,
    PRETRAIN_FOLDER,
    SNAPSHOT_FOLDER,
    SNAPSHOT_INDEX,
    snapshot_file,
    load_model,
    read_json,
    save_model_atomically,
    write_json,
)
from .config import Config, fields_of, with_saved_defaults
from .errors import ArtifactError
from . import vocabularies
from .vectorize import VOCABULARY_FILE, Vectorizer
from . import model as _registers_model_layers  # noqa: F401  (a saved model names them)
from . import schedules as _registers_schedule  # noqa: F401

# Settings that change the model or its vocabulary: a checkpoint made with others cannot be resumed.
ARCHITECTURE_FIELDS = fields_of("vocabulary", "model")
MAKE_IT = "run `bertmlm pretrain` (or notebook 05)"


def checkpoint_folder(cfg_or_folder) -> Path:
    """`<artifacts>/pretrain`, for a Config or an artifacts folder."""
    base = cfg_or_folder.artifacts_dir if isinstance(cfg_or_folder, Config) else Path(cfg_or_folder)
    return base / PRETRAIN_FOLDER


def architecture(cfg: Config) -> dict:
    """The settings a checkpoint records so that a resume or an import can be checked against them."""
    return {name: getattr(cfg, name) for name in ARCHITECTURE_FIELDS}


def save_checkpoint(model, folder: Path, meta: dict) -> Path:
    """Write the model (with optimizer state) and its metadata atomically: temp file, then rename."""
    save_model_atomically(model, folder / CHECKPOINT_FILE)
    write_json(folder / CHECKPOINT_META, meta)
    return folder / CHECKPOINT_FILE


def read_checkpoint_meta(folder: Path) -> dict:
    """The metadata beside a checkpoint (step, seconds, config, vocabulary fingerprint)."""
    return read_json(Path(folder) / CHECKPOINT_META, "pretraining checkpoint", f"{MAKE_IT} to make one.")


def require_vocabulary(meta: dict, vectorizer: Vectorizer, folder: Path) -> None:
    """Refuse a model trained with another vocabulary than `vectorizer`: its ids would mean other words."""
    if meta.get("vocabulary_fingerprint") != vectorizer.fingerprint:
        raise ArtifactError(
            f"the model in {folder} was trained with another vocabulary than the {vectorizer.vocabulary_size:,}-word "
            f"{VOCABULARY_FILE} of its artifacts folder: pretrain again in this folder (without --resume), or use "
            "the artifacts folder the model came from."
        )


def check_compatible(meta: dict, cfg: Config, vectorizer: Vectorizer, folder: Path) -> None:
    """Refuse to resume a checkpoint made with another vocabulary or model shape, saying which."""
    require_vocabulary(meta, vectorizer, folder)
    saved = with_saved_defaults(meta.get("architecture", {}))
    differs = {k: (saved.get(k), v) for k, v in architecture(cfg).items() if saved.get(k) != v}
    if differs:
        detail = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in differs.items())
        raise ArtifactError(
            f"the checkpoint in {folder} was made with another model config ({detail}): "
            "use the same preset and settings, or pretrain again without --resume."
        )


def load_checkpoint(folder: Path):
    """The saved pretraining model with its optimizer state; a damaged file gets a clear error."""
    return load_model(Path(folder) / CHECKPOINT_FILE, "pretraining checkpoint", MAKE_IT, compile=True)


def load_pretrained(artifacts: Path):
    """(pretraining model, vectorizer, checkpoint metadata) from an artifacts folder, checked to match."""
    artifacts = Path(artifacts)
    if not artifacts.is_dir():
        raise ArtifactError(f"the artifacts folder {artifacts} does not exist: pass the folder `bertmlm pretrain` wrote to.")
    vectorizer = vocabularies.load(artifacts)
    folder = checkpoint_folder(artifacts)
    meta = read_checkpoint_meta(folder)
    require_vocabulary(meta, vectorizer, folder)
    return load_checkpoint(folder), vectorizer, meta


def save_encoder(model, folder: Path) -> Path:
    """Save the encoder of a pretraining model alone (what fine-tuning needs), atomically."""
    return save_model_atomically(model.encoder, Path(folder) / ENCODER_FILE)


def read_snapshots(folder: Path) -> list[dict]:
    """The snapshots a pretraining folder keeps: [{"minutes", "step", "heldout", "file"}], oldest first."""
    path = Path(folder) / SNAPSHOT_FOLDER / SNAPSHOT_INDEX
    return read_json(path, "snapshot index", "pretrain with snapshot_minutes set.") if path.is_file() else []


def save_snapshot(model, folder: Path, minutes: float, step: int, heldout: dict) -> dict:
    """Keep the encoder as it is after `minutes` of training, and add it to the folder's snapshot index."""
    file = snapshot_file(minutes)
    save_model_atomically(model.encoder, Path(folder) / SNAPSHOT_FOLDER / file)
    entry = {"minutes": minutes, "step": step, "heldout": heldout, "file": file}
    snapshots = [s for s in read_snapshots(folder) if s["minutes"] != minutes] + [entry]
    write_json(Path(folder) / SNAPSHOT_FOLDER / SNAPSHOT_INDEX, sorted(snapshots, key=lambda s: s["minutes"]))
    return entry


# Steps at which pretraining keeps the whole MLM (encoder and head) in half precision, doubling so the
# early change is seen and a long run keeps few: ~2 MB each for the workshop's model. Lesson 06 asks each
# one the cloze question (`cloze.over_steps`): when does a model never told about sentiment learn it?
MLM_SNAPSHOT_STEPS = (0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400)
MLM_SNAPSHOT_FOLDER = "mlm"


def _save_weights(model, path: Path) -> Path:
    """The model's weights in float16, compressed, written atomically to `path` (an .npz)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp.npz")
    np.savez_compressed(scratch, *[np.asarray(w, dtype=np.float16) for w in model.get_weights()])
    scratch.replace(path)
    return path


def save_mlm_snapshot(model, folder: Path, step: int) -> Path:
    """Keep the whole MLM's weights at `step` (float16, compressed) under `snapshots/mlm/`."""
    return _save_weights(model, Path(folder) / SNAPSHOT_FOLDER / MLM_SNAPSHOT_FOLDER / f"step_{step:06d}.npz")


def mlm_snapshots(folder) -> list[tuple[int, Path]]:
    """The MLM snapshots a pretraining folder (or an artifacts folder) keeps: `[(step, path)]`, oldest first."""
    folder = Path(folder)
    found = folder / SNAPSHOT_FOLDER / MLM_SNAPSHOT_FOLDER
    if not found.is_dir():
        found = checkpoint_folder(folder) / SNAPSHOT_FOLDER / MLM_SNAPSHOT_FOLDER
    return sorted((int(p.stem.split("_")[1]), p) for p in found.glob("step_*.npz")) if found.is_dir() else []


def load_mlm_snapshot(model, path: Path):
    """Set `model`'s weights to a kept snapshot's (the model must have the snapshot's shape); returns it."""
    import numpy as np

    with np.load(path) as saved:
        weights = [saved[f"arr_{i}"].astype(np.float32) for i in range(len(saved.files))]
    if [w.shape for w in weights] != [tuple(w.shape) for w in model.weights]:
        raise ArtifactError(f"the snapshot {path} is of another model's shape: it was kept by another run.")
    model.set_weights(weights)
    return model


# The time-lapse of a run (`widgets.time_lapse`): the whole MLM at each held-out evaluation, at most
# `MOMENTS_KEPT` of them (~2 MB each for the workshop's model), thinned evenly as a long run adds more.
MOMENTS_FOLDER = "moments"
MOMENTS_INDEX = "moments.json"
MOMENTS_KEPT = 16


def moments_to_drop(steps: list[int], keep: int = MOMENTS_KEPT) -> list[int]:
    """Which steps to let go so that `keep` remain, spread as evenly as they can be: the first and the
    last always stay; each time, the one whose neighbours are closest together goes.

    >>> moments_to_drop([0, 10, 20, 25, 30, 40], keep=4)
    [25, 10]
    """
    steps, dropped = sorted(steps), []
    while len(steps) > max(keep, 2):
        gaps = [steps[i + 1] - steps[i - 1] for i in range(1, len(steps) - 1)]
        dropped.append(steps.pop(1 + gaps.index(min(gaps))))
    return dropped


def read_moments(folder) -> list[dict]:
    """The moments a pretraining folder (or an artifacts folder) keeps: `[{"step", "masked_accuracy", "file"}]`
    oldest first, `file` an absolute path; [] when none were kept."""
    folder = Path(folder)
    found = folder / SNAPSHOT_FOLDER / MOMENTS_FOLDER
    if not found.is_dir():
        found = checkpoint_folder(folder) / SNAPSHOT_FOLDER / MOMENTS_FOLDER
    index = found / MOMENTS_INDEX
    rows = read_json(index, "time-lapse index", "pretrain again to keep new moments") if index.is_file() else []
    return [{**row, "file": str(found / row["file"])} for row in rows if (found / row["file"]).is_file()]


def save_moment(model, folder: Path, step: int, masked_accuracy: float | None, keep: int = MOMENTS_KEPT) -> list[dict]:
    """Keep the whole MLM as the moment at `step` (with its held-out masked accuracy), let go of the moments
    `moments_to_drop` names, and return the moments kept."""
    found = Path(folder) / SNAPSHOT_FOLDER / MOMENTS_FOLDER
    name = f"step_{step:06d}.npz"
    _save_weights(model, found / name)
    rows = [{k: row[k] for k in ("step", "masked_accuracy", "file")} for row in read_moments(folder)
            if row["step"] != step]
    rows = [{**row, "file": Path(row["file"]).name} for row in rows]
    rows.append({"step": step, "masked_accuracy": masked_accuracy, "file": name})
    gone = set(moments_to_drop([row["step"] for row in rows], keep))
    for row in rows:
        if row["step"] in gone:
            (found / row["file"]).unlink(missing_ok=True)
    write_json(found / MOMENTS_INDEX, sorted((row for row in rows if row["step"] not in gone), key=lambda r: r["step"]))
    return read_moments(folder)


def clear_moments(folder: Path) -> None:
    """Forget the moments of an earlier run (a fresh run starts its own time-lapse)."""
    import shutil

    shutil.rmtree(Path(folder) / SNAPSHOT_FOLDER / MOMENTS_FOLDER, ignore_errors=True)


def load_encoder(cfg: Config, vectorizer: Vectorizer):
    """The encoder pretrained in `cfg`'s artifacts folder, refused if it was made with another vocabulary."""
    folder = checkpoint_folder(cfg)
    require_vocabulary(read_checkpoint_meta(folder), vectorizer, folder)
    return load_model(folder / ENCODER_FILE, "pretrained encoder", MAKE_IT)


def last_heldout(folder: Path) -> dict | None:
    """The held-out scores at the end of the last run logged in a pretraining folder (None if none)."""
    path = Path(folder) / LOG_FILE
    lines = path.read_text(encoding="utf-8").strip().splitlines() if path.is_file() else []
    return json.loads(lines[-1]).get("heldout") if lines else None
