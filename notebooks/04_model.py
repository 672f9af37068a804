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
# BERT is a stack of transformer **encoder blocks** on top of word and position **embeddings**.
# For masked language modeling, an **MLM head** (the model's last part) turns the vector at each
# masked position into a score for every word of the vocabulary. In this lesson you will
#
# 1. see the whole model in one picture, drawn from your preset, then build the encoder and follow
#    the shapes through it,
# 2. check that padding really changes nothing,
# 3. see why scoring only the masked positions, with the embedding matrix reused as the output
#    layer, makes training several times cheaper,
# 4. build the same model from keras-hub's layers and measure where ours departs from it.
#
# Every function used here lives in `bertmlm_lib/model.py`; the picture comes from `bertmlm_lib/diagram.py`,
# the keras-hub comparison from `bertmlm_lib/hub.py`.
#
# **Time:** 10 minutes in class; the notebook runs in about 19 s in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up (helper cell): Colab install, imports, config, the vocabulary from lesson 02 (built now if missing).*

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
# Drawn from the model the set-up cell just built, so it follows your preset: the boxes, their
# output shapes and their parameter counts are read from it. Ids go in at the top; at the bottom the
# MLM head gives each masked word a score for every vocabulary word, using the same word vectors as
# the embeddings (the dashed arrow). Most of the parameters are those word vectors.

# %%
ax = diagram.plot_architecture(mlm)

# %% [markdown]
# ## The encoder
#
# * **Token embeddings (+ position)**: each word id becomes a learned vector; a position signal tells
#   the model where each word is (attention itself ignores word order; more on this below).
# * **Encoder blocks**: self-attention lets every word look at every other real word and mix in what
#   it finds; it does so several times in parallel (*attention heads*, each free to look for
#   something else). A small feed-forward network then transforms each position. Each part adds its
#   result to its input (a *residual connection*) and rescales it (*LayerNorm*), which keeps a deep
#   stack trainable.
#
# **Both ways at once.** The B of BERT is *bidirectional*: every word attends to the words before it
# and after it in the same step (the only mask hides padding). A language model that predicts the
# *next* word, like GPT, must use a *causal* mask instead, so each word sees only the words before
# it. Filling in a blank is what allows the two-sided view: the word itself is hidden, so looking
# right is not cheating. The two masks, for a review of 7 words padded to 10 (white: allowed):

# %%
axes = model.plot_attention_masks(real=7, length=10)

# %% [markdown]
#
# **What we leave out of BERT.** BERT reads *pairs* of sentences: a `[CLS]` token first, a `[SEP]`
# token after each sentence, and a *segment embedding* (sentence A or B) added to every token. It
# also trained a second task, *next-sentence prediction*: from the `[CLS]` vector, was sentence B
# the one that really followed A? A review is one text and our task never needs two, and RoBERTa
# (Liu et al., 2019) found that dropping next-sentence prediction did not hurt and often helped. So
# our model has no `[CLS]`, no `[SEP]` and no segments. Fine-tuning would train a `[CLS]` vector
# too (RoBERTa has no next-sentence task and still classifies from its first token); lesson 06
# instead averages the vectors of all the review's words (*mean pooling*), which needs no extra token.
#
# The encoder is its own `keras.Model`: fine-tuning (lesson 06) reuses it as it is.

# %%
mlm.encoder.summary()

# %% [markdown]
# ## Following the shapes
#
# Shapes use five letters: **B** reviews per batch, **L** tokens per review (`max_length`), **D**
# numbers per token vector (`embed_dim`), **V** words in the vocabulary, **N** masked tokens in the
# batch. One batch of two sentences goes in as ids `[B, L]` and comes out of the encoder as `[B, L, D]`.
# The head then needs only the masked tokens. We list them for the whole batch in one flat list
# (`row * L + position`): N of them, here 3. The head gathers those N vectors `[N, D]` and scores
# every word of the vocabulary for each: `[N, V]` (these raw scores are called *logits*; a softmax
# turns them into probabilities). The encoder still reads every token, but in the head unused
# prediction slots and unmasked words cost nothing.

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
# ## How the model knows word order
#
# Attention compares every word with every other word, but the comparison itself does not know
# which word came first: shuffle a review and each word meets the same others. So the model needs a
# position signal, and there are two families (`cfg.position_encoding`, this preset uses
# the one printed below):
#
# * **Added to the word vector.** BERT (and the reference tutorial) *learns* one vector per position
#   (`"learned"`); the original transformer added fixed sines and cosines (`"sinusoidal"`).
#   Either way the model has to *learn* that position 17 and position 18 are neighbours.
# * **Inside attention.** **ALiBi** (Press et al., 2022; `"alibi"`) subtracts from each attention
#   score a penalty proportional to the distance between the two words: `slope x |i - j|`, with a
#   different slope per head. Steep heads look almost only at the next few words, gentle heads
#   across the review. **Rotary embeddings** (RoPE, Su et al., 2021; `"rope"`) turn each query and
#   key by an angle that grows with its position, so their dot product depends on how far apart the
#   two words are. ALiBi favours the words next to the mask from the very first step; with RoPE a
#   fresh model still spreads its attention evenly (lesson 05 shows it), but favouring neighbours is
#   easy to learn, since the score already depends on distance.
#   **T5's relative buckets** (Raffel et al., 2020; `"t5"`) *learn* one number per head for each
#   bucket of distance (one bucket each for the nearest distances, wider ones farther away, and
#   separate buckets for words before and after), added to the attention score like ALiBi's penalty
#   but learned, which is the middle way between the two families.
#
# That matters for pretraining: lesson 05 shows a model that, for its first thousands of steps,
# guesses frequent words because it has not yet learned to look at the neighbours of the mask.
# The pictures: ALiBi's penalty for the first and the last head over the first 24 positions
# (darker: less attention allowed), and, for rotary embeddings, the score of one random query and
# one random key placed 0 to 40 positions apart: it depends on the distance only, wherever the pair sits.

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
# Short reviews are padded with id 0 up to `max_length`. The encoder blocks get a **padding mask**, so
# no real word attends to padding. If that works, adding more padding must leave the vectors of the
# real words exactly as they were.

# %%
difference = model.padding_leak(mlm.encoder, token_ids)
print(f"largest change of a real token's vector when padding is added: {difference:.2e}")

# %% [markdown]
# ## The head: only where it must, with the embedding matrix reused
#
# The reference tutorial scored all V words at all L positions, although only the masked 15% of
# positions carry a label (25% in our presets). Our head first **gathers** the masked tokens, then applies Dense + GELU +
# LayerNorm, then multiplies by the **transposed token embedding matrix**: the same weights that
# turned word ids into vectors turn vectors back into word scores ("tied" weights, as in BERT). That
# saves a `D x V` matrix of parameters and ties the input and output meaning of every word.

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
# Packing saves more still: a review shorter than `max_length` has fewer than P masked words, and
# its unused slots are never scored. `bertmlm bench` measures the whole training step, both ways,
# on real reviews (`docs/measurements.md` has the numbers on a 2-core laptop).

# %% [markdown]
# ## The same BERT in keras-hub
#
# [keras-hub](https://keras.io/keras_hub/) is the library of ready-made Keras models you would use
# next. Its layers build this model in a few lines: `TokenAndPositionEmbedding`,
# `TransformerEncoder` and `MaskedLMHead` (`hub.build_hub_mlm` stacks them at your preset's sizes),
# and `BertBackbone` / `BertMaskedLM` are the whole of BERT in two calls. We wrote ours by hand, so
# each part could be read here, and because keras-hub's layers differ from ours in three ways that
# matter on a laptop CPU:
#
# * its encoder block applies dropout to the attention *weights*; ours only to each sub-layer's
#   output;
# * its head scores every prediction slot `[B, P]`, the empty ones too; ours scores a packed list of
#   the real masked tokens;
# * its positions are learned vectors added to the embeddings; ours (in the workshop) are rotary,
#   which cost a little time in every attention step.
#
# The cells below measure what that adds up to. Importing keras-hub loads all its model families, so
# only this section (and `hub.py`) imports it.

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
# The counts differ only where the designs do: keras-hub's embedding holds a table of position
# vectors (`max_length x embed_dim`) where rotary positions need none, and `BertBackbone` adds
# BERT's parts that we left out above: segment embeddings and a `[CLS]` "pooler" layer. The head
# is listed without the word vectors it reuses.
#
# Now one masked batch of real reviews through both, and a training step of each, timed (the median
# of 10 steps after 2 warm-up steps, the two models taking turns, on this machine, now):

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
# Read the ratio with care: it is one batch, timed now, on whatever else your laptop is doing. In the
# workshop preset on an idle 2-core machine, in two runs, we measured 92-94 ms for ours and 106-109 ms
# for keras-hub's (1.14-1.16x): its attention dropout and its empty slots cost more than our rotary
# positions, but at this size most of a step is the output layer both share. The gap grows with the share of empty
# slots and with longer reviews.
#
# keras-hub also masks: `MaskedLMMaskGenerator` takes the same recipe (share chosen; of those, 80%
# `[mask]`, 10% a random word, 10% kept). On the same 512 reviews, both should give the same
# shares, but not the same words: each draws its own random numbers.

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
# 1. Before running it, predict how the number of parameters changes if you double `embed_dim`; then
#    check with `model.parameter_counts(model.build_pretraining_model(cfg.replace(embed_dim=2 * cfg.embed_dim)))`.
# 2. Suppose the encoder blocks got no padding mask. Which assert above would fail, and why?

# %% [markdown]
# ## Recap
#
# * Word vectors (most of the parameters), encoder blocks where every word attends to the words
#   on both sides, and an MLM head that scores only the masked positions, with the word vectors
#   reused as its output layer.
# * Padding changes nothing; rotary positions tell attention how far apart two words are.
# * keras-hub builds the same model from ready-made layers; ours departs where a laptop CPU pays
#   for it (attention-weight dropout, every prediction slot scored).
#
# **Next, lesson 05**: we train this model to fill in blanks, and watch it learn.
