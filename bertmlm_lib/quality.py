"""Time to quality: which pretraining recipe learns the most per CPU-minute?

Every candidate recipe (a set of config overrides on the workshop preset) pretrains for the same
training-time budget on the same corpus; its held-out masked-token accuracy and loss are recorded
against minutes. The curves go to `quality.json` and `quality.png` in the output folder.

Masked accuracy is comparable across recipes with the same vocabulary; a smaller vocabulary turns
more rare words into `[UNK]`, which is never a label, so its task is slightly easier. The report
keeps the vocabulary size beside each curve for that reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .artifacts import ensure_folder, write_json
from .config import Config, load as load_config

# One lever at a time from the first workshop recipe, then combined. Cramming (Geiping & Goldstein,
# 2022) is the anchor: pre-LN, no dropout, a higher peak rate decayed to zero within the budget.
def _cramming(**changes) -> dict:
    """The Cramming-style recipe on the workshop model, with some settings changed."""
    return {**dict(vocab_size=15_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256, num_layers=2,
                   batch_size=64, learning_rate=2e-3, dropout=0.0, pre_layer_norm=True, activation="gelu"), **changes}


def _seed(**changes) -> dict:
    """The reference tutorial's recipe (1 post-LN layer, Adam at a constant 1e-3), with some settings changed."""
    return {**dict(vocab_size=30_000, max_length=256, embed_dim=128, num_heads=8, ff_dim=128, num_layers=1,
                   batch_size=32, learning_rate=1e-3, schedule="constant", dropout=0.1, pre_layer_norm=False,
                   activation="relu", weight_decay=0.0), **changes}


CANDIDATES: dict[str, dict] = {
    # the reference recipe, our first workshop recipe, and Cramming's choices applied to it
    "seed": _seed(),
    "workshop_v0": _cramming(learning_rate=1e-3, dropout=0.1, pre_layer_norm=False, activation="relu"),
    "cramming": _cramming(),
    # one lever at a time from the reference recipe: more steps per minute, then the rate
    "seed_len128": _seed(max_length=128),
    "seed_len128_vocab8k": _seed(max_length=128, vocab_size=8_000),
    "seed_len128_vocab8k_lr2e-3": _seed(max_length=128, vocab_size=8_000, learning_rate=2e-3),
    "seed_len128_vocab8k_linear2e-3": _seed(max_length=128, vocab_size=8_000, learning_rate=2e-3, schedule="linear",
                                            weight_decay=0.01),
    "seed_len128_vocab8k_nodropout": _seed(max_length=128, vocab_size=8_000, dropout=0.0),
    "seed_len128_vocab8k_2layers": _seed(max_length=128, vocab_size=8_000, num_layers=2),
    # cheaper steps allow bigger batches, or shorter reviews
    "seed_len128_vocab8k_batch64_lr3e-3": _seed(max_length=128, vocab_size=8_000, batch_size=64, learning_rate=3e-3),
    "seed_len64_vocab8k_lr2e-3": _seed(max_length=64, vocab_size=8_000, learning_rate=2e-3),
    # is it the length, or the number of updates? Same tokens per step as length 64, at length 128
    "seed_len128_vocab8k_batch16_lr2e-3": _seed(max_length=128, vocab_size=8_000, batch_size=16, learning_rate=2e-3),
    "seed_len128_vocab8k_batch16_lr1e-3": _seed(max_length=128, vocab_size=8_000, batch_size=16, learning_rate=1e-3),
}


def candidate_config(name: str, base: Config, **extra) -> Config:
    """The workshop preset with a candidate's overrides, writing to its own artifacts folder."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATES)}")
    folder = Path(base.artifacts_dir) / "quality" / name
    return load_config(base.preset, artifacts=folder, **{**_base_overrides(base), **CANDIDATES[name], **extra})


def _base_overrides(base: Config) -> dict:
    keep = ("train_reviews", "test_reviews", "unsup_reviews", "seed", "heldout_reviews")
    return {name: getattr(base, name) for name in keep}


def run(minutes: float, names: list[str] | None = None, data_path=None, base: Config | None = None,
        out: str | None = None, progress: bool = True) -> dict:
    """Pretrain each candidate for `minutes` of training time; write and return the curves."""
    from . import data, pretrain, vectorize

    base = base or load_config("workshop")
    names = names or list(CANDIDATES)
    imdb = data.load_imdb(data_path, cfg=base, progress=progress)
    texts = imdb.pretraining_texts()
    counts = vectorize.count_words(texts)
    out_folder = ensure_folder(Path(out) if out else Path(base.artifacts_dir) / "quality")
    report = {"minutes": minutes, "corpus_reviews": len(texts), "candidates": {}}
    previous = out_folder / "quality.json"
    if previous.is_file():  # an interrupted or extended run keeps what it already measured
        earlier = json.loads(previous.read_text(encoding="utf-8"))
        if earlier.get("minutes") == minutes and earlier.get("corpus_reviews") == len(texts):
            report["candidates"] = {k: v for k, v in earlier["candidates"].items() if k in CANDIDATES}
    for name in names:
        if name in report["candidates"] and report["candidates"][name]["overrides"] == CANDIDATES[name]:
            continue
        cfg = candidate_config(name, base, pretrain_epochs=100)
        vectorizer = vectorize.build_vectorizer(texts, cfg.vocab_size, cfg.max_length, counts=counts)
        vectorizer.save(ensure_folder(cfg.artifacts_dir))
        corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
        started = time.monotonic()
        _, result = pretrain.pretrain(cfg, corpus, vectorizer, minutes=minutes, progress=progress,
                                      fill_mask_display=False, eval_every_minutes=minutes / 6)
        probe = result.fill_mask[-1]["results"][0]["masks"][0]["predictions"] if result.fill_mask else []
        report["candidates"][name] = {
            "overrides": CANDIDATES[name], "steps": result.steps, "training_seconds": result.seconds,
            "wall_seconds": round(time.monotonic() - started, 1),
            "samples_per_training_second": round(result.steps * cfg.batch_size / max(result.seconds, 1e-9), 1),
            "heldout": result.heldout,
            "curve": [{"minutes": r["minutes"], "masked_accuracy": r["val_masked_accuracy"], "loss": r["val_loss"]}
                      for r in result.history],
            "probe_top5": [p["token"] for p in probe],
        }
        write_json(out_folder / "quality.json", report)  # after each candidate: a long run keeps its results
    plot_quality(report, out_folder / "quality.png")
    return report


def ranking(report: dict) -> list[tuple[str, dict]]:
    """Candidates from the highest held-out masked accuracy at the end of the budget to the lowest."""
    return sorted(report["candidates"].items(), key=lambda kv: -kv[1]["heldout"]["masked_accuracy"])


def plot_quality(report: dict, path=None, ax=None):
    """Held-out masked accuracy against training minutes, one line per recipe."""
    import matplotlib.pyplot as plt

    figure = None
    if ax is None:
        figure, ax = plt.subplots(figsize=(8, 4.5))
    for index, (name, entry) in enumerate(ranking(report)):
        curve = entry["curve"]
        vocab = entry["overrides"].get("vocab_size")
        ax.plot([p["minutes"] for p in curve], [100 * p["masked_accuracy"] for p in curve], marker="o",
                color=plt.cm.tab20(index % 20),
                label=f"{name} ({entry['heldout']['masked_accuracy']:.1%}, vocab {vocab:,})")
    ax.set_title(f"Time to quality: held-out masked accuracy in {report['minutes']:g} minutes of pretraining")
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel("masked-token accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None and figure is not None:
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
    return ax


MEASURED = Path(__file__).resolve().parent / "measured"


def load_report(folder=None, name: str = "quality.json") -> dict:
    """A saved report: by default the time-to-quality curves measured for the project and shipped with it
    (`name="downstream.json"`: the downstream check at 1,000 labels)."""
    return json.loads((Path(folder or MEASURED) / name).read_text(encoding="utf-8"))


def downstream_check(folders: dict, labels: int = 1000, test_reviews: int = 5000, data_path=None,
                     base: Config | None = None, scratch_like: str | None = None, epochs: int = 4) -> dict:
    """Fine-tune a classifier on `labels` labelled reviews from each pretrained encoder; test accuracy.

    `folders` maps a name to an artifacts folder written by `pretrain` (vocabulary + encoder).
    With `scratch_like=name`, the same classifier is also trained from a randomly initialised
    encoder of that run's shape, and TF-IDF + logistic regression on the same labels. Each arm picks
    its learning rate on validation (from train); test is scored once.
    """
    from . import data, label_efficiency
    from .baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
    from .finetune import accuracy, encode_reviews
    from .artifacts import load_model
    from .config import from_dict
    from .model import build_encoder
    from .pretrain import ENCODER_FILE, PRETRAIN_FOLDER, last_heldout, read_checkpoint_meta
    from .vectorize import Vectorizer

    base = base or load_config("workshop")
    imdb = data.load_imdb(data_path, train_reviews=2 * labels, test_reviews=test_reviews, unsup_reviews=2,
                          seed=base.seed, progress=False)
    train, validation = data.split_validation(imdb.train, 0.5, base.seed)
    report = {"labels": len(train), "validation": len(validation), "test_reviews": len(imdb.test), "runs": {}}
    runs = dict(folders)
    if scratch_like:
        runs["scratch (random encoder)"] = folders[scratch_like]
    for name, folder in runs.items():
        folder = Path(folder)
        vectorizer = Vectorizer.load(folder)
        meta = read_checkpoint_meta(folder / PRETRAIN_FOLDER)
        cfg = from_dict({**meta["config"], "preset": base.preset, "artifacts": str(folder)})
        scratch = name.startswith("scratch")
        make = ((lambda: build_encoder(cfg, vectorizer.vocabulary_size)) if scratch else
                (lambda: load_model(folder / PRETRAIN_FOLDER / ENCODER_FILE, "pretrained encoder", "run `bertmlm pretrain`")))
        started = time.monotonic()
        arm = label_efficiency.fit_arm("scratch" if scratch else "pretrained", make, encode_reviews(vectorizer, train.texts, cfg),
                                       train.labels, encode_reviews(vectorizer, validation.texts, cfg), validation.labels,
                                       cfg.replace(batch_size=32), epochs)
        report["runs"][name] = {
            "pretraining_minutes": 0.0 if scratch else round(float(meta.get("seconds", 0)) / 60, 1),
            "heldout_masked_accuracy": None if scratch else (last_heldout(folder / PRETRAIN_FOLDER) or {}).get("masked_accuracy"),
            "rate": arm.rate, "val_accuracy": arm.val_accuracy,
            "test_accuracy": accuracy(arm.classifier, encode_reviews(vectorizer, imdb.test.texts, cfg), imdb.test.labels),
            "seconds": round(time.monotonic() - started, 1),
        }
    baseline = tfidf_logistic_regression(train.texts, train.labels, validation.texts, validation.labels, seed=base.seed)
    report["tfidf"] = baseline_accuracy(baseline, imdb.test.texts, imdb.test.labels)
    return report
