"""Stage 1, data: get the IMDB reviews (Maas et al., 2011) and split them without leaks.

Where the reviews come from, in this order:
1. a path given as `data=` (the CLI's `--data`): the official `.tar.gz`, a repack of it, or an
   already extracted `aclImdb` folder;
2. the `BERTMLM_DATA` environment variable, same forms;
3. the official archive, downloaded once into the cache and checked against its published sha256.

Archives are extracted safely (tarfile's `data` filter: no absolute paths, no `..`, no links
leaving the folder), atomically (into a temporary folder, renamed when complete) and once (a
second call reuses the extracted folder; a half-extracted one is detected and redone).

Labels are pos=1, neg=0. The splits are the archive's: train (25k labelled), test (25k
labelled), unsup (50k unlabelled). Validation is carved from train; test is only for the final
evaluation, never for pretraining or model selection.
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
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import remove_abandoned
from .config import Config, cache_root
from .errors import DataError, DownloadError
from .progress import Progress

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
OFFICIAL_SIZE = 84_125_825
DATA_ENV = "BERTMLM_DATA"

# The folders an aclImdb tree must have, and the label each one carries.
SPLIT_FOLDERS = {
    "train": {"pos": 1, "neg": 0},
    "test": {"pos": 1, "neg": 0},
    "unsup": {"unsup": -1},
}
REQUIRED_FOLDERS = ("train/pos", "train/neg", "train/unsup", "test/pos", "test/neg")
LABEL_NAMES = {1: "pos", 0: "neg", -1: "unlabelled"}
_REVIEW_FILE = re.compile(r"^(\d+)_(\d+)\.txt$")
_COMPLETE_MARKER = ".bertmlm-complete.json"


# --------------------------------------------------------------------------------------------
# Reviews in memory
# --------------------------------------------------------------------------------------------


@dataclass
class Split:
    """The reviews of one split, in a fixed shuffled order.

    `labels` holds 1 (pos), 0 (neg) or -1 (unlabelled); `ratings` the star rating from the file
    name (1-10, 0 for unsup); `files` where each review came from, relative to the aclImdb root.
    `had_bad_bytes` marks reviews that had bytes which are not UTF-8 (replaced by U+FFFD).
    """

    name: str
    texts: list[str]
    labels: np.ndarray
    ratings: np.ndarray
    files: list[str]
    had_bad_bytes: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def undecodable(self) -> int:
        """How many reviews had bytes that are not UTF-8 (read anyway, with replacements)."""
        return int(self.had_bad_bytes.sum())

    def counts(self) -> dict:
        """Reviews per label: {'total', 'pos', 'neg'} or {'total', 'unlabelled'}."""
        out = {"total": len(self)}
        for label in sorted(set(self.labels.tolist()), reverse=True):
            out[LABEL_NAMES[label]] = int((self.labels == label).sum())
        return out

    def take(self, indices, name: str | None = None) -> "Split":
        """A new Split holding the reviews at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return Split(
            name=name or self.name,
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            ratings=self.ratings[indices],
            files=[self.files[i] for i in indices],
            had_bad_bytes=self.had_bad_bytes[indices],
        )


@dataclass
class Imdb:
    """The three splits of the archive and where they were read from."""

    train: Split
    test: Split
    unsup: Split
    root: Path

    def __getitem__(self, name: str) -> Split:
        return {"train": self.train, "test": self.test, "unsup": self.unsup}[name]

    @property
    def splits(self) -> dict:
        return {"train": self.train, "test": self.test, "unsup": self.unsup}

    def pretraining_texts(self) -> list[str]:
        """The pretraining corpus: train + unsup reviews, minus any that also occur in test.

        IMDB repeats a few hundred reviews word for word across splits (see `describe`); dropping
        the copies of test reviews keeps every test review unseen until the final evaluation.
        """
        test_texts = set(self.test.texts)
        return [text for text in self.train.texts + self.unsup.texts if text not in test_texts]


# --------------------------------------------------------------------------------------------
# Finding the data: a folder, a local archive, or the official download
# --------------------------------------------------------------------------------------------


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


def _review_files(root: Path, split: str) -> list[tuple[str, int, int]]:
    """(relative path, label, rating) of every review of a split, in a fixed order."""
    parent = "train" if split == "unsup" else split
    found = []
    for sub, label in SPLIT_FOLDERS[split].items():
        entries = []
        for entry in os.scandir(root / parent / sub):
            match = _REVIEW_FILE.match(entry.name)
            if match:
                entries.append((int(match.group(1)), f"{parent}/{sub}/{entry.name}", label, int(match.group(2))))
        entries.sort()
        found.extend((path, label, rating) for _, path, label, rating in entries)
    return found


def balanced_subset(split: "Split", size: int | None, seed: int) -> "Split":
    """A label-balanced random subset of `size` reviews of a split (the split itself if None or too small)."""
    if size is None or size >= len(split):
        return split
    return split.take(balanced_indices(split.labels, size, seed))


def balanced_indices(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Shuffled indices of `n` items with the labels as balanced as they can be (all if n is None).

    Deterministic for a seed; a prefix of the result stays roughly balanced too.
    """
    rng = np.random.default_rng(seed)
    if n is None or n >= len(labels):
        return rng.permutation(len(labels))
    classes = sorted(set(labels.tolist()))
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    quota = {c: n // len(classes) for c in classes}
    for c in classes[: n % len(classes)]:
        quota[c] += 1
    chosen = np.concatenate([per_class[c][: quota[c]] for c in classes])
    return rng.permutation(chosen)


def _read_reviews(root: Path, paths: list[str], bar: Progress) -> tuple[list[str], np.ndarray]:
    """Read review files as UTF-8; undecodable bytes become U+FFFD and the review is flagged."""
    texts, bad_bytes = [], np.zeros(len(paths), dtype=bool)
    for position, path in enumerate(paths):
        raw = (root / path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            bad_bytes[position] = True
        texts.append(text)
        bar.update(1)
    return texts, bad_bytes


def read_split(root: Path, split: str, n: int | None = None, seed: int = 0,
               bar: Progress | None = None) -> Split:
    """Read `n` label-balanced reviews of a split (all if None), decoding UTF-8 with replacement.

    Reading 100,000 small files costs ~20 s cold; so a split read whole from an extracted archive is
    also packed into one file beside it (`_packed_path`), which later reads load in about a second.
    """
    bar = bar or Progress(None, "", enabled=False)
    packed = _read_packed(root, split)
    if packed is not None:
        bar.update(len(packed))
        return packed.take(balanced_indices(packed.labels, n, seed))
    listing = _review_files(root, split)
    if not listing:
        raise DataError(f"{root} has no review files (NNN_R.txt) for the {split} split; the folder is incomplete.")
    labels = np.array([label for _, label, _ in listing], dtype=np.int8)
    indices = balanced_indices(labels, n, seed)
    files = [listing[i][0] for i in indices]
    texts, bad_bytes = _read_reviews(root, files, bar)
    chosen = Split(
        name=split,
        texts=texts,
        labels=labels[indices],
        ratings=np.array([listing[i][2] for i in indices], dtype=np.int8),
        files=files,
        had_bad_bytes=bad_bytes,
    )
    if len(indices) == len(listing):
        _write_packed(root, chosen.take(np.argsort(indices)))  # in listing order, whatever the seed
    return chosen


def extraction_folder(root: str | os.PathLike) -> Path | None:
    """The cache folder an archive was extracted to (`aclImdb-<sha256 prefix>`, finished) if `root` is
    the aclImdb root inside one; None for a folder the user gave."""
    folder = Path(root).resolve().parent
    if folder.name.startswith("aclImdb-") and (folder / _COMPLETE_MARKER).is_file():
        return folder
    return None


def _packed_path(root: Path, split: str) -> Path | None:
    """Where a split's packed copy lives: only beside a finished extraction of an archive (whose folder,
    named by the archive's hash, never changes), never inside a folder the user gave."""
    folder = extraction_folder(root)
    return None if folder is None else folder / f"reviews-{split}.json"


def _write_packed(root: Path, split: Split) -> None:
    from .artifacts import atomic_write_bytes
    from .errors import ArtifactError

    path = _packed_path(root, split.name)
    if path is None:
        return
    record = {"texts": split.texts, "labels": split.labels.tolist(), "ratings": split.ratings.tolist(),
              "files": split.files, "had_bad_bytes": split.had_bad_bytes.tolist()}
    try:
        atomic_write_bytes(path, json.dumps(record, ensure_ascii=False).encode("utf-8"))
    except ArtifactError:  # a full or read-only cache: the files stay the source, only slower
        pass


def _read_packed(root: Path, split: str) -> Split | None:
    path = _packed_path(root, split)
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
        return Split(name=split, texts=record["texts"], labels=np.array(record["labels"], dtype=np.int8),
                     ratings=np.array(record["ratings"], dtype=np.int8), files=record["files"],
                     had_bad_bytes=np.array(record["had_bad_bytes"], dtype=bool))
    except (OSError, ValueError, KeyError, TypeError):  # damaged: read the files again (and pack them again)
        path.unlink(missing_ok=True)
        return None


def load_imdb(data: str | os.PathLike | None = None, cfg: Config | None = None, *,
              train_reviews: int | None = None, test_reviews: int | None = None,
              unsup_reviews: int | None = None, seed: int | None = None,
              cache: str | os.PathLike | None = None, progress: bool = True) -> Imdb:
    """Load the train, test and unsup splits (labels pos=1, neg=0).

    Sizes come from the arguments, else from `cfg` (a preset's label-balanced subsets), else all
    reviews. The same sizes and seed always give the same reviews in the same order.
    """
    sizes = {
        "train": train_reviews if train_reviews is not None else (cfg.train_reviews if cfg else None),
        "test": test_reviews if test_reviews is not None else (cfg.test_reviews if cfg else None),
        "unsup": unsup_reviews if unsup_reviews is not None else (cfg.unsup_reviews if cfg else None),
    }
    seed = seed if seed is not None else (cfg.seed if cfg else 0)
    root = prepare_dataset(data, cache=cache, progress=progress)
    expected = sum(sizes.values()) if None not in sizes.values() else None
    with Progress(expected, "reading reviews", unit="reviews", enabled=progress) as bar:
        splits = {
            name: read_split(root, name, sizes[name], seed=seed + offset, bar=bar)
            for offset, name in enumerate(("train", "test", "unsup"))
        }
    return Imdb(root=root, **splits)


def split_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve a stratified validation split from train: (train_rest, validation).

    Each label gives the same share, so both parts keep train's balance. Test is never touched:
    model selection happens on validation only.
    """
    if not 0 < fraction < 1:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}.")
    rng = np.random.default_rng(seed)
    held_out = []
    for label in sorted(set(train.labels.tolist())):
        members = rng.permutation(np.flatnonzero(train.labels == label))
        held_out.append(members[: max(1, round(len(members) * fraction))])
    validation = np.sort(np.concatenate(held_out))
    keep = np.setdiff1d(np.arange(len(train)), validation)
    return train.take(keep, name="train"), train.take(validation, name="validation")


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def review_lengths(texts: list[str]) -> np.ndarray:
    """Words per review (split on white space, before any cleaning)."""
    return np.array([len(text.split()) for text in texts], dtype=np.int64)


def length_summary(texts: list[str]) -> dict:
    """Mean, median, 90th percentile and max of the words per review."""
    lengths = review_lengths(texts)
    if not len(lengths):
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0}
    return {
        "mean": round(float(lengths.mean()), 1),
        "median": float(np.median(lengths)),
        "p90": round(float(np.percentile(lengths, 90)), 1),
        "max": int(lengths.max()),
    }


def cross_split_duplicates(imdb: Imdb) -> dict:
    """How many reviews of one split appear word for word in another (and repeats within a split)."""
    def fingerprints(split):
        return [hashlib.blake2b(t.encode("utf-8", "replace"), digest_size=16).digest() for t in split.texts]

    prints = {name: fingerprints(split) for name, split in imdb.splits.items()}
    sets = {name: set(values) for name, values in prints.items()}
    out = {f"within_{name}": len(values) - len(sets[name]) for name, values in prints.items()}
    names = list(prints)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            out[f"{a}_and_{b}"] = sum(1 for value in prints[b] if value in sets[a])
    return out


def describe(imdb: Imdb) -> dict:
    """Counts per split and label, length statistics, duplicates and undecodable reviews."""
    return {
        "root": str(imdb.root),
        "splits": {name: split.counts() for name, split in imdb.splits.items()},
        "lengths_in_words": {name: length_summary(split.texts) for name, split in imdb.splits.items()},
        "duplicates": cross_split_duplicates(imdb),
        "undecodable_reviews": {name: split.undecodable for name, split in imdb.splits.items()},
    }


def plot_length_histogram(imdb: Imdb, max_words: int = 1000, ax=None):
    """Histogram of words per review for each split, with the median marked. Returns the axes."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 4))[1]
    bins = np.linspace(0, max_words, 51)
    for name, split in imdb.splits.items():
        lengths = review_lengths(split.texts)
        ax.hist(np.minimum(lengths, max_words), bins=bins, histtype="step", linewidth=1.5,
                density=True, label=f"{name} (median {np.median(lengths):.0f})")
    ax.set_title("How long are IMDB reviews?")
    ax.set_xlabel(f"words per review (longer ones counted at {max_words})")
    ax.set_ylabel("share of reviews (density)")
    ax.legend()
    return ax


def preview(split: Split, n: int = 3, width: int = 200) -> str:
    """The first `n` reviews of a split, one paragraph each with label and rating, cut to `width` chars."""
    blocks = []
    for text, label, rating, file in list(zip(split.texts, split.labels, split.ratings, split.files))[:n]:
        flat = " ".join(text.split())
        shown = flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
        stars = f", {rating}/10" if rating else ""
        blocks.append(f"[{LABEL_NAMES[int(label)]}{stars}] {file}\n{shown}")
    return "\n\n".join(blocks)
