"""A full disk, for real: a 64 KB tmpfs. Writes fail with a message that says so, and nothing is lost
or left half-written. Mounting needs root (as on CI); elsewhere these tests are skipped, saying why."""

import os
import subprocess
import uuid

import pytest

from bertmlm_lib import archive
from bertmlm_lib.tools import cli
from bertmlm_lib.artifacts import write_json
from bertmlm_lib.errors import ArtifactError, DataError


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 64 KB filesystem, unmounted afterwards."""
    mount_point = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_artifact_write_on_a_full_disk_keeps_the_previous_version(full_disk):
    path = full_disk / "report.json"
    write_json(path, {"version": 1})
    with pytest.raises(ArtifactError, match="No space left on device.*previous version, if any, is intact"):
        write_json(path, {"version": 2, "payload": "x" * 200_000})
    assert path.read_text().split() == ["{", '"version":', "1", "}"]
    assert sorted(p.name for p in full_disk.iterdir()) == ["report.json"]  # no temporary file left behind


def test_extraction_into_a_full_cache_is_refused_and_leaves_nothing(full_disk, tiny_archive, monkeypatch, capsys):
    monkeypatch.setenv("BERTMLM_CACHE", str(full_disk / "cache"))
    with pytest.raises(DataError, match="No space left on device.*nothing was kept.*BERTMLM_CACHE"):
        archive.prepare_dataset(tiny_archive, progress=False)
    assert [p for p in (full_disk / "cache").rglob("*") if p.is_file()] == []
    assert cli.main(["data", "--data", str(tiny_archive), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "BERTMLM_CACHE" in err[0]
    assert os.path.ismount(full_disk)
