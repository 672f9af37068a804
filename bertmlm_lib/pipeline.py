"""`bertmlm run`: every stage headless, through the same library calls the notebooks make, and one report.

Stages: data, vectorize, pretrain, finetune, evaluate (the label-efficiency curve and the TF-IDF
baseline are part of evaluate). A stage whose outputs are current is skipped: each finished stage
records a key in `<artifacts>/stages.json` (a hash of the settings it depends on, the data it read
and the key of the stage before it), and a later run with the same key reuses its outputs and its
recorded time. The run writes `report.json`, PNG plots and `report.md` into the artifacts folder.
"""

from __future__ import annotations

import hashlib
import json
import platform
import resource
import sys
import time
from pathlib import Path

from .artifacts import ensure_folder, exclusive, read_json, write_json
from .backend import release_free_memory
from .config import Config

STAGES_FILE = "stages.json"
REPORT_FILE = "report.json"
# The settings each stage depends on (beyond the stages before it).
STAGE_FIELDS = {
    "data": ("train_reviews", "test_reviews", "unsup_reviews", "seed"),
    "vectorize": ("vocab_size", "max_length"),
    "pretrain": ("mask_rate", "mask_token_share", "random_token_share", "embed_dim", "num_heads", "ff_dim",
                 "num_layers", "dropout", "activation", "pre_layer_norm", "batch_size", "learning_rate", "schedule",
                 "warmup_share", "weight_decay", "clipnorm", "pretrain_epochs", "pretrain_minutes", "short_length",
                 "short_share", "heldout_reviews"),
    "finetune": ("validation_fraction", "finetune_epochs", "frozen_steps", "classifier_windows",
                 "finetune_learning_rate"),
    "evaluate": ("label_sizes", "label_test_reviews", "label_validation_reviews"),
}


def data_identity(data_root: Path) -> str:
    """What identifies the reviews read: the archive's hash (in the name of the folder it was
    extracted to, whichever cache that is), or the path of a folder given directly."""
    root = Path(data_root).resolve()
    return root.parent.name if root.parent.name.startswith("aclImdb-") else str(root)


def stage_keys(cfg: Config, data_root: Path) -> dict:
    """A key per stage: its settings, the data it reads, and the key of the stage before it."""
    keys, previous = {}, data_identity(data_root)
    for stage, fields in STAGE_FIELDS.items():
        payload = json.dumps([previous, {f: getattr(cfg, f) for f in fields}], sort_keys=True, default=list)
        keys[stage] = previous = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return keys


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def versions() -> dict:
    import importlib.metadata as metadata

    found = {"python": platform.python_version()}
    for name in ("bertmlm", "tensorflow", "keras", "keras-hub", "numpy", "scikit-learn"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict:
    import os

    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": memory, "platform": platform.platform(),
            "processor": platform.machine()}


class _Stages:
    """`stages.json`: what each finished stage recorded (key, seconds, summary)."""

    def __init__(self, folder: Path):
        self.path = folder / STAGES_FILE
        try:
            self.done = read_json(self.path, "stage record", "") if self.path.is_file() else {}
        except Exception:  # a damaged record only means every stage runs again
            self.done = {}

    def current(self, stage: str, key: str) -> dict | None:
        entry = self.done.get(stage)
        return entry if entry and entry.get("key") == key else None

    def record(self, stage: str, key: str, seconds: float, summary: dict) -> None:
        self.done[stage] = {"key": key, "seconds": round(seconds, 1), "summary": summary}
        write_json(self.path, self.done)


def run(cfg: Config, data_path=None, resume: bool = False, progress: bool = True) -> dict:
    """Run (or reuse) every stage for `cfg`, then write and return the report."""
    with exclusive(cfg.artifacts_dir, "bertmlm run"):
        return _run(cfg, data_path, resume, progress)


def _run(cfg, data_path, resume, progress) -> dict:
    from . import data, vectorize

    started = time.monotonic()
    folder = ensure_folder(cfg.artifacts_dir)
    stages, timings, skipped = _Stages(folder), {}, []

    clock = time.monotonic()
    imdb = data.load_imdb(data_path, cfg=cfg, progress=progress)
    timings["data"] = time.monotonic() - clock
    keys = stage_keys(cfg, imdb.root)
    clock = time.monotonic()
    vectorizer = vectorize.load_or_build(cfg, data_path, progress=progress, imdb=imdb)
    timings["vectorize"] = time.monotonic() - clock
    peaks = {"data + vectorize": _peak_rss_mb()}

    summaries = {}
    for stage, work in (("pretrain", _pretrain), ("finetune", _finetune), ("evaluate", _evaluate)):
        done = stages.current(stage, keys[stage])
        if done and _outputs_exist(stage, folder):
            timings[stage], summaries[stage] = done["seconds"], done["summary"]
            skipped.append(stage)
            continue
        clock = time.monotonic()
        summaries[stage] = work(cfg, imdb, vectorizer, resume=resume, progress=progress)
        timings[stage] = time.monotonic() - clock
        peaks[stage] = _peak_rss_mb()
        stages.record(stage, keys[stage], timings[stage], summaries[stage])
        release_free_memory()
    timings = {k: round(v, 1) for k, v in timings.items()}
    timings["total"] = round(sum(timings.values()), 1)
    report = {
        "preset": cfg.preset, "config": cfg.to_dict(), "timings_s": timings, "skipped": skipped,
        "wall_seconds_this_run": round(time.monotonic() - started, 1), "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_mb_after": peaks,
        "mlm": summaries["pretrain"]["mlm"], "classifier": summaries["finetune"]["classifier"]
        | summaries["evaluate"]["classifier"],
        "baselines": summaries["evaluate"]["baselines"], "label_efficiency": summaries["evaluate"]["label_efficiency"],
        "label_efficiency_test_reviews": summaries["evaluate"].get("label_efficiency_test_reviews"),
        "fill_mask_probe": summaries["pretrain"]["fill_mask_probe"], "versions": versions(), "machine": machine(),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(folder / REPORT_FILE, report)
    from . import report as report_module

    report_module.write(folder, report, summaries)
    return report


def _outputs_exist(stage: str, folder: Path) -> bool:
    from .finetune import FINETUNE_FOLDER, MODEL_FILE
    from .pretrain import CHECKPOINT_FILE, ENCODER_FILE, PRETRAIN_FOLDER

    needed = {"pretrain": [PRETRAIN_FOLDER + "/" + ENCODER_FILE, PRETRAIN_FOLDER + "/" + CHECKPOINT_FILE],
              "finetune": [FINETUNE_FOLDER + "/" + MODEL_FILE], "evaluate": [FINETUNE_FOLDER + "/evaluate.json"]}
    return all((folder / name).is_file() for name in needed[stage])


def _pretrain(cfg, imdb, vectorizer, resume, progress) -> dict:
    from . import pretrain

    corpus = pretrain.prepare_corpus(imdb.pretraining_texts(), vectorizer, cfg)
    _, result = pretrain.pretrain(cfg, corpus, vectorizer, resume=resume, progress=progress,
                                  fill_mask_display=False)
    probe = result.fill_mask[-1]["results"] if result.fill_mask else []
    return {"mlm": {**result.heldout, "steps": result.steps, "training_seconds": result.seconds,
                    "stopped_by": result.stopped_by, "phases": result.phases},
            "fill_mask_probe": [{"text": r["text"], "top": [p["token"] for p in r["masks"][0]["predictions"]]}
                                for r in probe],
            "history": result.history, "fill_mask_history": result.fill_mask}


def _finetune(cfg, imdb, vectorizer, resume, progress) -> dict:
    from .finetune import _finetune_stage

    summary = _finetune_stage(cfg, None, progress, from_scratch=False, imdb=imdb, vectorizer=vectorizer)
    return {"classifier": {"val_accuracy": summary["val_accuracy"]}, "history": summary["history"],
            "unfrozen_at_epoch": summary["unfrozen_at_epoch"]}


def _evaluate(cfg, imdb, vectorizer, resume, progress) -> dict:
    """Test accuracy, AUC and confusion of the saved end-to-end model; the TF-IDF baseline with all labels;
    the label-efficiency curve. Model choices were all made on validation before this."""
    from . import data, end_to_end, evaluate, label_efficiency
    from .baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
    from .finetune import FINETUNE_FOLDER, MODEL_FILE
    from .pretrain import ENCODER_FILE, PRETRAIN_FOLDER

    folder = cfg.artifacts_dir / FINETUNE_FOLDER
    model = end_to_end.load(folder / MODEL_FILE)
    test = imdb.test
    probabilities = end_to_end.predict(model, test.texts)
    scores = evaluate.summary(test.labels, probabilities)
    write_json(folder / "evaluate.json", {**scores, "calibration": evaluate.calibration(test.labels, probabilities)})
    train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    baseline = tfidf_logistic_regression(train.texts, train.labels, validation.texts, validation.labels, seed=cfg.seed)
    tfidf = baseline_accuracy(baseline, test.texts, test.labels)
    subset = label_efficiency.test_subset(test, cfg)
    curve = label_efficiency.measure(train, validation, subset, vectorizer, cfg,
                                     cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE, cfg.label_sizes)
    return {"classifier": {"test_accuracy": scores["accuracy"], "auc": scores["auc"], "confusion": scores["confusion"],
                           "test_reviews": scores["reviews"]},
            "baselines": {"tfidf_lr": tfidf, "tfidf_lr_C": baseline["C"]},
            "label_efficiency": curve, "label_efficiency_test_reviews": len(subset)}
