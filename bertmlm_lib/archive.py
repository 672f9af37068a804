"""Getting the IMDB archive onto disk: download, checksum, safe extraction, and the packed cache.

Where the reviews come from, in this order:
1. a path given as `data=` (the CLI's `--data`): the official `.tar.gz`, a repack of it, or an
   already extracted `aclImdb` folder;
2. the `BERTMLM_DATA` environment variable, same forms;
3. the official archive, downloaded once into the cache and checked against its published sha256.

Archives are extracted safely (tarfile's `data` filter: no absolute paths, no `..`, no links
leaving the folder), atomically (into a temporary folder, renamed when complete) and once (a
second call reuses the extracted folder; a half-extracted one is detected and redone). Lesson 01
(`data.py`) reads the reviews from the folder this module returns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from .artifacts import atomic_write_bytes, remove_abandoned
from .config import cache_root
from .errors import ArtifactError, DataError, DownloadError
from .progress import Progress

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
OFFICIAL_SIZE = 84_125_825
DATA_ENV = "BERTMLM_DATA"
# The folders an aclImdb tree must have.
REQUIRED_FOLDERS = ("train/pos", "train/neg", "train/unsup", "test/pos", "test/neg")
_COMPLETE_MARKER = ".bertmlm-complete.json"


def data_cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The folder holding downloaded archives and extracted trees."""
    return Path(cache).expanduser() if cache else cache_root() / "data"


def _sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def find_imdb_root(folder: str | os.PathLike) -> Path:
    """The aclImdb root inside `folder` (the folder itself, or its `aclImdb/` child), checked.

    Raises DataError naming the first missing sub-folder.
    """
    folder = Path(folder)
    candidates = [folder, folder / "aclImdb"]
    for candidate in candidates:
        if all((candidate / sub).is_dir() for sub in REQUIRED_FOLDERS):
            return candidate
    base = folder / "aclImdb" if (folder / "aclImdb").is_dir() else folder
    missing = [sub for sub in REQUIRED_FOLDERS if not (base / sub).is_dir()]
    raise DataError(
        f"{folder} is not an IMDB (aclImdb) folder: it lacks {', '.join(missing)}/. "
        "Point --data (or BERTMLM_DATA) at aclImdb_v1.tar.gz or at the extracted aclImdb folder."
    )


def download_archive(url: str = OFFICIAL_URL, sha256: str | None = OFFICIAL_SHA256,
                     cache: str | os.PathLike | None = None, progress: bool = True,
                     timeout: float = 60) -> Path:
    """Download the archive once into the cache, checking its sha256; return its path.

    The bytes go to a `.part` file that is renamed only after the hash matches, so a broken or
    tampered download never looks complete; a mismatching file is deleted.
    """
    folder = data_cache_dir(cache) / "downloads"
    name = Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1])).name or "archive.tar.gz"
    target = folder / name
    if target.exists() and (sha256 is None or _sha256_of(target) == sha256):
        return target
    _ensure_writable(folder)
    partial = folder / f"{name}.part"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with Progress(total, f"downloading {name}", unit="B", enabled=progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url} ({reason}). Check your connection, or download the archive "
            "yourself and pass it with --data PATH (or set BERTMLM_DATA)."
        ) from exc
    if sha256 is not None and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"the download of {url} has sha256 {digest.hexdigest()}, not the published {sha256}; "
            "the partial file was removed. Try again, or pass a copy you trust with --data PATH."
        )
    os.replace(partial, target)
    return target


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-")
        probe.close()
    except OSError as exc:
        raise DataError(
            f"cannot write to the cache folder {folder} ({exc.strerror or exc}). "
            "Set BERTMLM_CACHE to a writable folder with ~250 MB free."
        ) from exc


def _remove_stale_extractions(folder: Path) -> None:
    """Delete temporary extraction folders whose process is gone (killed mid-extraction)."""
    remove_abandoned(folder, r"\.extract-(\d+)-.*")


def _open_archive(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{archive} is not a readable tar archive ({exc}). Pass the IMDB aclImdb_v1.tar.gz or "
            "the extracted aclImdb folder with --data (or BERTMLM_DATA)."
        ) from exc


def _check_members(tar: tarfile.TarFile, archive: Path, destination: Path) -> list[tarfile.TarInfo]:
    """Read every member header, refusing unsafe ones and a wrong layout before writing anything."""
    try:
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{archive} is truncated or damaged ({exc}); nothing was extracted. "
            "Download it again (delete the file first) or pass an extracted aclImdb folder."
        ) from exc
    for member in members:
        try:
            if os.path.isabs(member.name) or re.match(r"^[A-Za-z]:", member.name):
                # the data filter would quietly make it relative; an archive that asks for it is not ours
                raise tarfile.AbsolutePathError(member)
            tarfile.data_filter(member, str(destination))
        except tarfile.FilterError as exc:
            raise DataError(
                f"{archive} contains an unsafe member {member.name!r} ({exc.__class__.__name__}: it would "
                "write outside the data folder); refused, nothing was extracted. Use the official archive."
            ) from exc
    folders = {m.name.rstrip("/") for m in members if m.isdir()}
    folders |= {str(Path(m.name).parent) for m in members if m.isfile()}
    missing = [sub for sub in REQUIRED_FOLDERS if f"aclImdb/{sub}" not in folders]
    if missing:
        raise DataError(
            f"{archive} is not the IMDB archive: it has no aclImdb/{', aclImdb/'.join(missing)}. "
            "Pass aclImdb_v1.tar.gz (or the extracted aclImdb folder) with --data."
        )
    return members


def extract_archive(archive: str | os.PathLike, cache: str | os.PathLike | None = None,
                    progress: bool = True) -> Path:
    """Extract an aclImdb archive into the cache once, safely and atomically; return the aclImdb root.

    The extracted tree is keyed by the archive's sha256, so two different archives never share a
    folder. A finished extraction leaves a marker file; a folder without it is redone.
    """
    archive = Path(archive)
    folder = data_cache_dir(cache)
    _ensure_writable(folder)
    key = _sha256_of(archive)[:16]
    final = folder / f"aclImdb-{key}"
    if (final / _COMPLETE_MARKER).is_file():
        return final / "aclImdb"
    _remove_stale_extractions(folder)
    with _open_archive(archive) as tar:
        temporary = Path(tempfile.mkdtemp(prefix=f".extract-{os.getpid()}-", dir=folder))
        try:
            members = _check_members(tar, archive, temporary)
            with Progress(len(members), f"extracting {archive.name}", unit="files", enabled=progress) as bar:
                for member in members:
                    tar.extract(member, temporary, filter="data")
                    bar.update(1)
            (temporary / _COMPLETE_MARKER).write_text(
                json.dumps({"archive": str(archive.resolve()), "sha256_prefix": key, "members": len(members)})
            )
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            raise DataError(
                f"{archive} is truncated or damaged ({exc}); nothing was kept. "
                "Download it again (delete the file first) or pass an extracted aclImdb folder."
            ) from exc
        except OSError as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            raise DataError(
                f"extracting {archive} into {folder} failed ({exc.strerror or exc}); nothing was kept. "
                "Free some disk space (~250 MB) or set BERTMLM_CACHE to another folder."
            ) from exc
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    if final.exists():  # half-extracted by an older run, or finished by a concurrent one
        if (final / _COMPLETE_MARKER).is_file():
            shutil.rmtree(temporary, ignore_errors=True)
            return final / "aclImdb"
        shutil.rmtree(final)
    os.replace(temporary, final)
    return final / "aclImdb"


def prepare_dataset(data: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                    progress: bool = True) -> Path:
    """Return a checked aclImdb root from `data`, else `BERTMLM_DATA`, else the official download."""
    source = data if data not in (None, "") else os.environ.get(DATA_ENV) or None
    origin = "--data" if data not in (None, "") else DATA_ENV
    if source is None:
        archive = download_archive(cache=cache, progress=progress)
        return extract_archive(archive, cache=cache, progress=progress)
    path = Path(source).expanduser()
    if path.is_dir():
        return find_imdb_root(path)
    if path.is_file():
        return extract_archive(path, cache=cache, progress=progress)
    raise DataError(
        f"{origin} points to {path}, which does not exist. Give the path of aclImdb_v1.tar.gz or "
        "of the extracted aclImdb folder, or leave it unset to download the official archive."
    )


# --------------------------------------------------------------------------------------------
# Reading reviews
# --------------------------------------------------------------------------------------------



def extraction_folder(root: str | os.PathLike) -> Path | None:
    """The cache folder an archive was extracted to (`aclImdb-<sha256 prefix>`, finished) if `root` is
    the aclImdb root inside one; None for a folder the user gave."""
    folder = Path(root).resolve().parent
    if folder.name.startswith("aclImdb-") and (folder / _COMPLETE_MARKER).is_file():
        return folder
    return None



# --------------------------------------------------------------------------------------------
# The packed cache: a split read whole, kept as one file beside its extraction
# --------------------------------------------------------------------------------------------


def packed_path(root: Path, split: str) -> Path | None:
    """Where a split's packed copy lives: only beside a finished extraction of an archive (whose folder,
    named by the archive's hash, never changes), never inside a folder the user gave."""
    folder = extraction_folder(root)
    return None if folder is None else folder / f"reviews-{split}.json"


def write_packed(root: Path, split: str, record: dict) -> None:
    """Keep a split's columns (`record`: texts, labels, ... as JSON-ready lists) in one file; a full or
    read-only cache only means the review files stay the source, read more slowly."""
    path = packed_path(root, split)
    if path is None:
        return
    try:
        atomic_write_bytes(path, json.dumps(record, ensure_ascii=False).encode("utf-8"))
    except ArtifactError:
        pass


def read_packed(root: Path, split: str) -> dict | None:
    """The packed columns of a split, or None (not packed yet, or damaged: then the file is removed)."""
    path = packed_path(root, split)
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
        if not isinstance(record, dict):
            raise ValueError("not a packed split")
        return record
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None


def cached_arrays_path(root: Path, name: str, key: str) -> Path | None:
    """Where `write_cached_arrays` keeps `name` made under `key`: beside a finished extraction only, as
    `packed_path`; None for a folder the user gave."""
    folder = extraction_folder(root)
    return None if folder is None else folder / f"{name}-{key[:16]}.npz"


def write_cached_arrays(root: Path, name: str, key: str, arrays: dict) -> None:
    """Keep some numpy arrays made from this archive (`name`, e.g. the encoded corpus) beside its
    extraction, under `key` (what they were made with); only the newest `name` is kept. As with the
    packed reviews, a full or read-only cache, or a folder the user gave, only means no copy is kept."""
    import io

    import numpy as np

    path = cached_arrays_path(root, name, key)
    if path is None:
        return
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except ArtifactError:
        return
    for older in path.parent.glob(f"{name}-*.npz"):
        if older != path:
            older.unlink(missing_ok=True)


def read_cached_arrays(root: Path, name: str, key: str) -> dict | None:
    """The arrays `write_cached_arrays` kept under `key`, or None (none kept, or damaged: then removed)."""
    import numpy as np

    path = cached_arrays_path(root, name, key)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {array: stored[array] for array in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zlib.error, zipfile.BadZipFile):
        path.unlink(missing_ok=True)
        return None
