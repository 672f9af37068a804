"""Every library name the prose mentions exists: a lesson, the README or a page of docs/ that names
`module.function` or a file of the library names something a learner can find.

Names are read from backticked spans of the lessons' markdown cells, the README, docs/*.md and the
library's docstrings: `finetune.Recipe`, `stages.pretrained_encoder(...)`, `tools/runner.py`.
"""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "bertmlm_lib"
MODULES = {".".join(path.relative_to(LIBRARY).with_suffix("").parts): path
           for path in LIBRARY.rglob("*.py") if path.name != "__init__.py"}
SHORT = {}  # what prose calls a module: its last part ("finetune") or its path from tools ("measure.cloze")
for name in sorted(MODULES, key=lambda name: (name.count("."), name)):
    parts = name.split(".")
    for start in range(len(parts)):
        SHORT.setdefault(".".join(parts[start:]), name)
SPAN = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"^(?:bertmlm_lib\.)?([a-z_]+(?:\.[a-z_]+)*)\.([A-Za-z_][A-Za-z0-9_]*)(?:\(.*\))?$")
FILE = re.compile(r"^(?:bertmlm_lib/)?((?:[a-z_]+/)*[a-z_0-9]+\.(py|md|json|png|keras|bertmlm|txt|yml|toml))$")
# Where prose means a variable that shares a module's name: a Keras model's methods, a Cloze's model.
VARIABLES = {("model", "save"), ("model", "fit"), ("model", "predict"), ("model", "encoder"), ("cloze", "model")}


def _prose() -> dict[str, str]:
    texts = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for lesson in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        markdown = [line[2:] for line in lesson.read_text(encoding="utf-8").splitlines() if line.startswith("# ")]
        texts[lesson.relative_to(ROOT).as_posix()] = "\n".join(markdown)
    for path in sorted(LIBRARY.rglob("*.py")):
        module = path.read_text(encoding="utf-8")
        texts[path.relative_to(ROOT).as_posix()] = "\n".join(re.findall(r'"""(.*?)"""', module, flags=re.S))
    return texts


def mentions(text: str) -> tuple[set[tuple[str, str]], set[str]]:
    """(`module.name` pairs, library file paths) named in backticks in `text`, modules as importable names.

    >>> sorted(mentions("call `finetune.finetune(...)`, see `tools/runner.py` and `numpy.array`")[0])
    [('finetune', 'finetune')]
    """
    names, files = set(), set()
    for span in SPAN.findall(text):
        span = span.strip()
        dotted, file = DOTTED.match(span), FILE.match(span)
        if file:
            if file.group(2) == "py":  # data files are named by what writes them, not checked here
                files.add(file.group(1))
        elif dotted and dotted.group(1) in SHORT and (dotted.group(1), dotted.group(2)) not in VARIABLES:
            names.add((SHORT[dotted.group(1)], dotted.group(2)))
    return names, files


@pytest.mark.parametrize("source", sorted(_prose()))
def test_every_library_name_the_prose_mentions_exists(source):
    names, files = mentions(_prose()[source])
    missing = []
    for module, name in sorted(names):
        found = importlib.import_module(f"bertmlm_lib.{module}")
        if not hasattr(found, name) and f"{module}.{name}" not in MODULES:
            missing.append(f"{module}.{name}")
    for file in sorted(files):
        candidates = [LIBRARY / file, LIBRARY / "tools" / file, ROOT / file]
        if not any(path.is_file() for path in candidates) and not any(str(p).endswith("/" + file) for p in MODULES.values()):
            missing.append(file)
    assert not missing, f"{source} names what the library does not have: {missing}"


def test_the_check_sees_a_stale_name():
    names, files = mentions("use `finetune.classifier_for(...)` and `stages.instructor_model()` from `gone.py`; `model.fit`")
    assert ("finetune", "classifier_for") in names and "gone.py" in files and ("model", "fit") not in names
    import bertmlm_lib.finetune as finetune

    assert not hasattr(finetune, "classifier_for")
