"""`bertmlm run` end to end on a tiny archive: every stage, the report, skipping current stages, `runs`."""

import json

import pytest

from bertmlm_lib import config
from bertmlm_lib.tools import cli, pipeline, runs

TINY = dict(vocab_size=60, max_length=16, embed_dim=16, num_heads=2, ff_dim=32, batch_size=4, pretrain_epochs=2,
            heldout_reviews=4, eval_every=4, finetune_epochs=2, label_sizes=(6,), label_test_reviews=None)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    from conftest import imdb_members, write_archive

    folder = tmp_path_factory.mktemp("pipeline")
    archive = write_archive(folder / "aclImdb_v1.tar.gz", imdb_members())
    cfg = config.load("smoke", artifacts=folder / "run", **TINY)
    return cfg, archive, pipeline.run(cfg, archive, progress=False)


def test_report_has_every_field_and_plot(first_run):
    cfg, _, report = first_run
    assert set(report["timings_s"]) == {"data", "vectorize", "pretrain", "finetune", "evaluate", "total"}
    assert report["timings_s"]["total"] == pytest.approx(sum(v for k, v in report["timings_s"].items() if k != "total"), abs=0.2)
    assert report["skipped"] == []
    stage_peaks = report["peak_rss_mb_of_stage"]  # each stage ran in its own process, which imported TensorFlow
    assert set(stage_peaks) == {"data + vectorize", "pretrain", "finetune", "evaluate", "label efficiency"}
    assert all(peak > 300 for peak in stage_peaks.values())
    assert report["peak_rss_mb"] == pytest.approx(max(stage_peaks.values()) + report["peak_rss_mb_scheduler"], abs=0.2)
    assert 0 <= report["mlm"]["masked_accuracy"] <= 1 and report["mlm"]["perplexity"] > 1
    assert {"test_accuracy", "val_accuracy", "auc"} <= set(report["classifier"]) and report["classifier"]["test_reviews"] == 12
    assert 0 <= report["baselines"]["tfidf_lr"] <= 1
    [point] = report["label_efficiency"]
    assert set(point) >= {"labels", "pretrained", "scratch", "tfidf"} and all(0 <= point[k] <= 1 for k in ("pretrained", "scratch", "tfidf"))
    protocol = report["label_efficiency_protocol"]  # the fair protocol, recorded with the numbers
    assert protocol["classifier_length"] == cfg.classifier_length and protocol["seeds"] == 1
    assert set(point["pretrained_rates"]) | set(point["scratch_rates"]) <= set(protocol["rates"])
    assert point["pretrained_steps"] == point["scratch_steps"] and point["pretrained_reads_tokens"] == point["scratch_reads_tokens"]
    assert report["fill_mask_probe"][0]["text"].startswith("i have watched this [mask]")
    assert report["versions"]["tensorflow"] and report["machine"]["cpus"] >= 1
    saved = json.loads((cfg.artifacts_dir / "report.json").read_text())
    assert saved["classifier"] == report["classifier"]
    for name in ("training_curves.png", "fill_mask_over_time.png", "label_efficiency.png", "confusion_matrix.png"):
        assert (cfg.artifacts_dir / name).stat().st_size > 5000, name
    text = (cfg.artifacts_dir / "report.md").read_text()
    assert "![label efficiency](label_efficiency.png)" in text and f"{report['classifier']['test_accuracy']:.4f}" in text
    zero = report["zero_shot"]  # the tiny archive's vocabulary lacks some verbalizer words: said, not failed
    assert (0 <= zero["test_accuracy"] <= 1) if "test_accuracy" in zero else "is not one token" in zero["skipped"]
    assert "**Zero-shot, no labels**" in text
    assert "Is it normal? step " in text, "where the pretraining stands, in words"


def test_current_stages_are_skipped_and_a_changed_setting_reruns_from_its_stage(first_run, tmp_path):
    import shutil

    cfg, archive, report = first_run
    again = pipeline.run(cfg, archive, progress=False)
    assert again["skipped"] == ["pretrain", "finetune", "evaluate"]
    assert again["mlm"] == report["mlm"] and again["timings_s"]["pretrain"] == report["timings_s"]["pretrain"]
    copy = tmp_path / "copy"  # the first run's folder stays current for the other tests
    shutil.copytree(cfg.artifacts_dir, copy)
    changed = pipeline.run(cfg.replace(artifacts=str(copy), finetune_epochs=1), archive, progress=False)
    assert changed["skipped"] == ["pretrain"]  # fine-tuning and everything after it ran again


def test_runs_lists_the_report(first_run, capsys):
    cfg, _, report = first_run
    rows = runs.collect([cfg.artifacts_dir.parent])
    mine = next(row for row in rows if row["folder"] == str(cfg.artifacts_dir))
    latest = json.loads((cfg.artifacts_dir / "report.json").read_text())  # the last run in that folder
    assert mine["preset"] == "smoke" and mine["test_acc"] == latest["classifier"]["test_accuracy"]
    assert any(row["folder"] == str(cfg.artifacts_dir) for row in rows)
    assert cli.main(["runs", str(cfg.artifacts_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert "smoke" in out and "masked_acc" in out and str(cfg.artifacts_dir) in out
    (cfg.artifacts_dir.parent / "broken").mkdir(exist_ok=True)
    (cfg.artifacts_dir.parent / "broken" / "report.json").write_text("{not json")
    assert any(row.get("damaged") for row in runs.collect([cfg.artifacts_dir.parent]))
    assert "no runs yet" in runs.table([])


def test_a_user_error_inside_a_stage_process_comes_back_as_the_same_error(first_run, tmp_path):
    import shutil

    from bertmlm_lib.errors import ArtifactError

    cfg, archive, _ = first_run
    copy = tmp_path / "copy"
    shutil.copytree(cfg.artifacts_dir, copy)
    (copy / "pretrain" / "encoder.keras").write_bytes(b"damaged on purpose")
    with pytest.raises(ArtifactError, match="encoder.keras"):  # fine-tuning reruns (a changed setting) and reads it
        pipeline.run(cfg.replace(artifacts=str(copy), finetune_epochs=3), archive, progress=False)
    assert not list(copy.glob(".stage-*"))  # the request and answer files are cleaned up


def test_the_scheduling_process_never_imports_tensorflow(first_run):
    """What keeps `bertmlm run` small: the process that schedules the stages reads no model. A second
    `bertmlm run` on the first run's folder goes through the whole scheduler (the archive, the stage keys,
    the data stage and the report in their child processes, the other stages reused) in a fresh process,
    which then lists what it imported."""
    from conftest import python_lines

    cfg, tarball, _ = first_run  # every stage is current in its folder (the other tests change copies)
    script = ("import json, sys; from bertmlm_lib import config; from bertmlm_lib.tools import pipeline; "
              f"cfg = config.from_dict(json.loads({json.dumps(json.dumps(cfg.to_dict()))})); "
              f"report = pipeline.run(cfg, {str(tarball)!r}, progress=False); "
              "print(report['skipped'], sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))")
    assert python_lines(script)[-1] == "['pretrain', 'finetune', 'evaluate'] []"
    assert (cfg.artifacts_dir / "report.md").is_file()