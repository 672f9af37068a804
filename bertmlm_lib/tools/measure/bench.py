"""Benchmark: training speed of our MLM model against a model built the reference tutorial's way.

Both models use the reference config (vocabulary 30,000, length 256, dim 128, 8 heads, FF 128,
1 layer, batch 32, Adam 1e-3) on the same real reviews with the same masks:

- **reference**: a softmax over all 30,000 words at all 256 positions, labels everywhere, sample
  weights 1 at the masked positions and 0 elsewhere (how the keras-io example trains);
- **bertmlm**: our `BertMaskedLM`: the tied head scores only the real masked tokens of the batch,
  packed into one list (about 62% of the B x P prediction slots on IMDB's length mix).

Steps are timed interleaved (reference, ours, reference, ours, ...) after warm-up, so a noisy
machine slows both alike; we report medians. Peak memory is measured per model in a child process
that builds and trains only that model. `levers=True` also times the intermediate variants, to
show what each change contributes.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import numpy as np

from ... import data
from ...backend import load_tensorflow, peak_rss_mb
from ...config import load as load_config
from ...masking import mask_numpy, max_predictions_for
from ...vectorize import FIRST_WORD_ID, build_vectorizer

load_tensorflow()

import keras  # noqa: E402

from ...model import (BertMaskedLM, PositionEmbedding, encoder_settings, flat_positions,  # noqa: E402
                     interleaved_step_seconds, mlm_loss)

REFERENCE = dict(vocab_size=30_000, max_length=256, embed_dim=128, num_heads=8, ff_dim=128, num_layers=1,
                 batch_size=32, learning_rate=1e-3, dropout=0.1, activation="relu", pre_layer_norm=False,
                 mask_rate=0.15, position_encoding="learned")


def reference_config():
    """The keras-io example's settings as a Config (the `full` preset's starting point)."""
    return load_config("full", **REFERENCE)


def build_reference_model(cfg) -> keras.Model:
    """A model shaped like the reference tutorial's: an encoder block, then a softmax at every position."""
    token_ids = keras.Input((cfg.max_length,), dtype="int32")
    words = keras.layers.Embedding(cfg.vocab_size, cfg.embed_dim)(token_ids)
    x = words + PositionEmbedding(cfg.max_length)(words)
    attention = keras.layers.MultiHeadAttention(num_heads=cfg.num_heads, key_dim=cfg.embed_dim // cfg.num_heads)(x, x, x)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x + keras.layers.Dropout(cfg.dropout)(attention))
    hidden = keras.layers.Dense(cfg.ff_dim, activation="relu")(x)
    feed_forward = keras.layers.Dense(cfg.embed_dim)(hidden)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x + keras.layers.Dropout(cfg.dropout)(feed_forward))
    probabilities = keras.layers.Dense(cfg.vocab_size, activation="softmax")(x)
    model = keras.Model(token_ids, probabilities, name="reference_mlm")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy())  # jit_compile "auto": off on a CPU
    return model


def build_our_model(cfg, jit_compile: bool = False) -> keras.Model:
    """Our BertMaskedLM on the same config and optimizer (XLA only when asked: see config.jit_compile)."""
    model = BertMaskedLM(encoder_settings(cfg), cfg.vocab_size)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=mlm_loss(), jit_compile=jit_compile)
    return model


def benchmark_batches(cfg, count: int = 4, data_path=None, seed: int = 0) -> list[dict]:
    """`count` batches of real reviews (encoded at the reference length) with BERT masks.

    Each batch holds the inputs of every variant: ours gets the real predictions packed (`[N]`);
    the "slots" lever scores all B x P prediction slots (unused ones with weight 0); the reference
    gets labels at all positions with weights 1 where a word was chosen.
    """
    imdb = data.load_imdb(data_path, train_reviews=cfg.batch_size * count, test_reviews=2, unsup_reviews=2,
                          seed=seed, progress=False)
    vectorizer = build_vectorizer(imdb.train.texts, cfg.vocab_size, cfg.max_length)
    ids = vectorizer.encode(imdb.train.texts)
    batches = []
    for i in range(count):
        rows = ids[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        out = mask_numpy(rows, seed=seed + i, vocabulary_size=cfg.vocab_size, mask_rate=cfg.mask_rate)
        weights_all = np.zeros(rows.shape, np.float32)
        np.put_along_axis(weights_all, out["mask_positions"], out["mask_weights"], axis=1)
        rows_of_slots = [list(row) for row in out["mask_positions"]]
        rows_of_real = [[p for p, w in zip(row, weights) if w > 0]
                        for row, weights in zip(out["mask_positions"], out["mask_weights"])]
        batches.append({
            "ours": ({"token_ids": out["token_ids"], "mask_positions": flat_positions(rows_of_real, cfg.max_length)},
                     out["mask_ids"][out["mask_weights"] > 0], None),
            "slots": ({"token_ids": out["token_ids"], "mask_positions": flat_positions(rows_of_slots, cfg.max_length)},
                      out["mask_ids"].reshape(-1), out["mask_weights"].reshape(-1)),
            "reference": (out["token_ids"], rows, weights_all),
            "real_tokens": int((rows >= FIRST_WORD_ID).sum()),
            "predictions": int(out["mask_weights"].sum()),
        })
    return batches


def variants(cfg, levers: bool) -> dict:
    """name -> (model factory, which batch inputs it takes)."""
    chosen = {
        "reference": (lambda: build_reference_model(cfg), "reference"),
        "bertmlm": (lambda: build_our_model(cfg, jit_compile=cfg.jit_compile), "ours"),  # as shipped
    }
    if levers:
        chosen["all_prediction_slots"] = (lambda: build_our_model(cfg), "slots")
        chosen["bertmlm_with_xla"] = (lambda: build_our_model(cfg, jit_compile=True), "ours")
    return chosen


def time_interleaved(cfg, steps: int = 10, levers: bool = False, data_path=None) -> dict:
    """Median seconds per training step of each variant, timed in turns on the same batches.

    Warm-up runs every batch twice first: each new number of predictions traces the step once more.
    """
    batches = benchmark_batches(cfg, data_path=data_path)
    load_tensorflow().get_logger().setLevel("ERROR")  # retracing notes during warm-up are expected
    runs = {name: (factory(), [batch[kind] for batch in batches]) for name, (factory, kind) in variants(cfg, levers).items()}
    timings = interleaved_step_seconds(runs, steps=steps, warmup=2 * len(batches))
    out = {}
    for name, values in timings.items():
        median = statistics.median(values)
        out[name] = {"step_seconds_median": round(median, 4), "step_seconds_min": round(min(values), 4),
                     "step_seconds_max": round(max(values), 4), "samples_per_s": round(cfg.batch_size / median, 2)}
    out["_batch"] = {"predictions_per_batch": statistics.mean(b["predictions"] for b in batches),
                     "prediction_slots_per_batch": cfg.batch_size * max_predictions_for(cfg.max_length, cfg.mask_rate)}
    return out


def peak_memory_mb(name: str, steps: int = 4, data_path=None) -> float:
    """Peak resident memory (MB) of a fresh process that builds and trains only this variant."""
    command = [sys.executable, "-m", "bertmlm_lib.tools.measure.bench", "--memory-of", name, "--steps", str(steps)]
    if data_path:
        command += ["--data", str(data_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe for {name} failed: {done.stderr[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _memory_probe(name: str, steps: int, data_path=None) -> float:
    cfg = reference_config()
    factory, kind = variants(cfg, levers=True)[name]
    batches = benchmark_batches(cfg, data_path=data_path)
    model = factory()
    for step in range(steps):
        x, y, w = batches[step % len(batches)][kind]
        model.train_on_batch(x, y, sample_weight=w)
    return peak_rss_mb()


def run(steps: int = 10, levers: bool = False, memory: bool = True, data_path=None) -> dict:
    """The whole benchmark: interleaved speed, then memory per model; returns the report."""
    cfg = reference_config()
    speed = time_interleaved(cfg, steps=steps, levers=levers, data_path=data_path)
    report = {name: values for name, values in speed.items() if not name.startswith("_")}
    if memory:
        for name in report:
            report[name]["peak_rss_mb"] = round(peak_memory_mb(name, data_path=data_path), 1)
    report["ratio"] = round(report["bertmlm"]["samples_per_s"] / report["reference"]["samples_per_s"], 2)
    report["config"] = {k: getattr(cfg, k) for k in REFERENCE}
    report["batch"] = speed["_batch"]
    report["steps_timed"] = steps
    return report


def format_report(report: dict) -> str:
    """Readable lines, then the JSON summary as the last line."""
    lines = [f"{'model':24}{'samples/s':>11}{'s/step (median, min-max)':>30}{'peak RSS':>12}"]
    for name, values in report.items():
        if isinstance(values, dict) and "samples_per_s" in values:
            rss = f"{values['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in values else "-"
            spread = f"{values['step_seconds_median']:.3f} ({values['step_seconds_min']:.3f}-{values['step_seconds_max']:.3f})"
            lines.append(f"{name:24}{values['samples_per_s']:>11.1f}{spread:>30}{rss:>12}")
    lines.append(f"speed ratio bertmlm / reference: {report['ratio']:.2f}x (medians of {report['steps_timed']} interleaved steps)")
    summary = {name: values for name, values in report.items() if isinstance(values, dict) and "samples_per_s" in values}
    lines.append(json.dumps({**summary, "ratio": report["ratio"]}))
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python -m bertmlm_lib.tools.measure.bench --memory-of NAME`: the child process of `peak_memory_mb`."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-of", required=True)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    print(_memory_probe(args.memory_of, args.steps, args.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
