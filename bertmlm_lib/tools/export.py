"""Instructor checkpoints, written: pack an artifacts folder's vocabulary, pretrained MLM model (encoder + head,
without optimizer state), config and provenance (command, commit, minutes, held-out masked accuracy) into
one zip (`bertmlm export`), which `instructor.import_checkpoint` unpacks for a class."""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .. import model as model_module
from ..artifacts import atomic_write_bytes
from ..checkpoints import checkpoint_folder, last_heldout, load_pretrained
from ..config import from_dict
from ..instructor import FORMAT, FORMAT_VERSION, MODEL_FILE
from ..vectorize import VOCABULARY_FILE


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent)
        return done.stdout.strip() or None if done.returncode == 0 else None
    except OSError:
        return None


def export_checkpoint(artifacts: str | Path, out: str | Path, command: str | None = None) -> dict:
    """Write the instructor checkpoint of `artifacts` to `out`; return its manifest."""
    model, vectorizer, meta = load_pretrained(artifacts)
    folder = checkpoint_folder(artifacts)
    heldout = last_heldout(folder)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config": meta["config"],
        "vocabulary_sha256": vectorizer.fingerprint,
        "provenance": {"command": command, "commit": _commit(), "steps": meta.get("step"),
                       "minutes": round(float(meta.get("seconds", 0)) / 60, 1), "heldout": heldout},
    }
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        weights_only = model_module.build_pretraining_model(
            from_dict(meta["config"]), vocabulary_size=vectorizer.vocabulary_size)  # no optimizer state
        weights_only.set_weights(model.get_weights())
        weights_only.save(Path(scratch) / MODEL_FILE)
        pack.writestr("manifest.json", json.dumps(manifest, indent=1))
        pack.write(artifacts / VOCABULARY_FILE, VOCABULARY_FILE)
        pack.write(Path(scratch) / MODEL_FILE, MODEL_FILE)
    atomic_write_bytes(out, buffer.getvalue())
    return manifest
