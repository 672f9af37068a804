"""The `bertmlm` command: the notebooks' stages, headless.

Every subcommand calls the same library functions the notebooks call, importing them when it runs, so
`bertmlm --help` and `bertmlm data` start without loading TensorFlow. A mistake a user can make
(a wrong path, a damaged archive, a missing artifact) prints one line, `error: ...`, naming the
problem and the fix, and exits with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .. import config as config_module
from ..errors import BertmlmError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _add_common(parser: argparse.ArgumentParser, artifacts: bool = True, strategy: bool = False) -> None:
    parser.add_argument("--preset", choices=config_module.preset_names(),
                        help="sizes and knobs to use (default: $BERTMLM_PRESET, else workshop)")
    parser.add_argument("--data", metavar="PATH",
                        help="aclImdb_v1.tar.gz or an extracted aclImdb folder (default: $BERTMLM_DATA, "
                             "else download the official archive once)")
    if artifacts:
        parser.add_argument("--artifacts", metavar="DIR",
                            help="folder for this run's outputs (default: $BERTMLM_ARTIFACTS, else a "
                                 "per-user cache folder per preset)")
    if strategy:
        parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                            help="'mirrored': train on every local GPU (or logical CPU device) at once; "
                                 "'multiworker': on several machines, each running this same command")
        parser.add_argument("--workers", metavar="HOST:PORT,...",
                            help="with --strategy multiworker: every worker's address, the chief first "
                                 "(default: the cluster in $TF_CONFIG)")
        parser.add_argument("--worker-index", type=int, default=0, metavar="N",
                            help="with --workers: this machine's place in the list (0, the chief, writes the outputs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="change one config setting for this run, e.g. --set mask_rate=0.25 (repeatable; "
                             "'none' turns an optional one off; bertmlm_lib/config.py lists them all)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _add_checkpoint_options(parser: argparse.ArgumentParser, preset_help: str, artifacts_help: str) -> None:
    """--preset, --artifacts, --json, --debug of `export` and `import`."""
    parser.add_argument("--preset", choices=config_module.preset_names(), help=f"{preset_help} (default: workshop)")
    parser.add_argument("--artifacts", metavar="DIR", help=f"{artifacts_help} (default: the preset's artifacts folder)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertmlm",
        description="Masked language modeling with a small BERT on IMDB, stage by stage.",
    )
    parser.add_argument("--version", action="version", version=f"bertmlm {__import__('bertmlm_lib').__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    data = commands.add_parser("data", help="get the IMDB archive and report its splits")
    _add_common(data, artifacts=False)
    data.set_defaults(run=run_data)

    vectorize = commands.add_parser("vectorize", help="build and save the vocabulary, report coverage")
    _add_common(vectorize)
    vectorize.set_defaults(run=run_vectorize)

    pretrain = commands.add_parser("pretrain", help="pretrain the small BERT with masked language modeling")
    _add_common(pretrain, strategy=True)
    pretrain.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --artifacts")
    pretrain.add_argument("--minutes", type=_positive_float, metavar="M",
                          help="time budget: stop cleanly (with a checkpoint) after M minutes")
    pretrain.add_argument("--epochs", type=_positive_int, metavar="N",
                          help="passes over the corpus (default: the preset's; a time budget may end it first)")
    pretrain.set_defaults(run=run_pretrain)

    fill = commands.add_parser("fill-mask", help="top words for each [mask] in the texts, from a pretrained model")
    fill.add_argument("texts", nargs="+", metavar="TEXT", help="texts with [mask] (or [MASK]) where a word is hidden")
    fill.add_argument("--artifacts", metavar="DIR", help="folder written by `bertmlm pretrain` (default: the preset's)")
    fill.add_argument("--preset", choices=config_module.preset_names(), help="whose default artifacts folder to use")
    fill.add_argument("--top-k", type=_positive_int, default=5, metavar="K", help="words per mask (default 5)")
    fill.add_argument("--json", action="store_true", help="print JSON on stdout")
    fill.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    fill.set_defaults(run=run_fill_mask)

    finetune = commands.add_parser("finetune", help="fine-tune a sentiment classifier on the pretrained encoder")
    _add_common(finetune, strategy=True)
    finetune.add_argument("--from-scratch", action="store_true", help="start from a random encoder (the ablation)")
    finetune.set_defaults(run=run_finetune)

    evaluate = commands.add_parser("evaluate", help="score the fine-tuned model on the test reviews")
    _add_common(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    predict = commands.add_parser("predict", help="sentiment of raw texts from the fine-tuned model")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="reviews to score")
    predict.add_argument("--file", metavar="F", help="also score each non-empty line of this file (UTF-8, else Latin-1)")
    predict.add_argument("--artifacts", metavar="DIR", help="folder written by `bertmlm finetune` (default: the preset's)")
    predict.add_argument("--preset", choices=config_module.preset_names(), help="whose default artifacts folder to use")
    predict.add_argument("--zero-shot", action="store_true",
                         help="ask the pretrained MLM itself (cloze question, no fine-tuning, no labels) instead of "
                              "the fine-tuned model")
    predict.add_argument("--instructor", action="store_true", help="with --zero-shot: the shipped instructor's MLM")
    predict.add_argument("--calibrate-on", metavar="F",
                         help="with --zero-shot: calibrate on the unlabelled reviews in this file, one per line "
                              "(default: on content-free texts)")
    predict.add_argument("--json", action="store_true", help="print JSON on stdout")
    predict.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    predict.set_defaults(run=run_predict)

    bench = commands.add_parser("bench", help="training speed and memory: our MLM model vs the reference's way")
    bench.add_argument("--steps", type=_positive_int,
                       help="interleaved steps timed per model (default 10); with --quality, optimizer steps per "
                            "candidate (default 1,500)")
    bench.add_argument("--levers", action="store_true", help="also time intermediate variants (what each change gives)")
    bench.add_argument("--inference", action="store_true",
                       help="raw-string inference speed of the fine-tuned model in --artifacts (reviews/s, batch 256)")
    bench.add_argument("--artifacts", metavar="DIR", help="artifacts folder with a fine-tuned model (--inference); where the lessons write (--lessons)")
    bench.add_argument("--no-memory", action="store_true", help="skip the per-model peak memory runs")
    bench.add_argument("--quality", action="store_true",
                       help="time to quality instead: pretrain each candidate recipe for --steps, compare curves, "
                            "plateau exit steps and the share of hidden words each names (words or pieces)")
    bench.add_argument("--lessons", action="store_true",
                       help="run every lesson notebook in a fresh kernel, one after another: seconds and peak memory")
    bench.add_argument("--notebooks", metavar="DIR", default="notebooks",
                       help="folder of the lesson notebooks (--lessons; default: notebooks)")
    bench.add_argument("--figures", metavar="DIR", help="save every figure the lessons draw there, as PNG (--lessons)")
    bench.add_argument("--server", action="store_true",
                       help="count an idle JupyterLab server with each kernel, as on Binder (--lessons)")
    bench.add_argument("--minutes", type=_positive_float,
                       help="training minutes per candidate instead of --steps (--quality)")
    bench.add_argument("--seeds", type=_positive_int, default=1, help="seeds per candidate (--quality; default 1)")
    bench.add_argument("--eval-every", type=_positive_int, default=100,
                       help="steps between held-out evaluations (--quality; default 100)")
    bench.add_argument("--candidates", metavar="A,B", help="comma-separated candidate names (--quality; default all)")
    bench.add_argument("--out", metavar="DIR", help="where quality.json and quality.png (--quality) or lessons.json (--lessons) go")
    bench.add_argument("--preset", choices=config_module.preset_names(),
                       help="data sizes for --quality (default: $BERTMLM_PRESET, else workshop)")
    bench.add_argument("--data", metavar="PATH", help="IMDB archive or folder (default: $BERTMLM_DATA or download)")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    bench.set_defaults(run=run_bench)

    whole = commands.add_parser("run", help="every stage headless (skipping current ones), then report.json and plots")
    _add_common(whole, strategy=True)
    whole.add_argument("--resume", action="store_true", help="continue an interrupted pretraining from its checkpoint")
    whole.set_defaults(run=run_all)

    export = commands.add_parser("export", help="pack the vocabulary and pretrained model into one file for a class")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the checkpoint file to write")
    _add_checkpoint_options(export, preset_help="whose artifacts folder", artifacts_help="the artifacts folder to pack")
    export.set_defaults(run=run_export)

    unpack = commands.add_parser("import", help="unpack an exported checkpoint into an artifacts folder, checked")
    unpack.add_argument("file", metavar="FILE", help="a file written by `bertmlm export`")
    _add_checkpoint_options(unpack, preset_help="the preset it must fit", artifacts_help="where to unpack")
    unpack.set_defaults(run=run_import)

    runs = commands.add_parser("runs", help="list past runs (preset, key config, time, accuracy) from their reports")
    runs.add_argument("folders", nargs="*", metavar="DIR",
                      help="artifacts folders or folders holding them (default: the per-user artifacts folder)")
    runs.add_argument("--json", action="store_true", help="print the rows as JSON")
    runs.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    runs.set_defaults(run=run_runs)
    return parser


def _config(args, **overrides):
    """The run's config from --preset, --artifacts, every --set KEY=VALUE and, where the command has them,
    its own options (--strategy, --minutes, ...), which win over a --set of the same setting."""
    settings = dict(config_module.parse_setting(text) for text in getattr(args, "settings", []))
    if getattr(args, "strategy", None):
        overrides["strategy"] = args.strategy
    return config_module.load(args.preset, artifacts=getattr(args, "artifacts", None), **{**settings, **overrides})


def _join_cluster(args) -> None:
    """For --strategy multiworker: join the cluster before anything runs in TensorFlow, as it requires."""
    if getattr(args, "workers", None) and args.strategy != "multiworker":
        raise config_module.ConfigError("--workers is for --strategy multiworker: add it, or drop --workers.")
    if getattr(args, "strategy", None) != "multiworker":
        return
    if args.command not in ("pretrain", "finetune"):
        raise config_module.ConfigError(f"--strategy multiworker is for `bertmlm pretrain` and `bertmlm finetune`, not "
                                        f"`bertmlm {args.command}`: run the other stages on one machine.")
    from .distribute import start_multiworker

    start_multiworker(args.workers, args.worker_index)


def _positive(kind, what: str):
    """An argparse type: `kind(text)`, refused with a short reason unless > 0."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
        return value
    return parse


_positive_float = _positive(float, "a number")
_positive_int = _positive(int, "a whole number")


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------


def data_report(args) -> dict:
    """Counts, lengths and duplicates of the whole archive, plus how the preset will split it."""
    from .. import archive, data

    cfg = _config(args)
    started = time.perf_counter()
    imdb = data.load_imdb(args.data, progress=not args.quiet)
    loaded = time.perf_counter() - started
    report = data.describe(imdb)
    rest, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
    corpus = imdb.pretraining_texts()
    report.update({
        "validation": {"from": "train", "fraction": cfg.validation_fraction, **validation.counts()},
        "train_after_validation": rest.counts(),
        "pretraining_corpus": {
            "from": ["train", "unsup"],
            "reviews": len(corpus),
            "dropped_copies_of_test": len(imdb.train) + len(imdb.unsup) - len(corpus),
        },
        "preset": {"name": cfg.preset, "train_reviews": cfg.train_reviews, "test_reviews": cfg.test_reviews,
                   "unsup_reviews": cfg.unsup_reviews},
        "cache": str(archive.data_cache_dir()),
        "load_seconds": round(loaded, 2),
    })
    return report


def _format_data(report: dict) -> str:
    lines = [f"IMDB reviews from {report['root']}", ""]
    lines.append(f"{'split':<8}{'reviews':>9}{'pos':>9}{'neg':>9}{'unlabelled':>12}{'median words':>14}")
    for name, counts in report["splits"].items():
        median = report["lengths_in_words"][name]["median"]
        cells = [f"{counts.get(key, 0):,}" if key in counts else "-" for key in ("pos", "neg", "unlabelled")]
        lines.append(f"{name:<8}{counts['total']:>9,}{cells[0]:>9}{cells[1]:>9}{cells[2]:>12}{median:>14.0f}")
    v = report["validation"]
    lines += [
        "",
        f"validation: {v['total']:,} reviews carved from train ({v['fraction']:.0%}, stratified: "
        f"{v['pos']:,} pos + {v['neg']:,} neg); test stays untouched until the final evaluation.",
        f"pretraining corpus: train + unsup = {report['pretraining_corpus']['reviews']:,} reviews "
        f"({report['pretraining_corpus']['dropped_copies_of_test']} word-for-word copies of test reviews dropped).",
        "duplicates: " + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in report["duplicates"].items()),
        "reviews with bytes that are not UTF-8 (read with replacements): "
        + ", ".join(f"{k} {n}" for k, n in report["undecodable_reviews"].items()),
        f"cache: {report['cache']}  (loaded in {report['load_seconds']} s)",
    ]
    return "\n".join(lines)


def run_data(args) -> dict:
    report = data_report(args)
    print(json.dumps(report, indent=1) if args.json else _format_data(report))
    return report


# ------------------------------------------------------------------------------------------
# vectorize
# ------------------------------------------------------------------------------------------


def run_vectorize(args) -> dict:
    from .. import stages

    cfg = _config(args)
    summary = stages.build_vocabulary(cfg, args.data, progress=not args.quiet)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        from ..vocabularies import KINDS

        c, unit = summary["coverage"], KINDS[summary["tokenizer"]].UNIT
        print(f"vocabulary of {summary['vocabulary_size']:,} {summary['tokenizer']} ids saved to {summary['vocabulary']}\n"
              f"built from {summary['corpus_reviews']:,} reviews in {summary['adapt_seconds']} s; "
              f"most frequent words: {', '.join(summary['most_frequent'])}\n"
              f"coverage: {c['known_share']:.1%} of {c['tokens']:,} {unit} known ({c['unknown_rate']:.1%} [UNK]); "
              f"{c['truncated_share']:.0%} of reviews are longer than {summary['max_length']} {unit} and get cut")
    return summary


# ------------------------------------------------------------------------------------------
# pretrain, fill-mask
# ------------------------------------------------------------------------------------------


def run_pretrain(args) -> dict:
    from . import runner

    cfg = _config(args, **({"pretrain_epochs": args.epochs} if args.epochs else {}))
    if args.minutes is not None:
        cfg = cfg.replace(pretrain_minutes=args.minutes)
    model, result = runner.run_pretraining(cfg, args.data, resume=args.resume, progress=not args.quiet,
                                           fill_mask_display=not (args.quiet or args.json))
    summary = {
        "artifacts": str(cfg.artifacts_dir), "steps": result.steps, "seconds": result.seconds,
        "stopped_by": result.stopped_by, "heldout": result.heldout, "heldout_at_start": result.heldout_at_start,
        "masked_accuracy_at_step": result.accuracy_at_steps, "checkpoint": result.checkpoint,
        "probe": result.fill_mask[-1]["results"][0] if result.fill_mask else None,
        **_worker_facts(cfg, model),
    }
    summary["verdict"] = result.verdict
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        h = summary["heldout"]
        print(f"pretrained {result.steps} steps in {result.seconds:.0f} s (stopped by {result.stopped_by}); held-out "
              f"masked accuracy {h['masked_accuracy']:.1%}, perplexity {h['perplexity']:.1f}"
              + "".join(f"; {a:.1%} at step {int(s):,}" for s, a in result.accuracy_at_steps.items())
              + f"; checkpoint {result.checkpoint}")
        print("is it normal? " + summary["verdict"])
    return summary


def _worker_facts(cfg, model=None) -> dict:
    """In a multi-worker run: this worker's index, whether it wrote the outputs, and a digest of the
    weights it ended with (the same on every worker when all went well)."""
    if cfg.strategy != "multiworker":
        return {}
    from . import distribute

    strategy = distribute.strategy_for(cfg)
    facts = {"worker": strategy.cluster_resolver.task_id, "workers": strategy.num_replicas_in_sync,
             "wrote_outputs": distribute.writes_here(strategy)}
    return {**facts, "weights_digest": distribute.weights_digest(model)} if model is not None else facts


def run_fill_mask(args) -> list:
    from ..fill_mask import FillMasker, format_table

    artifacts = args.artifacts or config_module.load(args.preset).artifacts_dir
    results = FillMasker.from_artifacts(artifacts)(args.texts, top_k=args.top_k)
    print(json.dumps(results, indent=1, ensure_ascii=False) if args.json else format_table(results))
    return results


def run_finetune(args) -> dict:
    from . import runner

    cfg = _config(args)
    summary = runner.run_finetuning(cfg, args.data, progress=not args.quiet, from_scratch=args.from_scratch)
    summary.update(_worker_facts(cfg))
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    elif summary["model"] is None:
        print(f"worker {summary['worker']}: fine-tuned on {summary['train_reviews']:,} reviews in "
              f"{summary['seconds']:.0f} s: validation accuracy {summary['val_accuracy']:.3f}; the chief saved the model")
    else:
        print(f"fine-tuned on {summary['train_reviews']:,} reviews in {summary['seconds']:.0f} s: validation accuracy "
              f"{summary['val_accuracy']:.3f}; end-to-end model saved to {summary['model']}")
    return summary


def run_evaluate(args) -> dict:
    from .. import end_to_end, stages

    cfg = _config(args)
    model = end_to_end.load(stages.finetuned_model_path(cfg))  # before reading the reviews: a missing model fails fast
    test = stages.reviews(cfg, args.data, progress=not args.quiet, unlabelled=False).test
    report = stages.evaluate_model(cfg, test, model)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"test accuracy {report['accuracy']:.4f}, ROC AUC {report['auc']:.4f} on {report['reviews']:,} reviews")
    return report


def _read_lines(path: str) -> list[str]:
    """Non-empty lines of a text file, read as UTF-8, else as Latin-1 (which never fails)."""
    from ..errors import TextError

    file = Path(path)
    if not file.is_file():
        raise TextError(f"--file {path} does not exist: give the path of a text file with one review per line.")
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [line for line in text.splitlines() if line.strip()]


def run_predict(args) -> list:
    from .. import end_to_end
    from ..artifacts import FINETUNE_FOLDER, MODEL_FILE
    from ..errors import TextError

    texts = list(args.texts) + (_read_lines(args.file) if args.file else [])
    if not texts:
        raise TextError("no text given: pass reviews as arguments or with --file.")
    if args.zero_shot:
        return _zero_shot(args, texts)
    if args.instructor or args.calibrate_on:
        raise TextError("--instructor and --calibrate-on go with --zero-shot: add --zero-shot, or drop them.")
    artifacts = args.artifacts or config_module.load(args.preset).artifacts_dir
    model = end_to_end.load(Path(artifacts) / FINETUNE_FOLDER / MODEL_FILE)
    probabilities = end_to_end.predict(model, texts)
    results = [{"text": t, "label": "pos" if p >= 0.5 else "neg", "prob_pos": round(float(p), 6)}
               for t, p in zip(texts, probabilities)]
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    else:
        for r in results:
            shown = r["text"] if len(r["text"]) <= 70 else r["text"][:69] + "…"
            print(f"{r['label']}  {r['prob_pos']:.3f}  {shown}")
    return results


def _zero_shot(args, texts: list[str]) -> list:
    """`bertmlm predict --zero-shot`: the pretrained MLM asked the cloze question (`cloze.py`)."""
    from .. import cloze, instructor
    from ..checkpoints import load_pretrained

    if args.instructor:
        model, vectorizer = instructor.load()
        source = f"the instructor's MLM ({instructor.describe(instructor.SHIPPED)})"
    else:
        artifacts = args.artifacts or config_module.load(args.preset).artifacts_dir
        model, vectorizer, _ = load_pretrained(artifacts)
        source = f"the MLM pretrained in {artifacts}"
    asked = cloze.Cloze(model, vectorizer)
    if args.calibrate_on:
        asked.calibrate(_read_lines(args.calibrate_on), "unlabelled")
    else:
        asked.calibrate(method="content_free")
    answers = asked.answer(texts)
    results = [{"text": a["text"], "label": "pos" if a["label"] == 1 else "neg",
                "prob_pos": round(a["class_probs"][1], 6),
                "words": {("pos" if w["class"] else "neg"): round(w["prob"], 6) for w in a["words"]}} for a in answers]
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
        return results
    print(f"zero-shot: {source}, asked {cloze.TEMPLATE!r}; calibrated on "
          + (f"{args.calibrate_on}" if args.calibrate_on else "content-free texts"))
    for r in results:
        shown = r["text"] if len(r["text"]) <= 60 else r["text"][:59] + "…"
        print(f"{r['label']}  {r['prob_pos']:.3f}  P(good words) {r['words']['pos']:.3f}  P(bad words) "
              f"{r['words']['neg']:.3f}  {shown}")
    return results


def run_bench(args) -> dict:
    if args.quality:
        return run_quality(args)
    if args.lessons:
        return run_lessons_bench(args)
    if args.inference:
        return run_inference_bench(args)
    from .measure import bench

    report = bench.run(steps=args.steps or 10, levers=args.levers, memory=not args.no_memory, data_path=args.data)
    print(json.dumps(report, indent=1) if args.json else bench.format_report(report))
    if args.json:  # the last line is always the one-line summary
        summary = {k: v for k, v in report.items() if isinstance(v, dict) and "samples_per_s" in v}
        print(json.dumps({**summary, "ratio": report["ratio"]}))
    return report


def run_lessons_bench(args) -> dict:
    import importlib.util

    from .measure import lessons

    missing = [name for name in ("jupyter_client", "ipykernel", "psutil") if importlib.util.find_spec(name) is None]
    if missing:
        raise BertmlmError(f"bertmlm bench --lessons runs the notebooks in Jupyter kernels, and {', '.join(missing)} "
                           "is not installed: pip install 'bertmlm[lab]' (or the README's install command).")
    notebooks = sorted(Path(args.notebooks).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise BertmlmError(f"no lesson notebooks ([0-9][0-9]_*.ipynb) in {args.notebooks}: run this from a clone of the "
                           "repository, or pass --notebooks DIR.")
    report = lessons.run(notebooks, preset=args.preset or "workshop", artifacts=args.artifacts, server=args.server,
                         figures=args.figures)
    if args.out:
        from ..artifacts import write_json

        write_json(Path(args.out) / "lessons.json", report)
    print(json.dumps(report, indent=1) if args.json else lessons.format_table(report))
    return report


def run_inference_bench(args) -> dict:
    from .. import data, end_to_end, stages

    cfg = config_module.load(args.preset, artifacts=args.artifacts)
    model = end_to_end.load(stages.finetuned_model_path(cfg))
    texts = data.load_imdb(args.data, test_reviews=2560, train_reviews=2, unsup_reviews=2, progress=False).test.texts
    report = end_to_end.inference_speed(model, texts, batch_size=256)
    print(json.dumps(report, indent=1) if args.json else
          f"{report['reviews_per_s']:.0f} reviews/s from raw strings at batch {report['batch_size']} "
          f"(median of {report['repeats']} passes over {report['reviews']:,} test reviews)")
    return report


def run_quality(args) -> dict:
    from ..experiments import quality
    from .measure import quality as measure_quality

    names = [n.strip() for n in args.candidates.split(",")] if args.candidates else None
    unknown = [n for n in names or [] if n not in quality.CANDIDATES]
    if unknown:
        raise config_module.ConfigError(
            f"unknown candidate(s) {', '.join(unknown)}; choose from: {', '.join(quality.CANDIDATES)}.")
    base = measure_quality.base_config(args.preset)
    report = measure_quality.run(args.steps or 1500, names, seeds=args.seeds, data_path=args.data, out=args.out,
                                 base=base, eval_every=args.eval_every, minutes=args.minutes)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(quality.format_ranking(report))
    return report


# ------------------------------------------------------------------------------------------
# run, runs
# ------------------------------------------------------------------------------------------


def run_all(args) -> dict:
    from . import pipeline

    cfg = _config(args)
    report = pipeline.run(cfg, args.data, resume=args.resume, progress=not args.quiet)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        t, clf = report["timings_s"], report["classifier"]
        print(f"preset {report['preset']}: {t['total']:.0f} s in all (pretrain {t['pretrain']:.0f} s), peak memory "
              f"{report['peak_rss_mb']:,.0f} MB; masked accuracy {report['mlm']['masked_accuracy']:.1%}; test accuracy "
              f"{clf['test_accuracy']:.4f} (TF-IDF {report['baselines']['tfidf_lr']:.4f}); "
              f"report in {cfg.artifacts_dir / 'report.md'}")
    return report


def run_export(args) -> dict:
    from .export import export_checkpoint

    cfg = config_module.load(args.preset, artifacts=args.artifacts)
    manifest = export_checkpoint(cfg.artifacts_dir, args.output, command="bertmlm " + " ".join(sys.argv[1:]))
    _print_manifest(manifest, f"exported {cfg.artifacts_dir} to {args.output}", args.json)
    return manifest


def run_import(args) -> dict:
    from .. import instructor

    cfg = config_module.load(args.preset, artifacts=args.artifacts)
    manifest = instructor.import_checkpoint(args.file, cfg)
    _print_manifest(manifest, f"imported {args.file} into {cfg.artifacts_dir}", args.json)
    return manifest


def _print_manifest(manifest: dict, what: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(manifest, indent=1))
        return
    made = manifest["provenance"]
    heldout = (made.get("heldout") or {}).get("masked_accuracy")
    print(f"{what}: vocabulary {manifest['config']['vocab_size']:,}, length {manifest['config']['max_length']}, "
          f"pretrained {made.get('minutes')} min ({made.get('steps')} steps)"
          + (f", held-out masked accuracy {heldout:.1%}" if heldout is not None else ""))


def run_runs(args) -> list:
    from . import runs

    rows = runs.collect(args.folders or [config_module.cache_root() / "artifacts"])
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(runs.table(rows))
    return rows


# ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    """Entry point of the `bertmlm` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        _join_cluster(args)
        args.run(args)
    except BertmlmError as exc:
        if args.debug:
            raise
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: stopped by Ctrl-C or kill; finished outputs are kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def console() -> None:
    """The `bertmlm` command: `main`, then exit. After Ctrl-C (outputs already saved) the process ends
    at once: TensorFlow's input threads, stopped mid-batch, can otherwise hold up the interpreter's exit."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
