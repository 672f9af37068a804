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
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from .. import errors
from ..archive import extraction_folder, prepare_dataset
from ..artifacts import (
    CHECKPOINT_FILE,
    ENCODER_FILE,
    EVALUATE_FILE,
    FINETUNE_FOLDER,
    MODEL_FILE,
    PRETRAIN_FOLDER,
    REPORT_FILE,
    ensure_folder,
    exclusive,
    held_lock_environment,
    read_json,
    write_json,
)
from ..backend import peak_rss_mb
from ..config import Config, fields_of, from_dict

STAGES_FILE = "stages.json"
# The settings each stage depends on (beyond the stages before it), from the config's groups.
STAGE_FIELDS = {
    "data": fields_of("data"),
    "vectorize": fields_of("vocabulary"),
    "pretrain": fields_of("masking", "model", "pretraining"),
    "finetune": fields_of("finetuning"),
    "evaluate": fields_of("evaluation"),
}


def data_identity(data_root: Path) -> str:
    """What identifies the reviews read: the archive's hash (in the name of the folder it was
    extracted to, whichever cache that is), or the path of a folder given directly."""
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
    started = time.monotonic()
    folder = ensure_folder(cfg.artifacts_dir)
    stages, timings, skipped, summaries, peaks = _Stages(folder), {}, [], {}, {}
    # Find (and extract once, if needed) the reviews here; the stages get the checked folder, so they
    # do not hash the archive again.
    data_path = prepare_dataset(data_path, progress=progress)
    keys = stage_keys(cfg, data_path)

    _say(progress, "data + vocabulary: started")
    prepared = _in_fresh_process("prepare", cfg, data_path, resume, progress)
    _say(progress, f"data + vocabulary: done in {prepared['seconds']:.0f} s")
    timings["vectorize"] = prepared["summary"]["vectorize_seconds"]
    timings["data"] = prepared["seconds"] - timings["vectorize"]  # with starting Python and TensorFlow
    peaks["data + vectorize"] = prepared["peak_rss_mb"]
    for stage in ("pretrain", "finetune", "evaluate"):
        done = stages.current(stage, keys[stage])
        if done and _outputs_exist(stage, folder):
            timings[stage], summaries[stage] = done["seconds"], done["summary"]
            skipped.append(stage)
            _say(progress, f"{stage}: current, reused (took {done['seconds']:.0f} s when it ran)")
            continue
        timings[stage], summaries[stage] = 0.0, {}
        for part in STAGE_PARTS[stage]:
            _say(progress, f"{part.replace('_', ' ')}: started")
            outcome = _in_fresh_process(part, cfg, data_path, resume, progress)
            _say(progress, f"{part.replace('_', ' ')}: done in {outcome['seconds']:.0f} s")
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
        "label_efficiency_protocol": summaries["evaluate"].get("label_efficiency_protocol"),
        "zero_shot": summaries["evaluate"].get("zero_shot"),
        "fill_mask_probe": summaries["pretrain"]["fill_mask_probe"], "versions": versions(), "machine": machine(),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(folder / REPORT_FILE, report)
    _in_fresh_process("report", cfg, data_path, resume, progress)  # its plots import the stages' modules
    return report


def _say(progress: bool, text: str) -> None:
    """One line per stage on stderr, so a log of `bertmlm run > run.log 2>&1` shows where the run is."""
    if progress:
        print(f"bertmlm run: {text}", file=sys.stderr, flush=True)


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
    folder = cfg.artifacts_dir
    request = folder / f".stage-{stage}-{os.getpid()}{REQUEST_SUFFIX}"
    answer = request.with_name(request.name.replace(REQUEST_SUFFIX, ".answer.json"))
    write_json(request, {"stage": stage, "config": cfg.to_dict(), "data": None if data_path is None else str(data_path),
                         "resume": resume, "progress": progress, "answer": str(answer)})
    package_parent = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, **held_lock_environment(folder),
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    clock = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "bertmlm_lib.tools.pipeline", str(request)], env=env)
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
    request = read_json(Path(request_path), "stage request", "")
    cfg, answer = from_dict(request["config"]), Path(request["answer"])
    try:
        summary = STAGE_WORK[request["stage"]](cfg, request["data"], request["resume"], request["progress"])
    except errors.BertmlmError as exc:
        write_json(answer, {"error": {"class": type(exc).__name__, "message": str(exc)}})
        return 2
    except KeyboardInterrupt:
        return 130
    write_json(answer, {"summary": summary, "peak_rss_mb": peak_rss_mb()})
    return 0


def _prepare(cfg, data_path, resume, progress) -> dict:
    """Read every review once (packing each split into one file, the first time) and build the vocabulary, timed."""
    from .. import stages

    imdb = stages.reviews(cfg, data_path, progress)
    clock = time.monotonic()
    stages.vocabulary(cfg, data_path, progress=progress, imdb=imdb)
    return {"vectorize_seconds": time.monotonic() - clock}


def _outputs_exist(stage: str, folder: Path) -> bool:
    needed = {"pretrain": [f"{PRETRAIN_FOLDER}/{ENCODER_FILE}", f"{PRETRAIN_FOLDER}/{CHECKPOINT_FILE}"],
              "finetune": [f"{FINETUNE_FOLDER}/{MODEL_FILE}"], "evaluate": [f"{FINETUNE_FOLDER}/{EVALUATE_FILE}"]}
    return all((folder / name).is_file() for name in needed[stage])


# The stages' work, each in its child process. These import the library's models (and TensorFlow)
# inside the function, so the scheduling process, which only imports this module, never does.


def _pretrain(cfg, data_path, resume, progress) -> dict:
    from . import runner

    _, result = runner.run_pretraining(cfg, data_path, resume=resume, progress=progress, fill_mask_display=False)
    probe = result.fill_mask[-1]["results"] if result.fill_mask else []
    return {"mlm": {**result.heldout, "steps": result.steps, "training_seconds": result.seconds,
                    "stopped_by": result.stopped_by, "phases": result.phases,
                    "masked_accuracy_at_step": result.accuracy_at_steps},
            "fill_mask_probe": [{"text": r["text"], "top": [p["token"] for p in r["masks"][0]["predictions"]]}
                                for r in probe],
            "history": result.history, "fill_mask_history": result.fill_mask}


def _finetune(cfg, data_path, resume, progress) -> dict:
    from . import runner

    summary = runner.run_finetuning(cfg, data_path, progress=progress)
    return {"classifier": {"val_accuracy": summary["val_accuracy"]}, "history": summary["history"],
            "unfrozen_at_epoch": summary["unfrozen_at_epoch"]}


def _evaluate(cfg, data_path, resume, progress) -> dict:
    """Test accuracy, AUC and confusion of the saved end-to-end model (`stages.evaluate_model`), and the
    TF-IDF baseline with all labels. Model choices were all made on validation before this."""
    from .. import stages
    from ..backend import release_free_memory
    from ..baselines import accuracy as baseline_accuracy, tfidf_logistic_regression

    imdb = stages.reviews(cfg, data_path, progress=False, unlabelled=False)
    scores = stages.evaluate_model(cfg, imdb.test)
    release_free_memory()
    train, validation = stages.labelled_splits(cfg, imdb)
    baseline = tfidf_logistic_regression(train.texts, train.labels, validation.texts, validation.labels, seed=cfg.seed)
    return {"classifier": {"test_accuracy": scores["accuracy"], "auc": scores["auc"], "confusion": scores["confusion"],
                           "test_reviews": scores["reviews"]},
            "baselines": {"tfidf_lr": baseline_accuracy(baseline, imdb.test.texts, imdb.test.labels),
                          "tfidf_lr_C": baseline["C"]}}


def _label_efficiency(cfg, data_path, resume, progress) -> dict:
    """The label-efficiency curve (part of the evaluate stage, in its own process: its eight fine-tunings
    are the run's largest memory, and they start from a clean slate this way)."""
    from .. import stages
    from ..experiments import label_efficiency
    from .measure.label_efficiency import measure

    imdb = stages.reviews(cfg, data_path, progress=False, unlabelled=False)
    vectorizer = stages.vocabulary(cfg, data_path, progress=False, imdb=imdb)
    train, validation = stages.labelled_splits(cfg, imdb)
    subset = label_efficiency.test_subset(imdb.test, cfg)
    protocol = label_efficiency.Protocol.of(cfg)
    curve = measure(train, validation, subset, vectorizer, cfg, cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE,
                    cfg.label_sizes, protocol=protocol, progress=progress)
    return {"label_efficiency": curve, "label_efficiency_test_reviews": len(subset),
            "label_efficiency_protocol": protocol.as_dict(), "zero_shot": _zero_shot(cfg, train, subset)}


def _zero_shot(cfg, train, test) -> dict:
    """The pretrained MLM asked the cloze question (`cloze.py`), no label used: calibrated on 1,000 training
    reviews whose labels it never reads, scored on the label-efficiency curve's test reviews."""
    from .. import cloze
    from ..checkpoints import load_pretrained

    model, vectorizer, _ = load_pretrained(cfg.artifacts_dir)
    try:
        asked = cloze.Cloze(model, vectorizer).calibrate(train.texts[:1000])
    except errors.TextError as error:  # a small vocabulary may lack a verbalizer word: say so, run on
        return {"skipped": str(error)}
    return {"test_accuracy": asked.accuracy(test.texts, test.labels), "test_reviews": len(test.labels),
            "calibration": "the mean score of each class over 1,000 training reviews, labels unread",
            "template": cloze.TEMPLATE}


def _report(cfg, data_path, resume, progress) -> dict:
    """Draw the report's plots and write `report.md` from `report.json` and the stages' records."""
    from . import report

    folder = cfg.artifacts_dir
    summaries = {stage: entry["summary"] for stage, entry in _Stages(folder).done.items()}
    report.write(folder, read_json(folder / REPORT_FILE, "run report", "run `bertmlm run` again."), summaries)
    return {}


STAGE_WORK = {"prepare": _prepare, "pretrain": _pretrain, "finetune": _finetune, "evaluate": _evaluate,
              "label_efficiency": _label_efficiency, "report": _report}
# The processes each stage runs in, one after the other.
STAGE_PARTS = {"pretrain": ("pretrain",), "finetune": ("finetune",), "evaluate": ("evaluate", "label_efficiency")}

if __name__ == "__main__":
    sys.exit(_stage_main(sys.argv[1]))
