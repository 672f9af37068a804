"""Why does a 4-minute encoder, fine-tuned, lose to a random one? The diagnosis behind lesson 06.

`python -m bertmlm_lib.tools.measure.why_finetuning --artifacts DIR` on a workshop run's artifacts
(`bertmlm run`, or `experiments/cloze.py workshop`), 500 labels, 2 seeds, 2,000 test reviews:

1. **Weight scale**: the root mean square of each weight, pretrained and random. Pretraining at a
   constant 2e-3 without weight decay grows every weight several times over its initial size.
2. **Where the signal sits**: linear probes on the mean-pooled word embeddings (after their
   LayerNorm) and on the layer's output, for both encoders.
3. **What fine-tuning does with it**: the workshop protocol (same reviews, tokens, steps, frozen
   phase), with each rate of `RATES` recorded (validation and test), so any grid's choice on
   validation can be read off; and with parts swapped (pretrained embeddings on a random layer, and
   the reverse). Adam moves every weight by about the rate per step whatever its size, so a weight
   5x larger changes 5x less, relatively, in the same steps.

`... turns`: after how many minutes of pretraining the fine-tuned encoder passes a random one at 500
labels, on the instructor run's snapshots (5 to 30 minutes), plain and with word vectors shrunk.

Results go to `measured/why_finetuning.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import keras

from ... import config, stages
from ...artifacts import ENCODER_FILE, PRETRAIN_FOLDER, load_model
from ...classifier import accuracy, build_classifier, pooled_features
from ...data import balanced_subset
from ...finetune import finetune
from ...model import build_encoder
from ...experiments import MEASURED
from ...experiments.label_efficiency import (Protocol, _let_go, linear_probe, nested_subsets, scored_arm, summarize, test_subset,
                               validation_subset)
from .label_efficiency import downstream_check

OUT = MEASURED / "why_finetuning.json"
RATES = (3e-4, 1e-3, 3e-3, 1e-2)
GRIDS = {"the curve's grid (3e-4, 1e-3)": (3e-4, 1e-3), "a wider grid (3e-4 to 1e-2)": RATES}


def _log(message: str) -> None:
    print(f"[why {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def weight_scales(encoder) -> dict[str, float]:
    """Root mean square of each kernel and embedding matrix (biases and norms left out)."""
    return {w.path: round(float(np.sqrt(np.mean(np.square(w.numpy())))), 4) for w in encoder.weights
            if w.path.endswith(("kernel", "embeddings"))}


def embeddings_only(encoder) -> keras.Model:
    """The encoder cut after its embeddings' LayerNorm: ids -> the vectors the layer starts from."""
    return keras.Model(encoder.input, encoder.get_layer("embeddings_norm").output, name="bert_encoder")


def swapped(pretrained_path, cfg, vocabulary_size, keep: str):
    """An encoder with the pretrained `keep` part ("embeddings" or "layer") and the rest random."""
    def make():
        encoder = build_encoder(cfg, vocabulary_size)
        source = load_model(pretrained_path, "pretrained encoder", "run `bertmlm pretrain`")
        for target, weight in zip(encoder.weights, source.weights):
            is_embedding = "embedding" in weight.path
            if is_embedding == (keep == "embeddings"):
                target.assign(weight)
        return encoder
    return make


def fine_tune_each_rate(make, train_ids, train_labels, val_ids, val_labels, test_ids, test_labels, cfg, protocol,
                        seed) -> list[dict]:
    """The protocol's fine-tuning from a fresh `make()` at each rate of `RATES`: validation and test accuracy."""
    rows = []
    run_cfg = cfg.replace(batch_size=protocol.batch_size, frozen_steps=protocol.frozen_steps, seed=seed)
    for rate in RATES:
        keras.utils.set_random_seed(seed)
        encoder = make()
        classifier = build_classifier(encoder, dropout=cfg.dropout, windows=protocol.windows_for(encoder))
        result = finetune(classifier, (train_ids, train_labels), (val_ids, val_labels), run_cfg, protocol.recipe(rate))
        rows.append({"rate": rate, "val_accuracy": round(result.val_accuracy, 4), "steps": result.steps,
                     "test_accuracy": round(accuracy(classifier, test_ids, test_labels), 4)})
        del encoder, classifier
        _let_go()
    return rows


def chosen(rows: list[dict], grid) -> float:
    """Test accuracy at the rate of `grid` best on validation."""
    return max((r for r in rows if r["rate"] in grid), key=lambda r: r["val_accuracy"])["test_accuracy"]


def review_vector_spread(features: np.ndarray) -> dict:
    """How alike the mean-pooled review vectors are: their mean pairwise cosine, and the share of their
    energy that varies from review to review (the rest is one direction all reviews share)."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    cosines = (unit @ unit.T)[np.triu_indices(len(unit), 1)]
    return {"mean_cosine": round(float(cosines.mean()), 3),
            "varying_share": round(float(features.var(axis=0).sum() / np.square(features).mean(axis=0).sum()), 3)}


def measure_spread(artifacts: str, reviews: int = 600) -> dict:
    """`review_vector_spread` of the pretrained and a random encoder, at the embeddings and at the layer's
    output, on the first `reviews` training reviews read as the classifier reads them."""
    cfg = config.load("workshop", artifacts=artifacts)
    imdb = stages.reviews(cfg, progress=False, unlabelled=False)
    vectorizer = stages.vocabulary(cfg, imdb=imdb)
    protocol = Protocol.of(cfg)
    ids = vectorizer.encode(imdb.train.texts[:reviews], length=protocol.classifier_length)
    keras.utils.set_random_seed(cfg.seed)
    encoders = {"pretrained": load_model(cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE, "pretrained encoder",
                                         "run `bertmlm pretrain`"),
                "random": build_encoder(cfg, vectorizer.vocabulary_size)}
    result = {f"{name}, {depth}": review_vector_spread(pooled_features(cut(encoder), ids, protocol.windows_for(encoder)))
              for name, encoder in encoders.items()
              for depth, cut in (("embeddings", embeddings_only), ("layer output", lambda e: e))}
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    OUT.write_text(json.dumps({**saved, "review_vector_spread": result, "spread_reviews": reviews}, indent=1) + "\n")
    return result


def measure_the_fix(artifacts: str, sizes=(500, 1000), seeds: int = 3) -> dict:
    """The fix, with the fair protocol: every arm on the curve's subsets, validation and 5,000 test reviews, the
    same steps; word vectors shrunk for both encoders (rates 3e-4, 1e-3, 3e-3 searched on validation), and,
    beside them, both as they are (the curve's grid)."""
    started = time.time()
    cfg = config.load("workshop", artifacts=artifacts)
    imdb = stages.reviews(cfg, progress=False, unlabelled=False)
    vectorizer = stages.vocabulary(cfg, imdb=imdb)
    train, validation = stages.labelled_splits(cfg, imdb)
    validation, test = validation_subset(validation, cfg), test_subset(imdb.test, cfg)
    plain = Protocol.of(cfg, seeds=seeds)
    wider = Protocol.of(cfg, seeds=seeds, rates=(3e-4, 1e-3, 3e-3), shrink_word_vectors=True)
    length = plain.classifier_length
    train_ids, val_ids, test_ids = (vectorizer.encode(s.texts, length=length) for s in (train, validation, test))
    path = cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE
    pretrained = lambda: load_model(path, "pretrained encoder", "run `bertmlm pretrain`")  # noqa: E731
    random = lambda: build_encoder(cfg, vectorizer.vocabulary_size)  # noqa: E731
    arms = {"pretrained": (pretrained, plain), "random": (random, plain),
            "pretrained, word vectors shrunk": (pretrained, wider),
            "random, word vectors shrunk": (random, wider)}
    runs = {n: {name: [] for name in arms} for n in sizes}
    details = {n: {} for n in sizes}

    def summary(seeds_done: int) -> dict:
        return {"artifacts": artifacts, "test_reviews": len(test), "validation_reviews": len(validation),
                "protocol": plain.as_dict(), "wider_rates": list(wider.rates), "seeds_done": seeds_done,
                "rows": [{"labels": n, **summarize(runs[n]), **details[n]} for n in sizes],
                "seconds": round(time.time() - started)}

    for s in range(seeds):
        seed = cfg.seed + s
        subsets = nested_subsets(train.labels, sorted({*sizes, *cfg.label_sizes}), seed)
        for n in sizes:
            indices = subsets[n]
            for name, (make, protocol) in arms.items():
                arm = scored_arm(make, train_ids[indices], train.labels[indices], val_ids, validation.labels, test_ids,
                                 test.labels, cfg, protocol, seed)
                _let_go()
                runs[n][name].append(arm["test_accuracy"])
                details[n].setdefault(f"{name}_rates", []).append(arm["rate"])
                details[n].setdefault(f"{name}_steps", []).append(arm["steps"])
                _log(f"{n} labels, seed {s + 1}/{seeds}, {name}: {arm['test_accuracy']:.4f} (rate {arm['rate']:g})")
        _merge({"fix": summary(s + 1)})  # saved seed by seed
    return summary(seeds)


def measure_where_it_turns(folder: str = "training/instructor", labels: int = 500, minutes=(5, 15, 30),
                           seeds: int = 3, which=("shrunk", "plain")) -> dict:
    """After how many minutes of pretraining does the encoder, fine-tuned, beat a random one at `labels` labels?
    `downstream_check` on the instructor run's snapshots (the full preset's recipe), as the curve fine-tunes
    them and with word vectors shrunk first (the wider grid of the fix), both beside a random encoder."""
    started = time.time()
    cfg = config.load("workshop")
    plain = Protocol(classifier_length=256, frozen_steps=cfg.frozen_steps, batch_size=cfg.batch_size, seeds=seeds)
    shrunk = Protocol(**{**plain.as_dict(), "rates": (3e-4, 1e-3, 3e-3), "probe_grid": plain.probe_grid,
                         "shrink_word_vectors": True})
    result = {"folder": folder, "labels": labels, "minutes": list(minutes)}
    for name, protocol in (("shrunk", shrunk), ("plain", plain)):
        if name not in which:
            continue
        result[name] = downstream_check(folder, labels=labels, protocol=protocol, progress=True, minutes=minutes)
        result["seconds"] = round(time.time() - started)
        _merge({"turns": result})
        _log(f"{name}: " + ", ".join(f"{k} {v['test_accuracy']:.3f}" for k, v in result[name]["runs"].items()))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bertmlm_lib.tools.measure.why_finetuning")
    parser.add_argument("part", nargs="?", choices=["diagnose", "spread", "fix", "turns"], default="diagnose")
    parser.add_argument("--artifacts", default="build/cloze-workshop")
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--test-reviews", type=int, default=2000)
    parser.add_argument("--which", default="shrunk,plain", help="turns: shrunk, plain or both")
    args = parser.parse_args(argv)
    if args.part == "spread":
        _log(f"done: {measure_spread(args.artifacts)}")
        return
    if args.part == "turns":
        measure_where_it_turns(labels=args.labels, seeds=3, which=args.which.split(","))
        return
    if args.part == "fix":
        _log(f"done: {measure_the_fix(args.artifacts, seeds=args.seeds)['rows']}")
        return
    started = time.time()
    cfg = config.load("workshop", artifacts=args.artifacts)
    protocol = Protocol.of(cfg, seeds=args.seeds)
    imdb = stages.reviews(cfg, progress=False, unlabelled=False)
    vectorizer = stages.vocabulary(cfg, imdb=imdb)
    train, validation = stages.labelled_splits(cfg, imdb)
    validation = validation_subset(validation, cfg)
    test = balanced_subset(imdb.test, args.test_reviews, cfg.seed)
    length = protocol.classifier_length
    train_ids, val_ids, test_ids = (vectorizer.encode(s.texts, length=length) for s in (train, validation, test))
    path = cfg.artifacts_dir / PRETRAIN_FOLDER / ENCODER_FILE
    arms = {"pretrained": lambda: load_model(path, "pretrained encoder", "run `bertmlm pretrain`"),
            "random": lambda: build_encoder(cfg, vectorizer.vocabulary_size),
            "pretrained embeddings, random layer": swapped(path, cfg, vectorizer.vocabulary_size, "embeddings"),
            "random embeddings, pretrained layer": swapped(path, cfg, vectorizer.vocabulary_size, "layer")}
    result = {"artifacts": str(args.artifacts), "labels": args.labels, "test_reviews": len(test),
              "validation_reviews": len(validation), "protocol": protocol.as_dict(), "rates": list(RATES),
              "weight_scale": {name: weight_scales(arms[name]()) for name in ("pretrained", "random")},
              "probes": {}, "fine_tuned": {name: [] for name in arms}}
    for s in range(args.seeds):
        seed = cfg.seed + s
        indices = nested_subsets(train.labels, [args.labels], seed)[args.labels]
        labels = train.labels[indices]
        for name in ("pretrained", "random"):
            for depth, cut in (("embeddings", embeddings_only), ("layer output", lambda e: e)):
                encoder = cut(arms[name]())
                features = [pooled_features(encoder, ids, protocol.windows_for(encoder))
                            for ids in (train_ids[indices], val_ids, test_ids)]
                probe = linear_probe(features[0], labels, features[1], validation.labels, protocol.probe_grid, seed)
                score = float((probe["model"].predict(features[2]) == test.labels).mean())
                result["probes"].setdefault(f"{name}, {depth}", []).append(round(score, 4))
                del encoder
                _let_go()
            _log(f"seed {s + 1}: probes {result['probes']}")
        for name, make in arms.items():
            rows = fine_tune_each_rate(make, train_ids[indices], labels, val_ids, validation.labels, test_ids,
                                       test.labels, cfg, protocol, seed)
            result["fine_tuned"][name].append(rows)
            _log(f"seed {s + 1}, {name}: {rows}")
        _merge({**result, "seeds_done": s + 1, "seconds": round(time.time() - started)})
    result["by_grid"] = {grid: {name: [chosen(rows, rates) for rows in runs] for name, runs in result["fine_tuned"].items()}
                         for grid, rates in GRIDS.items()}
    _merge({**result, "seconds": round(time.time() - started)})
    _log(f"done: {result['by_grid']}")


def _merge(part: dict) -> None:
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    OUT.write_text(json.dumps({**saved, **part}, indent=1) + "\n")


if __name__ == "__main__":
    main()
