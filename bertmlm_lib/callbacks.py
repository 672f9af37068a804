"""Keras callbacks of the pretraining stage: the clock, the budget, evaluation, checkpoints, display.

They share one `TrainingClock`, which counts training time only: evaluating the held-out reviews
and drawing the fill-mask panel pause it, so "5 minutes of pretraining" means 5 minutes of
optimizer steps whatever the display costs, and recipes compared at equal minutes are compared
fairly.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

from .artifacts import ensure_folder
from .backend import load_tensorflow
from .config import cadence
from .fill_mask import PROBE_ANSWERS, PROBES, FillMasker
from .progress import Progress, _in_notebook
from .vectorize import FIRST_WORD_ID, Vectorizer

load_tensorflow()

import keras  # noqa: E402

def step_of(model) -> int:
    """The optimizer's step count as a Python int (also for a variable mirrored over several devices)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))




class TrainingClock:
    """Seconds spent training, excluding the pauses for evaluation and display."""

    def __init__(self, already: float = 0.0):
        self.already, self.started, self.paused = already, None, 0.0

    def start(self):
        """Start (or, for a later phase of the same run, restart) counting; time so far is kept."""
        if self.started is not None:
            self.already, self.paused = self.seconds(), 0.0
        self.started = time.monotonic()

    def seconds(self) -> float:
        return self.already + (time.monotonic() - self.started - self.paused if self.started else 0.0)

    def pause(self):
        """Context manager: time inside it does not count as training."""
        clock = self

        class _Pause:
            def __enter__(self):
                self.t = time.monotonic()

            def __exit__(self, *exc):
                clock.paused += time.monotonic() - self.t

        return _Pause()


class StartClock(keras.callbacks.Callback):
    def __init__(self, clock: TrainingClock):
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs=None):
        self.clock.start()


class StopAt(keras.callbacks.Callback):
    """Stop after exactly `total_steps` optimizer steps, or when the training-time budget runs out."""

    def __init__(self, total_steps: int, clock: TrainingClock, minutes: float | None):
        super().__init__()
        self.total_steps, self.clock, self.budget = total_steps, clock, (60 * minutes if minutes else None)
        self.reason, self.fired = "steps", False

    def on_train_batch_end(self, batch, logs=None):
        if step_of(self.model) >= self.total_steps:
            self.model.stop_training = self.fired = True
        elif self.budget is not None and self.clock.seconds() >= self.budget:
            self.reason = "time budget"
            self.model.stop_training = self.fired = True


class StopOnCtrlC(keras.callbacks.Callback):
    """Ctrl-C (SIGINT, also Jupyter's "interrupt kernel") or `kill` (SIGTERM) stops training after the
    current batch.

    Python raises KeyboardInterrupt wherever the main thread happens to be, which can be inside
    TensorFlow's input pipeline or a finaliser that swallows it, and training then goes on; and a
    plain `kill` ends the process at once, losing the training since the last checkpoint. Here the
    first signal only sets `signalled`; training stops at the end of the batch (`pressed`), in a known
    state, and the caller saves and raises KeyboardInterrupt itself. A second Ctrl-C interrupts at once.
    Where a signal is ignored (SIGINT in a background job) or training runs off the main thread,
    nothing changes for it.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.signalled = self.pressed = False
        self._previous: dict = {}

    def _on_signal(self, signum, frame):
        if self.signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signalled = True

    def on_train_begin(self, logs=None):
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def on_train_batch_end(self, batch, logs=None):
        self.pressed = self.pressed or self.signalled
        if self.pressed:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


class FitScheduleToBudget(keras.callbacks.Callback):
    """Keep the learning-rate schedule's end at the end of the time budget.

    Every `every` steps it estimates steps per training second and moves the schedule's
    `total_steps` to where the budget will run out, so the rate reaches zero as time runs out
    instead of stopping half-way down its slope. The estimate follows the recent speed (half the
    last `every` steps, half the estimate before), so a machine that slows down part-way (another
    program starts, the CPU throttles) still ends near zero: an average since the start would keep
    promising steps that will not come.
    """

    def __init__(self, schedule, clock: TrainingClock, minutes: float, planned_steps: int, every: int = 25):
        super().__init__()
        self.schedule, self.clock, self.budget = schedule, clock, 60 * minutes
        self.planned_steps, self.every = planned_steps, every
        self.mark, self.speed = None, None

    def on_train_begin(self, logs=None):
        self.mark, self.speed = None, None  # a new phase (e.g. longer reviews) has its own speed: measure again

    def on_train_batch_end(self, batch, logs=None):
        step, now = step_of(self.model), self.clock.seconds()
        if self.mark is None:  # the first step includes tracing: measure from after it
            self.mark = (step, now)
            return
        if step % self.every == 0 and step > self.mark[0]:
            recent = (step - self.mark[0]) / max(now - self.mark[1], 1e-6)
            self.speed = recent if self.speed is None else 0.5 * (recent + self.speed)
            self.mark = (step, now)
            remaining = max(self.budget - now, 0.0)
            self.schedule.set_total_steps(min(self.planned_steps, step + int(self.speed * remaining)))


def _due(model, clock: TrainingClock, period: tuple, last_minutes: float) -> bool:
    """Whether a periodic callback is due; `period` is `config.cadence(every)`: every so many steps,
    or so many seconds of training after the last time."""
    steps, seconds = period
    if seconds:
        return clock.seconds() >= 60 * last_minutes + seconds
    return step_of(model) % steps == 0


class HeldoutEvaluator(keras.callbacks.Callback):
    """Score the held-out reviews (fixed masks) at the start, every `every` steps (or seconds of
    training, written "15s"), at each of `at_steps`, and at the end.

    Each row holds the step, training minutes, learning rate, the running training loss and
    accuracy, and the held-out loss, masked accuracy and perplexity (prefixed `val_`).
    """

    def __init__(self, heldout_ds, clock: TrainingClock, every: int | str, rows: list | None = None, at_steps=()):
        super().__init__()
        self.period = cadence(every)  # (steps, seconds); a ValueError now, not at the first step
        self.heldout_ds, self.clock, self.every = heldout_ds, clock, every
        self.at_steps = set(at_steps)  # also evaluated exactly there, whatever the period
        self.rows = rows if rows is not None else []
        self.last_logs: dict = {}

    def evaluate(self) -> dict:
        with self.clock.pause():
            values = self.model.evaluate(self.heldout_ds, verbose=0, return_dict=True)
        return {"loss": float(values["loss"]), "masked_accuracy": float(values["masked_accuracy"]),
                "perplexity": float(values["perplexity"])}

    def record(self):
        """Score the held-out reviews now (once per step), as one more row."""
        step = step_of(self.model)
        if self.rows and self.rows[-1]["step"] == step:
            return
        optimizer = self.model.optimizer
        row = {"step": step, "minutes": round(self.clock.seconds() / 60, 3),
               "learning_rate": float(optimizer.learning_rate)}
        row.update({k: float(v) for k, v in self.last_logs.items() if k in ("loss", "masked_accuracy", "perplexity")})
        row.update({f"val_{k}": v for k, v in self.evaluate().items()})
        self.rows.append(row)

    def on_train_begin(self, logs=None):
        self.record()

    def on_train_batch_end(self, batch, logs=None):
        self.last_logs = logs or {}
        if (step_of(self.model) in self.at_steps
                or _due(self.model, self.clock, self.period, self.rows[-1]["minutes"] if self.rows else 0)):
            self.record()

    def on_train_end(self, logs=None):
        self.record()


class CheckpointEvery(keras.callbacks.Callback):
    """Call `save()` every `minutes` of wall time (or of `now()`, any clock in seconds), at every pass over
    the corpus, and at the end."""

    def __init__(self, save, minutes: float, now=time.monotonic):
        super().__init__()
        self.save, self.interval, self.now = save, 60 * minutes, now
        self.last = self.now()

    def _save(self):
        self.save()
        self.last = self.now()

    def on_train_batch_end(self, batch, logs=None):
        if self.now() - self.last >= self.interval:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._save()

    def on_train_end(self, logs=None):
        self._save()


class AfterEachEvaluation(keras.callbacks.Callback):
    """Call `take(row)` with each new held-out row of `evaluator` (placed after it in the callback list, so
    it sees the row of the same batch): the time-lapse keeps the whole MLM there."""

    def __init__(self, evaluator: HeldoutEvaluator, take):
        super().__init__()
        self.evaluator, self.take, self.seen = evaluator, take, 0

    def _take_new(self):
        while self.seen < len(self.evaluator.rows):
            self.take(self.evaluator.rows[self.seen])
            self.seen += 1

    def on_train_begin(self, logs=None):
        self._take_new()

    def on_train_batch_end(self, batch, logs=None):
        self._take_new()

    def on_train_end(self, logs=None):
        self._take_new()


class AtSteps(keras.callbacks.Callback):
    """Call `take(step)` once as the optimizer reaches each of `steps` (step 0: before a fresh run's first
    batch); steps a resumed run is already past are skipped."""

    def __init__(self, steps, take):
        super().__init__()
        self.steps, self.take, self.pending = sorted(steps), take, None

    def on_train_begin(self, logs=None):
        if self.pending is None:
            now = step_of(self.model)
            self.pending = [s for s in self.steps if s >= now]
            self._take_due(now)

    def on_train_batch_end(self, batch, logs=None):
        self._take_due(step_of(self.model))

    def _take_due(self, now):
        while self.pending and now >= self.pending[0]:
            self.take(self.pending.pop(0))


class ProgressLine(keras.callbacks.Callback):
    """The one in-place progress display of training: what runs, the step, the running loss and accuracy,
    and how far the run is.

    How far is measured by what will end the run: the training minutes of a time budget, or the
    planned steps, whichever is nearer its end. It stays open across the phases of a run (several
    `fit` calls with one optimizer); `close()` ends it.
    """

    def __init__(self, what: str, total_steps: int, clock: TrainingClock | None = None,
                 budget_minutes: float | None = None, enabled: bool = True):
        super().__init__()
        self.what, self.total_steps, self.enabled = what, total_steps, enabled
        self.clock, self.budget_minutes = clock, budget_minutes
        self.bar = None

    def on_train_begin(self, logs=None):
        if self.bar is None and self.enabled:
            self.bar = Progress(self.total_steps, self.what, min_interval=1.0)

    def on_train_batch_end(self, batch, logs=None):
        if not self.enabled:  # switched off: nothing to read or format per batch
            return
        logs, step = logs or {}, step_of(self.model)
        by_steps = step / max(self.total_steps, 1)
        by_time = self.clock.seconds() / (60 * self.budget_minutes) if self.clock and self.budget_minutes else 0.0
        name = "masked accuracy" if "masked_accuracy" in logs else "accuracy"
        head = (f"{self.what} · step {step:,} · loss {logs.get('loss', float('nan')):.3f} · {name} "
                f"{logs.get(name.replace(' ', '_'), float('nan')):.1%}")
        if by_time >= by_steps:  # the time budget ends the run
            self.bar.description = f"{head} · training minutes"
            self.bar.total, done = self.budget_minutes, self.clock.seconds() / 60
        else:
            self.bar.description = f"{head} · steps"
            self.bar.total, done = self.total_steps, step
        self.bar.update(done - self.bar.done)

    def close(self):
        if self.bar:
            self.bar.close()


class FillMaskCallback(keras.callbacks.Callback):
    """Every `every` steps (or seconds of training, written "15s"): top-k words for fixed probe sentences, shown in ONE in-place display.

    The display is a table of the top words per probe and a plot of the probability the model
    gives the expected word over training. Each update is also appended to `log_path` (JSON lines).
    Outside a notebook it prints one short line per update instead.
    """

    def __init__(self, vectorizer: Vectorizer, clock: TrainingClock | None = None, probes=PROBES,
                 answers=PROBE_ANSWERS, every: int | str = 200, top_k: int = 5, log_path: Path | None = None,
                 display: bool = True, status=None):
        super().__init__()
        self.status = status  # a function giving one line on where the run stands, shown with each update
        self.vectorizer, self.clock, self.probes, self.answers = vectorizer, clock or TrainingClock(), list(probes), list(answers)
        self.every, self.top_k, self.log_path, self.display = every, top_k, log_path, display
        self.period = cadence(every)  # (steps, seconds); a ValueError now, not at the first step
        self.last_minutes = 0.0
        self.history: list[dict] = []
        self._handle = None

    def snapshot(self) -> dict:
        """The top words for every probe now, and the probability of each probe's expected word."""
        masker = FillMasker(self.model, self.vectorizer)
        answers = [a for a in self.answers if self.vectorizer.id_of(a) >= FIRST_WORD_ID]
        return {"step": step_of(self.model),
                "results": masker(self.probes, top_k=self.top_k, targets=answers)}

    def on_train_begin(self, logs=None):
        self._record()

    def on_train_batch_end(self, batch, logs=None):
        if _due(self.model, self.clock, self.period, self.last_minutes):
            self._record()

    def on_train_end(self, logs=None):
        self._record()

    def _record(self):
        if self.history and self.history[-1]["step"] == step_of(self.model):
            return
        self.last_minutes = self.clock.seconds() / 60
        with self.clock.pause():
            entry = self.snapshot()
            self.history.append(entry)
            if self.log_path:
                ensure_folder(self.log_path.parent)
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")
            if self.display:
                self._show()

    def _show(self):
        said = self.status() if self.status else ""
        if not _in_notebook():
            first = self.history[-1]["results"][0]
            guesses = ", ".join(p["token"] for p in first["masks"][0]["predictions"])
            print(f"step {self.history[-1]['step']}: {first['text']} -> {guesses}"
                  + (f"\n  is it normal? {said}" if said else ""))
            return
        from html import escape

        from IPython.display import HTML, display

        from .widgets.fill_mask import render_training_panel

        panel = HTML((f"<p><b>Is it normal?</b> {escape(said)}</p>" if said else "")
                     + render_training_panel(self.history, self.answers))
        if self._handle is None:
            self._handle = display(panel, display_id=True)
        else:
            self._handle.update(panel)
