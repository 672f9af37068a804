"""The time-to-quality benchmark on a tiny archive: every candidate trains, curves are written."""

import json

import pytest

from bertmlm_lib import config, quality
from bertmlm_lib.label_efficiency import RATE_GRIDS
from bertmlm_lib.model import build_pretraining_model


def test_candidates_reach_the_model():
    base = config.load("smoke")
    for name in ("seed", "seed_len128_vocab8k_2layers"):
        cfg = quality.candidate_config(name, base)
        for key, value in quality.CANDIDATES[name].items():
            assert getattr(cfg, key) == value, (name, key)
    cfg = quality.candidate_config("seed_len128_vocab8k_2layers", base, vocab_size=50, max_length=16)
    model = build_pretraining_model(cfg)
    blocks = [layer for layer in model.encoder.layers if layer.name.startswith("encoder_block_")]
    assert len(blocks) == 2 and all(not b.pre_layer_norm and b.dropout == 0.1 for b in blocks)
    with pytest.raises(ValueError, match="unknown candidate"):
        quality.candidate_config("nope", base)


def test_quality_run_writes_curves_and_plot(tiny_archive, tmp_path):
    base = config.load("smoke", artifacts=tmp_path / "run", heldout_reviews=4)
    report = quality.run(0.05, ["seed", "seed_len128_vocab8k"], data_path=tiny_archive, base=base,
                         out=tmp_path / "out", progress=False)
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert (tmp_path / "out" / "quality.png").stat().st_size > 1000
    for name in ("seed", "seed_len128_vocab8k"):
        entry = report["candidates"][name]
        assert entry["steps"] >= 1 and len(entry["curve"]) >= 2
        assert entry["curve"][0]["minutes"] == 0
        assert 0.05 * 60 <= entry["training_seconds"] < 0.05 * 60 + 10


def test_downstream_check_compares_pretrained_and_scratch(tiny_archive, tmp_path):
    from bertmlm_lib import pretrain

    cfg = config.load("smoke", artifacts=tmp_path / "run", vocab_size=60, max_length=16, embed_dim=16, num_heads=2,
                      ff_dim=32, heldout_reviews=4, eval_every=2)
    pretrain.run_pretraining(cfg, tiny_archive, progress=False, fill_mask_display=False)
    report = quality.downstream_check({"pretrained": cfg.artifacts_dir}, labels=6, test_reviews=6,
                                      data_path=tiny_archive, base=cfg, scratch_like="pretrained")
    assert report["labels"] == 6 and report["validation"] == 6 and report["test_reviews"] == 6
    assert set(report["runs"]) == {"pretrained", "scratch (random encoder)"}
    for run in report["runs"].values():
        assert 0 <= run["val_accuracy"] <= 1 and 0 <= run["test_accuracy"] <= 1
    assert report["runs"]["scratch (random encoder)"]["pretraining_minutes"] == 0.0
    assert report["runs"]["pretrained"]["rate"] in RATE_GRIDS["pretrained"] and 0 <= report["runs"]["pretrained"]["heldout_masked_accuracy"] <= 1
    assert 0 <= report["tfidf"] <= 1
