"""Stage 1, data: the IMDB reviews (Maas et al., 2011) in memory, split without leaks.

`load_imdb` reads the reviews from the folder `archive.prepare_dataset` finds or extracts (a path
given as `data=`, else `BERTMLM_DATA`, else the official archive, downloaded once and checked).

Labels are pos=1, neg=0. The splits are the archive's: train (25k labelled), test (25k
labelled), unsup (50k unlabelled). Validation is carved from train; test is only for the final
evaluation, never for pretraining or model selection.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .archive import prepare_dataset, read_packed, write_packed
from .config import Config
from .errors import DataError
from .progress import Progress

# The folders of an aclImdb tree holding each split, and the label each one carries.
SPLIT_FOLDERS = {
    "train": {"pos": 1, "neg": 0},
    "test": {"pos": 1, "neg": 0},
    "unsup": {"unsup": -1},
}
LABEL_NAMES = {1: "pos", 0: "neg", -1: "unlabelled"}
_REVIEW_FILE = re.compile(r"^(\d+)_(\d+)\.txt$")


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
    also packed into one file beside it (`archive.packed_path`), which later reads load in about a second.
    `bar` advances by the reviews kept, whether they come from the files or the packed copy.
    """
    bar = bar or Progress(None, "", enabled=False)
    if n == 0:  # nothing to read: not even the packed copy (the unlabelled one alone is ~65 MB of text)
        empty = np.zeros(0, dtype=np.int8)
        return Split(name=split, texts=[], labels=empty, ratings=empty.copy(), files=[],
                     had_bad_bytes=np.zeros(0, dtype=bool))
    packed = _read_packed(root, split)
    if packed is not None:
        chosen = packed.take(balanced_indices(packed.labels, n, seed))
        bar.update(len(chosen))
        return chosen
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


def _write_packed(root: Path, split: Split) -> None:
    write_packed(root, split.name, {"texts": split.texts, "labels": split.labels.tolist(),
                                    "ratings": split.ratings.tolist(), "files": split.files,
                                    "had_bad_bytes": split.had_bad_bytes.tolist()})


def _read_packed(root: Path, split: str) -> Split | None:
    record = read_packed(root, split)
    if record is None:
        return None
    try:
        return Split(name=split, texts=record["texts"], labels=np.array(record["labels"], dtype=np.int8),
                     ratings=np.array(record["ratings"], dtype=np.int8), files=record["files"],
                     had_bad_bytes=np.array(record["had_bad_bytes"], dtype=bool))
    except (KeyError, TypeError, ValueError):  # an older or damaged record: read the files again
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
