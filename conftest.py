"""Test session set-up shared by unit tests and notebook runs (nbval).

Notebooks run in the smoke preset, read the shared IMDB archive when it sits beside the repository
(`../shared/data/aclImdb_v1.tar.gz`, as on CI), and keep their cache and artifacts under `build/`
so a test run never touches the user's own cache. Values already set in the environment win.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"

os.environ.setdefault("BERTMLM_PRESET", "smoke")
os.environ.setdefault("BERTMLM_CACHE", str(ROOT / "build" / "cache"))
os.environ.setdefault("BERTMLM_ARTIFACTS", str(ROOT / "build" / "artifacts-smoke"))
os.environ.setdefault("MPLBACKEND", "Agg")
if SHARED_ARCHIVE.is_file():
    os.environ.setdefault("BERTMLM_DATA", str(SHARED_ARCHIVE))
