# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · The model: a small BERT, and a head that only looks where it must
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/04_model.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/04_model.ipynb)
#
# BERT is **embeddings**, transformer **encoder blocks** and an **MLM head** scoring the
# vocabulary at masked positions. You will
#
# 1. see the model in one picture and follow its shapes,
# 2. check that padding changes nothing,
# 3. see why the head scores only masked positions, reusing the embeddings,
# 4. compare it with keras-hub's.
#
# **Time:** 10 minutes in class; the notebook runs in about 13 s in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up (helper cell): imports, config and the vocabulary from lesson 02.*

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
import numpy as np
from bertmlm_lib import config, diagram, model, stages, vectorize

cfg = bertmlm_lib.start_lesson()
vectorizer = stages.vocabulary(cfg)
mlm = model.build_pretraining_model(cfg, vocabulary_size=vectorizer.vocabulary_size)
print(f"preset {cfg.preset!r}: {cfg.num_layers} block(s), {cfg.embed_dim}-dim vectors, {cfg.num_heads} heads, "
      f"{vectorizer.vocabulary_size:,} words")

# %% [markdown]
# ## The whole model in one picture
#
# Ids enter at the top; the MLM head at the bottom reuses the embedding's word vectors (dashed
# arrow), which hold most of the parameters.

# %%
ax = diagram.plot_architecture(mlm)

# %% [markdown]
# ## The encoder
#
# * **Embeddings** turn each id into a learned vector, plus a position signal.
# * **Encoder blocks**: self-attention mixes the other real words into each word, in several
#   *heads* at once; a feed-forward network then transforms each position. Each part adds its output
#   to its input (*residual connection*), then normalises (*LayerNorm*).
#
# BERT is *bidirectional*: a word sees both sides, and only padding is masked. A blank may look both
# ways because its own word is hidden. GPT predicts the next word, so its *causal* mask allows
# earlier words only. Both masks, 7 words padded to 10 (white: allowed):

# %%
axes = model.plot_attention_masks(real=7, length=10)

# %% [markdown]
#
# **Left out.** BERT reads sentence *pairs* (`[CLS]`, `[SEP]`, segment embeddings) and trains
# *next-sentence prediction*. A review is one text, so we drop both; lesson 06 averages word
# vectors instead.

# %%
mlm.encoder.summary()

# %% [markdown]
# ## The shapes
#
# **B** reviews per batch, **L** tokens each (`max_length`), **D** numbers per vector
# (`embed_dim`), **V** vocabulary words, **N** masked tokens.
#
# Ids `[B, L]` leave the encoder as `[B, L, D]`. The head gathers the N masked vectors, `[N, D]`,
# from one flat list of positions (`row * L + position`) and scores every word for each: `[N, V]`
# raw scores (*logits*).

# %%
sentences = ["i have watched this [mask] and it was awesome", "the [mask] was [mask] but too long"]
token_ids = vectorizer.encode(sentences)
masks_per_row = [np.flatnonzero(row == vectorize.MASK_ID).tolist() for row in token_ids]
positions = model.flat_positions(masks_per_row, cfg.max_length)
vectors = mlm.encoder(token_ids)
logits = mlm({"token_ids": token_ids, "mask_positions": positions})
print("token ids      ", token_ids.shape)
print("encoder output ", tuple(vectors.shape))
print("masks per row  ", masks_per_row, "-> packed", positions.tolist())
print("head output    ", tuple(logits.shape), "-> one score per vocabulary word for each masked token")

# %% [markdown]
# ## Word order
#
# Attention alone ignores order; a position signal (`cfg.position_encoding`) adds it:
#
# * **Added to the word vector**: a *learned* vector per position (`"learned"`, BERT's) or fixed
#   sines and cosines (`"sinusoidal"`).
# * **Inside attention**: **rotary** (`"rope"`, our presets) turns each query and key by an angle
#   growing with position, so their score depends only on distance. A fresh RoPE model spreads
#   attention evenly and learns which distances matter. **ALiBi** (`"alibi"`) subtracts a penalty
#   growing with distance, favouring neighbours from the start. **T5** (`"t5"`) learns a bias per
#   distance bucket.
#
# Below: ALiBi's penalty in two heads (darker: less attention), and a RoPE score by distance from
# two starts: the curves match.

# %%
import matplotlib.pyplot as plt

print("position signal of this preset:", cfg.position_encoding)
print("T5 buckets of positions 0-20 seen from position 10:", np.asarray(model.relative_buckets(21))[10].tolist())
bias = np.asarray(model.alibi_bias(cfg.num_heads, 24))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
for ax, head in zip(axes, (0, cfg.num_heads - 1)):
    shown = ax.imshow(bias[head], cmap="magma", vmin=bias.min(), vmax=0)  # one colour scale for both heads
    ax.set(title=f"ALiBi head {head + 1}: slope {model.alibi_slopes(cfg.num_heads)[head]:.3g}",
           xlabel="key position j", ylabel="query position i")
fig.colorbar(shown, ax=axes[:2], label="added to the attention score")
q, k = np.random.default_rng(0).normal(size=(2, 1, 1, 1, 16)).astype("float32")
turned_q, turned_k = (np.asarray(model.rotate_by_position(np.tile(v, (1, 80, 1, 1))))[0, :, 0] for v in (q, k))
for start in (0, 30):
    scores = [turned_q[start] @ turned_k[start + d] for d in range(41)]
    axes[2].plot(range(41), scores, linestyle="-" if start == 0 else ":", label=f"query at position {start}")
axes[2].set(title="RoPE: score of one query and key, d apart", xlabel="distance d", ylabel="q . k")
axes[2].legend()
plt.show()

# %% [markdown]
# ## Padding changes nothing
#
# Short reviews are padded with id 0. The **padding mask** keeps real words from attending to it,
# so adding padding must leave their vectors unchanged.

# %%
difference = model.padding_leak(mlm.encoder, token_ids)
print(f"largest change of a real token's vector when padding is added: {difference:.2e}")

# %% [markdown]
# ## The head: masked positions only, tied weights
#
# Only masked positions carry a label (15% in BERT, 25% in our presets), yet the reference tutorial
# scored all V words at all L positions. Ours scores only the **gathered** ones: Dense + GELU +
# LayerNorm, then the **transposed token embedding matrix**: *tied* weights, as in BERT, saving a
# `D x V` matrix.

# %%
print("head reuses the embedding matrix:", mlm.head.token_embedding is model.token_embedding_of(mlm.encoder))
model.parameter_counts(mlm)

# %%
for name in ("workshop", "full"):
    cost = model.head_cost(config.load(name))
    print(f"{name:8}: the output layer scores {cost['positions_scored_reference']:,} positions per batch in the "
          f"reference, at most {cost['positions_scored_masked_head']:,} here: {cost['projection_gflop_reference']:.1f} vs "
          f"{cost['projection_gflop_masked_head']:.1f} GFLOP forward, {cost['saving_factor']:.1f}x less")

# %% [markdown]
# Short reviews save more: empty slots are never scored.

# %% [markdown]
# ## The same BERT in keras-hub
#
# keras-hub builds this model from `TokenAndPositionEmbedding`, `TransformerEncoder` and
# `MaskedLMHead` (`hub.build_hub_mlm`, at our sizes); `BertMaskedLM` is all of BERT in one call.
# Ours is hand-written to be read.
#
# Theirs drops out attention *weights* and scores empty prediction slots too; ours skips both but
# rotates positions in every attention step.

# %%
from bertmlm_lib import hub

import_cost = hub.import_cost_mb()
hub_mlm = hub.build_hub_mlm(cfg, vectorizer.vocabulary_size)
backbone, hub_bert = hub.build_hub_bert(cfg, vectorizer.vocabulary_size)
print(f"importing keras-hub added {import_cost:.0f} MB to this kernel\n")
for name, built in {"ours (this lesson)": mlm, "keras-hub layers, our sizes": hub_mlm,
                    "keras-hub BertMaskedLM": hub_bert}.items():
    parts = ", ".join(f"{part} {count:,}" for part, count in hub.part_counts(built).items())
    print(f"{name:28} {built.count_params():>9,} parameters: {parts}")

# %% [markdown]
# The counts differ where the designs do: keras-hub stores position vectors RoPE does not need;
# `BertBackbone` adds the segments and `[CLS]` pooler we left out.

# %%
review_ids = vectorizer.encode(stages.reviews(cfg, unlabelled=False).train.texts[:512])
batch = hub.masked_batch(review_ids[:cfg.batch_size], cfg, vectorizer.vocabulary_size)
ours_out, hub_out = mlm(batch["ours"][0]), hub_mlm(batch["hub"][0])
print(f"ours:      logits {tuple(ours_out.shape)}: one row per real masked token")
print(f"keras-hub: logits {tuple(hub_out.shape)}: every slot, {batch['slots'] - batch['predictions']:,} "
      f"of the {batch['slots']:,} empty")
step = hub.seconds_per_step({"ours": (mlm, batch["ours"]), "keras-hub": (hub_mlm, batch["hub"])})
print(", ".join(f"{name} {seconds * 1000:.0f} ms per training step" for name, seconds in step.items())
      + f": keras-hub's takes {step['keras-hub'] / step['ours']:.2f}x as long")

# %% [markdown]
# The shared output layer dominates a step, so the gap is small; empty slots and longer reviews
# widen it.
#
# keras-hub's `MaskedLMMaskGenerator` follows lesson 03's recipe: the shares match, the chosen
# words differ.

# %%
masking_check = hub.compare_masking(review_ids, cfg, vectorizer.vocabulary_size)
for name in ("ours", "keras-hub"):
    shares = masking_check[name]
    print(f"{name:9}: {shares['chosen_share']:.1%} of words chosen; of those {shares['masked']:.0%} [mask], "
          f"{shares['replaced']:.0%} random, {shares['kept']:.0%} kept")
print(f"reviews where both chose the same positions: {masking_check['same_positions']:.0%}")

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert tuple(logits.shape) == (3, vectorizer.vocabulary_size)
assert tuple(vectors.shape) == (2, cfg.max_length, cfg.embed_dim)
assert difference < 1e-4, "padding does not leak into real positions"
assert (bias[:, 5, 5] == 0).all() and (bias[0, 5, 9] < bias[0, 5, 6] < 0), "ALiBi: farther costs more"
assert np.allclose([turned_q[0] @ turned_k[d] for d in range(41)], scores, atol=1e-3), "RoPE: only d matters"
assert mlm.head.token_embedding is model.token_embedding_of(mlm.encoder)
assert model.head_cost(cfg)["saving_factor"] >= 3, "scoring only the masked slots: 4x less work at 25% masked, 6.7x at 15%"
assert sum(row["parameters"] for row in diagram.architecture_rows(mlm)) == mlm.count_params(), "the diagram counts every weight once"
assert hub_mlm.count_params() - mlm.count_params() == (cfg.max_length * cfg.embed_dim if cfg.position_encoding != "learned" else 0), \
    "keras-hub's layers at our sizes: the same model but for a table of position vectors"
assert tuple(hub_out.shape[:2]) == batch["hub"][0]["mask_positions"].shape and ours_out.shape[0] == batch["predictions"]
assert abs(masking_check["ours"]["masked"] - masking_check["keras-hub"]["masked"]) < 0.05, "same recipe, other draws"
assert masking_check["same_positions"] < 0.5, "but not the same words"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `08_solutions_01_04.ipynb`. Try first!*
#
# 1. Double `embed_dim`: predict the parameter count, then check with
#    `model.parameter_counts(model.build_pretraining_model(cfg.replace(embed_dim=2 * cfg.embed_dim)))`.
# 2. Without the padding mask, which assert above would fail, and why?

# %% [markdown]
# ## Recap
#
# * Embeddings, encoder blocks attending both ways, and a head scoring only masked positions with
#   tied embeddings.
# * Padding changes nothing; a position signal gives attention word order.
# * keras-hub builds the same model; ours skips two of its costs.
#
# **Next, lesson 05**: we train this model to fill in blanks.
