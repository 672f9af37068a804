"""Stage 5, pretraining: teach the small BERT to fill in `[mask]`.

- Data: the pretraining corpus (train + unsup, never test), encoded once; a held-out slice of it
  (`cfg.heldout_reviews`) is never trained on and measures progress with fixed masks.
- Optimizer: AdamW, learning rate warmed up linearly then decayed linearly to zero, gradients
  clipped by global norm; LayerNorm scales and biases are not decayed.
- Metrics on masked positions only: masked-token accuracy and perplexity.
- Checkpoints (model + optimizer state + step) are written atomically at every pass over the
  corpus, every `cfg.checkpoint_minutes`, at the end, and on Ctrl-C; `resume=True` continues from
  the last one. A time budget (`minutes`) ends training cleanly with a checkpoint.
- Display: one in-place progress line, plus the fill-mask panel of `FillMaskCallback`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import ensure_folder, read_json, remove_abandoned, write_json
from .backend import load_tensorflow
from .config import Config
from .errors import ArtifactError
from .fill_mask import FillMasker
from .masking import max_predictions_for, mlm_dataset
from .progress import Progress
from .vectorize import Vectorizer

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from . import model as model_module  # noqa: E402

PRETRAIN_FOLDER = "pretrain"
CHECKPOINT_FILE = "checkpoint.keras"
CHECKPOINT_META = "checkpoint.json"
ENCODER_FILE = "encoder.keras"
LOG_FILE = "log.jsonl"
PROBES = (
    "i have watched this [mask] and it was awesome",
    "the acting was [mask] and the plot made no sense",
    "one of the best [mask] i have ever seen",
    "this film is a [mask] of time",
)
PROBE_ANSWERS = ("movie", "bad", "movies", "waste")
# Settings that change the model or its vocabulary: a checkpoint made with others cannot be resumed.
ARCHITECTURE_FIELDS = ("vocab_size", "max_length", "embed_dim", "num_heads", "ff_dim", "num_layers",
                       "activation", "pre_layer_norm")


@keras.saving.register_keras_serializable(package="bertmlm")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising linearly from 0 to `peak` over `warmup_steps`, then falling linearly to 0 at `total_steps`."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * step / max(self.warmup_steps, 1)
        decay = self.peak * ops.maximum(self.total_steps - step, 0.0) / max(self.total_steps - self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warm, decay)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def make_optimizer(cfg: Config, total_steps: int) -> keras.optimizers.Optimizer:
    """AdamW with warmup + linear decay and global-norm clipping (no decay on norms and biases)."""
    schedule = WarmupLinearDecay(cfg.learning_rate, total_steps, round(cfg.warmup_share * total_steps))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay,
                                       global_clipnorm=cfg.clipnorm)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def compile_pretraining_model(model: keras.Model, cfg: Config, total_steps: int) -> keras.Model:
    """Compile with the MLM loss and the masked-token metrics (the batch's predictions are packed)."""
    model.compile(optimizer=make_optimizer(cfg, total_steps), loss=model_module.mlm_loss(),
                  metrics=model_module.mlm_metrics(), jit_compile=cfg.jit_compile)
    return model


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Encoded pretraining reviews, split into a training part and a held-out part."""

    train_ids: np.ndarray
    heldout_ids: np.ndarray


def prepare_corpus(texts: list[str], vectorizer: Vectorizer, cfg: Config) -> Corpus:
    """Encode the pretraining texts once and set `cfg.heldout_reviews` of them aside (seeded)."""
    order = np.random.default_rng(cfg.seed).permutation(len(texts))
    held = min(cfg.heldout_reviews, max(1, len(texts) // 5))
    ids = vectorizer.encode([texts[i] for i in order])
    return Corpus(train_ids=ids[held:], heldout_ids=ids[:held])


def datasets(corpus: Corpus, cfg: Config, vocabulary_size: int):
    """The training stream (endless, fresh masks) and the held-out set (fixed masks)."""
    common = dict(vocabulary_size=vocabulary_size, batch_size=cfg.batch_size, mask_rate=cfg.mask_rate,
                  mask_token_share=cfg.mask_token_share, random_token_share=cfg.random_token_share,
                  max_predictions=max_predictions_for(cfg.max_length, cfg.mask_rate))
    train = mlm_dataset(corpus.train_ids, seed=cfg.seed, shuffle=True, repeat=True, drop_remainder=True, **common)
    heldout = mlm_dataset(corpus.heldout_ids, seed=cfg.seed + 1, shuffle=False, fixed_masks=True, **common)
    return train, heldout


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def checkpoint_folder(cfg_or_folder) -> Path:
    base = cfg_or_folder.artifacts_dir if isinstance(cfg_or_folder, Config) else Path(cfg_or_folder)
    return base / PRETRAIN_FOLDER


def save_checkpoint(model: keras.Model, folder: Path, meta: dict) -> Path:
    """Write the model (with optimizer state) and its metadata atomically: temp file, then rename."""
    ensure_folder(folder)
    temporary = folder / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp.keras"
    try:
        model.save(temporary)
        os.replace(temporary, folder / CHECKPOINT_FILE)
    finally:
        temporary.unlink(missing_ok=True)
    write_json(folder / CHECKPOINT_META, meta)
    return folder / CHECKPOINT_FILE


def _architecture(cfg: Config) -> dict:
    return {name: getattr(cfg, name) for name in ARCHITECTURE_FIELDS}


def read_checkpoint_meta(folder: Path) -> dict:
    return read_json(folder / CHECKPOINT_META, "pretraining checkpoint",
                     "run `bertmlm pretrain` (or notebook 05) to make one.")


def check_compatible(meta: dict, cfg: Config, vectorizer: Vectorizer, folder: Path) -> None:
    """Refuse a checkpoint made with another vocabulary or model shape, saying which."""
    if meta.get("vocabulary_fingerprint") != vectorizer.fingerprint:
        raise ArtifactError(
            f"the checkpoint in {folder} was trained with another vocabulary than {vectorizer.vocabulary_size:,}-word "
            "vocabulary.json beside it: pretrain again without --resume, or use the artifacts folder it came from."
        )
    saved = meta.get("architecture", {})
    differs = {k: (saved.get(k), v) for k, v in _architecture(cfg).items() if saved.get(k) != v}
    if differs:
        detail = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in differs.items())
        raise ArtifactError(
            f"the checkpoint in {folder} was made with another model config ({detail}): "
            "use the same preset and settings, or pretrain again without --resume."
        )


def load_checkpoint(folder: Path) -> keras.Model:
    """Load a saved pretraining model with its optimizer state; a damaged file gets a clear error."""
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise ArtifactError(f"no pretraining checkpoint at {path}: run `bertmlm pretrain` (or notebook 05) first.")
    try:
        return keras.saving.load_model(path, compile=True, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a truncated zip or a foreign format
        raise ArtifactError(
            f"the checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc)[:160]}): it is damaged or from "
            "another version; delete it and pretrain again."
        ) from exc


def load_pretrained(artifacts: Path):
    """(pretraining model, vectorizer, checkpoint metadata) from an artifacts folder, checked to match."""
    artifacts = Path(artifacts)
    if not artifacts.is_dir():
        raise ArtifactError(f"the artifacts folder {artifacts} does not exist: pass the folder `bertmlm pretrain` wrote to.")
    vectorizer = Vectorizer.load(artifacts)
    folder = checkpoint_folder(artifacts)
    meta = read_checkpoint_meta(folder)
    if meta.get("vocabulary_fingerprint") != vectorizer.fingerprint:
        raise ArtifactError(
            f"the model in {folder} was trained with another vocabulary than {artifacts / 'vocabulary.json'}: "
            "rebuild both with `bertmlm pretrain --artifacts DIR`, or pass the folder they came from."
        )
    return load_checkpoint(folder), vectorizer, meta


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


class StopAt(keras.callbacks.Callback):
    """Stop after exactly `total_steps` optimizer steps, or when the time budget runs out."""

    def __init__(self, total_steps: int, minutes: float | None):
        super().__init__()
        self.total_steps, self.deadline = total_steps, (time.monotonic() + 60 * minutes) if minutes else None
        self.reason = "steps"

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) >= self.total_steps:
            self.model.stop_training = True
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "time budget"
            self.model.stop_training = True


class CheckpointEvery(keras.callbacks.Callback):
    """Save a checkpoint every `minutes`, at every full pass over the corpus, and at the end."""

    def __init__(self, folder: Path, meta_fn, minutes: float, steps_per_pass: int):
        super().__init__()
        self.folder, self.meta_fn, self.interval, self.steps_per_pass = folder, meta_fn, 60 * minutes, steps_per_pass
        self.last = time.monotonic()
        self.saves = 0

    def save(self):
        save_checkpoint(self.model, self.folder, self.meta_fn())
        self.last = time.monotonic()
        self.saves += 1

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step % self.steps_per_pass == 0 or time.monotonic() - self.last >= self.interval:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class ProgressLine(keras.callbacks.Callback):
    """The one in-place progress display: step, loss, masked accuracy, elapsed time."""

    def __init__(self, total_steps: int, enabled: bool = True):
        super().__init__()
        self.total_steps, self.enabled = total_steps, enabled
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = Progress(self.total_steps, "pretraining steps", enabled=self.enabled, min_interval=1.0)
        self.bar.done = int(self.model.optimizer.iterations)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.bar.description = (f"pretraining · loss {logs.get('loss', float('nan')):.3f} · masked accuracy "
                                f"{logs.get('masked_accuracy', float('nan')):.1%} · steps")
        self.bar.update(int(self.model.optimizer.iterations) - self.bar.done)

    def on_train_end(self, logs=None):
        if self.bar:
            self.bar.close()


class FillMaskCallback(keras.callbacks.Callback):
    """Every `every` steps: top-k words for fixed probe sentences, shown in ONE in-place display.

    The display is a table of the top words per probe and a plot of the probability the model
    gives the expected word over training. Each update is also appended to `log_path` (JSON lines).
    In a terminal it prints one short line per update instead.
    """

    def __init__(self, vectorizer: Vectorizer, probes=PROBES, answers=PROBE_ANSWERS, every: int = 200,
                 top_k: int = 5, log_path: Path | None = None, display: bool = True):
        super().__init__()
        self.vectorizer, self.probes, self.answers = vectorizer, list(probes), list(answers)
        self.every, self.top_k, self.log_path, self.display = every, top_k, log_path, display
        self.history: list[dict] = []
        self._handle = None

    def snapshot(self) -> dict:
        masker = FillMasker(self.model, self.vectorizer)
        answers = [a for a in self.answers if self.vectorizer.id_of(a) >= 3]
        results = masker(self.probes, top_k=self.top_k, targets=answers)
        return {"step": int(self.model.optimizer.iterations), "results": results}

    def on_train_begin(self, logs=None):
        if not self.history or self.history[-1]["step"] != int(self.model.optimizer.iterations):
            self._record()

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) % self.every == 0:
            self._record()

    def on_train_end(self, logs=None):
        if self.history[-1]["step"] != int(self.model.optimizer.iterations):
            self._record()

    def _record(self):
        entry = self.snapshot()
        self.history.append(entry)
        if self.log_path:
            ensure_folder(self.log_path.parent)
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
        if self.display:
            self._show()

    def _show(self):
        from .progress import _in_notebook

        if not _in_notebook():
            first = self.history[-1]["results"][0]
            guesses = ", ".join(p["token"] for p in first["masks"][0]["predictions"])
            print(f"step {self.history[-1]['step']}: {first['text']} -> {guesses}")
            return
        from IPython.display import HTML, display

        from .widgets.fill_mask import render_training_panel

        panel = HTML(render_training_panel(self.history, self.answers))
        if self._handle is None:
            self._handle = display(panel, display_id=True)
        else:
            self._handle.update(panel)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class PretrainResult:
    """What a pretraining run did: steps, time, held-out metrics and the curves."""

    steps: int
    seconds: float
    stopped_by: str
    heldout: dict
    heldout_at_start: dict | None
    history: list = field(default_factory=list)
    fill_mask: list = field(default_factory=list)
    checkpoint: str = ""


def plan_steps(cfg: Config, train_reviews: int) -> tuple[int, int]:
    """(steps per pass over the corpus, total planned steps) for the preset's number of passes."""
    per_pass = max(1, train_reviews // cfg.batch_size)
    return per_pass, per_pass * cfg.pretrain_epochs


def pretrain(cfg: Config, corpus: Corpus, vectorizer: Vectorizer, resume: bool = False,
             minutes: float | None = None, progress: bool = True, fill_mask_display: bool = True,
             extra_callbacks=()) -> tuple[keras.Model, PretrainResult]:
    """Pretrain (or resume) the MLM model; returns the model and what happened.

    Training stops after `cfg.pretrain_epochs` passes over the corpus, or after `minutes`
    (default `cfg.pretrain_minutes`), whichever comes first, always leaving a checkpoint.
    """
    folder = checkpoint_folder(cfg)
    ensure_folder(folder)
    remove_abandoned(folder, r"\..*\.(\d+)\.tmp\.keras")  # left by a run that was killed while saving
    per_pass, total = plan_steps(cfg, len(corpus.train_ids))
    if resume and (folder / CHECKPOINT_FILE).exists():
        check_compatible(read_checkpoint_meta(folder), cfg, vectorizer, folder)
        model = load_checkpoint(folder)
    else:
        if not resume:
            (folder / LOG_FILE).unlink(missing_ok=True)
            (folder / "fill_mask.jsonl").unlink(missing_ok=True)
        model = build_model_for(cfg, vectorizer)
        compile_pretraining_model(model, cfg, total)
    train_ds, heldout_ds = datasets(corpus, cfg, vectorizer.vocabulary_size)
    start_step = int(model.optimizer.iterations)
    heldout_at_start = evaluate_heldout(model, heldout_ds) if start_step == 0 else None
    started = time.monotonic()
    seconds_before = _previous_seconds(folder) if start_step else 0.0

    def meta():
        return {
            "format_version": 1,
            "step": int(model.optimizer.iterations),
            "planned_steps": total,
            "steps_per_pass": per_pass,
            "seconds": round(seconds_before + time.monotonic() - started, 1),
            "architecture": _architecture(cfg),
            "config": cfg.to_dict(),
            "vocabulary_fingerprint": vectorizer.fingerprint,
        }

    stopper = StopAt(total, minutes if minutes is not None else cfg.pretrain_minutes)
    fill = FillMaskCallback(vectorizer, every=cfg.fill_mask_every, log_path=folder / "fill_mask.jsonl",
                            display=fill_mask_display)
    checkpoints = CheckpointEvery(folder, meta, cfg.checkpoint_minutes, per_pass)
    logger = keras.callbacks.CSVLogger(str(folder / "history.csv"), append=resume)
    interval = cfg.fill_mask_every
    callbacks = [stopper, ProgressLine(total, enabled=progress), fill, checkpoints, logger, *extra_callbacks]
    try:
        history = model.fit(
            train_ds, epochs=math.ceil(total / interval) + 1, steps_per_epoch=interval,
            initial_epoch=start_step // interval, validation_data=heldout_ds, callbacks=callbacks, verbose=0, shuffle=False,
        )
    except KeyboardInterrupt:
        save_checkpoint(model, folder, meta())
        raise
    heldout = evaluate_heldout(model, heldout_ds)
    result = PretrainResult(
        steps=int(model.optimizer.iterations), seconds=round(time.monotonic() - started, 1),
        stopped_by=stopper.reason, heldout=heldout, heldout_at_start=heldout_at_start,
        history=_history_rows(history, interval, start_step), fill_mask=fill.history,
        checkpoint=str(folder / CHECKPOINT_FILE),
    )
    _append_log(folder / LOG_FILE, result)
    save_encoder(model, folder)
    return model, result


def build_model_for(cfg: Config, vectorizer: Vectorizer) -> keras.Model:
    """A fresh pretraining model sized for this vocabulary (which may be smaller than cfg.vocab_size)."""
    return model_module.build_pretraining_model(cfg, vocabulary_size=vectorizer.vocabulary_size)


def evaluate_heldout(model: keras.Model, heldout_ds) -> dict:
    """Masked accuracy, perplexity and loss on the held-out reviews (fixed masks)."""
    values = model.evaluate(heldout_ds, verbose=0, return_dict=True)
    return {"loss": float(values["loss"]), "masked_accuracy": float(values["masked_accuracy"]),
            "perplexity": float(values["perplexity"])}


def save_encoder(model: keras.Model, folder: Path) -> Path:
    """Save the encoder alone (what fine-tuning needs), atomically."""
    encoder = model.encoder
    temporary = folder / f".{ENCODER_FILE}.{os.getpid()}.tmp.keras"
    try:
        encoder.save(temporary)
        os.replace(temporary, folder / ENCODER_FILE)
    finally:
        temporary.unlink(missing_ok=True)
    return folder / ENCODER_FILE


def _previous_seconds(folder: Path) -> float:
    try:
        return float(read_checkpoint_meta(folder).get("seconds", 0.0))
    except ArtifactError:
        return 0.0


def _history_rows(history, interval: int, start_step: int) -> list[dict]:
    rows = []
    epochs = history.epoch if history is not None else []
    for i, epoch in enumerate(epochs):
        row = {"step": (epoch + 1) * interval}
        row.update({k: float(v[i]) for k, v in history.history.items() if i < len(v)})
        rows.append(row)
    return rows


def _append_log(path: Path, result: PretrainResult) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"steps": result.steps, "seconds": result.seconds, "stopped_by": result.stopped_by,
                              "heldout": result.heldout, "heldout_at_start": result.heldout_at_start,
                              "history": result.history}) + "\n")


def run_pretraining(cfg: Config, data_path=None, resume: bool = False, minutes: float | None = None,
                    progress: bool = True, fill_mask_display: bool = True):
    """The whole stage from raw data: vocabulary (built if missing), corpus, training. Used by the CLI."""
    from . import data
    from .vectorize import load_or_build

    vectorizer = load_or_build(cfg, data_path, progress=progress)
    imdb = data.load_imdb(data_path, cfg=cfg, progress=progress)
    corpus = prepare_corpus(imdb.pretraining_texts(), vectorizer, cfg)
    return pretrain(cfg, corpus, vectorizer, resume=resume, minutes=minutes, progress=progress,
                    fill_mask_display=fill_mask_display)


def plot_curves(history: list[dict], axes=None):
    """Loss, masked accuracy and perplexity against steps, training and held-out, side by side."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    steps = [row["step"] for row in history]
    for ax, key, label in zip(axes, ("loss", "masked_accuracy", "perplexity"),
                              ("loss (cross-entropy)", "masked-token accuracy", "perplexity")):
        ax.plot(steps, [row.get(key) for row in history], label="training batches")
        ax.plot(steps, [row.get(f"val_{key}") for row in history], marker="o", label="held-out reviews")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        if key == "perplexity":
            ax.set_yscale("log")
    axes[0].legend()
    return axes
