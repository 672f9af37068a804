"""Time to quality, measured: pretrain each candidate recipe of `experiments.quality` for the same steps
(or minutes) with several seeds, and write the curves that `experiments.quality` reads and draws
(`bertmlm bench --quality`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
import keras
from ... import data, pretrain, vectorize, vocabularies
from ...artifacts import ensure_folder, write_json
from ...config import Config, load as load_config
from ...vectorize import UNK_ID
from .named_words import HIDDEN_SHARE, WORDS_READ, hide_words, named_word_score
from ...experiments.quality import CANDIDATES, COMMON_WORDS, HELDOUT_REVIEWS, PLATEAU_EXIT, REFERENCE_VOCABULARY, label_of, plot_quality, summarize


def candidate_config(name: str, base: Config, **extra) -> Config:
    """The workshop preset with a candidate's overrides, writing to its own artifacts folder."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATES)}")
    folder = Path(base.artifacts_dir) / "quality" / name
    return load_config(base.preset, artifacts=folder, **{**_base_overrides(base), **CANDIDATES[name][1], **extra})


def _base_overrides(base: Config) -> dict:
    keep = ("train_reviews", "test_reviews", "unsup_reviews", "seed", "heldout_reviews")
    return {name: getattr(base, name) for name in keep}


def shared_vocabulary_scores(model, heldout_ds, model_vocabulary_size: int, common: int = COMMON_WORDS) -> dict:
    """Masked accuracy on a held-out set encoded with a vocabulary at least as large as the model's.

    Word ids are sorted by frequency, so a smaller vocabulary is a prefix of a larger one: the
    model reads every id it does not know as `[UNK]`, and is scored on every masked word
    ("all_words": a word it cannot name counts wrong) and on the masked words with ids below
    `common` ("common_words"; both vocabularies know them).
    """
    import numpy as np

    right = total = common_right = common_total = 0
    for inputs, labels in heldout_ds:
        ids = np.asarray(inputs["token_ids"])
        ids = np.where(ids >= model_vocabulary_size, UNK_ID, ids)
        logits = model({"token_ids": ids, "mask_positions": np.asarray(inputs["mask_positions"])}, training=False)
        correct = np.argmax(np.asarray(logits), axis=-1) == np.asarray(labels)
        known = np.asarray(labels) < common
        right, total = right + int(correct.sum()), total + correct.size
        common_right, common_total = common_right + int(correct[known].sum()), common_total + int(known.sum())
    return {"all_words": right / max(total, 1), "common_words": common_right / max(common_total, 1),
            "masked_words": total, "common_share": common_total / max(total, 1)}


def require_prefix(small, large) -> None:
    """Refuse to compare vocabularies unless the smaller one is the first words of the larger."""
    if small.tokens != large.tokens[:len(small.tokens)]:
        raise ValueError("the smaller vocabulary is not a prefix of the larger one: build both from the same "
                         "word counts (`vectorize.build_vectorizer(..., counts=...)`).")


def base_config(preset: str | None = None) -> Config:
    """The preset whose data sizes the benchmark uses, with its fixed held-out set of `HELDOUT_REVIEWS`."""
    return load_config(preset or "workshop", heldout_reviews=HELDOUT_REVIEWS)


def run(steps: int = 1500, names: list[str] | None = None, seeds: int = 1, data_path=None,
        base: Config | None = None, out: str | None = None, progress: bool = True, eval_every: int = 100,
        minutes: float | None = None) -> dict:
    """Pretrain each candidate for `steps` optimizer steps (or `minutes`), `seeds` times; write and return the curves.

    Results are added to an earlier `quality.json` in `out` with the same protocol, so a run can be
    stopped, extended with more seeds, or given more candidates.
    """
    base = base or base_config()
    names = names or list(CANDIDATES)
    imdb = data.load_imdb(data_path, cfg=base, progress=progress)
    texts = imdb.pretraining_texts()
    counts = vectorize.count_words(texts)
    out_folder = ensure_folder(Path(out) if out else Path(base.artifacts_dir) / "quality")
    protocol = {"steps": steps, "minutes": minutes, "eval_every_steps": eval_every, "evaluated_by": "steps",
                "corpus_reviews": len(texts),
                "heldout_reviews": min(base.heldout_reviews, max(1, len(texts) // 5)),
                "heldout_masking": pretrain.HELDOUT_MASKING, "plateau_exit_accuracy": PLATEAU_EXIT}
    report = {"protocol": protocol, "candidates": {},
              "named_words_protocol": {"words_read": WORDS_READ, "hidden_share": HIDDEN_SHARE,
                                       "hidden_seed": base.seed}}
    previous = out_folder / "quality.json"
    if previous.is_file():  # an interrupted or extended run keeps what it already measured
        earlier = json.loads(previous.read_text(encoding="utf-8"))
        if earlier.get("protocol") == protocol:
            report["candidates"] = {k: v for k, v in earlier["candidates"].items()
                                    if k in CANDIDATES and v["overrides"] == CANDIDATES[k][1]}
            if "frequent_word_accuracy" in earlier:
                report["frequent_word_accuracy"] = earlier["frequent_word_accuracy"]
    corpora = {}  # one vectorizer and corpus per (tokenizer, vocabulary, length): the same held-out reviews throughout
    hidden = hide_words(pretrain.heldout_texts(texts, base), seed=base.seed)  # the words every model must name

    def corpus_for(cfg):
        key = (cfg.tokenizer, cfg.vocab_size, cfg.max_length)
        if key not in corpora:
            vectorizer = vocabularies.build(cfg, texts, counts)
            corpora[key] = (vectorizer, pretrain.prepare_corpus(texts, vectorizer, base))
        return corpora[key]

    for name in names:
        entry = report["candidates"].setdefault(name, {"label": label_of(name), "overrides": CANDIDATES[name][1],
                                                       "seeds": {}})
        for seed_index in range(seeds):
            seed = base.seed + seed_index
            if str(seed) in entry["seeds"]:
                continue
            cfg = candidate_config(name, base, pretrain_epochs=100, seed=seed, eval_every=eval_every,  # by steps, not the workshop's 15 s of training
                                   pretrain_minutes=minutes, pretrain_steps=None if minutes else steps)
            vectorizer, corpus = corpus_for(cfg)
            if cfg.vocab_size == REFERENCE_VOCABULARY and cfg.tokenizer == "word":
                report.setdefault("frequent_word_accuracy", pretrain.frequent_word_accuracy(vectorizer))
            vectorizer.save(ensure_folder(cfg.artifacts_dir))
            keras.utils.set_random_seed(seed)
            started = time.monotonic()
            model, result = pretrain.pretrain(cfg, corpus, vectorizer, show=progress)
            shared = None
            if cfg.tokenizer == "word":  # pieces are not a prefix of any word vocabulary: "named words" compares them
                reference, reference_corpus = corpus_for(cfg.replace(vocab_size=max(REFERENCE_VOCABULARY, cfg.vocab_size)))
                require_prefix(vectorizer, reference)
                shared = shared_vocabulary_scores(
                    model, pretrain.datasets(reference_corpus, cfg, reference.vocabulary_size)[1], cfg.vocab_size)
            probe = result.fill_mask[-1]["results"][0]["masks"][0]["predictions"] if result.fill_mask else []
            entry["seeds"][str(seed)] = {
                "steps": result.steps, "training_seconds": result.seconds,
                "wall_seconds": round(time.monotonic() - started, 1), "heldout": result.heldout,
                "curve": [{"step": r["step"], "seconds": round(60 * r["minutes"], 1),
                           "masked_accuracy": r["val_masked_accuracy"], "loss": r["val_loss"]} for r in result.history],
                "probe_top5": [p["token"] for p in probe],
                **({"shared_vocabulary": shared} if shared else {}),
                "named_words": named_word_score(model, vectorizer, hidden),
            }
            entry["summary"] = summarize(entry)
            write_json(out_folder / "quality.json", report)  # after each run: a long benchmark keeps its results
    write_json(out_folder / "quality.json", report)
    plot_quality(report, out_folder / "quality.png")
    return report
