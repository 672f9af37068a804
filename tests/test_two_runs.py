"""Two runs on the same artifacts folder at once: the second is refused with a clear message, and the
first run's files are never touched. The holder is a real second process."""

import signal
import subprocess
import sys

import pytest

from bertmlm_lib import config, pretrain
from bertmlm_lib.tools import cli, runner
from bertmlm_lib.artifacts import exclusive
from bertmlm_lib.errors import ArtifactError
from bertmlm_lib.vectorize import build_vectorizer

HOLDER = """
import sys
from bertmlm_lib.artifacts import exclusive
with exclusive(sys.argv[1], "pretraining"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held_folder(tmp_path):
    """An artifacts folder held by another process (which is stopped at the end)."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "pretrain").mkdir()
    (folder / "pretrain" / "checkpoint.keras").write_bytes(b"the first run's checkpoint")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield folder, holder
    if holder.poll() is None:
        holder.kill()
        holder.wait()


def test_library_refuses_a_second_run_and_names_the_holder(held_folder):
    folder, holder = held_folder
    cfg = config.load("smoke", artifacts=folder, vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32)
    texts = ["a good film with great acting"] * 40
    vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
    corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
    with pytest.raises(ArtifactError, match=rf"in use by another bertmlm run \(process {holder.pid}, pretraining\)"):
        runner.pretrain(cfg, corpus, vectorizer, progress=False, fill_mask_display=False)
    with pytest.raises(ArtifactError, match="another --artifacts folder"):
        runner.run_finetuning(cfg, progress=False)
    assert (folder / "pretrain" / "checkpoint.keras").read_bytes() == b"the first run's checkpoint"


def test_cli_refuses_in_one_line_and_keeps_the_files(held_folder, tiny_archive, capsys):
    folder, holder = held_folder
    code = cli.main(["pretrain", "--preset", "smoke", "--data", str(tiny_archive), "--artifacts", str(folder), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"process {holder.pid}" in err and "wait for it to finish" in err
    assert (folder / "pretrain" / "checkpoint.keras").read_bytes() == b"the first run's checkpoint"
    assert not (folder / "vocabulary.json").exists()  # refused before writing anything


def test_lock_is_released_when_the_holder_ends_even_by_kill_9(held_folder):
    folder, holder = held_folder
    with pytest.raises(ArtifactError):
        with exclusive(folder, "fine-tuning"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive(folder, "fine-tuning"):  # free again: no stale lock after a kill
        with exclusive(folder, "pretraining"):  # a stage inside a stage of the same process does not block itself
            pass


STAGE = """
import sys
from bertmlm_lib.artifacts import exclusive
with exclusive(sys.argv[1], "a stage of bertmlm run"):
    print("inside", flush=True)
"""


def test_the_holders_own_stage_process_may_work_in_the_folder_and_no_other_process(tmp_path):
    """`bertmlm run` holds the folder and runs each stage in a child process: the child is let in; the same
    environment copied to a process that is not the holder's child is refused."""
    import os

    from bertmlm_lib.artifacts import held_lock_environment

    folder = tmp_path / "run"
    with exclusive(folder, "bertmlm run"):
        env = {**os.environ, **held_lock_environment(folder)}
        child = subprocess.run([sys.executable, "-c", STAGE, str(folder)], env=env, capture_output=True, text=True)
        assert child.returncode == 0 and child.stdout.strip() == "inside", child.stderr[-500:]
        grandchild = subprocess.run(  # its parent is another Python process, not the holder
            [sys.executable, "-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)",
             sys.executable, "-c", STAGE, str(folder)], env=env, capture_output=True, text=True)
        assert grandchild.returncode != 0 and "in use by another bertmlm run" in grandchild.stderr
        assert f"process {os.getpid()}, bertmlm run" in grandchild.stderr
