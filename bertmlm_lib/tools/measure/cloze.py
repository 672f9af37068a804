"""Does the MLM itself know sentiment? The cloze study behind lesson 06 (`bertmlm_lib/cloze.py`).

`python -m bertmlm_lib.tools.measure.cloze instructor` (about 40 minutes on 2 cores):
1. **Choose the question on validation**: every template x verbalizer x kept end x calibration of
   `CANDIDATES`, scored zero-shot on the 2,500 validation reviews (carved from train); the unlabelled
   reviews calibrate, no label is read there. The best is the library's default.
2. **Zero-shot on all 25,000 test reviews**, once, with the chosen question.
3. **Few-shot through the head** (PET), 3 seeds, on the label-efficiency curve's own subsets, its 500
   validation reviews (rate and epoch chosen there) and its 5,000 test reviews, so the shipped curve's
   arms (`measured/label_efficiency.json`) stand beside it: the same reviews, the same 256 tokens read,
   the same batch size and the same optimizer steps (4 epochs), at least `MIN_STEPS` at the smallest sizes.

`python -m bertmlm_lib.tools.measure.cloze workshop --artifacts DIR` (about 15 minutes): the learner's
run, 4 minutes of the workshop preset, pretrained here with the MLM's weights kept every
`KEEP_EVERY` steps in memory; then zero-shot validation accuracy at each kept step, and few-shot
through the head at 500 and 1,000 labels against a random MLM of the same shape trained the same way.

`... instructor --few-shot-only [--shrink] [--sizes ...] [--rates ...]`: the few-shot curve again (with
the word vectors shrunk first, `cloze.shrink_word_vectors`); `... workshop-shrunk`: the learner's run's
few-shot arms with word vectors shrunk; `... ensemble`: several questions averaged, chosen greedily on
validation, scored once on all test reviews; `... figures`: `cloze.png` and `cloze_steps.png`.

Results go to `measured/cloze.json` (one key per part).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import keras

from ... import cloze, config, instructor, stages
from ...backend import release_free_memory
from ...callbacks import AtSteps, step_of
from ...baselines import accuracy as tfidf_accuracy, tfidf_logistic_regression
from ...data import balanced_subset
from ...errors import TextError
from ...model import build_encoder, build_pretraining_model
from ...pretrain import pretrain
from ...experiments import MEASURED
from . import MEASUREMENTS_PAGE, fill_tables
from ...experiments.cloze import CURVE_SIZES, MIN_STEPS, epochs_for, instructor_at_its_end, plot, table, turns_table
from ...experiments.label_efficiency import (Protocol, linear_probe, nested_subsets, probe_features, scored_arm, summarize,
                               test_subset, validation_subset)

OUT = MEASURED / "cloze.json"
UNLABELLED = 2_000  # unlabelled reviews that calibrate (of the 50,000)
KEEP_EVERY = 200  # steps between the MLM weights kept during the learner's run

CANDIDATES = {
    "templates": ["{review} . all in all the movie was [mask] .",
                  "{review} . in short , it was [mask] .",
                  "{review} . overall , a [mask] movie .",
                  "{review} . i thought it was [mask] .",
                  "{review} . it was [mask] !",
                  "it was [mask] . {review}",
                  "a [mask] movie . {review}"],
    "verbalizers": {"five": cloze.VERBALIZER,
                    "good/bad": (("bad",), ("good",)),
                    "great/terrible": (("terrible",), ("great",)),
                    "eight": (("bad", "terrible", "awful", "horrible", "boring", "worst", "poor", "stupid"),
                              ("great", "good", "excellent", "wonderful", "amazing", "best", "brilliant", "perfect"))},
    "keep": ["end", "start"],
    "calibrations": ["unlabelled", "content_free", "none"],
}


def _log(message: str) -> None:
    print(f"[cloze {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def reviews(cfg) -> dict:
    """The study's reviews: train and validation as the presets carve them, the curve's validation and
    test slices, all of test, and `UNLABELLED` unlabelled reviews."""
    imdb = stages.reviews(cfg, progress=False)
    train, validation = stages.labelled_splits(cfg, imdb)
    rng = np.random.default_rng(cfg.seed + 17)
    unlabelled = [imdb.unsup.texts[i] for i in rng.choice(len(imdb.unsup.texts), UNLABELLED, replace=False)]
    return {"train": train, "validation": validation, "curve_validation": validation_subset(validation, cfg),
            "curve_test": test_subset(imdb.test, cfg), "test": imdb.test, "unlabelled": unlabelled}


def accuracy_of(scores: np.ndarray, labels) -> float:
    return float((scores.argmax(axis=1) == np.asarray(labels)).mean())


def choose_prompt(model, vectorizer, validation, unlabelled, candidates=CANDIDATES) -> list[dict]:
    """Zero-shot validation accuracy of every candidate, best first. The MLM's log-probabilities are
    computed once per template and kept end; verbalizers and calibrations are arithmetic on them."""
    rows = []
    for template in candidates["templates"]:
        for keep in candidates["keep"]:
            asked = cloze.Cloze(model, vectorizer, cloze.Prompt(template, keep=keep))
            val, unl, empty = (asked.mask_log_probs(t) for t in (validation.texts, unlabelled, cloze.CONTENT_FREE))
            for name, verbalizer in candidates["verbalizers"].items():
                try:
                    ids = cloze.verbalizer_ids(vectorizer, verbalizer)
                except TextError as error:
                    _log(f"verbalizer {name} skipped: {error}")
                    continue
                raw = cloze.class_scores(val, ids)
                offsets = {"unlabelled": cloze.class_scores(unl, ids).mean(axis=0),
                           "content_free": cloze.class_scores(empty, ids).mean(axis=0), "none": 0.0}
                for calibration in candidates["calibrations"]:
                    rows.append({"template": template, "keep": keep, "verbalizer": name, "calibration": calibration,
                                 "val_accuracy": round(accuracy_of(raw - offsets[calibration], validation.labels), 4)})
            _log(f"{template!r} keep {keep}: best so far {max(r['val_accuracy'] for r in rows):.3f}")
    return sorted(rows, key=lambda r: -r["val_accuracy"])


def prompt_of(row: dict, candidates=CANDIDATES) -> cloze.Prompt:
    return cloze.Prompt(row["template"], candidates["verbalizers"][row["verbalizer"]], row["keep"])


def zero_shot(model, vectorizer, prompt: cloze.Prompt, calibration: str, unlabelled, test) -> dict:
    """Zero-shot test accuracy with the chosen question and calibration (and, beside it, uncalibrated)."""
    asked = cloze.Cloze(model, vectorizer, prompt)
    raw = asked.raw_scores(test.texts)
    offset = asked.calibrate(unlabelled, calibration).offset
    return {"test_reviews": len(test.labels), "calibration": calibration, "test_accuracy": round(accuracy_of(raw - offset, test.labels), 4),
            "test_accuracy_uncalibrated": round(accuracy_of(raw, test.labels), 4),
            "predicted_positive_share": round(float(((raw - offset).argmax(axis=1) == 1).mean()), 4)}


def choose_ensemble(model, vectorizer, rows: list[dict], validation, unlabelled, candidates=CANDIDATES,
                    most: int = 6) -> tuple[list[dict], list[float]]:
    """Greedy on validation: from the best question, add the next best (template and kept end, each with its own
    best verbalizer and calibration) while the averaged scores get more validation reviews right."""
    firsts, seen = [], set()
    for row in rows:  # best first
        if (row["template"], row["keep"]) not in seen:
            seen.add((row["template"], row["keep"]))
            firsts.append(row)
    scores = []
    for row in firsts[:most]:
        asked = cloze.Cloze(model, vectorizer, prompt_of(row, candidates)).calibrate(unlabelled, row["calibration"])
        scores.append(asked.scores(validation.texts))
    chosen, path = [0], [accuracy_of(scores[0], validation.labels)]
    for i in range(1, len(scores)):
        trial = accuracy_of(np.mean([scores[j] for j in chosen + [i]], axis=0), validation.labels)
        if trial > path[-1]:
            chosen.append(i)
            path.append(trial)
    return [firsts[i] for i in chosen], path


def study_ensemble() -> None:
    """Zero-shot with an ensemble of questions chosen on validation, scored once on all test reviews."""
    started = time.time()
    cfg = config.load("workshop", max_length=256, classifier_windows=1)
    data = reviews(cfg)
    model, vectorizer = instructor.load()
    rows = json.loads(OUT.read_text())["instructor"]["candidates"]
    members, path = choose_ensemble(model, vectorizer, rows, data["validation"], data["unlabelled"])
    _log(f"ensemble chosen on validation: {len(members)} questions, validation {path}")
    askers = [cloze.Cloze(model, vectorizer, prompt_of(row)).calibrate(data["unlabelled"], row["calibration"])
              for row in members]
    test = data["test"]
    accuracy = accuracy_of(cloze.ensemble_scores(askers, test.texts), test.labels)
    _log(f"ensemble zero-shot on all {len(test.labels):,} test reviews: {accuracy:.4f}")
    _save("instructor_ensemble", {"members": members, "validation_path": path, "test_reviews": len(test.labels),
                                  "test_accuracy": round(accuracy, 4), "seconds": round(time.time() - started)})


def curve_sizes(sizes, cfg) -> list[int]:
    """The sizes the nested subsets are drawn for: a subset depends on the largest size drawn, so every part
    of the study draws for all of `CURVE_SIZES` (and the preset's), whichever sizes it runs."""
    return sorted({*sizes, *CURVE_SIZES, *cfg.label_sizes})


def few_shot_arm(make_model, vectorizer, prompt, train_texts, train_labels, val, test, rates, seed: int,
                 batch_size: int = 32, shrink: bool = False, offset=None) -> dict:
    """Few-shot through the head from a fresh `make_model()` per rate; the best on validation is scored on test.
    With `offset` (a calibration read off unlabelled reviews), training starts from the calibrated question."""
    best = None
    epochs = epochs_for(len(train_labels), batch_size)
    for rate in rates:
        keras.utils.set_random_seed(seed)
        asked = cloze.Cloze(make_model(), vectorizer, prompt)
        if offset is not None:
            asked.offset, asked.calibration = np.array(offset, dtype=float), "unlabelled"
        result = cloze.few_shot(asked, train_texts, train_labels, val.texts, val.labels, rate=rate, epochs=epochs,
                                batch_size=batch_size, seed=seed, shrink=shrink)
        if best is None or result.val_accuracy > best[0].val_accuracy:
            best = (result, asked)
        del asked
        release_free_memory()
    result, asked = best
    test_accuracy = asked.accuracy(test.texts, test.labels)
    del best, asked
    keras.backend.clear_session()
    return {"test_accuracy": test_accuracy, "rate": result.rate, "epoch": result.best_epoch, "steps": result.steps,
            "val_accuracy": result.val_accuracy}


def few_shot_curve(arms: dict, vectorizer, prompt, data, cfg, sizes, seeds: int, rates, shrink: bool = False,
                   after_seed=None, offsets: dict | None = None) -> list[dict]:
    """Per size: each arm's test accuracy over seeds (and TF-IDF's on the same reviews), on the curve's subsets.
    `after_seed(rows)` is called with the rows so far after every seed (a long run saves as it goes)."""
    train, val, test = data["train"], data["curve_validation"], data["curve_test"]
    runs = {n: {name: [] for name in [*arms, "tfidf"]} for n in sizes}
    details = {n: {} for n in sizes}
    for s in range(seeds):
        seed = cfg.seed + s
        subsets = nested_subsets(train.labels, curve_sizes(sizes, cfg), seed)  # the curve's subsets
        for n in sizes:
            subset = train.take(subsets[n])
            for name, make in arms.items():
                arm = few_shot_arm(make, vectorizer, prompt, subset.texts, subset.labels, val, test, rates, seed,
                                   cfg.batch_size, shrink, (offsets or {}).get(name))
                runs[n][name].append(arm["test_accuracy"])
                for key, column in (("rate", "rates"), ("epoch", "epochs"), ("steps", "steps")):
                    details[n].setdefault(f"{name}_{column}", []).append(arm[key])
                _log(f"{n} labels, seed {s + 1}/{seeds}, {name}: {arm['test_accuracy']:.3f} (rate {arm['rate']:g}, "
                     f"epoch {arm['epoch']}, {arm['steps']} steps)")
            baseline = tfidf_logistic_regression(subset.texts, subset.labels, val.texts, val.labels, seed=seed)
            runs[n]["tfidf"].append(tfidf_accuracy(baseline, test.texts, test.labels))
        if after_seed:
            after_seed([{"labels": n, **summarize(runs[n]), **details[n]} for n in sizes])
    return [{"labels": n, **summarize(runs[n]), **details[n]} for n in sizes]


def keep_weights(every: int) -> tuple[AtSteps, list]:
    """A callback that keeps the MLM's weights in memory at step 0 and every `every` steps, and the
    list `[(step, weights)]` it fills."""
    kept = []
    keep = AtSteps(range(0, 10**7, every), lambda step: kept.append((step, keep.model.get_weights())))
    return keep, kept


def pretrained_and_random(cfg, vectorizer, weights) -> dict:
    """The two MLM arms: a fresh copy of the pretrained `weights`, and a random MLM of the same shape."""
    def pretrained():
        fresh = build_pretraining_model(cfg, vectorizer.vocabulary_size)
        fresh.set_weights(weights)
        return fresh

    return {"cloze_pretrained": pretrained, "cloze_random": lambda: build_pretraining_model(cfg, vectorizer.vocabulary_size)}


def _save(part: str, result: dict, out: Path = OUT) -> None:
    saved = json.loads(out.read_text()) if out.is_file() else {}
    saved[part] = result
    out.write_text(json.dumps(saved, indent=1) + "\n")
    _log(f"saved {part} in {out}")


def study_instructor(sizes=(32, 100, 500, 1000), seeds: int = 3, rates=(3e-5, 1e-4, 3e-4),
                     few_shot_only: bool = False, shrink: bool = False, calibrated: bool = False) -> None:
    started = time.time()
    if few_shot_only:  # the question was chosen and asked already: the few-shot curve alone, saved seed by seed
        return _instructor_few_shot(json.loads(OUT.read_text())["instructor"], sizes, seeds, rates, started,
                                    shrink=shrink, calibrated=calibrated)
    cfg = config.load("workshop", max_length=256, classifier_windows=1, label_seeds=seeds)  # the shipped curve's
    data = reviews(cfg)
    model, vectorizer = instructor.load()
    rows = choose_prompt(model, vectorizer, data["validation"], data["unlabelled"])
    best = rows[0]
    default = next(r for r in rows if r["template"] == cloze.TEMPLATE and r["keep"] == "end"
                   and r["verbalizer"] == "five" and r["calibration"] == "unlabelled")
    _log(f"chosen on validation: {best}")
    result = {"model": f"the shipped instructor model ({instructor.describe(instructor.SHIPPED)})",
              "validation_reviews": len(data["validation"].labels), "unlabelled_reviews": UNLABELLED,
              "candidates": rows, "chosen": best, "library_default": default}
    result["zero_shot"] = zero_shot(model, vectorizer, prompt_of(best), best["calibration"], data["unlabelled"],
                                    data["test"])
    _log(f"zero-shot on all test reviews: {result['zero_shot']}")
    _save("instructor", {**result, "seconds": round(time.time() - started)})
    _instructor_few_shot(result, sizes, seeds, rates, started, cfg, data)


def _instructor_few_shot(result, sizes, seeds, rates, started, cfg=None, data=None, shrink: bool = False,
                         calibrated: bool = False) -> None:
    cfg = cfg or config.load("workshop", max_length=256, classifier_windows=1, label_seeds=seeds)
    data = data or reviews(cfg)
    vectorizer = instructor.load()[1]
    arms = {"cloze_pretrained": lambda: instructor.load()[0]}
    offsets = None
    if calibrated:  # the chosen question's calibration, from the unlabelled reviews (no label read)
        asked = cloze.Cloze(instructor.load()[0], vectorizer, prompt_of(result["chosen"]))
        offsets = {"cloze_pretrained": asked.calibrate(data["unlabelled"], result["chosen"]["calibration"]).offset}
    protocol = {"batch_size": cfg.batch_size, "epochs": f"4, or enough for {MIN_STEPS} steps", "rates": list(rates),
                "evaluations": 4, "validation_reviews": len(data["curve_validation"].labels), "shrink_word_vectors": shrink,
                "test_reviews": len(data["curve_test"].labels), "reads_tokens": 256, "seeds": seeds,
                "starts_calibrated": calibrated}
    key = "few_shot_shrunk" if shrink else "few_shot_calibrated" if calibrated else "few_shot"

    def save(rows):
        saved = json.loads(OUT.read_text())["instructor"]
        _save("instructor", {**saved, key: rows, f"{key}_protocol": protocol, "seconds": round(time.time() - started)})

    few_shot_curve(arms, vectorizer, prompt_of(result["chosen"]), data, cfg, sizes, seeds, rates, shrink=shrink,
                   after_seed=save, offsets=offsets)


def study_classic(sizes=(32, 100, 500, 1000), seeds: int = 3) -> None:
    """The classic arms on the few-shot curve's own reviews: the instructor's encoder and a random one
    fine-tuned with a new head (the curve's protocol, its rates searched on validation), and each
    encoder's linear probe, on exactly the subsets, validation and test reviews `few_shot_curve` uses,
    with the same optimizer steps (4 epochs, or enough for `MIN_STEPS`)."""
    started = time.time()
    cfg = config.load("workshop", max_length=256, classifier_windows=1, label_seeds=seeds)
    data = reviews(cfg)
    vectorizer = instructor.load()[1]
    train, val, test = data["train"], data["curve_validation"], data["curve_test"]
    base = Protocol.of(cfg, seeds=seeds, classifier_length=256)
    train_ids, val_ids, test_ids = (vectorizer.encode(s.texts, length=256) for s in (train, val, test))
    shape = config.from_dict(instructor.read_manifest(instructor.SHIPPED)["config"])
    encoders = {"pretrained": lambda: instructor.load()[0].encoder,
                "random": lambda: build_encoder(shape, vectorizer.vocabulary_size)}
    runs = {n: {name: [] for name in ("pretrained", "random", "probe_pretrained", "probe_random")} for n in sizes}
    details = {n: {} for n in sizes}
    for s in range(seeds):
        seed = cfg.seed + s
        subsets = nested_subsets(train.labels, curve_sizes(sizes, cfg), seed)  # as few_shot_curve
        largest = subsets[max(sizes)]
        for name, make in encoders.items():
            features = probe_features(make, (train_ids[largest], val_ids, test_ids), base, seed)
            for n in sizes:
                probe = linear_probe(features[0][:n], train.labels[largest][:n], features[1], val.labels,
                                     base.probe_grid, seed)
                runs[n][f"probe_{name}"].append(float((probe["model"].predict(features[2]) == test.labels).mean()))
            del features
            release_free_memory()
        for n in sizes:
            indices = subsets[n]
            assert (indices == largest[:n]).all()
            protocol = Protocol.of(cfg, seeds=seeds, classifier_length=256, epochs=epochs_for(n, cfg.batch_size))
            for name, make in encoders.items():
                arm = scored_arm(make, train_ids[indices], train.labels[indices], val_ids, val.labels, test_ids,
                                 test.labels, cfg, protocol, seed)
                runs[n][name].append(arm["test_accuracy"])
                for key in ("rate", "steps"):
                    details[n].setdefault(f"{name}_{key}s", []).append(arm[key])
                _log(f"{n} labels, seed {s + 1}/{seeds}, {name}: {arm['test_accuracy']:.3f} (rate {arm['rate']:g}, "
                     f"{arm['steps']} steps); probe {runs[n][f'probe_{name}'][-1]:.3f}")
                release_free_memory()
        rows = [{"labels": n, **summarize(runs[n]), **details[n]} for n in sizes]
        saved = json.loads(OUT.read_text())["instructor"]
        _save("instructor", {**saved, "classic": rows, "classic_protocol": {**base.as_dict(), "epochs": f"4, or enough for {MIN_STEPS} steps"},
                             "classic_seeds_done": s + 1, "classic_seconds": round(time.time() - started)})


def study_workshop(artifacts: str, sizes=(500, 1000), seeds: int = 3, rates=(3e-5, 1e-4, 3e-4)) -> None:
    started = time.time()
    cfg = config.load("workshop", artifacts=artifacts, label_seeds=seeds)
    vectorizer = stages.vocabulary(cfg, progress=False)
    corpus = stages.pretraining_corpus(cfg, vectorizer, progress=False)
    keep, kept = keep_weights(KEEP_EVERY)
    model, run = pretrain(cfg, corpus, vectorizer, callbacks=[keep], show=False)
    del corpus
    steps = step_of(model)
    _log(f"pretrained: {steps} steps, the weights kept {len(kept)} times")
    data = reviews(cfg)
    validation = balanced_subset(data["validation"], 1000, cfg.seed + 19)
    prompt = cloze.Prompt()
    by_step = []
    final = model.get_weights()
    for step, weights in kept + [(steps, final)]:
        model.set_weights(weights)
        asked = cloze.Cloze(model, vectorizer, prompt)
        raw = asked.raw_scores(validation.texts)
        offset = asked.calibrate(data["unlabelled"][:1000]).offset
        by_step.append({"step": step, "val_accuracy": round(accuracy_of(raw - offset, validation.labels), 4)})
        _log(f"step {step}: zero-shot validation accuracy {by_step[-1]['val_accuracy']:.3f}")
    model.set_weights(final)
    result = {"preset": "workshop", "minutes": cfg.pretrain_minutes, "steps": steps,
              "zero_shot_by_step": by_step, "zero_shot_validation_reviews": 1000, "prompt": prompt.template}
    passes = [r["step"] for r in by_step if r["val_accuracy"] >= 0.60]
    result["first_step_at_0.60"] = passes[0] if passes else None
    _save("workshop", {**result, "seconds": round(time.time() - started)})
    result["few_shot"] = few_shot_curve(pretrained_and_random(cfg, vectorizer, final), vectorizer, prompt, data, cfg,
                                        sizes, seeds, rates)
    _save("workshop", {**result, "seconds": round(time.time() - started)})


DOCS = MEASUREMENTS_PAGE


def docs_tables(measured: dict, why: dict) -> dict[str, str]:
    """The tables `docs/measurements.md` shows, by marker: `<!-- table:NAME -->` is followed by `tables[NAME]`."""
    tables = {"cloze": table(measured)}
    if measured["instructor"].get("few_shot_calibrated"):
        tables["cloze-calibrated"] = table(measured, "few_shot_calibrated")
    if why.get("turns"):
        tables["turns"] = turns_table(why)
    return tables


def write_docs_tables(measured: dict, why: dict, path: Path = DOCS) -> None:
    """Put each table after its marker in `path`, replacing the table that was there."""
    fill_tables(docs_tables(measured, why), path)


def study_workshop_shrunk(artifacts: str, sizes=(500, 1000), seeds: int = 3, rates=(1e-4, 3e-4, 1e-3)) -> None:
    """Few-shot through the head again on the workshop run's MLM, both arms' word vectors shrunk first."""
    from ...checkpoints import load_pretrained

    started = time.time()
    cfg = config.load("workshop", artifacts=artifacts, label_seeds=seeds)
    model, vectorizer, _ = load_pretrained(cfg.artifacts_dir)
    data = reviews(cfg)
    arms = {f"{name}_shrunk": make for name, make in pretrained_and_random(cfg, vectorizer, model.get_weights()).items()}
    rows = few_shot_curve(arms, vectorizer, cloze.Prompt(), data, cfg, sizes, seeds, rates, shrink=True)
    saved = json.loads(OUT.read_text())["workshop"]
    _save("workshop", {**saved, "few_shot_shrunk": rows, "few_shot_shrunk_rates": list(rates),
                       "few_shot_shrunk_seconds": round(time.time() - started)})


def save_figures(measured: dict | None = None, folder: Path = MEASURED) -> list[Path]:
    """The shipped pictures: the few-shot curve beside the classic arms (`cloze.png`), and zero-shot accuracy
    against pretraining steps of the workshop run (`cloze_steps.png`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ... import cloze as cloze_module
    from ...experiments import load_measured

    measured = measured or json.loads(OUT.read_text())
    paths = []
    if "few_shot" in measured.get("instructor", {}):
        ax = plot(measured["instructor"], load_measured("label_efficiency.json"))
        paths.append(folder / "cloze.png")
        ax.figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
    if "workshop" in measured:
        run = measured["workshop"]
        rows = [{"step": r["step"], "accuracy": r["val_accuracy"]} for r in run["zero_shot_by_step"]]
        ax = cloze_module.plot_over_steps({f"a {run['minutes']:g}-minute workshop run": rows, **instructor_at_its_end(measured)})
        paths.append(folder / "cloze_steps.png")
        ax.figure.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bertmlm_lib.tools.measure.cloze", description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["instructor", "classic", "workshop", "workshop-shrunk", "ensemble", "figures"])
    parser.add_argument("--artifacts", default="build/cloze-workshop", help="where the workshop run pretrains")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--few-shot-only", action="store_true", help="instructor: the few-shot curve alone")
    parser.add_argument("--shrink", action="store_true", help="instructor: word vectors shrunk before few-shot")
    parser.add_argument("--calibrated", action="store_true",
                        help="instructor: few-shot starts from the calibrated question (few_shot_calibrated)")
    parser.add_argument("--sizes", default="32,100,500,1000", help="instructor: label counts")
    parser.add_argument("--rates", default="3e-5,1e-4,3e-4", help="instructor: the few-shot rate grid")
    args = parser.parse_args(argv)
    if args.part == "instructor":
        study_instructor(sizes=tuple(int(n) for n in args.sizes.split(",")), seeds=args.seeds,
                         rates=tuple(float(r) for r in args.rates.split(",")), few_shot_only=args.few_shot_only,
                         shrink=args.shrink, calibrated=args.calibrated)
    elif args.part == "classic":
        study_classic(sizes=tuple(int(n) for n in args.sizes.split(",")), seeds=args.seeds)
    elif args.part == "workshop-shrunk":
        study_workshop_shrunk(args.artifacts, seeds=args.seeds)
    elif args.part == "ensemble":
        study_ensemble()
    elif args.part == "figures":
        _log(f"drew {save_figures()}")
        write_docs_tables(json.loads(OUT.read_text()), json.loads((MEASURED / "why_finetuning.json").read_text()))
        _log(f"tables written into {DOCS}")
    else:
        study_workshop(args.artifacts, seeds=args.seeds)


if __name__ == "__main__":
    main()
