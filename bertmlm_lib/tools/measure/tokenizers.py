"""Words or pieces, measured: pretrain each tokenizer recipe of `experiments.tokenizers` and compare them
downstream, with the fair protocol of `experiments.label_efficiency`.

The choice is made on validation: the encoders are scored on labelled train reviews held out from the
labels, the rate choice and the probe's grid (`scored_on="validation"`); scoring on test reviews is
kept only to read an earlier comparison again. `wordpiece_words=None` learns the pieces from every
word seen twice or more, not from the most frequent ones only (`subwords.learn_wordpiece`).
"""

from __future__ import annotations

import time
from pathlib import Path
from ... import stages
from ...pretrain import pretrain
from ...artifacts import ENCODER_FILE, load_model
from ...checkpoints import checkpoint_folder, last_heldout, read_checkpoint_meta
from ...config import Config, load as load_config
from ...data import load_imdb, split_validation
from ...errors import ConfigError
from ...subwords import build_wordpiece_vectorizer
from ...vectorize import VOCABULARY_FILE, count_words
from ...model import build_encoder
from ...experiments.label_efficiency import Protocol, compare_encoders
from ...experiments.tokenizers import RECIPES


WORDPIECE_WORDS = 10_000  # how many of the most frequent words `subwords.learn_wordpiece` learns from by default


def learn_pieces_once(configs: list[Config], data_path=None, max_words: int | None = WORDPIECE_WORDS) -> None:
    """Learn one WordPiece vocabulary from the first config's corpus (from its `max_words` most frequent
    words; None: all words seen twice or more) and save it in every config's artifacts folder that has none,
    so the recipes that use pieces share it."""
    missing = [cfg for cfg in configs if not (cfg.artifacts_dir / VOCABULARY_FILE).is_file()]
    if not missing:
        return
    texts = stages.reviews(missing[0], data_path, progress=False).pretraining_texts()
    pieces = build_wordpiece_vectorizer(count_words(texts), missing[0].vocab_size, missing[0].max_length,
                                        max_words=max_words)
    for cfg in missing:
        pieces.save(cfg.artifacts_dir, cfg=cfg)


def pretrain_recipes(folder, data_path=None, base: Config | None = None, recipes=tuple(RECIPES),
                     progress: bool = False, wordpiece_words: int | None = WORDPIECE_WORDS) -> dict:
    """Pretrain each recipe in `folder/<name>` with the base preset's budget (kept if already there); the
    recipes with pieces share one vocabulary learned from `wordpiece_words` words (`learn_pieces_once`)."""
    base = base or load_config("workshop")
    configs = {name: base.replace(artifacts=str(Path(folder) / name), **RECIPES[name][0]) for name in recipes}
    learn_pieces_once([cfg for cfg in configs.values() if cfg.tokenizer == "wordpiece"], data_path, wordpiece_words)
    done = {}
    for name, cfg in configs.items():
        if not (checkpoint_folder(cfg) / ENCODER_FILE).is_file():
            started = time.monotonic()
            vectorizer = stages.vocabulary(cfg, data_path, progress=progress)
            pretrain(cfg, stages.pretraining_corpus(cfg, vectorizer, data_path, progress), vectorizer, show=False)
            if progress:
                print(f"{name}: pretrained in {time.monotonic() - started:.0f} s")
        meta = read_checkpoint_meta(checkpoint_folder(cfg))
        done[name] = {"cfg": cfg, "steps": meta.get("step"), "training_seconds": meta.get("seconds")}
    return done


def compare(folder, data_path=None, base: Config | None = None, labels: int = 1000, test_reviews: int = 5000,
            protocol: Protocol | None = None, progress: bool = False, scored_on: str = "validation",
            wordpiece_words: int | None = WORDPIECE_WORDS) -> dict:
    """Pretrain every recipe (`pretrain_recipes`), then compare them downstream at `labels` labelled reviews:
    per vocabulary kind, a random encoder and that kind's pretrained ones, on the same reviews.

    `scored_on="validation"` scores them on `test_reviews` labelled train reviews that no arm trains or
    chooses on (the report's `test_accuracy` is then that score); "test" scores them on test reviews."""
    if scored_on not in ("validation", "test"):
        raise ConfigError(f"scored_on={scored_on!r}: choose 'validation' (to decide) or 'test' (to report once).")
    base = base or load_config("workshop")
    protocol = protocol or Protocol(classifier_length=2 * base.max_length, frozen_steps=300, batch_size=32, seeds=3)
    pretrained = pretrain_recipes(folder, data_path, base, progress=progress, wordpiece_words=wordpiece_words)
    held = test_reviews if scored_on == "validation" else 0
    imdb = load_imdb(data_path, train_reviews=4 * labels + held, test_reviews=test_reviews if not held else 2,
                     unsup_reviews=2, seed=base.seed, progress=False)
    train, scoring = split_validation(imdb.train, held / len(imdb.train), base.seed + 1) if held else (imdb.train, imdb.test)
    pool, validation = split_validation(train, 0.25, base.seed)
    report = {"labels": labels, "protocol": protocol.as_dict(), "base_preset": base.preset,
              "pretrain_minutes": base.pretrain_minutes, "scored_on": scored_on, "scored_reviews": len(scoring),
              "wordpiece_words": wordpiece_words or "all seen twice or more", "recipes": {}, "by_tokenizer": {}}
    for kind in ("word", "wordpiece"):
        names = [name for name in pretrained if RECIPES[name][0]["tokenizer"] == kind]
        if not names:
            continue
        first = pretrained[names[0]]["cfg"]
        learned = {name: stages.vocabulary(pretrained[name]["cfg"], data_path, progress=False) for name in names}
        vectorizer = learned[names[0]]
        differ = [name for name in names if learned[name].fingerprint != vectorizer.fingerprint]
        if differ:
            raise RuntimeError(f"recipes {names[0]} and {differ[0]} learned different vocabularies: they cannot share one "
                               "comparison")
        encoders = {f"random ({kind})": lambda cfg=first, size=vectorizer.vocabulary_size: build_encoder(cfg, size)}
        for name in names:
            path = checkpoint_folder(pretrained[name]["cfg"]) / ENCODER_FILE
            encoders[name] = lambda path=path: load_model(path, "pretrained encoder", "pretrain it")
        result = compare_encoders(encoders, pool, validation, scoring, vectorizer, first, labels, protocol, progress)
        report["by_tokenizer"][kind] = result
        for name in names:
            heldout = last_heldout(checkpoint_folder(pretrained[name]["cfg"])) or {}
            report["recipes"][name] = {"label": RECIPES[name][1], "settings": RECIPES[name][0],
                                       "pretraining_steps": pretrained[name]["steps"],
                                       "training_seconds": pretrained[name]["training_seconds"],
                                       "heldout_masked_accuracy": heldout.get("masked_accuracy"),
                                       **result["runs"][name]}
        report["recipes"][f"random ({kind})"] = result["runs"][f"random ({kind})"]
        report.setdefault("tfidf", result["tfidf"])
        report.setdefault("tfidf_std", result["tfidf_std"])
    return report
