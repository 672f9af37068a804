"""Fixtures for unit tests: tiny aclImdb archives built on the spot, and an isolated cache.

No test downloads anything or reads the shared archive; each builds the few reviews it needs.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

BINDER_INSTALL = pytest.StashKey()

POSITIVE = [
    "A wonderful film, the acting was superb and the story moving.",
    "I loved this movie<br /><br />Great cast, great music!",
    "One of the best films I have seen this year. Brilliant.",
    "Beautiful and funny; I would watch it again.",
    "An excellent, heartfelt movie with a [MASK]-free ending.",
    "Superb direction and a great script.",
]
NEGATIVE = [
    "A terrible film, boring and far too long.",
    "I hated this movie. The plot made no sense at all.",
    "Awful acting, awful script, awful everything.",
    "The worst movie of the year; a waste of time.",
    "Dull and predictable.<br />Avoid it.",
    "Bad. Just bad. I want my two hours back.",
]
UNSUPERVISED = [f"An unlabelled review number {i} about a film and its actors." for i in range(10)]


def imdb_members(test_copy_in_unsup: bool = True) -> dict[str, bytes]:
    """Relative path -> bytes of a tiny but complete aclImdb tree (labels from the folder names)."""
    files: dict[str, bytes] = {"aclImdb/README": b"tiny test copy\n", "aclImdb/imdb.vocab": b"the\nfilm\n"}
    for split, offset in (("train", 0), ("test", 100)):
        for i, text in enumerate(POSITIVE):
            files[f"aclImdb/{split}/pos/{offset + i}_{7 + i % 4}.txt"] = f"{split} {text}".encode()
        for i, text in enumerate(NEGATIVE):
            files[f"aclImdb/{split}/neg/{offset + i}_{1 + i % 4}.txt"] = f"{split} {text}".encode()
    for i, text in enumerate(UNSUPERVISED):
        files[f"aclImdb/train/unsup/{i}_0.txt"] = text.encode()
    # One review with bytes that are not UTF-8 (Latin-1 "é"), as a damaged file would have.
    files["aclImdb/train/unsup/10_0.txt"] = "Caf\xe9 scenes, a film with charm.".encode("latin-1")
    if test_copy_in_unsup:  # IMDB repeats some test reviews in unsup; the corpus must drop them
        files["aclImdb/train/unsup/11_0.txt"] = f"test {NEGATIVE[0]}".encode()
    return files


def python_lines(script: str) -> list[str]:
    """Run `script` in a fresh Python process (nothing imported yet) and return its output lines; a failure
    fails the test with the end of its traceback."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    return done.stdout.strip().splitlines()


def write_tree(folder: Path, members: dict[str, bytes]) -> Path:
    for name, payload in members.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    return folder / "aclImdb"


def write_archive(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> Path:
    """A .tar.gz with the given files (folders implied) plus any hand-made `extra` members."""
    with tarfile.open(path, "w:gz") as tar:
        folders = sorted({str(Path(name).parent) for name in members} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Each test gets its own cache and artifacts, and no data source from the environment."""
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BERTMLM_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("BERTMLM_DATA", raising=False)
    monkeypatch.delenv("BERTMLM_PRESET", raising=False)
    yield


@pytest.fixture
def tiny_archive(tmp_path) -> Path:
    return write_archive(tmp_path / "aclImdb_v1.tar.gz", imdb_members())


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    return write_tree(tmp_path / "extracted", imdb_members())


BINDER_INSTALL_TEST = "tests/test_binder.py::test_binder_install_works_in_a_fresh_venv"


def pytest_collection_modifyitems(session, config, items):
    """The Binder install (a fresh venv, a minute or two of pip) starts in the background as soon as
    its test is collected, and the test moves to the end, where it checks what the install found:
    the suite does not wait for pip."""
    binder = [item for item in items if item.nodeid == BINDER_INSTALL_TEST]
    if binder:
        from binder_install import BackgroundInstall

        items.remove(binder[0])
        items.append(binder[0])
        config.stash[BINDER_INSTALL] = BackgroundInstall()


def pytest_unconfigure(config):
    install = config.stash.get(BINDER_INSTALL, None)
    if install is not None:
        install.close()


@pytest.fixture
def binder_install(request) -> dict:
    """What the background Binder install found (it raises the install's own error if a step failed)."""
    install = request.config.stash.get(BINDER_INSTALL, None)
    if install is None:  # run without collection (e.g. by name from another tool): install now
        from binder_install import BackgroundInstall

        install = request.config.stash[BINDER_INSTALL] = BackgroundInstall()
    return install.result()
