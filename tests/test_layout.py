"""The library's layout, kept so: no import circles, and each module imports only what stands below it.

Imports are read from the source (AST), the ones inside functions included, so a lazy import
cannot hide a circle. Each module has a floor; a module imports only modules on lower floors
(modules of the ground floor may import each other, without circles). The lessons stand in the
order a learner meets them, each with the helpers it needs just below it.
"""

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parent.parent / "bertmlm_lib"
NOTEBOOKS = LIBRARY.parent / "notebooks"

# Bottom to top. The ground floor holds what every stage uses and what knows no lesson.
FLOORS = [
    ("__init__", "errors", "config", "backend", "progress", "artifacts", "archive", "schedules", "band",
     "baselines", "widgets", "widgets.html", "widgets.fill_mask", "widgets.cloze", "experiments"),
    ("data",),  # lesson 01
    ("vectorize",),  # lesson 02
    ("subwords",),  # lesson 02's WordPiece (keras-hub)
    ("vocabularies",),  # the vocabulary a config names: words or pieces
    ("masking",),  # lesson 03
    ("widgets.masking_explorer",),
    ("model",),  # lesson 04
    ("diagram", "hub"),  # lesson 04's picture of the model, and the same model from keras-hub's layers
    ("widgets.sentiment",),  # draws attention maps of a model
    ("checkpoints",),  # trained models on disk: what fill-mask, pretraining and fine-tuning load
    ("instructor",),  # the shipped instructor's checkpoint, unpacked and loaded
    ("fill_mask",),  # lesson 05, asking a model; pretraining shows it live, so it stands below
    ("callbacks",),
    ("pretrain",),  # lesson 05
    ("representations",),  # lesson 05: what pretraining put into the vectors
    ("widgets.time_lapse",),  # lesson 05: what the MLM knew at each moment of its run
    ("classifier",),  # lesson 06's model
    ("finetune",),  # lesson 06
    ("cloze",),  # lesson 06: the MLM asked itself (shrinks word vectors as the classifier does)
    ("end_to_end",),  # lesson 07
    ("evaluate",),  # lesson 07
    ("stages",),  # raw data -> each stage's artifacts
    ("experiments.label_efficiency", "experiments.quality"),  # shipped results, read and drawn
    ("experiments.tokenizers", "experiments.cloze"),
    # The tools: what runs the book headless (`bertmlm`), never imported by the book or a lesson.
    ("tools", "tools.distribute", "tools.export", "tools.measure", "tools.measure.named_words", "tools.measure.lessons",
     "tools.measure.bench", "tools.measure.tables", "tools.measure.screenshots"),
    ("tools.runner", "tools.measure.quality", "tools.measure.label_efficiency", "tools.measure.windows",
     "tools.measure.band", "tools.measure.sourced"),
    ("tools.measure.tokenizers", "tools.measure.cloze", "tools.measure.why_finetuning"),
    ("tools.report",),
    ("tools.pipeline",),
    ("tools.runs",),
    ("tools.cli",),
]
TOOLS = {module for module in (m for floor in FLOORS for m in floor) if module.split(".")[0] == "tools"}
FLOOR = {module: level for level, modules in enumerate(FLOORS) for module in modules}
# What a lesson notebook may import: its lesson's modules and those of earlier lessons, `stages` for its
# set-up, `config`, the measured experiments it shows; never the plumbing (files, runners, the CLI).
NOTEBOOK_LESSON = {"01": "data", "02": "subwords", "03": "widgets.masking_explorer", "04": "diagram",
                   "05": "widgets.time_lapse", "06": "cloze", "07": "evaluate", "08": "evaluate",
                   "09": "representations", "10": "evaluate", "11": "evaluate"}
NOT_FOR_NOTEBOOKS = {"artifacts", "archive", "callbacks"} | TOOLS


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports(path: Path, package: list[str]) -> set[str]:
    """Library modules `path` imports (anywhere in the file), as names relative to `bertmlm_lib`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
            elif node.module and node.module.split(".")[0] == "bertmlm_lib":
                base = []
            else:
                continue
            stem = base + (node.module.split(".") if node.module else [])
            if stem and stem[0] == "bertmlm_lib":
                stem = stem[1:]
            for alias in node.names:  # `from . import data` names a module; `from .data import x` a name in one
                candidate = ".".join(stem + [alias.name])
                found.add(candidate if _exists(candidate) else ".".join(stem))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bertmlm_lib."):
                    found.add(alias.name[len("bertmlm_lib."):])
    return {name or "__init__" for name in found}


def _exists(module: str) -> bool:
    path = LIBRARY.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        name = _module_name(path)
        package = ["bertmlm_lib", *path.relative_to(LIBRARY).parent.parts]  # what a relative import starts from
        graph[name] = _imports(path, package) - {name}
    return graph


def test_every_module_has_a_floor():
    unplaced = sorted(set(_graph()) - set(FLOOR))
    assert not unplaced, f"place these modules in tests/test_layout.py FLOORS: {unplaced}"


def test_no_import_circles():
    graph = _graph()
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_each_module_imports_only_what_stands_below_it():
    wrong = [f"{module} (floor {FLOOR[module]}) imports {other} (floor {FLOOR[other]})"
             for module, imported in _graph().items() for other in imported
             if module in FLOOR and other in FLOOR and FLOOR[other] >= FLOOR[module] and FLOOR[module] > 0]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")), ids=lambda p: p.stem)
def test_a_lesson_imports_its_lesson_and_earlier_ones_plus_stages(notebook):
    lesson_floor = FLOOR[NOTEBOOK_LESSON[notebook.name[:2]]]
    imported = _imports(notebook, ["bertmlm_lib"])
    wrong = sorted(name for name in imported
                   if name in NOT_FOR_NOTEBOOKS
                   or (name in FLOOR and FLOOR[name] > lesson_floor and name != "stages"
                       and not name.startswith("experiments")))
    assert not wrong, f"{notebook.name} imports {wrong}: a lesson uses its own modules and `stages` for set-up"


def test_the_book_never_imports_the_tools():
    wrong = sorted(f"{module} imports {other}" for module, imported in _graph().items() if module not in TOOLS
                   for other in imported if other in TOOLS)
    assert not wrong, "the book (bertmlm_lib outside tools/) imports the tools: " + "; ".join(wrong)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")), ids=lambda p: p.stem)
def test_a_notebook_imports_only_the_book(notebook):
    wrong = sorted(name for name in _imports(notebook, ["bertmlm_lib"]) if name.split(".")[0] == "tools")
    assert not wrong, f"{notebook.name} imports the tools {wrong}: a lesson imports only the book"


def test_the_layout_test_sees_a_circle(tmp_path, monkeypatch):
    """The checks above can fail: a lazy import back up the floors is caught."""
    fake = tmp_path / "bertmlm_lib"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data.py").write_text("def f():\n    from .model import build\n")
    (fake / "model.py").write_text("from .data import load\n")
    monkeypatch.setattr(__import__(__name__), "LIBRARY", fake)
    graph = _graph()
    assert graph["data"] == {"model"} and graph["model"] == {"data"}
    with pytest.raises(AssertionError, match="import circles: data -> model -> data"):
        test_no_import_circles()
    with pytest.raises(AssertionError, match="data .floor 1. imports model"):
        test_each_module_imports_only_what_stands_below_it()
