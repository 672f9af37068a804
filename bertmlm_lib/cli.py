"""The `bertmlm` command: the notebooks' stages, headless.

Every subcommand calls the same library functions the notebooks call. A mistake a user can make
(a wrong path, a damaged archive, a missing artifact) prints one line, `error: ...`, naming the
problem and the fix, and exits with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import config as config_module
from .errors import BertmlmError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _add_common(parser: argparse.ArgumentParser, artifacts: bool = True) -> None:
    parser.add_argument("--preset", choices=config_module.preset_names(),
                        help="sizes and knobs to use (default: $BERTMLM_PRESET, else workshop)")
    parser.add_argument("--data", metavar="PATH",
                        help="aclImdb_v1.tar.gz or an extracted aclImdb folder (default: $BERTMLM_DATA, "
                             "else download the official archive once)")
    if artifacts:
        parser.add_argument("--artifacts", metavar="DIR",
                            help="folder for this run's outputs (default: $BERTMLM_ARTIFACTS, else a "
                                 "per-user cache folder per preset)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
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
    return parser


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------


def data_report(args) -> dict:
    """Counts, lengths and duplicates of the whole archive, plus how the preset will split it."""
    from . import data

    cfg = config_module.load(args.preset)
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
        "cache": str(data.data_cache_dir()),
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


def vectorize_stage(cfg, data_path=None, progress: bool = True) -> dict:
    """Build the preset's vocabulary on the pretraining corpus, save it, and return a summary."""
    from . import data, vectorize
    from .artifacts import ensure_folder, write_json

    folder = ensure_folder(cfg.artifacts_dir)
    imdb = data.load_imdb(data_path, cfg=cfg, progress=progress)
    corpus = imdb.pretraining_texts()
    started = time.perf_counter()
    counts = vectorize.count_words(corpus)
    vectorizer = vectorize.build_vectorizer(corpus, cfg.vocab_size, cfg.max_length, counts=counts)
    adapt_seconds = time.perf_counter() - started
    path = vectorizer.save(folder)
    summary = {
        "vocabulary": str(path),
        "vocabulary_size": vectorizer.vocabulary_size,
        "max_length": cfg.max_length,
        "fingerprint": vectorizer.fingerprint,
        "corpus_reviews": len(corpus),
        "adapt_seconds": round(adapt_seconds, 2),
        "coverage": vectorizer.coverage(corpus, counts=counts),
        "most_frequent": [word for word, _ in vectorize.most_frequent(counts, 10)],
    }
    write_json(folder / "vectorize.json", {"config": cfg.to_dict(), **summary})
    return summary


def run_vectorize(args) -> dict:
    cfg = config_module.load(args.preset, artifacts=args.artifacts)
    summary = vectorize_stage(cfg, args.data, progress=not args.quiet)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        c = summary["coverage"]
        print(f"vocabulary of {summary['vocabulary_size']:,} ids saved to {summary['vocabulary']}\n"
              f"built from {summary['corpus_reviews']:,} reviews in {summary['adapt_seconds']} s; "
              f"most frequent: {', '.join(summary['most_frequent'])}\n"
              f"coverage: {c['known_share']:.1%} of {c['tokens']:,} words known ({c['unknown_rate']:.1%} [UNK]); "
              f"{c['truncated_share']:.0%} of reviews are longer than {summary['max_length']} words and get cut")
    return summary


# ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    """Entry point of the `bertmlm` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BertmlmError as exc:
        if args.debug:
            raise
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: stopped by Ctrl-C; finished outputs are kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
