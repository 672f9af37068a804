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
import sys
import time
from pathlib import Path

from .artifacts import ensure_folder, exclusive, read_json, write_json
from .backend import peak_rss_mb
from .config import Config

STAGES_FILE = "stages.json"
REPORT_FILE = "report.json"
# The settings each stage depends on (beyond the stages before it).
STAGE_FIELDS = {
    "data": ("train_reviews", "test_reviews", "unsup_reviews", "seed"),
    "vectorize": ("vocab_size", "max_length"),
    "pretrain": ("mask_rate", "mask_token_share", "random_token_share", "embed_dim", "num_heads", "ff_dim",
                 "num_layers", "dropout", "activation", "pre_layer_norm", "position_encoding", "batch_size", "learning_rate", "schedule",
                 "warmup_share", "weight_decay", "clipnorm", "pretrain_epochs", "pretrain_minutes", "short_length",
                 "short_share", "heldout_reviews"),
    "finetune": ("validation_fraction", "finetune_epochs", "frozen_steps", "classifier_windows",
                 "finetune_learning_rate"),
    "evaluate": ("label_sizes", "label_test_reviews", "label_validation_reviews"),
}


def data_identity(data_root: Path) -> str:
    """What identifies the reviews read: the archive's hash (in the name of the folder it was
    extracted to, whichever cache that is), or the path of a folder given directly."""
    from .data import extraction_folder

    folder = extraction_folder(data_root)
    return folder.name if folder is not None else str(Path(data_root).resolve())


def stage_keys(cfg: Config, data_root: Path) -> dict:
    """A key per stage: its settings, the data it reads, and the key of the stage before it."""
    keys, previous = {}, data_identity(data_root)
    for stage, fields in STAGE_FIELDS.items():
        payload = json.dumps([previous, {f: getattr(cfg, f) for f in fields}], sort_keys=True, default=list)
        keys[stage] = previous = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return keys


def versions() -> dict:
    import importlib.metadata as metadata

    found = {"python": platform.python_version()}
    for name in ("bertmlm", "tensorflow", "keras", "numpy", "scikit-learn"):
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
    """Run (or reuse) every stage for `cfg`, then write and return the report.

    Each stage runs in a fresh Python process (evaluation in two: test + TF-IDF, then the
    label-efficiency curve), one after the other, while this process only schedules them (it never
    imports TensorFlow). A process keeps most of the memory it once used until it ends, so in one
    process the stages' peaks piled up (2.27 GB measured for the workshop preset); in fresh
    processes the run needs only its largest part. The cost is ~5 s per process to start Python and
    TensorFlow and read the reviews again.
    """
    with exclusive(cfg.artifacts_dir, "bertmlm run"):
        return _run(cfg, data_path, resume, progress)


def _run(cfg, data_path, resume, progress) -> dict:
    from . import data

    started = time.monotonic()
    folder = ensure_folder(cfg.artifacts_dir)
    stages, timings, skipped, summaries, peaks = _Stages(folder), {}, [], {}, {}
    # Find (and extract once, if needed) the reviews here; the stages get the checked folder, so they
    # do not hash the archive again.
    data_path = data.prepare_dataset(data_path, progress=progress)
    keys = stage_keys(cfg, data_path)

    prepared = _in_fresh_process("prepare", cfg, data_path, resume, progress)
    timings["vectorize"] = prepared["summary"]["vectorize_seconds"]
    timings["data"] = prepared["seconds"] - timings["vectorize"]  # with starting Python and TensorFlow
    peaks["data + vectorize"] = prepared["peak_rss_mb"]
    for stage in ("pretrain", "finetune", "evaluate"):
        done = stages.current(stage, keys[stage])
        if done and _outputs_exist(stage, folder):
            timings[stage], summaries[stage] = done["seconds"], done["summary"]
            skipped.append(stage)
            continue
        timings[stage], summaries[stage] = 0.0, {}
        for part in STAGE_PARTS[stage]:
            outcome = _in_fresh_process(part, cfg, data_path, resume, progress)
            timings[stage] += outcome["seconds"]
            summaries[stage].update(outcome["summary"])
            peaks[part.replace("_", " ")] = outcome["peak_rss_mb"]
        stages.record(stage, keys[stage], timings[stage], summaries[stage])
    timings = {k: round(v, 1) for k, v in timings.items()}
    timings["total"] = round(sum(timings.values()), 1)
    report = {
        "preset": cfg.preset, "config": cfg.to_dict(), "timings_s": timings, "skipped": skipped,
        "wall_seconds_this_run": round(time.monotonic() - started, 1),
        # the scheduling process stays resident beside each stage's process: count both
        "peak_rss_mb": round(max(peaks.values()) + peak_rss_mb(), 1), "peak_rss_mb_scheduler": peak_rss_mb(),
        "peak_rss_mb_of_stage": peaks,
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


# ------------------------------------------------------------------------------------------
# One stage in a fresh process
# ------------------------------------------------------------------------------------------

REQUEST_SUFFIX = ".request.json"


def _in_fresh_process(stage: str, cfg: Config, data_path, resume: bool, progress: bool) -> dict:
    """Run one stage in a child Python process and return `{"summary", "seconds", "peak_rss_mb"}`.

    The child shares this terminal (its progress display shows as usual) and the artifacts lock this
    process holds. A user error in the child (a `BertmlmError`) is raised here again, same class and
    message; Ctrl-C reaches both processes, and this one waits for the child to save and stop.
    """
    import os
    import subprocess

    from . import errors
    from .artifacts import held_lock_environment

    folder = cfg.artifacts_dir
    request = folder / f".stage-{stage}-{os.getpid()}{REQUEST_SUFFIX}"
    answer = request.with_name(request.name.replace(REQUEST_SUFFIX, ".answer.json"))
    write_json(request, {"stage": stage, "config": cfg.to_dict(), "data": None if data_path is None else str(data_path),
                         "resume": resume, "progress": progress, "answer": str(answer)})
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, **held_lock_environment(folder),
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    clock = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "bertmlm_lib.pipeline", str(request)], env=env)
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C: let it save its checkpoint and stop
        child.wait()
        raise
    finally:
        request.unlink(missing_ok=True)
    seconds = time.monotonic() - clock
    try:
        outcome = read_json(answer, f"{stage} stage's answer", "") if answer.is_file() else {}
    finally:
        answer.unlink(missing_ok=True)
    if "error" in outcome:
        raise getattr(errors, outcome["error"]["class"], errors.BertmlmError)(outcome["error"]["message"])
    if code == 130:
        raise KeyboardInterrupt
    if code != 0 or "summary" not in outcome:
        raise RuntimeError(f"the {stage} stage's process failed (exit code {code}); its traceback is printed above.")
    return {**outcome, "seconds": seconds}


def _stage_main(request_path: str) -> int:
    """The child's side: read the request, run the stage, write its summary and peak memory."""
    from .config import from_dict
    from .errors import BertmlmError

    request = read_json(Path(request_path), "stage request", "")
    cfg, answer = from_dict(request["config"]), Path(request["answer"])
    try:
        summary = STAGE_WORK[request["stage"]](cfg, request["data"], request["resume"], request["progress"])
    except BertmlmError as exc:
        write_json(answer, {"error": {"class": type(exc).__name__, "message": str(exc)}})
        return 2
    except KeyboardInterrupt:
        return 130
    write_json(answer, {"summary": summary, "peak_rss_mb": peak_rss_mb()})
    return 0


def _inputs(cfg, data_path, unlabelled: bool):
    """What a stage reads: the reviews (the 50,000 unlabelled ones only if it pretrains: ~80 MB less
    otherwise) and the vocabulary, which the prepare stage built."""
    from . import data, vectorize

    imdb = data.load_imdb(data_path, cfg=cfg, progress=False, unsup_reviews=None if unlabelled else 0)
    return imdb, vectorize.load_or_build(cfg, data_path, progress=False, imdb=imdb)


def _prepare(cfg, data_path, resume, progress) -> dict:
    """Read every review once (packing each split into one file, the first time) and build the vocabulary, timed."""
    from . import data, vectorize

    imdb = data.load_imdb(data_path, cfg=cfg, progress=progress)
    clock = time.monotonic()
    vectorize.load_or_build(cfg, data_path, progress=progress, imdb=imdb)
    return {"vectorize_seconds": time.monotonic() - clock}


def _outputs_exist(stage: str, folder: Path) -> bool:
    from .finetune import FINETUNE_FOLDER, MODEL_FILE
    from .pretrain import CHECKPOINT_FILE, ENCODER_FILE, PRETRAIN_FOLDER

    needed = {"pretrain": [PRETRAIN_FOLDER + "/" + ENCODER_FILE, PRETRAIN_FOLDER + "/" + CHECKPOINT_FILE],
              "finetune": [FINETUNE_FOLDER + "/" + MODEL_FILE], "evaluate": [FINETUNE_FOLDER + "/evaluate.json"]}
    return all((folder / name).is_file() for name in needed[stage])


def _pretrain(cfg, data_path, resume, progress) -> dict:
    from . import pretrain

    imdb, vectorizer = _inputs(cfg, data_path, unlabelled=True)
    corpus = pretrain.prepare_corpus(imdb.pretraining_texts(), vectorizer, cfg)
    del imdb  # the ids are all pretraining needs: ~100k review texts less in memory
    _, result = pretrain.pretrain(cfg, corpus, vectorizer, resume=resume, progress=progress,
                                  fill_mask_display=False)
    probe = result.fill_mask[-1]["results"] if result.fill_mask else []
    return {"mlm": {**result.heldout, "steps": result.steps, "training_seconds": result.seconds,
                    "stopped_by": result.stopped_by, "phases": result.phases,
                    "masked_accuracy_at_step": result.accuracy_at_steps},
            "fill_mask_probe": [{"text": r["text"], "top": [p["token"] for p in r["masks"][0]["predictions"]]}
                                for r in probe],
            "history": result.history, "fill_mask_history": result.fill_mask}


def _finetune(cfg, data_path, resume, progress) -> dict:
    from .finetune import _finetune_stage

    imdb, vectorizer = _inputs(cfg, data_path, unlabelled=False)
    summary = _finetune_stage(cfg, None, progress, from_scratch=False, imdb=imdb, vectorizer=vectorizer)
    return {"classifier": {"val_accuracy": summary["val_accuracy"]}, "history": summary["history"],
            "unfrozen_at_epoch": summary["unfrozen_at_epoch"]}


def _evaluate(cfg, data_path, resume, progress) -> dict:
    """Test accuracy, AUC and confusion of the saved end-to-end model, and the TF-IDF baseline with all
    labels. Model choices were all made on validation before this."""
    from . import data, end_to_end, evaluate
    from .backend import release_free_memory
    from .baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
    from .finetune import FINETUNE_FOLDER, MODEL_FILE

    imdb, _ = _inputs(cfg, data_path, unlabelled=False)
    folder = cfg.artifacts_dir / FINETUNE_FOLDER
    model = end_to_end.load(folder / MODEL_FILE)
    test = imdb.test
    probabilities = end_to_end.predict(model, test.texts)
    scores = evaluate.summary(test.labels, probabilities)
    write_json(folder / "evaluate.json", {**scores, "calibration": evaluate.calibration(test.labels, probabilities)})
    del model, probabilities
    release_free_memory()
    train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    baseline = tfidf_logistic_regression(train.texts, train.labels, validation.texts, validation.labels, seed=cfg.seed)
    return {"classifier": {"test_accuracy": scores["accuracy"], "auc": scores["auc"], "confusion": scores["confusion"],
                           "test_reviews": scores["reviews"]},
            "baselines": {"tfidf_lr": baseline_accuracy(baseline, test.texts, test.labels), "tfidf_lr_C": baseline["C"]}}


def _label_efficiency(cfg, data_path, resume, progress) -> dict:
    """The label-efficiency curve (part of the evaluate stage, in its own process: its eight fine-tunings
    are the run's largest memory, and they start from a clean slate this way)."""
    from . import data, label_efficiency
    from .pretrain import ENCODER_FILE, PRETRAIN_FOLDER

    imdb, vectorizer = _inputs(cfg, data_path, unlabelled=False)
    train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    subset = label_efficiency.test_subset(imdb.test, cfg)
    curve = label_efficiency.measure(train, validation, subset, vectorizer, cfg,
                                     cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE, cfg.label_sizes)
    return {"label_efficiency": curve, "label_efficiency_test_reviews": len(subset)}


STAGE_WORK = {"prepare": _prepare, "pretrain": _pretrain, "finetune": _finetune, "evaluate": _evaluate,
              "label_efficiency": _label_efficiency}
# The processes each stage runs in, one after the other.
STAGE_PARTS = {"pretrain": ("pretrain",), "finetune": ("finetune",), "evaluate": ("evaluate", "label_efficiency")}

if __name__ == "__main__":
    sys.exit(_stage_main(sys.argv[1]))
