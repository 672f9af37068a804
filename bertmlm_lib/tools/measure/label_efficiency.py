"""What pretraining buys per label, measured: the label-efficiency curve (`bertmlm run` and the full preset)
and the downstream check on a run's snapshots, with the fair protocol of `experiments.label_efficiency`."""

from __future__ import annotations

import sys
from pathlib import Path
from ...artifacts import PRETRAIN_FOLDER, SNAPSHOT_FOLDER, load_model
from ...baselines import accuracy as baseline_accuracy, tfidf_logistic_regression
from ...checkpoints import read_checkpoint_meta, read_snapshots
from ...config import Config, from_dict, load as load_config
from ...data import load_imdb, split_validation
from ...model import build_encoder
from ... import vocabularies
from ...experiments.label_efficiency import ARMS, Protocol, _let_go, compare_encoders, linear_probe, nested_subsets, probe_features, scored_arm, summarize, validation_subset


def measure(train, validation, test, vectorizer, cfg: Config, encoder_path, sizes, protocol: Protocol | None = None,
            progress: bool = False) -> list[dict]:
    """The label-efficiency rows, one per size: every arm's mean, `_std`, `_runs`, and its rates and steps.

    `protocol` defaults to the preset's (`Protocol.of(cfg)`). With `progress`, one line per fitted
    arm on stderr (the curve takes minutes)."""
    protocol = protocol or Protocol.of(cfg)
    encoders = {"pretrained": lambda: load_model(encoder_path, "pretrained encoder", "run `bertmlm pretrain`"),
                "scratch": lambda: build_encoder(cfg, vectorizer.vocabulary_size)}
    validation = validation_subset(validation, cfg)
    length = protocol.classifier_length
    val_ids, test_ids = (vectorizer.encode(validation.texts, length=length), vectorizer.encode(test.texts, length=length))
    train_ids = vectorizer.encode(train.texts, length=length)
    sizes = sorted({min(int(n), len(train.labels)) for n in sizes})
    runs = {n: {name: [] for name in ARMS} for n in sizes}
    details = {n: {} for n in sizes}
    for s in range(protocol.seeds):
        seed = cfg.seed + s
        subsets = nested_subsets(train.labels, sizes, seed)
        largest = subsets[sizes[-1]]  # every smaller subset is its first n reviews
        probes = {}
        for name, make in encoders.items():  # frozen vectors of the reviews used, once per encoder and seed
            probes[name] = dict(zip(("train", "val", "test"),
                                    probe_features(make, (train_ids[largest], val_ids, test_ids), protocol, seed)))
            _let_go()
        for n, indices in subsets.items():
            labels = train.labels[indices]
            for name, make in encoders.items():
                arm = scored_arm(make, train_ids[indices], labels, val_ids, validation.labels, test_ids, test.labels,
                                 cfg, protocol, seed)
                _let_go()
                runs[n][name].append(arm["test_accuracy"])
                details[n].setdefault(f"{name}_rates", []).append(arm["rate"])
                details[n].setdefault(f"{name}_steps", []).append(arm["steps"])
                details[n].setdefault(f"{name}_reads_tokens", []).append(arm["reads_tokens"])
                if progress:
                    print(f"label efficiency: {n:,} labels, seed {s + 1}/{protocol.seeds}, {name} encoder: test "
                          f"accuracy {arm['test_accuracy']:.3f} (rate {arm['rate']:g} chosen on validation, "
                          f"{arm['steps']} steps)", file=sys.stderr, flush=True)
                probe = linear_probe(probes[name]["train"][:n], labels, probes[name]["val"], validation.labels,
                                     protocol.probe_grid, seed)
                runs[n][f"probe_{name}"].append(float((probe["model"].predict(probes[name]["test"]) == test.labels).mean()))
                details[n].setdefault(f"probe_{name}_C", []).append(probe["C"])
            subset = train.take(indices)
            baseline = tfidf_logistic_regression(subset.texts, subset.labels, validation.texts, validation.labels, seed=seed)
            runs[n]["tfidf"].append(baseline_accuracy(baseline, test.texts, test.labels))
            details[n].setdefault("tfidf_C", []).append(baseline["C"])
    return [{"labels": n, **summarize(runs[n]), **details[n]} for n in sorted(runs)]


def downstream_check(folder, labels: int = 1000, test_reviews: int = 5000, data_path=None,
                     base: Config | None = None, protocol: Protocol | None = None, progress: bool = False,
                     minutes=None) -> dict:
    """What each stretch of pretraining bought downstream, with the fair protocol at `labels` labelled reviews.

    The encoders compared: a random one of the same shape and every snapshot `folder`'s pretraining
    kept (`snapshot_minutes`: each with the step and held-out scores it was taken at); all read
    `folder`'s vocabulary and the same tokens (`compare_encoders`, on `labels` validation reviews
    carved from train and `test_reviews` test reviews). Each run also gets its
    `pretraining_minutes` and `heldout_masked_accuracy`. `minutes` (a list) keeps only those snapshots.
    """
    folder = Path(folder)
    pretrained = folder / PRETRAIN_FOLDER
    meta = read_checkpoint_meta(pretrained)
    base = base or load_config("workshop")
    cfg = from_dict({**meta["config"], "preset": base.preset, "artifacts": str(folder), "seed": base.seed})
    protocol = protocol or Protocol.of(cfg, seeds=3)
    vectorizer = vocabularies.load(folder)
    imdb = load_imdb(data_path, train_reviews=4 * labels, test_reviews=test_reviews, unsup_reviews=2,
                     seed=base.seed, progress=False)
    pool, validation = split_validation(imdb.train, 0.25, base.seed)

    def saved(path):
        return lambda: load_model(path, "pretrained encoder", "run `bertmlm pretrain`")

    untrained = (meta.get("heldout_at_step_0") or {}).get("masked_accuracy")
    encoders = {"random": (lambda: build_encoder(cfg, vectorizer.vocabulary_size), 0.0, untrained)}
    for snap in read_snapshots(pretrained):
        if minutes is not None and float(snap["minutes"]) not in {float(m) for m in minutes}:
            continue
        encoders[f"{snap['minutes']:g} min"] = (saved(pretrained / SNAPSHOT_FOLDER / snap["file"]), float(snap["minutes"]),
                                               snap["heldout"].get("masked_accuracy"))
    report = compare_encoders({name: make for name, (make, _, _) in encoders.items()}, pool, validation, imdb.test,
                              vectorizer, cfg, labels, protocol, progress)
    for name, (_, minutes, masked) in encoders.items():
        report["runs"][name] = {"pretraining_minutes": minutes, "heldout_masked_accuracy": masked, **report["runs"][name]}
    return report
