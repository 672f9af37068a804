import numpy as np
import pytest

from bertmlm_lib import config, finetune
from bertmlm_lib.model import build_encoder


def test_masked_pooling_ignores_padding():
    layer = finetune.MaskedPooling("mean")
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], np.float32)
    ids = np.array([[5, 6, 0]])
    assert np.allclose(np.asarray(layer(sequence, ids)), [[2.0, 3.0]])
    assert np.allclose(np.asarray(finetune.MaskedPooling("max")(sequence, ids)), [[3.0, 4.0]])
    with pytest.raises(ValueError, match="'mean' or 'max'"):
        finetune.MaskedPooling("median")


def test_two_phase_finetuning_learns_a_separable_task():
    """Reviews made of 'good' words are positive, of 'bad' words negative: the classifier must learn it."""
    cfg = config.load("smoke", vocab_size=20, max_length=12, embed_dim=16, num_heads=2, ff_dim=32, batch_size=16)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=256)
    ids = np.where(labels[:, None] == 1, rng.integers(3, 10, (256, 12)), rng.integers(10, 20, (256, 12)))
    ids[:, 8:] = 0
    encoder = build_encoder(cfg, 20)
    classifier = finetune.build_classifier(encoder)
    result = finetune.finetune(classifier, encoder, ids[:192], labels[:192], ids[192:], labels[192:], cfg,
                               head_learning_rate=1e-2, encoder_learning_rate=1e-3, frozen_epochs=2,
                               unfrozen_epochs=2, patience=2)
    assert [row["phase"] for row in result.history][:1] == ["encoder frozen"]
    assert result.unfrozen_at_epoch >= 1 and result.history[-1]["phase"] == "encoder unfrozen"
    assert result.val_accuracy > 0.9
    assert finetune.accuracy(classifier, ids[192:], labels[192:]) == pytest.approx(result.val_accuracy, abs=0.02)
    assert encoder.trainable  # left trainable for whoever uses it next


def test_budget_plot_orders_points_by_minutes():
    import matplotlib

    matplotlib.use("Agg")
    from bertmlm_lib import label_efficiency

    ax = label_efficiency.plot_budget([{"minutes": 60, "test_accuracy": 0.8, "name": "full"},
                                       {"minutes": 0, "test_accuracy": 0.7, "name": "random"}], tfidf=0.83, labels=1000)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0, 60] and list(line.get_ydata()) == [0.7, 0.8]
    assert ax.get_lines()[1].get_ydata()[0] == 0.83 and "1,000 labels" in ax.get_title()
