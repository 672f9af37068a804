"""The speed benchmark's headline row is the model as shipped."""

from bertmlm_lib import config
from bertmlm_lib.tools.measure import bench


def test_headline_row_measures_the_shipped_model():
    cfg = config.load("smoke", vocab_size=50, max_length=16)
    model = bench.variants(cfg, levers=True)["bertmlm"][0]()
    assert model.jit_compile is cfg.jit_compile is False  # XLA is off by default, so off in the headline too
    assert model.encoder.get_layer("encoder_block_0").position_encoding == cfg.position_encoding
    assert bench.variants(cfg, levers=True)["bertmlm_with_xla"][0]().jit_compile is True
