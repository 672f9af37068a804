import numpy as np
import pytest

from bertmlm_lib import config, finetune
from bertmlm_lib.classifier import LengthGroupedBatches, MaskedPooling, accuracy, build_classifier, predict_ids, reading_length
from bertmlm_lib.model import build_encoder


def test_masked_pooling_ignores_padding():
    layer = MaskedPooling("mean")
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], np.float32)
    ids = np.array([[5, 6, 0]])
    assert np.allclose(np.asarray(layer(sequence, ids)), [[2.0, 3.0]])
    assert np.allclose(np.asarray(MaskedPooling("max")(sequence, ids)), [[3.0, 4.0]])
    with pytest.raises(ValueError, match="'mean' or 'max'"):
        MaskedPooling("median")


def test_two_phase_finetuning_learns_a_separable_task():
    """Reviews made of 'good' words are positive, of 'bad' words negative: the classifier must learn it."""
    cfg = config.load("smoke", vocab_size=20, max_length=12, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=256)
    ids = np.where(labels[:, None] == 1, rng.integers(3, 10, (256, 12)), rng.integers(10, 20, (256, 12)))
    ids[:, 8:] = 0
    encoder = build_encoder(cfg, 20)
    classifier = build_classifier(encoder)
    result = finetune.finetune(classifier, (ids[:192], labels[:192]), (ids[192:], labels[192:]), cfg,
                               finetune.Recipe(head_learning_rate=1e-2, encoder_learning_rate=1e-3, frozen_epochs=2,
                                               unfrozen_epochs=2, patience=2))
    assert [row["phase"] for row in result.history][:1] == ["encoder frozen"]
    assert result.unfrozen_at_epoch >= 1 and result.history[-1]["phase"] == "encoder unfrozen"
    assert result.val_accuracy > 0.9
    assert accuracy(classifier, ids[192:], labels[192:]) == pytest.approx(result.val_accuracy, abs=0.02)
    assert encoder.trainable  # left trainable for whoever uses it next


def test_budget_plot_and_payoff_scatter_draw_means_with_error_bars():
    import matplotlib

    matplotlib.use("Agg")
    from bertmlm_lib.experiments import label_efficiency

    report = {"labels": 1000, "tfidf": 0.83, "runs": {
        "60 min": {"pretraining_minutes": 60, "heldout_masked_accuracy": 0.3, "test_accuracy": 0.8,
                   "test_accuracy_std": 0.01, "probe": 0.75, "probe_std": 0.004},
        "random": {"pretraining_minutes": 0, "heldout_masked_accuracy": None, "test_accuracy": 0.7,
                   "test_accuracy_std": 0.02, "probe": 0.6, "probe_std": 0.01}}}
    ax = label_efficiency.plot_budget(report)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0, 60] and list(line.get_ydata()) == [0.7, 0.8]
    assert "1,000 labels" in ax.get_title() and any(list(l.get_ydata()) == [0.83, 0.83] for l in ax.get_lines())
    bars = ax.containers[0][2][0].get_segments()  # the fine-tuned line's error bars, in minutes order
    assert [tuple(np.round(seg[:, 1], 3)) for seg in bars] == [(0.68, 0.72), (0.79, 0.81)]
    scatter = label_efficiency.plot_payoff(report)
    assert list(scatter.get_lines()[0].get_xdata()) == [30.0, 0.0]
    assert sorted(text.get_text() for text in scatter.texts) == ["60", "random"]  # snapshots by their minutes


def test_finetuning_without_early_stopping_takes_every_step():
    """`patience=None` runs every epoch (what a fair comparison needs) and counts the optimizer steps."""
    cfg = config.load("smoke", vocab_size=20, max_length=12, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16,
                      frozen_steps=3)
    rng = np.random.default_rng(1)
    ids, labels = rng.integers(1, 20, (64, 12)), rng.integers(0, 2, 64)  # nothing to learn: early stopping would stop
    encoder = build_encoder(cfg, 20)
    result = finetune.finetune(build_classifier(encoder), (ids, labels), (ids[:16], labels[:16]), cfg,
                               finetune.Recipe(frozen_epochs=2, unfrozen_epochs=3, patience=None))
    assert len(result.history) == 5 and result.steps == 2 * 3 + 3 * 4


def _tiny_encoder(max_length=8):
    cfg = config.load("smoke", vocab_size=30, max_length=max_length, embed_dim=16, num_heads=2, ff_dim=16, dropout=0.0)
    return build_encoder(cfg, 30)


def test_classifier_reads_past_the_encoder_length_in_windows():
    """With 3 windows of 8 tokens, a word at position 20 changes the prediction; with 1 window it cannot."""
    encoder = _tiny_encoder(8)
    three, one = build_classifier(encoder, windows=3), build_classifier(encoder, windows=1)
    assert reading_length(three) == 24 and reading_length(one) == 8
    ids = np.full((2, 24), 5, np.int32)
    ids[1, 20] = 17  # differs only in the third window
    for model, differs in ((three, True), (one, False)):
        p = np.asarray(model.predict_on_batch(ids)).reshape(-1)
        assert (abs(p[0] - p[1]) > 1e-6) == differs


def test_windowed_prediction_ignores_padding_and_the_rest_of_the_batch():
    """A short review gets the same probability alone, padded to any length, or next to a long review
    (whose extra windows are dropped for it as padding); the classifier cuts ids at its reading length."""
    classifier = build_classifier(_tiny_encoder(8), windows=2)
    short = np.array([[4, 9, 12, 3, 0, 0, 0, 0]], np.int32)
    alone = float(np.asarray(classifier.predict_on_batch(short))[0, 0])
    padded = np.pad(short, [(0, 0), (0, 11)])  # 19 ids: not a whole number of windows
    long = np.arange(3, 22, dtype=np.int32)[None]
    together = np.asarray(classifier.predict_on_batch(np.concatenate([padded, long]))).reshape(-1)
    assert together[0] == pytest.approx(alone, abs=1e-5)
    cut = np.asarray(classifier.predict_on_batch(long[:, :16]))[0, 0]
    assert together[1] == pytest.approx(float(cut), abs=1e-5)  # tokens after 2 windows are not read


def test_length_grouped_batches_cover_every_review_once_per_epoch_in_a_new_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=1000)
    ids = (np.arange(40)[None, :] < lengths[:, None]).astype(np.int32) * 7
    batches = LengthGroupedBatches(ids, np.zeros(1000), batch_size=10, seed=1)
    first = [b.copy() for b in batches.batches]
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in first])
    assert spread < 0.5 * np.mean([np.ptp(lengths[b]) for b in np.array_split(rng.permutation(1000), 100)])
    batches.on_epoch_end()
    assert sorted(np.concatenate(batches.batches).tolist()) == list(range(1000))
    assert not all(np.array_equal(a, b) for a, b in zip(first, batches.batches))
    x, y = batches[0]
    assert x.shape == (10, 40) and y.shape == (10,)


def test_the_dataset_holds_each_epochs_batches_in_its_own_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=95)
    ids = (np.arange(40)[None, :] < lengths[:, None]).astype(np.int32) * np.arange(95, dtype=np.int32)[:, None]
    batches = LengthGroupedBatches(ids, np.arange(95) % 2, batch_size=10, seed=1)
    expected = [b.copy() for b in batches.batches]
    dataset = batches.dataset(epochs=2)
    assert dataset.options().autotune.enabled is False  # see backend.without_autotuning
    served = list(dataset)
    assert len(served) == 2 * len(batches) == 20
    first, second = served[:10], served[10:]
    for x, y in first:  # rows come with their own labels
        row_ids = x.numpy().max(axis=1)
        assert np.array_equal(y.numpy(), (row_ids % 2).astype(np.float32))
    assert [sorted(x.numpy().max(axis=1).tolist()) for x, _ in first] == [sorted(b.tolist()) for b in expected]
    for epoch in (first, second):  # every review once per epoch
        assert sorted(r for x, _ in epoch for r in x.numpy().max(axis=1).tolist()) == list(range(95))
    assert [x.shape[0] for x, _ in first] != [x.shape[0] for x, _ in second] or \
        any(not np.array_equal(a[0].numpy(), b[0].numpy()) for a, b in zip(first, second))  # a new order


def test_predict_ids_returns_probabilities_in_the_given_order():
    classifier = build_classifier(_tiny_encoder(8), windows=2)
    ids = np.zeros((7, 16), np.int32)
    for i in range(7):
        ids[i, : 16 - 2 * i] = 3 + i
    expected = np.asarray(classifier.predict_on_batch(ids)).reshape(-1)
    assert np.allclose(predict_ids(classifier, ids, batch_size=3), expected, atol=1e-5)


def test_frozen_phase_is_capped_at_frozen_steps_and_the_unfrozen_phase_warms_up_and_decays():
    from bertmlm_lib.schedules import WarmupLinearDecay

    cfg = config.load("smoke", vocab_size=30, max_length=8, embed_dim=16, num_heads=2, ff_dim=16, batch_size=4,
                      frozen_steps=3)
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(3, 30, (40, 8)).astype(np.int32), rng.integers(0, 2, 40)
    encoder = build_encoder(cfg, 30)
    classifier = build_classifier(encoder)
    frozen_weights = [w.copy() for w in encoder.get_weights()]
    finetune.finetune(classifier, (ids, labels), (ids[:8], labels[:8]), cfg, finetune.Recipe(frozen_epochs=1, unfrozen_epochs=0))
    assert int(classifier.optimizer.iterations.numpy()) == 3  # 3 batches, not the epoch's 10
    assert all(np.array_equal(a, b) for a, b in zip(frozen_weights, encoder.get_weights()))
    finetune.finetune(classifier, (ids, labels), (ids[:8], labels[:8]), cfg,
                      finetune.Recipe(frozen_epochs=0, unfrozen_epochs=2, patience=5))
    schedule = classifier.optimizer._learning_rate
    assert isinstance(schedule, WarmupLinearDecay) and int(schedule.total_steps.numpy()) == 20
    assert int(classifier.optimizer.iterations.numpy()) == 20
    assert not all(np.array_equal(a, b) for a, b in zip(frozen_weights, encoder.get_weights()))


def test_lessons_show_the_run_curve_else_the_shipped_one(tmp_path):
    import json

    from bertmlm_lib.experiments import label_efficiency

    cfg = config.load("smoke", artifacts=tmp_path)
    shipped = label_efficiency.latest_curve(cfg)
    assert shipped["rows"] and ("workshop" in shipped["source"] or "full" in shipped["source"])
    assert all({"labels", "pretrained", "scratch", "tfidf"} <= set(row) for row in shipped["rows"])
    rows = [{"labels": 8, "pretrained": 0.6, "scratch": 0.55, "tfidf": 0.7}]
    (tmp_path / "report.json").write_text(json.dumps({"preset": "smoke", "label_efficiency": rows,
                                                      "label_efficiency_test_reviews": 12}))
    mine = label_efficiency.latest_curve(cfg)
    assert mine["rows"] == rows and mine["test_reviews"] == 12 and "smoke" in mine["source"]


def test_lesson_budgets_apply_only_to_lessons():
    workshop = config.load("workshop")
    assert workshop.for_lesson().pretrain_minutes == workshop.lesson_pretrain_minutes < workshop.pretrain_minutes
    assert config.load("smoke").for_lesson() == config.load("smoke")
    with pytest.raises(config.ConfigError, match="lesson_train_reviews"):
        config.load("workshop", lesson_train_reviews=1)


def test_global_clip_adamw_clips_like_keras_adamw_and_survives_saving(tmp_path):
    import keras

    from bertmlm_lib.schedules import GlobalClipAdamW

    def step(optimizer, grads):
        variables = [keras.Variable(np.ones((3,), "float32")), keras.Variable(np.full((2, 2), 2.0, "float32"))]
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
        return [v.numpy() for v in variables]

    for scale in (100.0, 0.01):  # clipped (global norm far above 1), then left alone (far below)
        grads = [np.array([1.0, -2.0, 3.0], "float32") * scale, np.array([[0.5, 0.0], [-4.0, 1.0]], "float32") * scale]
        ours = GlobalClipAdamW(0.1, global_clipnorm=1.0)._clip_gradients([keras.ops.convert_to_tensor(g) for g in grads])
        theirs = keras.optimizers.AdamW(0.1, global_clipnorm=1.0)._clip_gradients([keras.ops.convert_to_tensor(g) for g in grads])
        norm = np.sqrt(sum(float((np.asarray(g) ** 2).sum()) for g in ours))
        assert np.isclose(norm, 1.0 if scale > 1 else 0.01 * np.sqrt(1 + 4 + 9 + 0.25 + 16 + 1), rtol=1e-5)
        assert all(np.allclose(a, b, atol=1e-7) for a, b in zip(ours, theirs))
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(step(GlobalClipAdamW(0.1, weight_decay=0.01, global_clipnorm=1.0), grads),
                                                              step(keras.optimizers.AdamW(0.1, weight_decay=0.01, global_clipnorm=1.0), grads)))

    classifier = build_classifier(_tiny_encoder(8), windows=1)
    classifier.compile(optimizer=GlobalClipAdamW(1e-3, global_clipnorm=1.0), loss="binary_crossentropy")
    classifier.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "GlobalClipAdamW" and loaded.optimizer.global_clipnorm == 1.0


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_shrinking_word_vectors_keeps_what_the_encoder_computes(positions):
    import keras

    from bertmlm_lib.classifier import shrink_word_vectors
    from bertmlm_lib.model import build_encoder, token_embedding_of

    cfg = config.load("smoke", position_encoding=positions)
    encoder = build_encoder(cfg, 50)
    words = token_embedding_of(encoder).embeddings
    words.assign(np.asarray(words) * 7.0 + 0.3)  # as pretraining leaves them: larger, with a shared direction
    ids = np.random.default_rng(0).integers(1, 50, size=(3, 12)).astype("int32")
    before = np.asarray(encoder(ids, training=False))
    factor = shrink_word_vectors(encoder)
    assert factor < 0.1 and np.isclose(np.sqrt(np.mean(np.square(np.asarray(words)))), 0.02, rtol=1e-4)
    assert np.allclose(np.asarray(encoder(ids, training=False)), before, atol=2e-3)
    with pytest.raises(ValueError, match="only when a LayerNorm follows"):
        shrink_word_vectors(build_encoder(config.load("smoke", pre_layer_norm=True), 50))
    with pytest.raises(ValueError, match="sinusoidal"):
        shrink_word_vectors(build_encoder(config.load("smoke", position_encoding="sinusoidal"), 50))
    keras.backend.clear_session()
