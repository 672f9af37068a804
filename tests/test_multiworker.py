"""`--strategy multiworker`: two `bertmlm` processes on 127.0.0.1 train one model with TensorFlow's
MultiWorkerMirroredStrategy, as two machines would.

Worker 0 (the chief) and worker 1 each read their own copy of the artifacts folder, as machines
without a shared disk do. The chief writes; worker 1's folder must come out unchanged. Both must
end with the same weights. One test walks a whole life: pretrain under a time budget (the workers
must agree when it runs out), resume, `kill` of the worker that is not the chief (both stop, the
chief saves), and fine-tune.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertmlm_lib.tools import cli
from bertmlm_lib.tools.distribute import cluster_config
from bertmlm_lib.errors import ConfigError


def _two_free_ports() -> tuple[int, int]:
    """Two distinct TCP ports on 127.0.0.1 that nothing listens on now (both held while the kernel picks)."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


def _folder_state(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


class TwoWorkers:
    """Runs one `bertmlm` command as worker 0 and worker 1 of a two-worker cluster on free local ports."""

    def __init__(self, tmp_path: Path, archive: Path):
        self.archive, self.folders = archive, [tmp_path / "chief", tmp_path / "worker1"]
        self.env = {**os.environ, "BERTMLM_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def start(self, command: str, *options: str) -> list[subprocess.Popen]:
        workers = ",".join(f"127.0.0.1:{port}" for port in _two_free_ports())
        return [subprocess.Popen(
            [sys.executable, "-m", "bertmlm_lib.tools.cli", command, "--preset", "smoke", "--data", str(self.archive),
             "--artifacts", str(folder), "--strategy", "multiworker", "--workers", workers, "--worker-index", str(i),
             "--set", "batch_size=8", "--json", "--quiet", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) for i, folder in enumerate(self.folders)]

    @staticmethod
    def finish(processes, timeout: float = 300) -> list[tuple[int, str, str]]:
        try:
            outputs = [p.communicate(timeout=timeout) for p in processes]
            return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs)]
        finally:  # never leave a worker behind, waiting for the other forever
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def run(self, command: str, *options: str) -> list[dict]:
        results = self.finish(self.start(command, *options))
        for code, _, err in results:
            assert code == 0, err[-2500:]
        return [json.loads(out) for _, out, _ in results]


def test_two_workers_pretrain_resume_stop_and_finetune_as_one_model(tmp_path):
    from conftest import imdb_members, write_archive

    archive = write_archive(tmp_path / "aclImdb_v1.tar.gz", imdb_members())
    cluster = TwoWorkers(tmp_path, archive)
    chief, other = cluster.folders
    assert cli.main(["vectorize", "--preset", "smoke", "--data", str(archive), "--artifacts", str(chief), "--quiet"]) == 0
    shutil.copytree(chief, other)

    # 1. Pretraining under a time budget: both stop at the same step, with the same weights.
    before = _folder_state(other)
    first = cluster.run("pretrain", "--epochs", "100000", "--minutes", "0.25")
    assert [r["worker"] for r in first] == [0, 1] and first[0]["workers"] == 2
    assert [r["wrote_outputs"] for r in first] == [True, False]
    assert first[0]["stopped_by"] == first[1]["stopped_by"] == "time budget"
    assert first[0]["steps"] == first[1]["steps"] > 5
    assert first[0]["weights_digest"] == first[1]["weights_digest"]
    assert first[0]["heldout"]["loss"] < first[0]["heldout_at_start"]["loss"]  # it learned
    assert _folder_state(other) == before  # the other worker wrote nothing
    assert json.loads((chief / "pretrain" / "checkpoint.json").read_text())["step"] == first[0]["steps"]

    # 2. Resume from the chief's checkpoint (copied to the other machine), and `kill` the other worker:
    # both stop after the same batch, the chief saves, both exit as after Ctrl-C.
    assert not (other / "pretrain").exists()
    shutil.copytree(chief / "pretrain", other / "pretrain")
    before = _folder_state(other)
    processes = cluster.start("pretrain", "--resume", "--epochs", "100000")
    meta = chief / "pretrain" / "checkpoint.json"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and json.loads(meta.read_text())["step"] <= first[0]["steps"]:
            if any(p.poll() is not None for p in processes):
                break  # a worker ended early: its exit code and error are reported below
            time.sleep(0.2)  # a checkpoint at every pass: the resumed run is training
        processes[1].send_signal(signal.SIGTERM)  # `kill`, as a cluster manager stops a machine
    finally:
        results = cluster.finish(processes, timeout=120)
    assert [code for code, _, _ in results] == [130, 130], [err[-1500:] for _, _, err in results]
    assert _folder_state(other) == before
    stopped_at = json.loads(meta.read_text())["step"]
    assert stopped_at > first[0]["steps"]
    log = [json.loads(line) for line in (chief / "pretrain" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1  # the interrupted run is saved as a checkpoint, not logged as finished

    # 3. Fine-tuning from the pretrained encoder: the same classifier on both workers, saved by the chief.
    shutil.copy2(chief / "pretrain" / "encoder.keras", other / "pretrain" / "encoder.keras")
    before = _folder_state(other)
    tuned = cluster.run("finetune")
    assert tuned[0]["weights_digest"] == tuned[1]["weights_digest"]
    assert tuned[0]["val_accuracy"] == tuned[1]["val_accuracy"]
    assert tuned[0]["model"] and Path(tuned[0]["model"]).is_file() and tuned[1]["model"] is None
    assert _folder_state(other) == before


def test_cluster_settings_are_checked_with_a_clear_message(capsys):
    assert cluster_config("10.0.0.1:2222, 10.0.0.2:2222", 1) == {
        "cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}, "task": {"type": "worker", "index": 1}}
    for workers, index, words in (("10.0.0.1", 0, "is not host:port"), ("10.0.0.1:2222", 0, "at least two"),
                                  ("a:1,b:2", 2, "must be 0 to 1")):
        with pytest.raises(ConfigError, match=words):
            cluster_config(workers, index)
    for argv, words in ((["run", "--strategy", "multiworker"], "is for `bertmlm pretrain` and `bertmlm finetune`"),
                        (["pretrain", "--workers", "a:1,b:2"], "--workers is for --strategy multiworker"),
                        (["pretrain", "--strategy", "multiworker", "--workers", "a:1"], "at least two")):
        assert cli.main(argv) == cli.EXIT_USER_ERROR
        assert words in capsys.readouterr().err


def test_tf_config_from_the_environment_is_checked(monkeypatch, capsys):
    for value, words in (("", "needs the cluster"), ("{not json", "TF_CONFIG is invalid"),
                         ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}', "at least two")):
        monkeypatch.setenv("TF_CONFIG", value)
        assert cli.main(["pretrain", "--strategy", "multiworker"]) == cli.EXIT_USER_ERROR
        assert words in capsys.readouterr().err
