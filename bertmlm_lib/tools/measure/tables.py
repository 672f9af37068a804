"""The tables of docs/measurements.md that no study writes itself, each printed from a shipped JSON.

`TABLES` maps a table's name, as its `<!-- table:NAME -->` marker gives it, to the function that prints
it from the files under a repository root; `sourced.fill` puts each one after its marker. The studies
that print their own tables (`STUDY_TABLES`) keep doing so with their own commands.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...experiments.quality import WORKSHOP_RECIPE, plateau_exit_step

MEASURED = "bertmlm_lib/experiments/measured"
PROCESSES = {"data + vectorize": "data + vocabulary", "pretrain": "pretraining", "finetune": "fine-tuning",
             "evaluate": "evaluation"}  # what the runs table calls a stage's process
RUNS = {"workshop": "docs/workshop-run/report.json", "full": "docs/full-run/report.json"}
# The tables a study prints with its own command (which imports the study, so Keras): name -> the command.
STUDY_TABLES = {"windows": "python -m bertmlm_lib.tools.measure.windows --docs",
                "band": "python -m bertmlm_lib.tools.measure.band --runs <the shipped band> --out <it>",
                **{name: "python -m bertmlm_lib.tools.measure.cloze figures"
                   for name in ("cloze", "cloze-calibrated", "turns")}}


def _json(root, path: str) -> dict:
    return json.loads((Path(root) / path).read_text(encoding="utf-8"))


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table.

    >>> print(_markdown(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(row) + " |" for row in rows])


def spread(mean: float, sd: float | None, n: int = 2, spec: str = ".3f") -> str:
    """A mean and its standard deviation over seeds, as the docs write them (one seed: the value alone).

    >>> spread(0.7656, 0.0305), spread(0.2446, 0.0054, spec=".1%"), spread(0.25, 0.0, n=1, spec=".1%")
    ('0.766 +- 0.030', '24.5 +- 0.5%', '25.0%')
    """
    if n < 2 or sd is None:
        return format(mean, spec)
    if spec.endswith("%"):
        digits = spec[1:-1]
        return f"{100 * mean:.{digits}f} +- {100 * sd:.{digits}f}%"
    return f"{format(mean, spec)} +- {format(sd, spec)}"


# Time-to-quality reports (`bertmlm bench --quality`): one row per candidate, the columns a table asks for.

def _summary_cell(value: dict | None, spec: str = ".1%") -> str:
    return "-" if not value else spread(value["mean"], value["sd"], value["n"], spec)


def _exit(entry: dict) -> str:
    summary = entry["summary"]
    exits = [plateau_exit_step(run["curve"]) for run in entry["seeds"].values()]
    if all(step is None for step in exits):
        return "never"
    text = _summary_cell(summary["plateau_exit_step"], ",.0f")
    if summary["seeds"] > 1:
        text += " (" + ", ".join("never" if step is None else f"{step:,}" for step in exits) + ")"
    return text


def _at(kind: str, point: int):
    def cell(entry: dict) -> str:
        value = entry["summary"][kind].get(str(point))
        text = _summary_cell(value)
        if value and value["n"] < entry["summary"]["seeds"]:
            text += f" ({value['n']} of {entry['summary']['seeds']} seeds got there)"
        return text
    return cell


def _seeds_mean(field: str, spec: str):
    def cell(entry: dict) -> str:
        runs = list(entry["seeds"].values())
        return format(sum(run[field] for run in runs) / len(runs), spec)
    return cell


COLUMNS = {
    "seeds": ("seeds", lambda entry: str(entry["summary"]["seeds"])),
    "steps": ("steps, each seed", lambda entry: " / ".join(f"{run['steps']:,}" for run in entry["seeds"].values())),
    "exit": ("plateau exit (step)", _exit),
    "final": ("at the end", lambda entry: _summary_cell(entry["summary"]["final_accuracy"])),
    "shared": ("at the end, in the 8,000-word vocabulary",
               lambda entry: _summary_cell(entry["summary"].get("all_words_accuracy_8000"))),
    "common": ("at the end, on words both vocabularies know",
               lambda entry: _summary_cell(entry["summary"].get("common_words_accuracy_8000"))),
    "named": ("named words", lambda entry: _summary_cell(entry["summary"].get("named_words"))),
    "unknown": ("hidden words that are `[UNK]`",
                lambda entry: format(next(iter(entry["seeds"].values()))["named_words"]["unknown_share"], ".2%")),
    "speed": ("steps/s", lambda entry: _summary_cell(entry["summary"]["steps_per_second"], ".1f")),
    "seconds": ("training s", _seeds_mean("training_seconds", ".0f")),
}


def quality_table(report: dict, columns: list, names: list[str] | None = None) -> str:
    """A time-to-quality report as a markdown table: one row per candidate (`names`, default all, in the
    file's order), the presets' recipe in bold. A column is a `COLUMNS` name, "last step" (the final score
    of a run of fixed steps), ("step", N) or ("seconds", N) for the held-out masked accuracy at that step or
    training second, or (title, function of the entry)."""
    picked = []
    for column in columns:
        if column == "last step":  # the final score, titled with the step the protocol stops at
            picked.append((f"at step {report['protocol']['steps']:,}", COLUMNS["final"][1]))
        elif isinstance(column, str):
            picked.append(COLUMNS[column])
        elif column[0] in ("step", "seconds"):
            title = f"at step {column[1]:,}" if column[0] == "step" else f"at {column[1]} s"
            picked.append((title, _at("accuracy_at_step" if column[0] == "step" else "accuracy_at_seconds", column[1])))
        else:
            picked.append(column)
    rows = []
    for name in names or list(report["candidates"]):
        entry = report["candidates"][name]
        label = f"**{entry['label']}** (the presets' recipe)" if name == WORKSHOP_RECIPE else entry["label"]
        rows.append([label] + [cell(entry) for _, cell in picked])
    return _markdown(["recipe"] + [title for title, _ in picked], rows)


def _quality(name: str, columns: list, names: list[str] | None = None):
    return lambda root: quality_table(_json(root, f"{MEASURED}/{name}"), columns, names)


# Downstream: encoders fine-tuned and probed with the fair protocol.

def downstream_table(measured: dict) -> str:
    """`downstream.json` (the instructor run's snapshots at 1,000 labels) as a markdown table."""
    seeds = measured["protocol"]["seeds"]
    rows = []
    for name, run in measured["runs"].items():
        masked = "-" if name == "random" else format(run["heldout_masked_accuracy"], ".1%")
        label = "random (no pretraining)" if name == "random" else f"after {run['pretraining_minutes']:g} minutes"
        rows.append([label, masked, spread(run["test_accuracy"], run["test_accuracy_std"], seeds),
                     spread(run["probe"], run["probe_std"], seeds)])
    rows.append(["TF-IDF + logistic regression, same labels", "-",
                 spread(measured["tfidf"], measured["tfidf_std"], seeds), "-"])
    return _markdown(["encoder", "held-out masked accuracy", f"fine-tuned, {measured['labels']:,} labels",
                      "linear probe"], rows)


def all_labels_table(measured: dict) -> str:
    """`all_labels.json` (the instructor encoder and a random one, every labelled review) as a markdown table."""
    rows = []
    for arm, label in (("random", "random"), ("instructor", "the shipped instructor model")):
        summary, runs = measured["summary"][arm], list(measured["runs"][arm].values())
        each = " / ".join(f"{run['test_accuracy']:.4f}" for run in runs)
        auc = sum(run["auc"] for run in runs) / len(runs)
        rows.append([label, f"{summary['mean']:.4f} +- {summary['sd']:.4f} ({each})", f"{auc:.3f}"])
    rows.append(["TF-IDF bigrams + logistic regression", f"{measured['tfidf_bigrams_all_labels']:.4f}", "-"])
    return _markdown(["encoder", f"test accuracy, {measured['protocol']['test_reviews']:,} reviews "
                                 f"({len(measured['protocol']['seeds'])} seeds)", "ROC AUC"], rows)


def label_efficiency_table(measured: dict) -> str:
    """`label_efficiency.json` (the fair label-efficiency curve) as a markdown table."""
    seeds = measured["protocol"]["seeds"]
    arms = ("pretrained", "scratch", "probe_pretrained", "probe_scratch", "tfidf")
    rows = [[f"{row['labels']:,}"] + [spread(row[arm], row[f"{arm}_std"], seeds) for arm in arms]
            for row in measured["rows"]]
    return _markdown(["labelled reviews", "pretrained, fine-tuned", "random, fine-tuned", "pretrained, linear probe",
                      "random, linear probe", "TF-IDF + LR"], rows)


def tokenizers_table(measured: dict) -> str:
    """A words-or-pieces study (`tokenizers.json`, scored on test reviews, or `tokenizers_validation.json`,
    on held-out train reviews): each recipe fine-tuned and probed at 1,000 labels, as a markdown table."""
    seeds = measured["protocol"]["seeds"]
    rows = []
    for name, run in measured["recipes"].items():
        label = run.get("label", f"random encoder, {'pieces' if 'wordpiece' in name else 'words'}")
        unit = "pieces" if "wordpiece" in name else "words"
        steps = f"{run['pretraining_steps']:,}" if "pretraining_steps" in run else "-"
        masked = f"{run['heldout_masked_accuracy']:.1%} of {unit}" if "heldout_masked_accuracy" in run else "-"
        rows.append([label, steps, masked, spread(run["test_accuracy"], run["test_accuracy_std"], seeds),
                     spread(run["probe"], run["probe_std"], seeds)])
    rows.append(["TF-IDF + LR", "-", "-", spread(measured["tfidf"], measured["tfidf_std"], seeds), "-"])
    scored = "validation" if measured.get("scored_on") == "validation" else "test"
    return _markdown(["recipe", "pretraining steps", "held-out masked", f"fine-tuned, {measured['labels']:,} labels ({scored})",
                      f"linear probe ({scored})"], rows)


# `bertmlm run`: the two shipped runs side by side.

def runs_table(reports: dict[str, dict]) -> str:
    """The shipped `bertmlm run` reports (name -> report.json) side by side, one column per preset."""
    def each(cell):
        return [cell(report) for report in reports.values()]

    def curve(report, labels, arm):
        row = next((r for r in report["label_efficiency"] if r["labels"] == labels), None)
        return "-" if row is None else " / ".join(format(row[name], ".3f") for name in arm)

    stages = ("data", "vectorize", "pretrain", "finetune", "evaluate")
    processes = next(iter(reports.values()))["peak_rss_mb_of_stage"]
    rows = [
        ["finished", *each(lambda r: r["finished_at"][:10])],
        ["wall time", *each(lambda r: f"{r['timings_s']['total']:,.0f} s")],
        ["data / vocabulary / pretraining / fine-tuning / evaluation",
         *each(lambda r: " / ".join(f"{r['timings_s'][stage]:,.0f}" for stage in stages) + " s")],
        ["peak memory of a stage's process", *each(lambda r: f"{r['peak_rss_mb']:,.0f} MB")],
        ["... per process: " + " / ".join(PROCESSES.get(name, name) for name in processes),
         *each(lambda r: " / ".join(f"{r['peak_rss_mb_of_stage'][name]:,.0f}" for name in processes) + " MB")],
        ["pretraining steps", *each(lambda r: f"{r['mlm']['steps']:,}")],
        ["held-out masked accuracy (perplexity)",
         *each(lambda r: f"{r['mlm']['masked_accuracy']:.1%} ({r['mlm']['perplexity']:.1f})")],
        ["... at step 800 / 1,800", *each(lambda r: " / ".join(f"{r['mlm']['masked_accuracy_at_step'][step]:.1%}"
                                                               for step in ("800", "1800")))],
        [f"\"{next(iter(reports.values()))['fill_mask_probe'][0]['text']}\"",
         *each(lambda r: ", ".join(r["fill_mask_probe"][0]["top"]))],
        ["test accuracy, all labels (ROC AUC)",
         *each(lambda r: f"{r['classifier']['test_accuracy']:.4f} ({r['classifier']['auc']:.3f})")],
        ["TF-IDF bigrams + LR, all labels", *each(lambda r: f"{r['baselines']['tfidf_lr']:.4f}")],
        ["label-efficiency seeds, tokens read", *each(lambda r: "{seeds}, {classifier_length}".format(
            **r["label_efficiency_protocol"]))],
    ]
    sizes = sorted({row["labels"] for report in reports.values() for row in report["label_efficiency"]})
    for labels in sizes:
        rows.append([f"{labels:,} labels, fine-tuned: pretrained / random / TF-IDF",
                     *each(lambda r: curve(r, labels, ("pretrained", "scratch", "tfidf")))])
    for labels in sizes:
        rows.append([f"{labels:,} labels, linear probe: pretrained / random",
                     *each(lambda r: curve(r, labels, ("probe_pretrained", "probe_scratch")))])
    return _markdown(["", *[f"{name} ([report]({Path(path).parent.name}/report.md))" for name, path in RUNS.items()
                            if name in reports]], rows)


TABLES = {
    "runs": lambda root: runs_table({name: _json(root, path) for name, path in RUNS.items()}),
    "quality": _quality("quality.json", ["seeds", "exit", ("step", 500), ("step", 800), ("step", 1000),
                                         "last step", "speed", "seconds"]),
    "quality-finalists": _quality("quality_finalists.json", ["seeds", "exit", ("step", 800), ("step", 1000),
                                                             "last step", ("seconds", 180),
                                                             ("seconds", 240), "speed"]),
    "quality-more-levers": _quality("quality_more_levers.json", ["seeds", "exit", ("step", 1000),
                                                                 "last step", "shared"]),
    "quality-4-minutes": _quality("quality_4_minutes.json", ["steps", "exit", "final", "shared", "common", "speed"]),
    "quality-instructor-size": _quality("quality_instructor_size.json", ["steps", "exit", ("step", 2000), "final",
                                                                         "named", "speed"]),
    "quality-tokenizers": _quality("quality_tokenizers.json", ["seeds", "steps", "final", "named", "unknown"]),
    "downstream": lambda root: downstream_table(_json(root, f"{MEASURED}/downstream.json")),
    "all-labels": lambda root: all_labels_table(_json(root, f"{MEASURED}/all_labels.json")),
    "label-efficiency": lambda root: label_efficiency_table(_json(root, f"{MEASURED}/label_efficiency.json")),
    "tokenizers": lambda root: tokenizers_table(_json(root, f"{MEASURED}/tokenizers.json")),
    "tokenizers-validation": lambda root: tokenizers_table(_json(root, f"{MEASURED}/tokenizers_validation.json")),
}
