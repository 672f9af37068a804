"""From raw data to each stage's artifacts: what `bertmlm run`, the CLI and the lessons' set-up cells call.

The lesson modules teach one idea each and take what they need as arguments (reviews, a
vocabulary, an encoder). This module gets those ready from an artifacts folder, building what is
missing: the reviews, the vocabulary, the pretrained encoder (or, said out loud, the instructor's),
the fine-tuned model, and the one evaluation that writes `finetune/evaluate.json`.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from . import archive, data, end_to_end, evaluate, instructor, vocabularies
from .artifacts import (
    ENCODER_FILE,
    EVALUATE_FILE,
    FINETUNE_FOLDER,
    FINETUNE_SUMMARY,
    MODEL_FILE,
    ensure_folder,
    read_json,
    write_json,
)
from .backend import release_free_memory
from .checkpoints import checkpoint_folder, load_encoder
from .classifier import classifier_for, encode_reviews
from .config import Config, with_saved_defaults
from .finetune import FinetuneResult, Recipe, finetune
from .model import build_encoder
from .pretrain import Corpus, prepare_corpus, pretrain
from .vectorize import VOCABULARY_FIELDS, VOCABULARY_FILE, Vectorizer, count_words, most_frequent

VOCABULARY_SUMMARY = "vectorize.json"


# ------------------------------------------------------------------------------------------
# Reviews and vocabulary
# ------------------------------------------------------------------------------------------


def reviews(cfg: Config, data_path=None, progress: bool = True, unlabelled: bool = True) -> data.Imdb:
    """The preset's reviews; without the 50,000 unlabelled ones if only labelled reviews are needed."""
    imdb = data.load_imdb(data_path, cfg=cfg, progress=progress, unsup_reviews=None if unlabelled else 0)
    release_free_memory()  # parsing the packed copies leaves their whole text freed but held
    return imdb


def labelled_splits(cfg: Config, imdb: data.Imdb) -> tuple[data.Split, data.Split]:
    """(train, validation): the preset's validation share carved from train, stratified."""
    return data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)


def _with_unlabelled(cfg: Config, imdb: data.Imdb | None) -> data.Imdb | None:
    """`imdb` if it holds the preset's pretraining reviews, else None (it was read without the unlabelled
    ones, so a vocabulary or corpus made from it would not be the preset's)."""
    if imdb is not None and not imdb.unsup.texts and cfg.unsup_reviews != 0:
        return None
    return imdb


def build_vocabulary(cfg: Config, data_path=None, progress: bool = True, imdb=None) -> dict:
    """Build the preset's vocabulary from the pretraining corpus, save it, and return a summary."""
    folder = ensure_folder(cfg.artifacts_dir)
    imdb = _with_unlabelled(cfg, imdb) or reviews(cfg, data_path, progress)
    corpus = imdb.pretraining_texts()
    started = time.perf_counter()
    counts = count_words(corpus)
    vectorizer = vocabularies.build(cfg, corpus, counts=counts)
    adapt_seconds = time.perf_counter() - started
    path = vectorizer.save(folder, cfg=cfg)
    summary = {
        "vocabulary": str(path), "tokenizer": vectorizer.KIND, "vocabulary_size": vectorizer.vocabulary_size, "max_length": cfg.max_length,
        "fingerprint": vectorizer.fingerprint, "corpus_reviews": len(corpus), "adapt_seconds": round(adapt_seconds, 2),
        "coverage": vectorizer.coverage(corpus, counts=counts),
        "most_frequent": [word for word, _ in most_frequent(counts, 10)],
    }
    write_json(folder / VOCABULARY_SUMMARY, {"config": cfg.to_dict(), **summary})
    return summary


def vocabulary(cfg: Config, data_path=None, progress: bool = True, imdb=None, save: bool = True) -> Vectorizer:
    """The preset's vocabulary from the artifacts folder if it was built from the same settings, else built now
    (and saved, unless `save` is False: a multi-worker run's other workers build the same one in memory)."""
    path = cfg.artifacts_dir / VOCABULARY_FILE
    built_with = (read_json(path, "vocabulary", "").get("built_with") or {}) if path.is_file() else {}
    built_with = with_saved_defaults(built_with) if built_with else {}  # a file from before `tokenizer` holds words
    if not all(built_with.get(name) == getattr(cfg, name) for name in VOCABULARY_FIELDS):
        if not save:
            imdb = _with_unlabelled(cfg, imdb) or reviews(cfg, data_path, progress)
            return vocabularies.build(cfg, imdb.pretraining_texts())
        build_vocabulary(cfg, data_path, progress=progress, imdb=imdb)
    return vocabularies.load(cfg.artifacts_dir)


# ------------------------------------------------------------------------------------------
# Pretraining
# ------------------------------------------------------------------------------------------

CORPUS_FORMAT = 1  # raise when `prepare_corpus` or the vocabulary's encoding changes what it makes


def corpus_key(cfg: Config, vectorizer: Vectorizer) -> str:
    """What the encoded pretraining corpus depends on, hashed: the vocabulary, the length, the reviews
    chosen (sizes and seed) and the held-out share. The archive itself is named by the cache folder."""
    facts = {"format": CORPUS_FORMAT, "vocabulary": vectorizer.fingerprint, "max_length": cfg.max_length,
             **{name: getattr(cfg, name) for name in ("seed", "heldout_reviews", "train_reviews", "test_reviews",
                                                       "unsup_reviews")}}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()


def pretraining_corpus(cfg: Config, vectorizer: Vectorizer, data_path=None, progress: bool = True,
                       imdb: data.Imdb | None = None) -> Corpus:
    """The encoded pretraining corpus (`pretrain.prepare_corpus`), kept beside the extracted archive.

    Encoding ~75,000 reviews takes seconds and, inside TensorFlow, a few hundred MB of memory that a
    kernel keeps afterwards; loading the kept ids takes neither, and needs no review text in memory
    (lesson 05 then fits Binder's memory). Reviews are read (or `imdb` used) only to make it.
    """
    imdb = _with_unlabelled(cfg, imdb)
    root = imdb.root if imdb is not None else archive.prepare_dataset(data_path, progress=progress)
    key = corpus_key(cfg, vectorizer)
    kept = archive.read_cached_arrays(root, "corpus", key)
    if kept is not None and {"train_ids", "heldout_ids"} <= kept.keys():
        return Corpus(train_ids=kept["train_ids"], heldout_ids=kept["heldout_ids"])
    texts = (imdb or reviews(cfg, data_path, progress)).pretraining_texts()
    corpus = prepare_corpus(texts, vectorizer, cfg)
    del texts, imdb
    archive.write_cached_arrays(root, "corpus", key, {"train_ids": corpus.train_ids, "heldout_ids": corpus.heldout_ids})
    release_free_memory()
    return corpus


def pretrained_encoder(cfg: Config, vectorizer: Vectorizer, data_path=None, progress: bool = True):
    """The encoder pretrained in this artifacts folder. If there is none (and only then), the shipped
    instructor model when it fits the preset and vocabulary, else one pretrained now; either way the
    choice is printed. A damaged encoder or one of another vocabulary is an error, not a fallback."""
    folder = checkpoint_folder(cfg)
    if (folder / ENCODER_FILE).is_file():
        return load_encoder(cfg, vectorizer)
    if instructor.shipped_fits(cfg, vectorizer):
        print(f"no pretrained encoder in {folder}: using the instructor's model "
              f"({instructor.describe(instructor.SHIPPED)})")
        instructor.import_checkpoint(instructor.SHIPPED, cfg)
        return load_encoder(cfg, vectorizer)
    print(f"no pretrained encoder in {folder}, and the instructor's model does not fit preset {cfg.preset!r}: "
          f"pretraining one now ({cfg.pretrain_minutes or 'no'} minute budget)")
    model, _ = pretrain(cfg, pretraining_corpus(cfg, vectorizer, data_path, progress), vectorizer, show=False)
    return model.encoder


def instructor_artifacts(cfg: Config) -> Path | None:
    """An artifacts folder holding the instructor's pretrained model for this preset (`<artifacts>-instructor`,
    unpacked from the shipped checkpoint the first time), or None when the checkpoint does not fit the preset.
    Either way one line says which."""
    folder = cfg.replace(artifacts=f"{cfg.artifacts_dir}-instructor")
    problems = instructor.shipped_problems(cfg)
    if problems:
        print(f"the shipped instructor checkpoint does not fit preset {cfg.preset!r} ({'; '.join(problems)}): "
              "run this in the workshop preset to compare.")
        return None
    if not (checkpoint_folder(folder) / ENCODER_FILE).is_file():
        instructor.import_checkpoint(instructor.SHIPPED, folder)
    print(f"the instructor's model ({instructor.describe(instructor.SHIPPED)}), in {folder.artifacts_dir}")
    return folder.artifacts_dir


# ------------------------------------------------------------------------------------------
# Fine-tuning
# ------------------------------------------------------------------------------------------


def run_finetuning(cfg: Config, data_path=None, progress: bool = True, from_scratch: bool = False,
                   train_reviews: int | None = None, imdb=None, vectorizer=None) -> dict:
    """The fine-tuning stage on one device: reviews, vocabulary and encoder from the artifacts (`from_scratch`:
    a random encoder), two-phase fine-tuning (`fine_tune`), then the end-to-end model saved (`save_finetuned`).
    Returns its summary. `train_reviews` keeps a label-balanced share of the labelled reviews (a lesson's
    slot); None: all. (`bertmlm finetune` runs the same with a lock and under a strategy.)"""
    started = time.monotonic()
    vectorizer, train, validation = finetuning_inputs(cfg, data_path, progress, train_reviews, imdb, vectorizer)
    encoder = starting_encoder(cfg, vectorizer, from_scratch, data_path, progress)
    classifier, result = fine_tune(cfg, vectorizer, encoder, train, validation, from_scratch, progress)
    facts = {"from_scratch": from_scratch, "train_reviews": len(train), "validation_reviews": len(validation),
             "seconds": round(time.monotonic() - started, 1)}
    return save_finetuned(cfg, vectorizer, classifier, result, facts)


def finetuning_inputs(cfg: Config, data_path=None, progress: bool = True, train_reviews: int | None = None,
                      imdb=None, vectorizer=None) -> tuple[Vectorizer, data.Split, data.Split]:
    """(vectorizer, train, validation) of the fine-tuning stage: the run's vocabulary, and the labelled reviews
    split (a label-balanced `train_reviews` of the training part when given)."""
    vectorizer = vectorizer or vocabularies.load(cfg.artifacts_dir)
    train, validation = labelled_splits(cfg, imdb or reviews(cfg, data_path, progress, unlabelled=False))
    if train_reviews:
        train = data.balanced_subset(train, train_reviews, cfg.seed)
    return vectorizer, train, validation


def starting_encoder(cfg: Config, vectorizer: Vectorizer, from_scratch: bool = False, data_path=None,
                     progress: bool = True):
    """The encoder fine-tuning starts from: the run's pretrained one, or (`from_scratch`) a random one."""
    if from_scratch:
        return build_encoder(cfg, vectorizer.vocabulary_size)
    return pretrained_encoder(cfg, vectorizer, data_path, progress)


def fine_tune(cfg: Config, vectorizer: Vectorizer, encoder, train: data.Split, validation: data.Split,
              from_scratch: bool = False, progress: bool = True):
    """(classifier, result): the preset's classifier on `encoder`, fine-tuned on `train` in two phases (one,
    encoder unfrozen, for a random encoder), validated on `validation`."""
    classifier = classifier_for(encoder, cfg)
    result = finetune(classifier, (encode_reviews(vectorizer, train.texts, cfg), train.labels),
                      (encode_reviews(vectorizer, validation.texts, cfg), validation.labels), cfg,
                      Recipe(frozen_epochs=0 if from_scratch else None), progress=progress)
    return classifier, result


def save_finetuned(cfg: Config, vectorizer: Vectorizer, classifier, result: FinetuneResult, facts: dict) -> dict:
    """Save the classifier as the end-to-end model on raw strings (`finetune/sentiment.keras`) with its
    summary (`finetune/finetune.json`), where lesson 07, `bertmlm evaluate` and `predict` find it."""
    out = ensure_folder(cfg.artifacts_dir / FINETUNE_FOLDER)
    end_to_end.save(end_to_end.build_end_to_end_model(vectorizer, classifier), out / MODEL_FILE)
    summary = {"model": str(out / MODEL_FILE), "val_accuracy": result.val_accuracy, **facts,
               "unfrozen_at_epoch": result.unfrozen_at_epoch, "history": result.history}
    write_json(out / FINETUNE_SUMMARY, summary)
    return summary


def finetuned_model_path(cfg: Config) -> Path:
    """Where the fine-tuning stage saves the end-to-end model."""
    return cfg.artifacts_dir / FINETUNE_FOLDER / MODEL_FILE


def lesson_model(cfg: Config, vectorizer: Vectorizer, data_path=None) -> Path:
    """The end-to-end model lesson 06 saved, for the lessons after it; if it is missing, made now the
    way lesson 06 makes it (the pretrained encoder, else the instructor's; the lesson's share of labels)."""
    path = finetuned_model_path(cfg)
    if not path.is_file():
        print(f"no fine-tuned model in {path.parent}: fine-tuning one now, as lesson 06 does")
        run_finetuning(cfg, data_path, progress=False, train_reviews=cfg.lesson_train_reviews, vectorizer=vectorizer)
    return path


# ------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------


def evaluate_model(cfg: Config, test: data.Split, model=None) -> dict:
    """Score the fine-tuned end-to-end model on `test` once and write `finetune/evaluate.json`: accuracy,
    ROC AUC, confusion, calibration and accuracy by review length. The only place that writes it."""
    model = model or end_to_end.load(finetuned_model_path(cfg))
    probabilities = end_to_end.predict(model, test.texts)
    report = {**evaluate.summary(test.labels, probabilities),
              "calibration": evaluate.calibration(test.labels, probabilities),
              "by_length": evaluate.accuracy_by_length(test.labels, probabilities, data.review_lengths(test.texts))}
    write_json(cfg.artifacts_dir / FINETUNE_FOLDER / EVALUATE_FILE, report)
    return report
