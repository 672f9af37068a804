"""Instructor checkpoints: a pretrained model and its vocabulary in one file, for a class to start from.

`bertmlm export` (`tools/export.py`) packs an artifacts folder's vocabulary, pretrained MLM model, config
and provenance into one zip; the shipped one is `SHIPPED`. `import_checkpoint` unpacks it into
another artifacts folder after checking the format version, the vocabulary's hash and that the
model fits the preset: same vocabulary size and layers; a checkpoint pretrained on longer reviews
serves a preset with shorter ones (it keeps the first position embeddings). It never overwrites a
folder's own vocabulary or encoder.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import model as model_module
from .artifacts import (
    CHECKPOINT_FILE,
    CHECKPOINT_META,
    ENCODER_FILE,
    ensure_folder,
    exclusive,
    load_keras_file,
    read_json,
    save_model_atomically,
    write_json,
)
from .checkpoints import (
    architecture,
    checkpoint_folder,
    save_encoder,
)
from .config import Config, fields_of, with_saved_defaults
from .errors import ArtifactError
from . import vocabularies
from .vectorize import VOCABULARY_FILE, saved_kind

FORMAT = "bertmlm-pretrained"
MODEL_FILE = "mlm.keras"
FORMAT_VERSION = 2  # 2: our own embedding layer (1 used keras-hub's; refused, export again)
SHIPPED = Path(__file__).resolve().parent / "experiments" / "measured" / "instructor.bertmlm"
# Must be equal between the checkpoint and the preset that imports it (max_length may be shorter).
MUST_MATCH = ("tokenizer", "vocab_size", *fields_of("model"))


def read_manifest(path: str | Path) -> dict:
    """The manifest of a checkpoint file, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no instructor checkpoint at {path}: give the file `bertmlm export` wrote.")
    try:
        with zipfile.ZipFile(path) as pack:
            manifest = json.loads(pack.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is not a bertmlm checkpoint or is damaged ({exc}): export it again.") from exc
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a bertmlm pretrained checkpoint (format {manifest.get('format')!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has checkpoint format version {manifest.get('format_version')!r}; this library "
                            f"reads version {FORMAT_VERSION}: export it again with this version of bertmlm.")
    return manifest


def fits(manifest: dict, cfg: Config) -> list[str]:
    """Why the checkpoint does not fit the preset (empty when it does)."""
    saved = with_saved_defaults(manifest["config"])
    problems = [f"{name} {saved.get(name)!r} vs {getattr(cfg, name)!r}" for name in MUST_MATCH
                if saved.get(name) != getattr(cfg, name)]
    if saved.get("max_length", 0) < cfg.max_length:
        problems.append(f"max_length {saved.get('max_length')} < {cfg.max_length} (it never saw positions that far)")
    return problems


def import_checkpoint(path: str | Path, cfg: Config) -> dict:
    """Unpack a checkpoint into `cfg.artifacts_dir`, checked; returns its manifest."""
    manifest = read_manifest(path)
    problems = fits(manifest, cfg)
    if problems:
        raise ArtifactError(f"the checkpoint {path} does not fit preset {cfg.preset!r} ({'; '.join(problems)}): "
                            "import it with the preset it was made for, or pretrain with yours.")
    with exclusive(cfg.artifacts_dir, "importing a checkpoint"):
        return _unpack(Path(path), manifest, cfg)


def _unpack(path: Path, manifest: dict, cfg: Config) -> dict:
    folder = ensure_folder(cfg.artifacts_dir)
    with zipfile.ZipFile(path) as pack, tempfile.TemporaryDirectory() as scratch:
        pack.extractall(scratch, members=[VOCABULARY_FILE, MODEL_FILE])  # fixed names, no paths from the file
        saved = read_json(Path(scratch) / VOCABULARY_FILE, "vocabulary", "export the checkpoint again.")
        tokens = saved.get("tokens") or []
        imported = vocabularies.from_tokens(saved_kind(saved), tokens, cfg.max_length, saved.get("counts"))
        if imported.fingerprint != manifest["vocabulary_sha256"]:
            raise ArtifactError(f"the vocabulary inside {path} does not match its hash: the file is damaged; export it again.")
        if (folder / VOCABULARY_FILE).is_file():
            own = vocabularies.load(folder)
            if own.fingerprint != imported.fingerprint:
                raise ArtifactError(
                    f"vocabulary mismatch: {folder} already holds another vocabulary (hash {own.fingerprint[:12]}, the "
                    f"checkpoint's is {imported.fingerprint[:12]}); import into an empty artifacts folder.")
        if any((checkpoint_folder(folder) / name).is_file() for name in (ENCODER_FILE, CHECKPOINT_FILE)):
            raise ArtifactError(f"{folder} already holds a pretrained model; import into another artifacts folder "
                                "(or delete its pretrain/ folder first).")
        source = load_keras_file(Path(scratch) / MODEL_FILE)
    model = model_module.build_pretraining_model(cfg, vocabulary_size=imported.vocabulary_size)
    weights = []
    for mine, theirs in zip(model.weights, source.weights):
        value = np.asarray(theirs)
        if value.shape != tuple(mine.shape):  # position embeddings of a longer model: keep the first rows
            value = value[: mine.shape[0]]
        weights.append(value)
    model.set_weights(weights)
    imported.save(folder, cfg)
    out = ensure_folder(checkpoint_folder(folder))
    save_model_atomically(model, out / CHECKPOINT_FILE)  # no optimizer: `resume` starts a fresh one
    save_encoder(model, out)
    write_json(out / CHECKPOINT_META, {
        "format_version": 1, "imported_from": str(path), "provenance": manifest["provenance"],
        "architecture": architecture(cfg), "config": cfg.to_dict(), "vocabulary_fingerprint": imported.fingerprint,
        "step": manifest["provenance"].get("steps"), "seconds": 60 * (manifest["provenance"].get("minutes") or 0),
    })
    return manifest


def load(path: str | Path = SHIPPED):
    """The pretraining model and its own vocabulary from a checkpoint file, `(model, vectorizer)`,
    whatever the preset: for looking at the instructor's model beside yours, not for training on."""
    manifest = read_manifest(path)
    with zipfile.ZipFile(path) as pack, tempfile.TemporaryDirectory() as scratch:
        pack.extractall(scratch, members=[VOCABULARY_FILE, MODEL_FILE])
        saved = read_json(Path(scratch) / VOCABULARY_FILE, "vocabulary", "export the checkpoint again.")
        vectorizer = vocabularies.from_tokens(saved_kind(saved), saved.get("tokens") or [],
                                              manifest["config"]["max_length"], saved.get("counts"))
        if vectorizer.fingerprint != manifest["vocabulary_sha256"]:
            raise ArtifactError(f"the vocabulary inside {path} does not match its hash: the file is damaged; export it again.")
        return load_keras_file(Path(scratch) / MODEL_FILE), vectorizer


def shipped_problems(cfg: Config, vectorizer=None) -> list[str]:
    """Why the checkpoint shipped with the library does not fit this preset (and vocabulary, if given); [] if it fits."""
    if not SHIPPED.is_file():
        return [f"{SHIPPED.name} is not installed with the library"]
    try:
        manifest = read_manifest(SHIPPED)
    except ArtifactError as error:
        return [str(error)]
    problems = fits(manifest, cfg)
    if vectorizer is not None and vectorizer.fingerprint != manifest["vocabulary_sha256"]:
        problems.append("its vocabulary is not this one")
    return problems


def shipped_fits(cfg: Config, vectorizer=None) -> bool:
    """True if the checkpoint shipped with the library fits this preset (and this vocabulary, if given)."""
    return not shipped_problems(cfg, vectorizer)


def describe(path: str | Path) -> str:
    """One line on where a checkpoint came from."""
    made = read_manifest(path)["provenance"]
    heldout = (made.get("heldout") or {}).get("masked_accuracy")
    return (f"{made.get('minutes')} min of pretraining, {made.get('steps')} steps"
            + (f", held-out masked accuracy {heldout:.1%}" if heldout is not None else ""))
