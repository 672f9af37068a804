"""Our BERT against the same sizes built from keras-hub's layers (`hub.py`, lesson 04)."""

import numpy as np
import pytest

from bertmlm_lib import config, hub, model
from bertmlm_lib.vectorize import FIRST_WORD_ID

VOCABULARY = 300


@pytest.fixture(scope="module")
def cfg():
    return config.load("smoke", artifacts="unused")


@pytest.fixture(scope="module")
def ids(cfg):
    rng = np.random.default_rng(0)
    rows = rng.integers(FIRST_WORD_ID, VOCABULARY, (256, cfg.max_length)).astype(np.int32)
    for row, length in zip(rows, rng.integers(cfg.max_length // 2, cfg.max_length + 1, len(rows))):
        row[length:] = 0
    return rows


def test_each_weight_is_counted_once_though_the_head_reuses_the_embedding(cfg):
    ours = model.build_pretraining_model(cfg, VOCABULARY)
    assert sum(hub.part_counts(ours).values()) == ours.count_params()
    assert hub.part_counts(ours)["mlm_head"] < VOCABULARY * cfg.embed_dim, "the word vectors are the encoder's"


@pytest.mark.parametrize("position_encoding", ["rope", "learned"])
def test_keras_hub_layers_at_our_sizes_differ_only_by_a_position_table(cfg, position_encoding):
    cfg = cfg.replace(position_encoding=position_encoding)
    ours, theirs = model.build_pretraining_model(cfg, VOCABULARY), hub.build_hub_mlm(cfg, VOCABULARY)
    table = 0 if position_encoding == "learned" else cfg.max_length * cfg.embed_dim
    assert theirs.count_params() - ours.count_params() == table


def test_one_batch_in_both_forms_holds_the_same_predictions(cfg, ids):
    batch = hub.masked_batch(ids[:cfg.batch_size], cfg, VOCABULARY)
    (ours_in, ours_labels, _), (hub_in, hub_labels, weights) = batch["ours"], batch["hub"]
    assert len(ours_labels) == batch["predictions"] == int((weights > 0).sum()) < batch["slots"]
    assert (hub_labels[weights > 0] == ours_labels).all()
    flat = hub_in["mask_positions"] + cfg.max_length * np.arange(len(weights))[:, None]
    assert (flat[weights > 0] == ours_in["mask_positions"]).all()
    theirs = hub.build_hub_mlm(cfg, VOCABULARY)
    assert tuple(theirs(hub_in).shape) == (*hub_in["mask_positions"].shape, VOCABULARY)
    ours = model.build_pretraining_model(cfg, VOCABULARY)
    timed = hub.seconds_per_step({"ours": (ours, batch["ours"]), "keras-hub": (theirs, batch["hub"])}, steps=2, warmup=1)
    assert set(timed) == {"ours", "keras-hub"} and min(timed.values()) > 0


def test_keras_hub_masks_with_the_same_recipe_and_other_draws(cfg, ids):
    check = hub.compare_masking(ids, cfg.replace(mask_rate=0.25), VOCABULARY)
    for share in ("masked", "replaced", "kept"):
        assert abs(check["ours"][share] - check["keras-hub"][share]) < 0.04, share
    assert abs(check["ours"]["chosen_share"] - 0.25) < 0.01
    assert 0.2 < check["keras-hub"]["chosen_share"] <= 0.26
    assert check["same_positions"] < 0.1
