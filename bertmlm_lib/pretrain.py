"""Stage 5, pretraining: teach the small BERT to fill in `[mask]`.

- Data: the pretraining corpus (train + unsup, never test), encoded once; a held-out slice of it
  (`cfg.heldout_reviews`) is never trained on and measures progress with fixed masks.
- Optimizer: AdamW, learning rate warmed up linearly then decayed linearly to zero, gradients
  clipped by global norm; LayerNorm scales and biases are not decayed.
- Metrics on masked positions only: masked-token accuracy and perplexity.
- Checkpoints (model + optimizer state + step) are written atomically at every pass over the
  corpus, every `cfg.checkpoint_minutes`, at the end, and on Ctrl-C; `resume=True` continues from
  the last one. A time budget (`cfg.pretrain_minutes`) ends training cleanly with a checkpoint.
- Display: one in-place progress line, plus the fill-mask panel of `FillMaskCallback`.

`pretrain` composes these pieces: the model (`start_model`), the masked datasets (`datasets`), the
training clock and its budget (`StopAt`), the held-out evaluator, the fill-mask callback and the
checkpoints (the callbacks live in `callbacks.py`, the files in `checkpoints.py`). `bertmlm pretrain`
runs the same pieces with a lock, snapshots and several workers (`tools/runner.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import CHECKPOINT_FILE, FILL_MASK_LOG, LOG_FILE, ensure_folder, remove_abandoned
from .backend import load_tensorflow, release_free_memory
from .band import draw as draw_band, load_band, of_history
from .checkpoints import (
    architecture,
    check_compatible,
    checkpoint_folder,
    clear_moments,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
    MLM_SNAPSHOT_STEPS,
    save_encoder,
    save_mlm_snapshot,
    save_moment,
)
from .config import Config
from .masking import max_predictions_for, mlm_dataset
from .vectorize import FIRST_WORD_ID, Vectorizer

load_tensorflow()

import keras  # noqa: E402

from . import model as model_module  # noqa: E402
from .callbacks import (  # noqa: E402
    AfterEachEvaluation,
    AtSteps,
    CheckpointEvery,
    FillMaskCallback,
    FitScheduleToBudget,
    HeldoutEvaluator,
    ProgressLine,
    StartClock,
    StopAt,
    StopOnCtrlC,
    TrainingClock,
    step_of,
)
from .schedules import WarmupLinearDecay, adamw  # noqa: E402

def make_optimizer(cfg: Config, total_steps: int) -> keras.optimizers.Optimizer:
    """AdamW with warmup + linear decay (or warmup then constant, or a constant rate) and global-norm clipping;
    no weight decay on norms and biases."""
    schedule = (WarmupLinearDecay(cfg.learning_rate, total_steps, cfg.warmup_share, decay=cfg.schedule == "linear")
                if cfg.schedule in ("linear", "warmup") else cfg.learning_rate)
    return adamw(schedule, cfg.weight_decay, cfg.clipnorm, decay_norms_and_biases=False)


def schedule_of(model: keras.Model) -> WarmupLinearDecay | None:
    """The learning-rate schedule inside a compiled model's optimizer (None for a constant rate)."""
    schedule = model.optimizer._learning_rate
    return schedule if isinstance(schedule, WarmupLinearDecay) else None


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
    order, held = _heldout_order(len(texts), cfg)
    ids = vectorizer.encode([texts[i] for i in order])
    return Corpus(train_ids=ids[held:], heldout_ids=ids[:held])


def heldout_texts(texts: list[str], cfg: Config) -> list[str]:
    """The reviews `prepare_corpus` sets aside as the held-out set, in its order."""
    order, held = _heldout_order(len(texts), cfg)
    return [texts[i] for i in order[:held]]


def _heldout_order(count: int, cfg: Config) -> tuple[np.ndarray, int]:
    return np.random.default_rng(cfg.seed).permutation(count), min(cfg.heldout_reviews, max(1, count // 5))


# Steps at which held-out masked accuracy is always measured, whatever the evaluation period: a time
# budget ends after fewer steps on a slower laptop, and these say what such a laptop would reach
# (1,800 steps: about what a machine half as fast as the one the presets were tuned on makes in 4 minutes).
MILESTONE_STEPS = (800, 1800)
# The held-out set is always masked with BERT's recipe (15%; 80/10/10), whatever a run trains with,
# so that held-out masked accuracy compares recipes that mask more or less.
HELDOUT_MASKING = dict(mask_rate=0.15, mask_token_share=0.8, random_token_share=0.1)


def masked_accuracy_at(model: keras.Model, token_ids, vocabulary_size: int, mask_rate: float, batch_size: int = 32,
                       seed: int = 0) -> float:
    """Held-out masked accuracy of a pretraining model when `mask_rate` of the words are chosen (fixed
    masks, BERT's 80/10/10): how well it fills blanks when that much of the text is hidden."""
    heldout = mlm_dataset(np.asarray(token_ids), vocabulary_size=vocabulary_size, batch_size=batch_size, seed=seed,
                          shuffle=False, fixed_masks=True, mask_rate=mask_rate,
                          max_predictions=max_predictions_for(np.shape(token_ids)[1], mask_rate),
                          mask_token_share=HELDOUT_MASKING["mask_token_share"],
                          random_token_share=HELDOUT_MASKING["random_token_share"])
    if not model.compiled:  # a model saved without its training state: only the loss and metrics are needed
        model.compile(loss=model_module.mlm_loss(), metrics=model_module.mlm_metrics())
    return float(model.evaluate(heldout, verbose=0, return_dict=True)["masked_accuracy"])


def datasets(corpus: Corpus, cfg: Config, vocabulary_size: int, start_step: int = 0, continuation=None):
    """The training stream (endless, fresh masks) and the held-out set (fixed masks, `HELDOUT_MASKING`).

    A resumed run (`start_step` > 0) draws another order and other masks than the run it continues.
    `continuation` (see `whole_words`) makes the training stream mask whole words; the held-out set
    always masks pieces one by one, so its score compares runs with and without whole words.
    """
    train = mlm_dataset(corpus.train_ids, vocabulary_size=vocabulary_size, batch_size=cfg.batch_size,
                        seed=cfg.seed + 7919 * start_step, shuffle=True, repeat=True, drop_remainder=True,
                        mask_rate=cfg.mask_rate, mask_token_share=cfg.mask_token_share,
                        random_token_share=cfg.random_token_share, continuation=continuation,
                        max_predictions=max_predictions_for(cfg.max_length, cfg.mask_rate))
    heldout = mlm_dataset(corpus.heldout_ids, vocabulary_size=vocabulary_size, batch_size=cfg.batch_size,
                          seed=cfg.seed + 1, shuffle=False, fixed_masks=True,
                          max_predictions=max_predictions_for(cfg.max_length, HELDOUT_MASKING["mask_rate"]),
                          **HELDOUT_MASKING)
    return train, heldout


def short_dataset(corpus: Corpus, cfg: Config, vocabulary_size: int, start_step: int = 0, continuation=None):
    """The training stream of the short-review phase: the first `cfg.short_length` tokens of each review."""
    return mlm_dataset(corpus.train_ids[:, :cfg.short_length], vocabulary_size=vocabulary_size,
                       batch_size=cfg.batch_size, seed=cfg.seed + 7919 * start_step + 1, shuffle=True, repeat=True,
                       drop_remainder=True, mask_rate=cfg.mask_rate, mask_token_share=cfg.mask_token_share,
                       random_token_share=cfg.random_token_share, continuation=continuation,
                       max_predictions=max_predictions_for(cfg.short_length, cfg.mask_rate))


def whole_words(cfg: Config, vectorizer: Vectorizer):
    """What the masking of training batches needs for whole-word masking: for every id, whether it
    continues a word (`vectorizer.is_continuation`); None when `cfg.whole_word_masking` is off."""
    return vectorizer.is_continuation if cfg.whole_word_masking else None


@dataclass
class Phase:
    """One part of a run: reviews read up to `length` tokens from `stream`, until `ends_with` (a `StopAt`)
    fires or the run ends."""

    length: int
    stream: object
    ends_with: StopAt | None = None


def short_phase(cfg: Config, planned_steps: int, budget_minutes: float | None) -> tuple[int, float | None]:
    """Where the short-review phase ends: (step, training minutes). (0, None) when there is none.

    Under a time budget it is a share of the minutes; otherwise a share of the planned steps.
    """
    if not cfg.short_length or cfg.short_share <= 0:
        return 0, None
    if budget_minutes:
        return planned_steps, cfg.short_share * budget_minutes
    return round(cfg.short_share * planned_steps), None


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class PretrainResult:
    """What a pretraining run did: steps, training time, held-out metrics and the curves."""

    steps: int
    seconds: float
    stopped_by: str
    heldout: dict
    heldout_at_start: dict | None  # at step 0, also after a resume
    history: list = field(default_factory=list)
    fill_mask: list = field(default_factory=list)
    checkpoint: str = ""
    phases: list = field(default_factory=list)  # [{"length", "from_step", "to_step"}], short reviews first
    verdict: str = ""  # where the run ended against its reference band, in words (`band.verdict`)

    @property
    def accuracy_at_steps(self) -> dict:
        """Held-out masked accuracy at each of `MILESTONE_STEPS` this run passed: {"800": 0.21, ...}."""
        return {str(row["step"]): row["val_masked_accuracy"] for row in self.history if row["step"] in MILESTONE_STEPS}


def plan_steps(cfg: Config, train_reviews: int) -> tuple[int, int]:
    """(steps per pass over the corpus, total planned steps) for the preset's number of passes."""
    per_pass = max(1, train_reviews // cfg.batch_size)
    planned = per_pass * cfg.pretrain_epochs
    return per_pass, min(planned, cfg.pretrain_steps) if cfg.pretrain_steps else planned


def heldout_of(row: dict) -> dict:
    return {key: row[f"val_{key}"] for key in ("loss", "masked_accuracy", "perplexity")}


def pretrain(cfg: Config, corpus: Corpus, vectorizer: Vectorizer, resume: bool = False, callbacks=(),
             show: bool = True) -> tuple[keras.Model, PretrainResult]:
    """Pretrain (or, with `resume=True`, continue) the MLM model on one device; returns it and what happened.

    Training stops after `cfg.pretrain_epochs` passes over the corpus, `cfg.pretrain_steps` steps or
    `cfg.pretrain_minutes` of training time, whichever comes first, always leaving a checkpoint; under a
    time budget the learning rate reaches zero as the time runs out. A resumed run counts the training time
    of all runs together. `callbacks` are more Keras callbacks; `show` draws the progress line and the
    fill-mask panel. (`bertmlm pretrain` runs the same pieces with a lock, snapshots and several workers.)
    """
    folder = checkpoint_folder(cfg)
    per_pass, planned = plan_steps(cfg, len(corpus.train_ids))
    model, before = start_model(cfg, vectorizer, folder, resume, planned)
    clock = TrainingClock(already=before["seconds"])
    train, heldout = datasets(corpus, cfg, vectorizer.vocabulary_size, step_of(model), whole_words(cfg, vectorizer))
    phases = phases_of(cfg, corpus, vectorizer, model, clock, planned, train)
    stopper = StopAt(planned, clock, cfg.pretrain_minutes)
    evaluator = HeldoutEvaluator(heldout, clock, cfg.eval_every, at_steps=MILESTONE_STEPS)
    fill = FillMaskCallback(vectorizer, clock, every=cfg.eval_every, log_path=folder / FILL_MASK_LOG, display=show,
                            status=status_of(cfg, vectorizer, evaluator))
    progress = ProgressLine("pretraining", planned, clock, cfg.pretrain_minutes, enabled=show)

    def save():
        save_checkpoint(model, folder, checkpoint_meta(cfg, vectorizer, model, planned, per_pass, clock, before,
                                                       evaluator))

    ctrl_c = StopOnCtrlC()
    pieces = [StartClock(clock), stopper, *fit_to_budget(model, clock, cfg.pretrain_minutes, planned), evaluator,
              fill, progress, CheckpointEvery(save, cfg.checkpoint_minutes), *callbacks, ctrl_c,
              *kept_to_look_back(model, folder, evaluator, clock)]
    ran = fit_phases(model, phases, pieces, planned, per_pass, stopper, ctrl_c, save, progress)
    result = result_of(model, clock, stopper, evaluator, fill, before, ran, folder)
    append_log(folder / LOG_FILE, result)
    save_encoder(model, folder)
    release_free_memory()  # what training freed goes back to the system: a kernel's next cells start lower
    return model, result


# The pieces `pretrain` is made of (`bertmlm pretrain` composes them too, see `tools/runner.py`).


def band_for(cfg: Config) -> dict | None:
    """The reference band for this run (`band.load_band`): the lesson's when it trains lesson 05's minutes,
    else the preset's whole budget; None for a preset without one."""
    return load_band("lesson" if cfg.pretrain_minutes == cfg.lesson_pretrain_minutes else "workshop", cfg.preset)


def status_of(cfg: Config, vectorizer: Vectorizer, evaluator: HeldoutEvaluator):
    """A function giving, in words, where the run stands at its last held-out score (`band.verdict`)."""
    reference, frequent = band_for(cfg), frequent_word_accuracy(vectorizer)
    return lambda: of_history(evaluator.rows, reference, frequent)


def phases_of(cfg: Config, corpus: Corpus, vectorizer: Vectorizer, model, clock: TrainingClock, planned: int,
              train, short_stream=None) -> list[Phase]:
    """The run's phases: the short-review phase first while it is not over (`short_phase`), then full length.
    `short_stream(cfg)` makes its stream (default: `short_dataset` on this corpus)."""
    phases = [Phase(cfg.max_length, train)]
    end_step, end_minutes = short_phase(cfg, planned, cfg.pretrain_minutes)
    if (end_minutes is not None and clock.already < 60 * end_minutes) or step_of(model) < end_step:
        short = (short_stream or (lambda c: short_dataset(corpus, c, vectorizer.vocabulary_size, step_of(model),
                                                          whole_words(c, vectorizer))))(cfg)
        phases.insert(0, Phase(cfg.short_length, short, ends_with=StopAt(end_step, clock, end_minutes)))
    return phases


def fit_to_budget(model, clock: TrainingClock, minutes: float | None, planned: int) -> list:
    """Under a time budget, the callback that keeps the learning rate's end at the budget's end."""
    schedule = schedule_of(model)
    return [FitScheduleToBudget(schedule, clock, minutes, planned)] if minutes and schedule is not None else []


def kept_to_look_back(model, folder: Path, evaluator: HeldoutEvaluator, clock: TrainingClock) -> list:
    """The callbacks that keep what a run is looked back at with: the whole MLM at doubling steps (lesson
    06's "when does it learn sentiment?") and at each held-out evaluation (the time-lapse)."""
    return [AtSteps(MLM_SNAPSHOT_STEPS, lambda step: keep_mlm(model, folder, step, clock)),
            AfterEachEvaluation(evaluator, lambda row: keep_moment(model, folder, row, clock))]


def keep_moment(model, folder: Path, row: dict, clock: TrainingClock) -> None:
    """Keep the whole MLM as one moment of the run's time-lapse (`widgets.time_lapse`), at a held-out
    evaluation `row`; the first of a fresh run forgets an earlier run's moments. Not training time."""
    with clock.pause():
        if row["step"] == 0:
            clear_moments(folder)
        save_moment(model, folder, row["step"], row.get("val_masked_accuracy"))


def keep_mlm(model, folder: Path, step: int, clock: TrainingClock) -> None:
    """Keep the whole MLM at this step (`checkpoints.MLM_SNAPSHOT_STEPS`): lesson 06 asks each when sentiment
    appeared. Not training time."""
    with clock.pause():
        save_mlm_snapshot(model, folder, step)


def checkpoint_meta(cfg: Config, vectorizer: Vectorizer, model, planned: int, per_pass: int, clock: TrainingClock,
                    before: dict, evaluator: HeldoutEvaluator) -> dict:
    """What a checkpoint records beside the weights: the step, the plan, the time, the settings, the vocabulary."""
    return {"format_version": 1, "step": step_of(model), "planned_steps": planned,
            "heldout_at_step_0": before["heldout_at_step_0"] or at_step_0(evaluator, before),
            "steps_per_pass": per_pass, "seconds": round(clock.seconds(), 1), "architecture": architecture(cfg),
            "config": cfg.to_dict(), "vocabulary_fingerprint": vectorizer.fingerprint}


def at_step_0(evaluator: HeldoutEvaluator, before: dict) -> dict | None:
    """The held-out scores before the first step, when this run started at step 0."""
    rows = evaluator.rows
    return heldout_of(rows[0]) if before["step"] == 0 and rows else None


def fit_phases(model, phases: list[Phase], callbacks: list, planned: int, per_pass: int, stopper: StopAt,
               ctrl_c: StopOnCtrlC, save, progress: ProgressLine) -> list[dict]:
    """Train phase after phase until `stopper` fires; on Ctrl-C `save()` and raise KeyboardInterrupt.
    Returns what each phase ran: [{"length", "from_step", "to_step"}]."""
    ran = []
    try:
        for phase in phases:  # short reviews first (if configured), then full length
            ran.append({"length": phase.length, "from_step": step_of(model)})
            model.fit(phase.stream, epochs=math.ceil(planned / per_pass), steps_per_epoch=per_pass,
                      initial_epoch=step_of(model) // per_pass,
                      callbacks=callbacks + ([phase.ends_with] if phase.ends_with else []), verbose=0, shuffle=False)
            ran[-1]["to_step"] = step_of(model)
            if ctrl_c.pressed:
                raise KeyboardInterrupt
            if stopper.fired:
                break
    except KeyboardInterrupt:
        save()
        raise
    finally:
        progress.close()
    return ran


def result_of(model, clock: TrainingClock, stopper: StopAt, evaluator: HeldoutEvaluator, fill: FillMaskCallback,
              before: dict, ran: list, folder: Path) -> PretrainResult:
    rows = evaluator.rows
    return PretrainResult(steps=step_of(model), seconds=round(clock.seconds(), 1), stopped_by=stopper.reason,
                          heldout=heldout_of(rows[-1]),
                          heldout_at_start=before["heldout_at_step_0"] or at_step_0(evaluator, before),
                          history=rows, fill_mask=fill.history, checkpoint=str(folder / CHECKPOINT_FILE), phases=ran,
                          verdict=fill.status() if fill.status else "")


def start_model(cfg: Config, vectorizer: Vectorizer, folder: Path, resume: bool, planned: int, writes: bool = True):
    """(compiled model, what came before it): resumed from `folder`'s checkpoint, or new.

    What came before: {"step", "seconds" of training so far, "heldout_at_step_0"}. A new run clears the
    folder's logs (unless `writes` is False: a multi-worker run's other workers write nothing)."""
    if writes:
        ensure_folder(folder)
        remove_abandoned(folder, r"\..*\.(\d+)\.tmp\.keras")  # left by a run that was killed while saving
    if not (resume and (folder / CHECKPOINT_FILE).exists()):
        for stale in (LOG_FILE, FILL_MASK_LOG) if writes else ():
            (folder / stale).unlink(missing_ok=True)
        model = compile_pretraining_model(build_model_for(cfg, vectorizer), cfg, planned)
        return model, {"step": 0, "seconds": 0.0, "heldout_at_step_0": None}
    meta = read_checkpoint_meta(folder)
    check_compatible(meta, cfg, vectorizer, folder)
    model = load_checkpoint(folder)
    seconds_before = float(meta.get("seconds", 0.0))
    if getattr(model, "optimizer", None) is None:  # an imported instructor model: a fresh optimizer trains it on
        compile_pretraining_model(model, cfg, planned)
        seconds_before = 0.0
    if schedule_of(model) is not None:  # more passes than before: the decay must end later
        schedule_of(model).set_total_steps(planned)
    return model, {"step": step_of(model), "seconds": seconds_before, "heldout_at_step_0": meta.get("heldout_at_step_0")}


def build_model_for(cfg: Config, vectorizer: Vectorizer) -> keras.Model:
    """A fresh pretraining model sized for this vocabulary (which may be smaller than cfg.vocab_size), its
    word vectors drawn with `cfg.embedding_init_std` (a starting point only: the saved model has no trace of it)."""
    mlm = model_module.build_pretraining_model(cfg, vocabulary_size=vectorizer.vocabulary_size)
    if cfg.embedding_init_std != model_module.INIT_STD:
        words = model_module.token_embedding_of(mlm.encoder).embeddings
        words.assign(keras.random.truncated_normal(words.shape, stddev=cfg.embedding_init_std, seed=cfg.seed))
    return mlm


def append_log(path: Path, result: PretrainResult) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"steps": result.steps, "seconds": result.seconds, "stopped_by": result.stopped_by,
                              "heldout": result.heldout, "heldout_at_start": result.heldout_at_start,
                              "phases": result.phases, "history": result.history}) + "\n")


def frequent_word_accuracy(vectorizer: Vectorizer) -> float:
    """Masked accuracy of always guessing the most frequent word: its share of the corpus's words."""
    words = vectorizer.counts[FIRST_WORD_ID:]
    return words[0] / sum(words) if sum(words) else 0.0


def reference_levels(vectorizer: Vectorizer) -> dict[str, tuple[float, str]]:
    """The levels a learning model must beat, per curve: `{metric: (value, what it is)}`.

    A uniform guess over V words has loss ln V and perplexity V; always guessing the most frequent
    word scores its share of the corpus. The plateau sits just above that last line.
    """
    size = vectorizer.vocabulary_size
    return {"loss": (math.log(size), f"a uniform guess: ln {size:,} = {math.log(size):.2f}"),
            "masked_accuracy": (frequent_word_accuracy(vectorizer),
                                f"always {vectorizer.tokens[FIRST_WORD_ID]!r}: {frequent_word_accuracy(vectorizer):.1%}"),
            "perplexity": (float(size), f"a uniform guess: {size:,}")}


def plot_curves(history: list[dict], axes=None, phases: list | None = None, references: dict | None = None,
                band: dict | None = None):
    """Loss, masked accuracy and perplexity against steps, training and held-out, side by side.

    With `phases` (a run's `result.phases`), a dotted line marks where the reviews got longer; with
    `references` (`reference_levels(vectorizer)`), a dashed line shows the level to beat on each curve;
    with `band` (`band.load_band()`), the reference runs' range sits behind the held-out accuracy.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    steps = [row["step"] for row in history]
    titles = {"loss": "Loss falls from the uniform guess", "masked_accuracy": "Accuracy climbs past the frequent word",
              "perplexity": "Perplexity: words still in doubt"}
    for ax, key, label in zip(axes, ("loss", "masked_accuracy", "perplexity"),
                              ("loss (cross-entropy)", "masked-token accuracy", "perplexity")):
        ax.plot(steps, [row.get(key) for row in history], label="training (running mean over the pass)")
        ax.plot(steps, [row.get(f"val_{key}") for row in history], marker="o", markersize=3, label="held-out reviews")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(titles[key] if references else label.capitalize(), fontsize=10)
        if key == "perplexity":
            ax.set_yscale("log")
        if band and key == "masked_accuracy":
            draw_band(band, ax)
            margin = 0.05 * max(steps[-1] - steps[0], 1)  # the band may go on past the run: the run sets the axis
            ax.set_xlim(steps[0] - margin, steps[-1] + margin)
        if references and key in references:
            level, words = references[key]
            ax.axhline(level, color="dimgray", linestyle="--", linewidth=1)
            ax.annotate(words, (0.98, level), xycoords=("axes fraction", "data"), ha="right",
                        va="top" if key == "masked_accuracy" else "bottom", fontsize=8, color="dimgray")
        for phase in (phases or [])[1:]:
            ax.axvline(phase["from_step"], color="grey", linestyle=":",
                       label=f"from here reviews are read up to {phase['length']} tokens")
    handles, labels = [], []
    for ax in axes:  # each line once, whichever panel draws it (the band: the accuracy panel only)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    axes[0].figure.legend(handles, labels, loc="outside lower center", ncols=len(labels) if len(labels) <= 3 else 2,
                          frameon=False)
    return axes
