"""A picture of the small BERT, read from the live model (lesson 04).

Every box, shape and parameter count comes from a built `BertMaskedLM`, so the diagram follows the
preset: a second encoder block, wider vectors or another position scheme show up in it.
"""

import textwrap

import numpy as np

from .model import EMBEDDING_LAYER

POSITION_WORDS = {
    "learned": "+ a learned vector per position",
    "sinusoidal": "+ fixed sines and cosines per position",
    "rope": "positions: rotary, inside attention",
    "alibi": "positions: ALiBi distance bias, inside attention",
    "t5": "positions: T5 distance buckets, inside attention",
}


def _count(weights, seen: set) -> int:
    """Parameters of `weights` not counted yet (the tied word vectors live in the embeddings)."""
    fresh = [weight for weight in weights if id(weight) not in seen]
    seen.update(id(weight) for weight in fresh)
    return sum(int(np.prod(weight.shape)) for weight in fresh)


def architecture_rows(mlm) -> list[dict]:
    """The model's parts from input to output: `{"name", "detail", "shape", "parameters"}` each.

    Shapes use B (reviews in a batch), L (tokens per review), D (vector width), N (masked words in
    the batch) and V (vocabulary). Parameters are counted once, where they live: the word vectors
    belong to the embeddings even though the MLM head reuses them.
    """
    s, vocabulary = mlm.encoder_config, mlm.vocabulary_size
    seen: set = set()
    embedding = mlm.encoder.get_layer(EMBEDDING_LAYER)
    rows = [{"name": "token ids", "detail": "one integer per word, 0 = padding", "shape": "[B, L]", "parameters": 0},
            {"name": "embeddings",
             "detail": f"a {s['embed_dim']}-number vector per word id ({vocabulary:,} ids); "
                       f"{POSITION_WORDS[s['position_encoding']]}",
             "shape": f"[B, L, {s['embed_dim']}]", "parameters": _count(embedding.trainable_weights, seen)}]
    for layer in mlm.encoder.layers:
        if layer.name.startswith("encoder_block_"):
            number = int(layer.name.rsplit("_", 1)[1]) + 1
            norm = "LayerNorm before each part" if s["pre_layer_norm"] else "residual + LayerNorm after each part"
            rows.append({"name": f"encoder block {number} of {s['num_layers']}",
                         "detail": f"self-attention, {s['num_heads']} heads, both sides; feed-forward "
                                   f"{s['embed_dim']} -> {s['ff_dim']} -> {s['embed_dim']} ({s['activation']}); {norm}",
                         "shape": f"[B, L, {s['embed_dim']}]", "parameters": _count(layer.trainable_weights, seen)})
        elif layer.name in ("embeddings_norm", "final_norm"):
            target = rows[1] if layer.name == "embeddings_norm" else rows[-1]
            target["parameters"] += _count(layer.trainable_weights, seen)
    rows.append({"name": "MLM head",
                 "detail": f"only the masked positions: dense + GELU + LayerNorm, then a score for each of "
                           f"the {vocabulary:,} words with the word vectors (tied)",
                 "shape": f"[N, {vocabulary:,}]", "parameters": _count(mlm.head.trainable_weights, seen)})
    return rows


def plot_architecture(mlm, ax=None):
    """Boxes from the ids (top) to the MLM head's scores (bottom), with shapes and parameter counts,
    and the arrow that ties the output layer to the word vectors."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    rows = architecture_rows(mlm)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.1 * len(rows) + 0.6), layout="constrained")
    colours = {"token ids": "#eeeeee", "embeddings": "#cfe2f3", "MLM head": "#fce5cd"}
    height, gap = 0.8, 0.35
    for i, row in enumerate(rows):
        top = -i * (height + gap)
        box = FancyBboxPatch((0, top - height), 7.0, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                             facecolor=colours.get(row["name"], "#d9ead3"), edgecolor="#444444")
        ax.add_patch(box)
        ax.text(0.15, top - 0.2, row["name"], fontsize=11, fontweight="bold", va="center")
        ax.text(0.15, top - 0.36, textwrap.fill(row["detail"], 80), fontsize=8.5, va="top", color="#333333",
                linespacing=1.3)
        ax.text(7.2, top - 0.2, row["shape"], fontsize=10, va="center", family="monospace")
        ax.text(7.2, top - 0.45, f"{row['parameters']:,} parameters" if row["parameters"] else "no parameters",
                fontsize=8.5, va="center", color="#333333")
        if i:
            ax.annotate("", xy=(3.5, top), xytext=(3.5, top + gap), arrowprops={"arrowstyle": "->", "color": "#444444"})
    first, last = 1 * (height + gap), (len(rows) - 1) * (height + gap)
    ax.add_patch(FancyArrowPatch((-0.05, -last - height / 2), (-0.05, -first - height / 2),
                                 connectionstyle="arc3,rad=-0.35", arrowstyle="->", linestyle="--", color="#b45f06",
                                 mutation_scale=12))
    ax.text(-0.85, -(first + last) / 2 - height / 2, "the same\nword\nvectors", fontsize=8.5, color="#b45f06",
            ha="center", va="center")
    total = sum(row["parameters"] for row in rows)
    word_vectors = mlm.vocabulary_size * mlm.encoder_config["embed_dim"]
    ax.set_title(f"The small BERT of this preset: {total:,} parameters, "
                 f"{100 * word_vectors / total:.0f}% of them the word vectors", fontsize=11)
    ax.text(3.5, -last - height - 0.2, f"B: reviews in a batch, L: tokens per review (up to "
            f"{mlm.encoder_config['max_length']}), N: masked words in the batch", fontsize=8.5, ha="center", va="top",
            color="#333333")
    ax.set_xlim(-1.4, 9.2)
    ax.set_ylim(-last - height - 0.45, 0.15)
    ax.axis("off")
    return ax

