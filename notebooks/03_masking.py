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
# # 03 · Masking: hiding words on purpose
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/03_masking.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/03_masking.ipynb)
#
# Masked language modeling is a fill-in-the-blank game. We hide some words of a review and ask
# the model to guess them from the words around them. The review itself holds the answers, so
# no labels are needed. In this lesson you will
#
# 1. apply BERT's masking recipe to real reviews and see what it does to each word,
# 2. check its statistics over thousands of words,
# 3. see why masks are drawn afresh every time a review is read,
# 4. play with the recipe in an explorer widget.
#
# The functions live in `bertmlm_lib/masking.py`, the widget in `bertmlm_lib/widgets/`.
#
# **Time:** 10 minutes in class; the notebook runs in about 6 s in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up (helper cell): Colab install, imports, config, the vocabulary from lesson 02 (built now if missing).*

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from IPython.display import HTML, display
from bertmlm_lib import masking, stages, vectorize
from bertmlm_lib.widgets.masking_explorer import masking_explorer, render_masking

cfg = bertmlm_lib.start_lesson()
imdb = stages.reviews(cfg, progress=False)
vectorizer = stages.vocabulary(cfg, imdb=imdb)
rates = dict(mask_rate=cfg.mask_rate, mask_token_share=cfg.mask_token_share, random_token_share=cfg.random_token_share)
validation = stages.labelled_splits(cfg, imdb)[1]
ids = vectorizer.encode(validation.texts[:500])
print(f"preset {cfg.preset!r}: {ids.shape[0]} reviews of {ids.shape[1]} ids, mask rate {cfg.mask_rate:.0%}")

# %% [markdown]
# ## The recipe: 15% (here 25%), then 80 / 10 / 10
#
# BERT **chooses** 15% of each sequence's WordPiece tokens, at most 20 in a 128-token sequence.
# We choose 25% of the real words in the workshop and full presets (`cfg.mask_rate`). Padding,
# `[UNK]` and `[mask]` are never chosen.
#
# The model must predict the original word at every chosen position. What it *sees* there:
#
# * 80% of the time, `[mask]`: the blank to fill;
# * 10% of the time, a **random** word, so it cannot trust every word it sees;
# * 10% of the time, the **original** word, so it also learns about unmasked words (at
#   fine-tuning time there is no `[mask]` at all).
#
# Here is one review after masking. Hover over a word to see what happened to it.

# %%
one = masking.mask_numpy(ids[:1], seed=0, vocabulary_size=vectorizer.vocabulary_size, **rates)
length = int((ids[0] != 0).sum())
display(HTML(render_masking([vectorizer.tokens[i] for i in ids[0, :length]], one["actions"][0, :length].tolist(),
                            [vectorizer.tokens[i] for i in one["token_ids"][0, :length]])))

# %% [markdown]
# ## What the model receives
#
# The model gets the changed review and the *positions* of the chosen words. Only those positions
# are scored, so the costly last layer runs on the chosen tokens alone.
#
# Each review has room for `P` predictions (`mask_rate` x `max_length`, rounded up); unused slots
# get weight 0. `masking.pack_predictions` then packs a batch's real predictions into one list,
# so unused slots cost nothing.

# %%
for name in ("mask_positions", "mask_ids", "mask_weights"):
    print(f"{name:15} {one[name][0].tolist()}")
print("original words at those positions:", [vectorizer.tokens[i] for i in one["mask_ids"][0] if i])

# %% [markdown]
# ## Does it do what it promises?
#
# Over all these reviews the shares should be close to the recipe's.

# %%
many = masking.mask_numpy(ids, seed=1, vocabulary_size=vectorizer.vocabulary_size, **rates)
stats = masking.masking_statistics(many["actions"], ids)
ax = masking.plot_action_shares(stats, cfg.mask_token_share, cfg.random_token_share)
stats

# %% [markdown]
# ## Fresh masks every time
#
# If we masked the corpus once, before training, a review would have the same blanks in every
# epoch, and the model could memorise them. Instead we draw new masks each time a review is read
# (*dynamic masking*, from RoBERTa).
#
# Masks are drawn inside the `tf.data` pipeline that feeds training, so each pass hides different
# words. Here is the same review on two passes:

# %%
stream = masking.mlm_dataset(ids[:1], vectorizer.vocabulary_size, batch_size=1, seed=cfg.seed, shuffle=False,
                             repeat=True, **rates)
passes = [sorted(inputs["mask_positions"].numpy().tolist()) for (inputs, _), _ in zip(stream, range(2))]
for number, positions in enumerate(passes, start=1):
    print(f"pass {number}: chosen positions {positions}")

# %% [markdown]
# ## Explore
#
# Move the sliders: a higher mask rate hides more of each review, so the game gets harder. The two
# shares set the 80 / 10 / 10 split. Type your own text too.

# %%
masking_explorer(vectorizer, validation.texts[:5])

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert abs(stats["chosen_share"] - cfg.mask_rate) < 0.02
assert abs(stats["masked"] / stats["chosen"] - cfg.mask_token_share) < 0.05
assert abs(stats["replaced by a random word"] / stats["chosen"] - cfg.random_token_share) < 0.05
assert (many["token_ids"][many["actions"] == masking.MASKED] == vectorize.MASK_ID).all()
assert (ids[many["actions"] != masking.UNCHANGED] >= vectorize.FIRST_WORD_ID).all(), "only real words are chosen"
assert passes[0] != passes[1], "each pass draws new masks"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `08_solutions_01_04.ipynb`. Try first!*
#
# 1. Predict, then check with the explorer: at a 40% mask rate, how many of a review's words are
#    chosen (the summary line counts them)? How much context is left around each hidden word?
# 2. Set the `[mask]` share to 100%. Which fine-tuning situation does the model then never see?

# %% [markdown]
# ## Recap
#
# * A share of the real words is chosen (25% in our presets, 15% in BERT). Of those, 80% become
#   `[mask]`, 10% a random word and 10% stay as they are. Only chosen words are scored.
# * Masks are drawn afresh each time a review is read.
#
# **Next, lesson 04**: the model that guesses the hidden words.
