"""Words or pieces, measured: pretrain each tokenizer recipe of `experiments.tokenizers` and compare them
downstream, with the fair protocol of `experiments.label_efficiency`."""

from __future__ import annotations

import time
from pathlib import Path
from ... import stages
from ...pretrain import pretrain
from ...artifacts import ENCODER_FILE, load_model
from ...checkpoints import checkpoint_folder, last_heldout, read_checkpoint_meta
from ...config import Config, load as load_config
from ...data import load_imdb, split_validation
from ...model import build_encoder
from ...experiments.label_efficiency import Protocol, compare_encoders
from ...experiments.tokenizers import RECIPES


def pretrain_recipes(folder, data_path=None, base: Config | None = None, recipes=tuple(RECIPES),
                     progress: bool = False) -> dict:
    """Pretrain each recipe in `folder/<name>` with the base preset's budget (kept if already there)."""
    base = base or load_config("workshop")
    done = {}
    for name in recipes:
        cfg = base.replace(artifacts=str(Path(folder) / name), **RECIPES[name][0])
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
            protocol: Protocol | None = None, progress: bool = False) -> dict:
    """Pretrain every recipe (`pretrain_recipes`), then compare them downstream at `labels` labelled reviews:
    per vocabulary kind, a random encoder and that kind's pretrained ones, on the same reviews."""
    base = base or load_config("workshop")
    protocol = protocol or Protocol(classifier_length=2 * base.max_length, frozen_steps=300, batch_size=32, seeds=3)
    pretrained = pretrain_recipes(folder, data_path, base, progress=progress)
    imdb = load_imdb(data_path, train_reviews=4 * labels, test_reviews=test_reviews, unsup_reviews=2, seed=base.seed,
                     progress=False)
    pool, validation = split_validation(imdb.train, 0.25, base.seed)
    report = {"labels": labels, "protocol": protocol.as_dict(), "base_preset": base.preset,
              "pretrain_minutes": base.pretrain_minutes, "recipes": {}, "by_tokenizer": {}}
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
        result = compare_encoders(encoders, pool, validation, imdb.test, vectorizer, first, labels, protocol, progress)
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
