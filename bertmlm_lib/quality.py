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
CANDIDATES: dict[str, dict] = {
    "seed": dict(vocab_size=30_000, max_length=256, embed_dim=128, num_heads=8, ff_dim=128, num_layers=1,
                 batch_size=32, learning_rate=1e-3, schedule="constant", dropout=0.1, pre_layer_norm=False,
                 activation="relu", weight_decay=0.0),
    "workshop_v0": dict(vocab_size=15_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256, num_layers=2,
                        batch_size=64, learning_rate=1e-3, dropout=0.1, pre_layer_norm=False, activation="relu"),
    "cramming": dict(vocab_size=15_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256, num_layers=2,
                     batch_size=64, learning_rate=2e-3, dropout=0.0, pre_layer_norm=True, activation="gelu"),
    "cramming_vocab8k": dict(vocab_size=8_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256, num_layers=2,
                             batch_size=64, learning_rate=2e-3, dropout=0.0, pre_layer_norm=True, activation="gelu"),
    "cramming_vocab8k_lr4e-3": dict(vocab_size=8_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256,
                                    num_layers=2, batch_size=64, learning_rate=4e-3, dropout=0.0,
                                    pre_layer_norm=True, activation="gelu"),
    "cramming_vocab8k_4layers": dict(vocab_size=8_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256,
                                     num_layers=4, batch_size=64, learning_rate=2e-3, dropout=0.0,
                                     pre_layer_norm=True, activation="gelu"),
    "cramming_vocab8k_len64": dict(vocab_size=8_000, max_length=64, embed_dim=128, num_heads=4, ff_dim=256,
                                   num_layers=2, batch_size=128, learning_rate=2e-3, dropout=0.0,
                                   pre_layer_norm=True, activation="gelu"),
    "cramming_vocab8k_batch128": dict(vocab_size=8_000, max_length=128, embed_dim=128, num_heads=4, ff_dim=256,
                                      num_layers=2, batch_size=128, learning_rate=3e-3, dropout=0.0,
                                      pre_layer_norm=True, activation="gelu"),
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
    report = {"minutes": minutes, "corpus_reviews": len(texts), "candidates": {}}
    out_folder = ensure_folder(Path(out) if out else Path(base.artifacts_dir) / "quality")
    for name in names:
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


def plot_quality(report: dict, path=None, ax=None):
    """Held-out masked accuracy against training minutes, one line per recipe."""
    import matplotlib.pyplot as plt

    figure = None
    if ax is None:
        figure, ax = plt.subplots(figsize=(8, 4.5))
    for name, entry in sorted(report["candidates"].items(), key=lambda kv: -kv[1]["heldout"]["masked_accuracy"]):
        curve = entry["curve"]
        vocab = entry["overrides"].get("vocab_size")
        ax.plot([p["minutes"] for p in curve], [100 * p["masked_accuracy"] for p in curve], marker="o",
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


def load_report(folder) -> dict:
    """A saved quality.json (for notebook 05's plot)."""
    return json.loads((Path(folder) / "quality.json").read_text(encoding="utf-8"))
