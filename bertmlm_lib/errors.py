"""Errors a user can cause. Each message names the problem and the fix in one line.

The CLI prints `error: <message>` and exits non-zero for these; anything else is a bug and
keeps its traceback.
"""


class BertmlmError(Exception):
    """Base class for every error a learner can cause (a path, a text, an artifact)."""


class ConfigError(BertmlmError, ValueError):
    """An unknown preset, an unknown override or a value out of range."""


class DataError(BertmlmError):
    """The IMDB archive or folder is missing, damaged, or not laid out like aclImdb."""


class DownloadError(DataError):
    """The official archive could not be fetched or did not match its published checksum."""


class ArtifactError(BertmlmError):
    """An artifacts folder is missing a stage's output, or it was made with another config."""


class TextError(BertmlmError, ValueError):
    """A text given to a model is empty or lacks something the call needs (e.g. `[mask]`)."""


def checked_texts(texts, hint: str) -> list[str]:
    """One text or many -> a list of non-blank strings; otherwise TextError, whose message ends with `hint`."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise TextError(f"no text given: {hint}")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise TextError(f"text {text!r} is empty: {hint}")
    return texts
