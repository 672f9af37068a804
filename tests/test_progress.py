"""The progress display: in a log (not a terminal) one line a minute and the last one; honest counts."""

import pytest

from bertmlm_lib import progress
from bertmlm_lib.progress import Progress


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand."""
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_a_log_gets_one_line_a_minute_and_the_final_line(clock, capsys):
    with Progress(600, "working", unit="items", min_interval=0) as bar:  # stderr is captured: not a terminal
        for _ in range(600):
            clock[0] += 0.5  # 5 minutes in all
            bar.update(1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5 + 1, lines  # minutes 1-5, then the final line
    assert lines[0].startswith("working: 120 of 600 items (20%)")
    assert lines[-1].startswith("working: 600 of 600 items (100%) in 300.0 s")


def test_minutes_are_shown_with_their_tenths():
    bar = Progress(4.0, "training minutes", enabled=False)
    bar.update(3.25)
    assert bar.text().startswith("training minutes: 3.2 of 4 (81%)")


def test_reading_a_subset_counts_the_reviews_kept(tiny_archive, capsys):
    """The smoke preset reads a few reviews of each split: the line must not say '100,000 of 2,600'."""
    from bertmlm_lib import data

    data.load_imdb(tiny_archive, progress=False)  # packs the splits (the second read comes from the pack)
    data.load_imdb(tiny_archive, train_reviews=4, test_reviews=4, unsup_reviews=2, progress=True)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("reading reviews: 10 of 10 reviews (100%)"), last


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_training_after_the_batch_and_restores_the_handler(signum):
    """The first SIGINT (Ctrl-C) or SIGTERM (kill) only marks the stop: the batch finishes, fit returns, and the
    old handlers are back."""
    import os
    import signal

    import keras
    import numpy as np

    from bertmlm_lib.callbacks import StopOnCtrlC

    class PressAt(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                os.kill(os.getpid(), getattr(signal, signum))  # delivered to this (main) thread, as Ctrl-C is

    # a shell's background job (`pytest &`) starts with SIGINT ignored, which StopOnCtrlC rightly leaves
    # alone; here it must be Python's usual Ctrl-C handler, as in a terminal or a notebook
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        ctrl_c = StopOnCtrlC()
        model.fit(np.zeros((64, 2)), np.zeros(64), batch_size=4, epochs=3, callbacks=[PressAt(), ctrl_c], verbose=0)
        assert ctrl_c.pressed
        assert int(model.optimizer.iterations) == 3, "stopped at the end of the batch that was running"
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    finally:
        signal.signal(signal.SIGINT, ignored)
