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
# # 01 · The data: 100,000 IMDB reviews, split without leaks
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/01_data.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/01_data.ipynb)
#
# Masked language modeling learns from plain text; sentiment classification learns from labels.
# The IMDB dataset of Maas et al. (2011) has both: 50,000 movie reviews labelled positive or
# negative, and 50,000 unlabelled. In this lesson you will
#
# 1. get the archive,
# 2. look at its splits, labels and review lengths,
# 3. decide which reviews each later stage may read, so the final test score stays honest.
#
# **Time:** 15 minutes in class, together with lesson 02; the notebook runs in about 7 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel,
# the archive already unpacked; the first run also unpacks it).

# %% [markdown]
# *Set-up (helper cell).* Installs the library on Colab and loads the **config**, which holds every
# setting of the pipeline. `BERTMLM_PRESET` picks the preset: `smoke`, `workshop` or `full`.

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import data

cfg = bertmlm_lib.start_lesson()
print(f"preset {cfg.preset!r}: train {cfg.train_reviews or 'all'}, test {cfg.test_reviews or 'all'}, "
      f"unsup {cfg.unsup_reviews or 'all'} reviews")

# %% [markdown]
# ## Where the reviews come from
#
# The official archive is `aclImdb_v1.tar.gz` (84 MB) from Stanford. `load_imdb` looks for it in
# this order:
#
# 1. a path you pass (`data=...` or `--data`): the archive or its extracted folder;
# 2. the `BERTMLM_DATA` environment variable;
# 3. a download, done once, checked against the published sha256.
#
# The smoke preset reads a small, label-balanced **subset**, fixed by the seed. The workshop and
# full presets read all.

# %% [markdown]
# *Statistics:* `describe` counts reviews per split and label, summarises their lengths and finds
# reviews repeated across splits.

# %%
imdb = data.load_imdb(cfg=cfg)
report = data.describe(imdb)
for name, counts in report["splits"].items():
    print(f"{name:6} {counts}")

# %% [markdown]
# ## Labels: positive is 1
#
# A review's label comes from its folder: `pos` becomes **1**, `neg` becomes **0**, and `unsup`
# reviews get **-1** (no label). So a high score means "positive".
#
# The star rating is in each file name (`123_9.txt` is a 9/10). Positive reviews are rated 7-10,
# negative ones 1-4; middling reviews are left out of the dataset.

# %%
print(data.preview(imdb.train, n=4, width=220))

# %% [markdown]
# ## How long is a review?
#
# Later we cut every review to a fixed number of tokens (`cfg.max_length`). The plot and table
# below show how long reviews are, and so how much text a model will not see.

# %%
ax = data.plot_length_histogram(imdb)

# %%
report["lengths_in_words"]

# %% [markdown]
# ## Who may read which review
#
# * **Pretraining** (masked language modeling) needs no labels, so it may read **train + unsup**.
# * **Fine-tuning** learns from train's labels. To choose settings (learning rate, when to stop) it
#   needs a **validation** split carved from train, with the same share of each label (*stratified*).
# * **Test** is read once, at the very end. If test reviews leaked into pretraining or model
#   selection, the final score would flatter the model.
#
# Some reviews appear in more than one split, so `pretraining_texts()` drops any review that is
# also in test.
#
# Validation text (never its label) stays in the pretraining corpus. That is fine: pretraining
# never sees a label.

# %%
train_rest, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
corpus = imdb.pretraining_texts()
print(f"train {train_rest.counts()}  validation {validation.counts()}")
print(f"pretraining corpus: {len(corpus):,} reviews")
print("duplicates:", report["duplicates"])

# %% [markdown]
# ## What this lesson claims, checked
# These `assert` lines run as tests: if a claim stops being true, the lesson fails.

# %%
assert set(imdb.train.labels.tolist()) == {0, 1} and set(imdb.unsup.labels.tolist()) == {-1}
assert (imdb.train.ratings[imdb.train.labels == 1] >= 7).all() and (imdb.train.ratings[imdb.train.labels == 0] <= 4).all()
assert all((label == 1) == ("/pos/" in f) for label, f in zip(imdb.train.labels, imdb.train.files))
assert abs(imdb.train.labels.mean() - 0.5) < 0.01, "train is label-balanced"
assert not set(corpus) & set(imdb.test.texts), "no test review reaches pretraining"
assert not set(validation.files) & set(train_rest.files), "validation is carved out of train"
assert abs(validation.labels.mean() - 0.5) < 0.01, "validation is stratified"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `08_solutions_01_04.ipynb`. Try first!*
#
# 1. Load the data twice with the same preset: are the reviews the same, in the same order? Change
#    `seed` in `config.load(seed=...)` and compare `imdb.train.files[:3]`.
# 2. Before running it, guess the share of reviews longer than 256 words; then compute it with
#    `(data.review_lengths(imdb.train.texts) > 256).mean()`.

# %% [markdown]
# ## Recap
#
# * IMDB has 25,000 train, 25,000 test and 50,000 unlabelled reviews; labels are half positive.
# * Pretraining reads train + unsup, minus copies of test reviews; fine-tuning keeps part of train
#   for validation; test is read once, at the end (lesson 07).
#
# **Next, lesson 02**: the reviews become rows of word ids, with a vocabulary built from them.
