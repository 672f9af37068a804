"""Is my run normal? The verdict on synthetic curves, the band behind lesson 05's curve, and the shipped
band as its measurement summarized."""
import json

import matplotlib
import pytest

matplotlib.use("Agg")

from bertmlm_lib import band as reference  # noqa: E402
from bertmlm_lib.tools.measure import MEASUREMENTS_PAGE  # noqa: E402
from bertmlm_lib.tools.measure.band import summarize, table  # noqa: E402

BAND = {"steps": [0, 500, 1000], "low": [0.0, 0.13, 0.20], "mean": [0.0, 0.14, 0.22], "high": [0.0, 0.15, 0.24],
        "seeds": 3}
FREQUENT = 0.063


@pytest.mark.parametrize("step, accuracy, stage, where", [
    (1000, 0.07, "on the plateau", "below the reference band"),  # stuck where the recipe had left it
    (500, 0.14, "leaving the plateau", "within the reference band"),
    (1000, 0.22, "learning", "within the reference band"),
    (1000, 0.30, "learning", "above the reference band"),
    (1000, 0.15, "leaving the plateau", "below the reference band"),
    (100, 0.028, "on the plateau", "within the reference band"),  # early on, every run is there
    (1000, 0.195, "leaving the plateau", "just under (within a point of) the reference band"),
])
def test_the_verdict_names_the_stage_and_the_band(step, accuracy, stage, where):
    said = reference.verdict(step, accuracy, BAND, FREQUENT)
    assert stage in said and where in said
    assert ("Check:" in said) == (where == "below the reference band"), "causes only when below"
    assert "slow machine is not a cause" in said or where != "below the reference band"


def test_past_the_band_a_faster_machine_is_held_to_where_the_band_ends():
    ahead = reference.verdict(1500, 0.25, BAND, FREQUENT)
    assert "past the reference band's last step (the reference runs ended at step 1,000 with 20.0%-24.0%)" in ahead
    assert "Check:" not in ahead
    behind = reference.verdict(1500, 0.16, BAND, FREQUENT)  # further than the band, lower than where it ended
    assert "below where the reference runs ended at step 1,000" in behind and "Check:" in behind


def test_without_a_band_it_says_only_the_stage():
    assert "band" not in reference.verdict(300, 0.12, None, FREQUENT)


def test_the_band_is_read_between_its_steps():
    assert reference.band_at(BAND, 750) == pytest.approx((0.165, 0.18, 0.195))
    assert reference.band_at(BAND, 1001) is None


def test_lesson_05s_curves_draw_the_band_behind_the_heldout_accuracy():
    from bertmlm_lib.pretrain import plot_curves

    history = [{"step": s, "loss": 7 - s / 500, "masked_accuracy": a, "perplexity": 100.0, "val_loss": 7 - s / 400,
                "val_masked_accuracy": a, "val_perplexity": 90.0} for s, a in ((0, 0.0), (400, 0.12), (800, 0.18))]
    axes = plot_curves(history, band=BAND)
    accuracy = axes[1]
    assert len(accuracy.collections) == 1, "the band's range"
    assert any("reference" in text.get_text() for text in axes[0].figure.legends[0].get_texts())
    assert accuracy.get_xlim() == pytest.approx((-40, 840)), "the run, not the band, sets the axis"


def test_the_shipped_band_is_its_measured_runs_summarized():
    shipped = json.loads(reference.BAND_FILE.read_text(encoding="utf-8"))
    assert shipped["bands"] == summarize(shipped["runs"])
    for budget in ("lesson", "workshop"):
        band = reference.load_band(budget)
        assert band["seeds"] >= 3 and band["steps"][0] == 0 and len(band["steps"]) > 5
        assert all(low <= mean <= high for low, mean, high in zip(band["low"], band["mean"], band["high"]))
        assert band["mean"][-1] > reference.PLATEAU_EXIT, "the recipe leaves the plateau within its budget"
    assert reference.load_band("lesson", preset="no such preset") is None
    assert f"<!-- table:band -->\n{table(shipped)}\n" in MEASUREMENTS_PAGE.read_text(encoding="utf-8"), \
        "docs/measurements.md shows the shipped band (python -m bertmlm_lib.tools.measure.band --runs ...)"


def test_the_live_panel_says_where_the_run_stands(capsys):
    """Outside a notebook (`bertmlm pretrain`'s log) each fill-mask update prints the verdict under its line."""
    from bertmlm_lib.callbacks import FillMaskCallback

    class Vocabulary:  # the callback only keeps it until it asks the model, which this test does not
        pass

    panel = FillMaskCallback(Vocabulary(), status=lambda: reference.verdict(400, 0.12, BAND, FREQUENT))
    panel.history = [{"step": 400, "results": [{"text": "i have watched this [mask]",
                                                 "masks": [{"predictions": [{"token": "movie"}, {"token": "film"}]}]}]}]
    panel._show()
    said = capsys.readouterr().out
    assert "step 400: i have watched this [mask] -> movie, film" in said
    assert "is it normal? step 400: 12.0% held-out masked accuracy, leaving the plateau" in said
