"""Pretraining on a tiny synthetic corpus: real Keras training, a few seconds per test."""

import json
import math

import numpy as np
import pytest
import keras

from bertmlm_lib import checkpoints, config, pretrain
from bertmlm_lib.tools import runner
from bertmlm_lib.errors import ArtifactError
from bertmlm_lib.fill_mask import FillMasker, format_table
from bertmlm_lib.widgets.fill_mask import render_predictions
from bertmlm_lib.vectorize import build_vectorizer

SENTENCES = [
    "i have watched this movie and it was awesome",
    "the acting was bad and the plot was awful",
    "a good story with great acting",
    "this film is a waste of time",
]


def _texts(n=160, seed=0):
    """Reviews made of a few fixed sentences: words are predictable from their neighbours, so a
    model that learns anything beats the unigram loss within a few steps (random words would not)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(SENTENCES, size=rng.integers(1, 3))) for _ in range(n)]


def _cfg(tmp_path, **changes):
    settings = dict(vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16,
                    pretrain_epochs=2, heldout_reviews=16, eval_every=4, checkpoint_minutes=60.0,
                    learning_rate=3e-3, jit_compile=False)
    settings.update(changes)
    return config.load("smoke", artifacts=tmp_path / "run", **settings)


@pytest.fixture
def setup(tmp_path):
    cfg = _cfg(tmp_path)
    texts = _texts()
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    vectorizer.save(cfg.artifacts_dir)
    return cfg, vectorizer, pretrain.prepare_corpus(texts, vectorizer, cfg)


def test_schedule_warms_up_then_decays_to_zero():
    schedule = pretrain.WarmupLinearDecay(1e-3, total_steps=100, warmup_share=0.1)
    values = [float(schedule(s)) for s in (0, 5, 10, 55, 100, 120)]
    close = [math.isclose(a, b, rel_tol=1e-5) for a, b in zip(values[1:4], (5e-4, 1e-3, 5e-4))]
    assert values[0] == 0 and all(close) and values[4] == 0 and values[5] == 0
    schedule.set_total_steps(200)  # a time budget moves the end; warmup stays a share of it
    assert math.isclose(float(schedule(20)), 1e-3, rel_tol=1e-5) and float(schedule(200)) == 0
    assert pretrain.WarmupLinearDecay.from_config(schedule.get_config()).get_config()["total_steps"] == 200


def test_optimizer_is_adamw_with_clipping_and_no_decay_on_norms(tmp_path):
    cfg = _cfg(tmp_path)
    optimizer = pretrain.make_optimizer(cfg, 100)
    import keras

    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.global_clipnorm == cfg.clipnorm
    assert optimizer.weight_decay == cfg.weight_decay
    assert optimizer.clipnorm is None  # clipped once, by the global norm (one optimizer set-up for both stages)


def test_heldout_is_kept_out_of_training(tmp_path):
    cfg = _cfg(tmp_path, vocab_size=300)
    texts = [f"tag{i} {text}" for i, text in enumerate(_texts())]  # every review distinct, every word known
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
    assert len(corpus.heldout_ids) == 16 and len(corpus.train_ids) == 144
    train_rows = {row.tobytes() for row in corpus.train_ids}
    assert len(train_rows) == 144 and not any(row.tobytes() in train_rows for row in corpus.heldout_ids)


def test_training_learns_and_writes_artifacts(setup):
    cfg, vectorizer, corpus = setup
    model, result = pretrain.pretrain(cfg, corpus, vectorizer, show=False)
    assert result.steps == 2 * (144 // 16) == 18
    assert result.heldout["loss"] < result.heldout_at_start["loss"]
    assert result.heldout["perplexity"] < result.heldout_at_start["perplexity"]
    assert 0 <= result.heldout["masked_accuracy"] <= 1
    folder = cfg.artifacts_dir / "pretrain"
    for name in ("checkpoint.keras", "checkpoint.json", "encoder.keras", "log.jsonl", "fill_mask.jsonl"):
        assert (folder / name).is_file(), name
    steps = [json.loads(line)["step"] for line in (folder / "fill_mask.jsonl").read_text().splitlines()]
    assert steps == [0, 4, 8, 12, 16, 18]
    assert [row["step"] for row in result.history] == [0, 4, 8, 12, 16, 18]
    assert {"val_masked_accuracy", "val_perplexity", "masked_accuracy", "minutes", "learning_rate"} <= set(result.history[1])
    minutes = [row["minutes"] for row in result.history]
    assert minutes == sorted(minutes) and result.history[-1]["learning_rate"] == 0.0


def test_killed_run_resumes_to_the_same_step_count(setup, tmp_path):
    cfg, vectorizer, corpus = setup

    class Crash(Exception):
        pass

    class KillAt(pretrain.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations) == 11:
                checkpoints.save_checkpoint(self.model, cfg.artifacts_dir / "pretrain",
                                         {**checkpoints.read_checkpoint_meta(cfg.artifacts_dir / "pretrain"), "step": 11})
                raise Crash()

    # the first run writes a checkpoint at the pass boundary (step 9), then the "kill" at 11
    with pytest.raises(Crash):
        pretrain.pretrain(cfg, corpus, vectorizer, show=False, callbacks=[KillAt()])
    model, resumed = pretrain.pretrain(cfg, corpus, vectorizer, resume=True, show=False)
    assert resumed.steps == 18 and int(model.optimizer.iterations) == 18
    assert resumed.history[0]["step"] == 11  # it continued where the kill left it
    assert resumed.heldout_at_start["loss"] > resumed.heldout["loss"]  # step 0's score survives the resume


def test_resume_with_more_passes_keeps_learning(setup):
    cfg, vectorizer, corpus = setup
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    model, more = pretrain.pretrain(cfg.replace(pretrain_epochs=2), corpus, vectorizer, resume=True,
                                    show=False)
    assert more.steps == 18
    rates = [row["learning_rate"] for row in more.history]
    assert rates[0] > 0  # the schedule was stretched to the new end, not left at zero


def test_resume_refuses_another_vocabulary(setup):
    cfg, vectorizer, corpus = setup
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    other = build_vectorizer(_texts(seed=3) + ["zebra giraffe"] * 50, cfg.vocab_size, cfg.max_length)
    with pytest.raises(ArtifactError, match="another vocabulary"):
        pretrain.pretrain(cfg, corpus, other, resume=True, show=False)
    with pytest.raises(ArtifactError, match="embed_dim 16 -> 32"):
        pretrain.pretrain(cfg.replace(embed_dim=32), corpus, vectorizer, resume=True, show=False)


def test_time_budget_stops_cleanly_with_a_checkpoint(setup):
    cfg, vectorizer, corpus = setup
    # 18 s: the first step, which builds the graph, took 15 s once on a busy CI machine
    model, result = runner.pretrain(cfg.replace(pretrain_epochs=500, pretrain_minutes=0.3, snapshot_minutes=(0.05, 0.1, 10)),
                                    corpus, vectorizer, progress=False, fill_mask_display=False)
    assert result.stopped_by == "time budget" and 25 < result.steps < 500 * 9
    assert 0.3 * 60 <= result.seconds < 0.3 * 60 + 5
    meta = checkpoints.read_checkpoint_meta(cfg.artifacts_dir / "pretrain")
    assert meta["step"] == result.steps
    # the schedule was fitted to the budget: the rate is near zero when time runs out
    assert float(model.optimizer.learning_rate) < 0.2 * cfg.learning_rate
    assert pretrain.schedule_of(model).get_config()["total_steps"] < 500 * 9
    # snapshots at 3 s and 6 s of training, each the encoder as it was then; 10 minutes never came
    folder = cfg.artifacts_dir / "pretrain"
    snapshots = checkpoints.read_snapshots(folder)
    assert [s["minutes"] for s in snapshots] == [0.05, 0.1]
    # steps only grow; on a busy machine the first step (tracing) can outlast both times, so equal is allowed
    assert 0 < snapshots[0]["step"] <= snapshots[1]["step"] < result.steps
    assert [row["step"] for row in result.history if row["step"] in (snapshots[0]["step"], snapshots[1]["step"])] == \
        [s["step"] for s in snapshots]  # scored on the held-out reviews at that very step
    assert all(0 <= s["heldout"]["masked_accuracy"] <= 1 for s in snapshots)
    ids = corpus.heldout_ids[:2]
    early = keras.saving.load_model(folder / "snapshots" / snapshots[0]["file"], safe_mode=True)
    assert np.asarray(early(ids)).shape == np.asarray(model.encoder(ids)).shape
    assert not np.allclose(np.asarray(early(ids)), np.asarray(model.encoder(ids)), atol=1e-4)  # not the final weights


def test_snapshots_skip_minutes_already_behind_or_taken():
    from bertmlm_lib.callbacks import TrainingClock
    from bertmlm_lib.tools.distribute import SnapshotAt

    taken = []
    clock = TrainingClock(already=70.0)  # a resumed run, 70 s of training so far
    snapshots = SnapshotAt(clock, (1, 2, 3, 4), taken.append, taken=[3], already_seconds=70.0)
    assert snapshots.pending == [2, 4]  # minute 1 is behind it (its model is gone), minute 3 was taken
    clock.already = 250.0
    snapshots.on_train_batch_end(0)
    assert taken == [2, 4] and snapshots.pending == []


def test_damaged_checkpoint_is_a_clear_error(setup):
    cfg, vectorizer, corpus = setup
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    path = cfg.artifacts_dir / "pretrain" / "checkpoint.keras"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="cannot be read .*damaged"):
        checkpoints.load_pretrained(cfg.artifacts_dir)


def test_fill_mask_from_artifacts(setup):
    cfg, vectorizer, corpus = setup
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    masker = FillMasker.from_artifacts(cfg.artifacts_dir)
    results = masker(["i have watched this [MASK] and it was [mask]"], top_k=3, targets=["movie"])
    masks = results[0]["masks"]
    assert [m["position"] for m in masks] == [4, 8]
    for m in masks:
        probs = [p["prob"] for p in m["predictions"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert 0 < m["targets"]["movie"] <= 1


def test_fill_mask_against_the_wrong_vocabulary_is_refused(setup):
    cfg, vectorizer, corpus = setup
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    build_vectorizer(["other words entirely"] * 5, 10, cfg.max_length).save(cfg.artifacts_dir)
    with pytest.raises(ArtifactError, match="another vocabulary"):
        FillMasker.from_artifacts(cfg.artifacts_dir)


KILL_SCRIPT = """
import sys
from bertmlm_lib import config, pretrain
from bertmlm_lib.vectorize import build_vectorizer
texts = {texts!r}
cfg = config.load("smoke", artifacts={artifacts!r}, **{settings!r})
vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
vectorizer.save(cfg.artifacts_dir)
corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
pretrain.pretrain(cfg, corpus, vectorizer, resume=len(sys.argv) > 1, show=False)
"""


def test_kill_9_then_resume_loses_at_most_one_interval(tmp_path):
    """A real SIGKILL in the middle of training; the resumed run ends at the planned step count."""
    import os
    import signal
    import subprocess
    import sys
    import time

    settings = dict(vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16,
                    pretrain_epochs=40, heldout_reviews=16, eval_every=50, checkpoint_minutes=0.002,
                    jit_compile=False)
    script = KILL_SCRIPT.format(texts=_texts(), artifacts=str(tmp_path / "run"), settings=settings)
    meta_path = tmp_path / "run" / "pretrain" / "checkpoint.json"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    step = 0
    while time.monotonic() < deadline and process.poll() is None:
        if meta_path.exists():
            try:
                step = json.loads(meta_path.read_text())["step"]
            except (json.JSONDecodeError, KeyError):
                step = 0
            if step >= 30:
                break
        time.sleep(0.2)
    assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read()[-500:]}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(meta_path.read_text())["step"]
    assert 30 <= killed_at < 40 * 9, killed_at
    folder = tmp_path / "run" / "pretrain"
    survivor = checkpoints.load_checkpoint(folder)  # the file in place is whole: temp file + rename
    assert int(survivor.optimizer.iterations) >= killed_at
    resumed = subprocess.run([sys.executable, "-c", script, "resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(meta_path.read_text())["step"] == 40 * 9
    assert not list(folder.glob(".*.tmp.keras")), "temporary files of the killed run are cleaned up"


def test_short_reviews_first_then_full_length(tmp_path):
    cfg = _cfg(tmp_path, short_length=6, short_share=0.5)
    texts = _texts()
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
    inputs, _ = next(iter(pretrain.short_dataset(corpus, cfg, vectorizer.vocabulary_size)))
    assert inputs["token_ids"].shape == (cfg.batch_size, 6)  # only the first 6 tokens of each review
    assert int(inputs["mask_positions"].numpy().max()) < cfg.batch_size * 6
    _, result = pretrain.pretrain(cfg, corpus, vectorizer, show=False)
    assert result.phases == [{"length": 6, "from_step": 0, "to_step": 9}, {"length": 16, "from_step": 9, "to_step": 18}]
    assert [row["step"] for row in result.history] == [0, 4, 8, 9, 12, 16, 18]  # one row at the switch


def test_short_phase_is_a_share_of_the_budget_or_of_the_steps(tmp_path):
    cfg = _cfg(tmp_path, short_length=6, short_share=0.6)
    assert pretrain.short_phase(cfg, 100, None) == (60, None)
    assert pretrain.short_phase(cfg, 100, 5.0) == (100, pytest.approx(3.0))
    assert pretrain.short_phase(cfg.replace(short_length=None), 100, 5.0) == (0, None)
    with pytest.raises(config.ConfigError, match="short_length"):
        cfg.replace(short_length=16)


def test_fill_mask_with_many_masks_and_a_long_text(setup):
    cfg, vectorizer, corpus = setup  # max_length 16
    pretrain.pretrain(cfg.replace(pretrain_epochs=1), corpus, vectorizer, show=False)
    masker = FillMasker.from_artifacts(cfg.artifacts_dir)
    many = masker(" ".join(["[MASK]"] * 12 + ["movie"]), top_k=2)[0]
    assert len(many["masks"]) == 12 and "note" not in many
    long = masker(" ".join(["[mask]"] * 25), top_k=2)[0]
    assert [m["position"] for m in long["masks"]] == list(range(16))
    assert long["note"] == "only the first 16 of 25 words are read; 9 [mask] after them ignored"
    assert "note: only the first 16" in format_table([long])
    assert "note: only the first 16" in render_predictions([long])


class _SteppingModel:
    """Just what FitScheduleToBudget reads from a model: the optimizer's step count."""

    def __init__(self):
        import keras

        self.optimizer = type("Optimizer", (), {})()
        self.optimizer.iterations = keras.Variable(0, dtype="int64", trainable=False)


@pytest.mark.parametrize("slow_from", [None, 0.5, 0.8])
def test_the_schedule_ends_at_the_budget_when_the_machine_slows_down(slow_from):
    """A 60-second budget at 10 steps/s, dropping to 4 steps/s at `slow_from` of it (another program
    started): the schedule's end must follow, so the rate is near zero when time runs out."""
    from bertmlm_lib.callbacks import FitScheduleToBudget

    class Clock:  # a simulated training clock: seconds advance per step, no real waiting
        now = 0.0

        def seconds(self):
            return self.now

    clock, model = Clock(), _SteppingModel()
    schedule = pretrain.WarmupLinearDecay(1e-3, total_steps=10_000, warmup_share=0.02)
    fit = FitScheduleToBudget(schedule, clock, minutes=1.0, planned_steps=10_000)
    fit.set_model(model)
    fit.on_train_begin()
    step = 0
    while clock.now < 60:
        clock.now += 0.25 if slow_from is not None and clock.now >= slow_from * 60 else 0.1
        step += 1
        model.optimizer.iterations.assign(step)
        fit.on_train_batch_end(step)
    total = schedule.get_config()["total_steps"]
    assert abs(total - step) <= 0.05 * step, (total, step)  # the averaged-since-start speed missed by 10-40%
    assert float(schedule(step)) < 0.1 * 1e-3


def test_a_step_budget_stops_at_that_step_with_short_reviews_first(tmp_path):
    cfg = _cfg(tmp_path, short_length=6, short_share=0.5, pretrain_epochs=50)
    texts = _texts()
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
    _, result = pretrain.pretrain(cfg.replace(pretrain_steps=14), corpus, vectorizer, show=False)
    assert result.steps == 14 and result.stopped_by == "steps"
    assert result.phases == [{"length": 6, "from_step": 0, "to_step": 7}, {"length": 16, "from_step": 7, "to_step": 14}]


def test_evaluation_every_few_seconds_of_training(setup):
    cfg, vectorizer, corpus = setup
    timed = cfg.replace(pretrain_epochs=500, eval_every="2s")
    _, result = pretrain.pretrain(timed.replace(pretrain_minutes=0.25), corpus, vectorizer, show=False)
    rows = result.history
    assert len(rows) >= 4  # 15 s of training (the first step, which builds the graph, can take several on a busy machine): a row at the start, every 2 s, at the end
    # Rows at the milestone steps (800, 1,800) come whenever those steps arrive; every other
    # row in the middle waits 2 s of training after the row before it.
    timed_rows = [(a["minutes"], b["minutes"]) for a, b in zip(rows[1:-2], rows[2:-1])
                  if b["step"] not in pretrain.MILESTONE_STEPS]
    assert timed_rows and all(b - a >= 2.0 / 60 - 1e-3 for a, b in timed_rows)
    panel = [json.loads(line)["step"] for line in (cfg.artifacts_dir / "pretrain" / "fill_mask.jsonl").read_text().splitlines()]
    assert len(panel) >= 4 and panel[0] == 0  # the fill-mask panel follows the same clock
    for wrong in (0, "0s", "soon", "-2s", True):
        with pytest.raises(config.ConfigError, match="eval_every"):
            cfg.replace(eval_every=wrong)


def test_heldout_is_masked_at_bert_rate_whatever_the_training_rate(setup):
    cfg, vectorizer, corpus = setup
    counts = {}
    for rate in (0.15, 0.4):
        train, heldout = pretrain.datasets(corpus, cfg.replace(mask_rate=rate), vectorizer.vocabulary_size)
        counts[rate] = (sum(int(labels.shape[0]) for _, labels in train.take(4)),
                        [labels.numpy().tolist() for _, labels in heldout])
    assert counts[0.4][0] > 2 * counts[0.15][0]  # training masks more
    assert counts[0.4][1] == counts[0.15][1]  # the held-out labels are the same words


def test_heldout_is_also_measured_at_the_milestone_steps(setup, monkeypatch):
    cfg, vectorizer, corpus = setup
    monkeypatch.setattr(pretrain, "MILESTONE_STEPS", (5, 11))
    _, result = pretrain.pretrain(cfg.replace(eval_every=100), corpus, vectorizer, show=False)
    assert [row["step"] for row in result.history] == [0, 5, 11, 18]  # start, the two milestones, the end
    assert set(result.accuracy_at_steps) == {"5", "11"}
    assert result.accuracy_at_steps["11"] == result.history[2]["val_masked_accuracy"]


def test_the_encoded_corpus_is_kept_beside_the_archive_and_read_back_without_the_reviews(tiny_archive, tmp_path,
                                                                                          monkeypatch):
    from bertmlm_lib import archive, data, stages

    cfg = _cfg(tmp_path, train_reviews=None, test_reviews=None, unsup_reviews=None, heldout_reviews=2)
    vectorizer = stages.vocabulary(cfg, tiny_archive, progress=False)
    imdb = data.load_imdb(tiny_archive, cfg=cfg, progress=False)
    expected = pretrain.prepare_corpus(imdb.pretraining_texts(), vectorizer, cfg)
    first = stages.pretraining_corpus(cfg, vectorizer, tiny_archive, progress=False)
    kept = list(archive.extraction_folder(imdb.root).glob("corpus-*.npz"))
    assert len(kept) == 1
    assert np.array_equal(first.train_ids, expected.train_ids) and np.array_equal(first.heldout_ids, expected.heldout_ids)

    def no_reviews(*args, **kwargs):
        raise AssertionError("the kept corpus needs no review text")

    with monkeypatch.context() as patch:
        patch.setattr(stages, "reviews", no_reviews)
        again = stages.pretraining_corpus(cfg, vectorizer, tiny_archive, progress=False)
    assert np.array_equal(again.train_ids, first.train_ids) and np.array_equal(again.heldout_ids, first.heldout_ids)

    other = stages.pretraining_corpus(cfg.replace(seed=cfg.seed + 1), vectorizer, tiny_archive, progress=False)
    assert not np.array_equal(other.heldout_ids, first.heldout_ids)  # another seed sets other reviews aside
    assert [path.name for path in archive.extraction_folder(imdb.root).glob("corpus-*.npz")] != [kept[0].name]
    assert len(list(archive.extraction_folder(imdb.root).glob("corpus-*.npz"))) == 1  # only the newest is kept

    newest = next(archive.extraction_folder(imdb.root).glob("corpus-*.npz"))
    newest.write_bytes(b"PK\x03\x04 cut short")  # damaged: made again from the reviews
    rebuilt = stages.pretraining_corpus(cfg.replace(seed=cfg.seed + 1), vectorizer, tiny_archive, progress=False)
    assert np.array_equal(rebuilt.train_ids, other.train_ids) and newest.is_file()


def test_a_corpus_from_a_folder_the_user_gave_is_encoded_each_time_and_never_kept(tiny_folder, tmp_path):
    from bertmlm_lib import stages

    cfg = _cfg(tmp_path, train_reviews=None, test_reviews=None, unsup_reviews=None, heldout_reviews=2)
    vectorizer = stages.vocabulary(cfg, tiny_folder, progress=False)
    corpus = stages.pretraining_corpus(cfg, vectorizer, tiny_folder, progress=False)
    assert len(corpus.train_ids) > 0
    assert not list(tmp_path.rglob("corpus-*.npz"))


def test_the_whole_mlm_is_kept_at_doubling_steps_and_asked_at_each(setup):
    from bertmlm_lib import cloze

    cfg, vectorizer, corpus = setup
    seen = {}

    class Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault(int(self.model.optimizer.iterations), self.model.get_weights())

    model, result = pretrain.pretrain(cfg.replace(pretrain_epochs=12), corpus, vectorizer, show=False, callbacks=[Watch()])
    assert result.steps >= 100
    kept = checkpoints.mlm_snapshots(cfg.artifacts_dir)
    assert [step for step, _ in kept] == [0, 100]
    assert all(path.stat().st_size < 200_000 for _, path in kept)  # half precision, compressed
    final = model.get_weights()
    fresh = pretrain.build_model_for(cfg, vectorizer)
    at_100 = checkpoints.load_mlm_snapshot(fresh, kept[1][1]).get_weights()
    at_0 = checkpoints.load_mlm_snapshot(pretrain.build_model_for(cfg, vectorizer), kept[0][1]).get_weights()
    assert not np.allclose(at_0[0], at_100[0])
    assert all(np.allclose(a, b, rtol=2e-3, atol=1e-4) for a, b in zip(at_100, seen[100]))  # the model at step 100
    # a resumed run keeps on from where it was: step 0 is not taken again
    before = kept[0][1].stat().st_mtime_ns
    pretrain.pretrain(cfg.replace(pretrain_epochs=13), corpus, vectorizer, resume=True, show=False)
    assert kept[0][1].stat().st_mtime_ns == before
    texts = ["a good story", "the plot was awful"]
    prompt = cloze.Prompt("{review} . it was [mask]", (("bad", "awful"), ("good", "great")))
    rows = cloze.over_steps(model, vectorizer, cfg.artifacts_dir, texts, [1, 0], texts, prompt)
    assert [r["step"] for r in rows] == [0, 100] and all(0 <= r["accuracy"] <= 1 for r in rows)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), final))  # put back as it was
    with pytest.raises(Exception, match="another model's shape"):
        checkpoints.load_mlm_snapshot(pretrain.build_model_for(cfg.replace(embed_dim=32), vectorizer), kept[0][1])
