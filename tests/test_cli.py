import json
import subprocess
import sys

import pytest

from bertmlm_lib import checkpoints, stages
from bertmlm_lib.tools import cli
from bertmlm_lib.errors import DataError


def test_data_json_reports_counts(tiny_archive, capsys):
    assert cli.main(["data", "--data", str(tiny_archive), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"] == {"total": 12, "pos": 6, "neg": 6}
    assert report["splits"]["test"] == {"total": 12, "pos": 6, "neg": 6}
    assert report["splits"]["unsup"] == {"total": 12, "unlabelled": 12}
    assert report["pretraining_corpus"]["dropped_copies_of_test"] == 1
    assert report["cache"].endswith("data")


def test_data_table(tiny_archive, capsys):
    assert cli.main(["data", "--data", str(tiny_archive), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "validation:" in out and "test stays untouched" in out


def test_vectorize_saves_the_vocabulary(tiny_archive, tmp_path, capsys):
    artifacts = tmp_path / "run"
    code = cli.main(["vectorize", "--preset", "smoke", "--data", str(tiny_archive),
                     "--artifacts", str(artifacts), "--json", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (artifacts / "vocabulary.json").is_file() and (artifacts / "vectorize.json").is_file()
    assert summary["corpus_reviews"] == 23 and summary["most_frequent"][0] in {"a", "the", "film"}
    assert 0 < summary["coverage"]["known_share"] <= 1

    # --set changes any setting for one run (the vocabulary here), and the command's own options win
    code = cli.main(["vectorize", "--preset", "smoke", "--data", str(tiny_archive), "--artifacts", str(artifacts),
                     "--set", "vocab_size=20", "--set", "max_length=12", "--json", "--quiet"])
    assert code == 0 and json.loads(capsys.readouterr().out)["vocabulary_size"] == 20
    assert cli._config(cli.build_parser().parse_args(["pretrain", "--set", "pretrain_epochs=3", "--set",
                                                      "strategy=mirrored", "--strategy", "default"])).strategy == "default"


@pytest.mark.parametrize("setting, message", [
    ("mask_rte=0.2", "there is no setting 'mask_rte'; did you mean mask_rate?"),
    ("mask_rate", "is not KEY=VALUE"),
    ("mask_rate=1.5", "mask_rate=1.5 is invalid: it must be between 0 and 1"),
    ("num_layers=two", "num_layers must be a whole number"),
    ("position_encoding=absolute", "position_encoding must be one of 'learned', 'sinusoidal', 'alibi', 'rope'"),
    ("preset=full", "use --preset for that"),
])
def test_a_bad_set_is_one_line_naming_the_setting(setting, message, tiny_archive, tmp_path, capsys):
    argv = ["vectorize", "--preset", "smoke", "--data", str(tiny_archive), "--artifacts", str(tmp_path / "run")]
    assert cli.main(argv + ["--set", setting, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "run").exists(), "nothing is written before the settings are checked"


@pytest.mark.parametrize("argv, message", [
    (["data", "--data", "/no/such/archive.tar.gz"], "does not exist"),
    (["vectorize", "--data", "/no/such/folder"], "does not exist"),
])
def test_user_errors_print_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_debug_shows_the_exception(capsys):
    with pytest.raises(DataError):
        cli.main(["data", "--data", "/no/such/archive.tar.gz", "--debug", "--quiet"])


def test_console_script_has_no_traceback(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not really gzip")
    done = subprocess.run([sys.executable, "-m", "bertmlm_lib.tools.cli", "data", "--data", str(junk)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "not a readable tar archive" in done.stderr


def test_unknown_preset_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["data", "--preset", "tiny"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tiny'" in capsys.readouterr().err


def test_bad_environment_preset_is_one_line(tiny_archive, monkeypatch, capsys):
    monkeypatch.setenv("BERTMLM_PRESET", "tiny")
    assert cli.main(["data", "--data", str(tiny_archive), "--quiet"]) == 2
    assert "unknown preset 'tiny' (from BERTMLM_PRESET)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """`bertmlm pretrain` on a tiny archive, once for the fill-mask tests below."""
    from conftest import imdb_members, write_archive

    folder = tmp_path_factory.mktemp("cli-pretrain")
    archive = write_archive(folder / "aclImdb_v1.tar.gz", imdb_members())
    done = subprocess.run(
        [sys.executable, "-m", "bertmlm_lib.tools.cli", "pretrain", "--preset", "smoke", "--data", str(archive),
         "--artifacts", str(folder / "run"), "--json", "--quiet"],
        capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "BERTMLM_CACHE": str(folder / "cache")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "run", json.loads(done.stdout)


def test_pretrain_cli_reports_steps_and_heldout_metrics(pretrained):
    artifacts, summary = pretrained
    assert summary["steps"] >= 1 and summary["stopped_by"] == "steps"
    assert 0 <= summary["heldout"]["masked_accuracy"] <= 1 and summary["heldout"]["perplexity"] > 1
    assert (artifacts / "pretrain" / "checkpoint.keras").is_file()
    assert summary["verdict"].startswith(f"step {summary['steps']:,}: "), "where the run stands, in words"
    from bertmlm_lib.checkpoints import read_moments

    assert [m["step"] for m in read_moments(artifacts)][-1] == summary["steps"], "the time-lapse ends at the last step"


def test_fill_mask_cli_json_shape(pretrained, capsys):
    artifacts, _ = pretrained
    code = cli.main(["fill-mask", "--artifacts", str(artifacts), "--top-k", "3", "--json",
                     "a [MASK] film", "the [mask] was [mask]"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in results] == ["a [MASK] film", "the [mask] was [mask]"]
    assert [len(r["masks"]) for r in results] == [1, 2]
    for mask in results[1]["masks"]:
        assert set(mask) == {"position", "predictions"} and len(mask["predictions"]) == 3
        assert all(set(p) == {"token", "prob"} and 0 <= p["prob"] <= 1 for p in mask["predictions"])


def test_fill_mask_cli_table(pretrained, capsys):
    artifacts, _ = pretrained
    assert cli.main(["fill-mask", "--artifacts", str(artifacts), "a [mask] film"]) == 0
    assert "[mask] at word 1:" in capsys.readouterr().out


@pytest.mark.parametrize("texts, message", [
    (["no mask in this one"], "has no [mask]"),
    (["   "], "is empty"),
])
def test_fill_mask_cli_refuses_bad_text(pretrained, texts, message, capsys):
    artifacts, _ = pretrained
    assert cli.main(["fill-mask", "--artifacts", str(artifacts), *texts]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_fill_mask_cli_missing_artifacts(tmp_path, capsys):
    assert cli.main(["fill-mask", "--artifacts", str(tmp_path / "nothing"), "a [mask]"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finetuned(pretrained):
    artifacts, _ = pretrained
    archive = artifacts.parent / "aclImdb_v1.tar.gz"
    env = {**__import__("os").environ, "BERTMLM_CACHE": str(artifacts.parent / "cache")}
    done = subprocess.run([sys.executable, "-m", "bertmlm_lib.tools.cli", "finetune", "--preset", "smoke", "--data",
                           str(archive), "--artifacts", str(artifacts), "--json", "--quiet"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return artifacts, json.loads(done.stdout), env


def test_finetune_cli_saves_an_end_to_end_model(finetuned):
    artifacts, summary, _ = finetuned
    assert (artifacts / "finetune" / "sentiment.keras").is_file()
    assert 0 <= summary["val_accuracy"] <= 1 and summary["validation_reviews"] >= 2


def test_a_lesson_after_06_makes_the_missing_model_the_lesson_way(pretrained, tmp_path):
    """Lessons 07 and 08 call `stages.lesson_model`: with no model saved it fine-tunes on the lesson's share
    of labels (not all of them, which would break the class slot), and a saved model is used as it is."""
    import shutil

    from bertmlm_lib import config
    from bertmlm_lib.vectorize import Vectorizer

    artifacts, _ = pretrained
    copy = tmp_path / "lesson"
    shutil.copytree(artifacts, copy, ignore=shutil.ignore_patterns("finetune"))
    cfg = config.load("smoke", artifacts=str(copy), lesson_train_reviews=4)
    archive = artifacts.parent / "aclImdb_v1.tar.gz"
    path = stages.lesson_model(cfg, Vectorizer.load(copy), archive)
    summary = json.loads((path.parent / "finetune.json").read_text())
    assert path.is_file() and summary["train_reviews"] == 4 and summary["validation_reviews"] >= 2
    stamp = path.stat().st_mtime_ns
    assert stages.lesson_model(cfg, Vectorizer.load(copy), archive) == path and path.stat().st_mtime_ns == stamp


def test_evaluate_cli_scores_test(finetuned):
    artifacts, _, env = finetuned
    done = subprocess.run([sys.executable, "-m", "bertmlm_lib.tools.cli", "evaluate", "--preset", "smoke", "--data",
                           str(artifacts.parent / "aclImdb_v1.tar.gz"), "--artifacts", str(artifacts), "--json",
                           "--quiet"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["reviews"] == 12 and 0 <= report["accuracy"] <= 1 and sum(report["confusion"].values()) == 12


def test_predict_cli_json_and_latin1_file(finetuned, tmp_path, capsys):
    artifacts, _, _ = finetuned
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes("Caf\xe9 scenes were lovely\n\n  \nA terrible, boring film\n".encode("latin-1"))
    long_text = "great " * 1000
    assert cli.main(["predict", "--artifacts", str(artifacts), "--json", "--file", str(reviews), "A fine film", long_text]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in results] == ["A fine film", long_text, "Café scenes were lovely", "A terrible, boring film"]
    assert all(set(r) == {"text", "label", "prob_pos"} and r["label"] in ("pos", "neg") for r in results)
    assert all((r["label"] == "pos") == (r["prob_pos"] >= 0.5) for r in results)


@pytest.mark.parametrize("argv, message", [
    (["predict", "   "], "is empty"),
    (["predict"], "no text given"),
    (["predict", "--file", "/no/such/file.txt"], "does not exist"),
])
def test_predict_cli_refuses_bad_input(finetuned, argv, message, capsys):
    artifacts, _, _ = finetuned
    assert cli.main(argv + ["--artifacts", str(artifacts)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_predict_cli_without_a_model(tmp_path, capsys):
    assert cli.main(["predict", "--artifacts", str(tmp_path), "a fine film"]) == 2
    assert "no end-to-end model" in capsys.readouterr().err


# Text a learner (or a fuzzer) might type: any characters, with mask tokens, HTML, emoji and accents mixed in.
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_PIECES = st.one_of(st.text(max_size=25), st.sampled_from(
    ["[mask]", "[MASK]", "[ mask ]", "[mask][mask]", "<br />", "🎬🍿", "café", "naïve", "\t\n", " ", "-", "'", "\x00"]))
_TEXTS = st.lists(_PIECES, max_size=40).map("".join)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(["fill-mask", "predict"]), texts=st.lists(_TEXTS, min_size=1, max_size=3),
       as_json=st.booleans())
def test_fuzzed_text_never_crashes_the_cli(finetuned, command, texts, as_json):
    """Whatever the text, the CLI answers (exit 0) or refuses in one line (exit 2); nothing escapes."""
    import contextlib
    import io

    artifacts, _, _ = finetuned
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([command, "--artifacts", str(artifacts), *(["--json"] if as_json else []), "--", *texts])
    assert code in (0, 2), err.getvalue()
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
    elif as_json:
        results = json.loads(out.getvalue())
        assert len(results) == len(texts)


@pytest.mark.parametrize("command, text", [("fill-mask", "a [MASK] film 🎬 <br /> café"), ("predict", "🎬 <b>great</b> café")])
def test_the_fuzzed_path_answers_good_text(finetuned, command, text, capsys):
    """The fuzz test's exact invocation succeeds on ordinary input (so its passes are not all refusals)."""
    artifacts, _, _ = finetuned
    assert cli.main([command, "--artifacts", str(artifacts), "--json", "--", text]) == 0
    assert json.loads(capsys.readouterr().out)[0]["text"] == text


def test_ctrl_c_during_pretraining_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    """A real SIGINT (what Ctrl-C sends) to `bertmlm pretrain` mid-run: one line, exit 130, checkpoint kept."""
    import os
    import signal
    import time

    from conftest import imdb_members, write_archive

    archive = write_archive(tmp_path / "aclImdb_v1.tar.gz", imdb_members())
    artifacts = tmp_path / "run"
    env = {**os.environ, "BERTMLM_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen([sys.executable, "-m", "bertmlm_lib.tools.cli", "pretrain", "--preset", "smoke", "--data",
                                str(archive), "--artifacts", str(artifacts), "--epochs", "100000", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               # a job started in the background by a shell inherits "ignore SIGINT";
                               # a terminal's foreground command (what a user's Ctrl-C reaches) does not
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    meta = artifacts / "pretrain" / "checkpoint.json"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None and not meta.exists():
            time.sleep(0.2)  # a checkpoint is written at the end of every pass: training is under way
        assert process.poll() is None, f"training ended before Ctrl-C: {process.stderr.read()[-800:]}"
        seen = json.loads(meta.read_text())["step"]
        time.sleep(1.0)  # let it train past that checkpoint
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:  # a failure must not leave a training process behind (it slowed a later CI run by minutes)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err[-1500:]
    lines = err.strip().splitlines()
    assert lines == ["interrupted: stopped by Ctrl-C or kill; finished outputs are kept."], lines
    saved = json.loads(meta.read_text())["step"]
    assert saved > seen  # training went on after the first checkpoint, and what it reached is saved
    model = checkpoints.load_checkpoint(artifacts / "pretrain")  # whole and loadable
    assert int(model.optimizer.iterations) == saved


def _bad_data(kind, tmp_path, tiny_archive):
    """Make one kind of bad --data input in tmp_path; returns its path."""
    import tarfile

    from conftest import imdb_members, write_archive

    if kind == "empty folder":
        (tmp_path / "empty").mkdir()
        return tmp_path / "empty"
    if kind == "not an archive":
        (tmp_path / "notes.txt").write_text("just some notes")
        return tmp_path / "notes.txt"
    if kind == "truncated":
        payload = tiny_archive.read_bytes()
        (tmp_path / "broken.tar.gz").write_bytes(payload[: len(payload) // 2])
        return tmp_path / "broken.tar.gz"
    if kind == "wrong layout":
        return write_archive(tmp_path / "partial.tar.gz", {k: v for k, v in imdb_members().items() if "/unsup/" not in k})
    info = tarfile.TarInfo("../escape.txt")  # path traversal
    info.size = 3
    return write_archive(tmp_path / "evil.tar.gz", imdb_members(), extra=[info])


@pytest.mark.parametrize("kind, message", [
    ("empty folder", "not an IMDB (aclImdb) folder"),
    ("not an archive", "not a readable tar archive"),
    ("truncated", "truncated or damaged"),
    ("wrong layout", "it has no aclImdb/train/unsup"),
    ("path traversal", "unsafe member"),
])
def test_bad_data_gives_the_same_one_line_error_in_library_and_cli(kind, message, tmp_path, tiny_archive, capsys):
    from bertmlm_lib import archive

    bad = _bad_data(kind, tmp_path, tiny_archive)
    with pytest.raises(DataError) as raised:
        archive.prepare_dataset(bad, progress=False)
    assert message in str(raised.value)
    assert cli.main(["data", "--data", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: " + " ".join(str(raised.value).split())]
    assert not (tmp_path / "escape.txt").exists()


def test_inference_bench_cli(finetuned, capsys):
    artifacts, _, _ = finetuned
    assert cli.main(["bench", "--inference", "--artifacts", str(artifacts), "--data",
                     str(artifacts.parent / "aclImdb_v1.tar.gz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["batch_size"] == 256 and report["reviews"] == 12 and report["reviews_per_s"] > 0
