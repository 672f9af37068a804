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
# The IMDB dataset of Maas et al. (2011) gives us both: 50,000 movie reviews labelled positive or
# negative, and 50,000 more with no label at all. In this lesson you will
#
# 1. get the archive (downloaded once and checked, or a copy you already have),
# 2. look at its splits, labels and review lengths,
# 3. decide which reviews each later stage may read, so that the final test score stays honest.
#
# Every function used here lives in `bertmlm_lib/data.py`.
#
# **Time:** 15 minutes in class, together with lesson 02; the notebook runs in about 12 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel),
# 21 s of it unpacking and reading the archive the first time; later runs skip the unpacking.

# %% [markdown]
# *Set-up (helper cell).* On Colab the library is installed first. Then we check versions and load
# the **config**: one frozen object with every size and knob of the pipeline. The preset comes from
# the `BERTMLM_PRESET` environment variable (`smoke` for quick checks, `workshop` for a class,
# `full` for the reference-sized run).

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
# 1. a path you pass (`data=...`, or `--data` on the command line): the archive or its extracted folder;
# 2. the `BERTMLM_DATA` environment variable;
# 3. a download, done once, checked against the published sha256, kept in your cache folder.
#
# Extraction is careful: members that would land outside the cache folder (absolute paths, `..`,
# links) are refused, and the files are written to a temporary folder that is renamed only once
# complete, so an interrupted run never leaves a half dataset that looks whole.
#
# The smoke preset reads a **subset** (2,000 train, 200 test and 400 unlabelled reviews): the same reviews every time
# for a given seed, with as many positive as negative ones. The workshop and full presets read all.

# %% [markdown]
# *Statistics:* `describe` counts reviews per split and label, summarises their lengths and finds
# reviews that appear word for word in more than one split.

# %%
imdb = data.load_imdb(cfg=cfg)
report = data.describe(imdb)
for name, counts in report["splits"].items():
    print(f"{name:6} {counts}")

# %% [markdown]
# ## Labels: positive is 1
#
# A review's label comes from its folder: `pos` becomes **1**, `neg` becomes **0**, and `unsup`
# reviews get **-1** (no label). The reference keras-io tutorial had this the other way round
# (pos=0), so its "accuracy" and "probability" read backwards; here a high score means "positive".
# The star rating is in each file name (`123_9.txt` is a 9/10): positive reviews are rated 7-10,
# negative ones 1-4, and the middle ground is left out of the dataset on purpose.

# %%
print(data.preview(imdb.train, n=4, width=220))

# %% [markdown]
# ## How long is a review?
#
# Most reviews have between 100 and 300 words, but a long tail runs past 1,000. Later we cut every
# review to a fixed number of tokens (`cfg.max_length`), so this plot tells us how much text a model
# will not see.

# %%
ax = data.plot_length_histogram(imdb)

# %%
report["lengths_in_words"]

# %% [markdown]
# ## Who may read which review
#
# * **Pretraining** (masked language modeling) needs no labels, so it may read **train + unsup**.
# * **Fine-tuning** learns from train's labels. To choose settings (learning rate, when to stop) it
#   needs reviews it does not learn from: a **validation** split carved from train, with the same
#   share of each label (*stratified*).
# * **Test** is read once, at the very end. If test reviews leaked into pretraining or into model
#   selection, the final score would flatter the model. (The reference tutorial pretrained on test
#   reviews and validated on them.)
#
# IMDB repeats a few hundred reviews word for word across splits, so `pretraining_texts()` also
# drops any review that also appears in test.
#
# Note what *is* allowed: the validation reviews are part of train, so their **text** (never their
# label) is in the pretraining corpus. That is fine: pretraining never sees a label, and test stays
# unseen by every stage until the end.

# %%
train_rest, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
corpus = imdb.pretraining_texts()
print(f"train {train_rest.counts()}  validation {validation.counts()}")
print(f"pretraining corpus: {len(corpus):,} reviews")
print("duplicates:", report["duplicates"])

# %% [markdown]
# ## What this lesson claims, checked
# These `assert` lines run as tests (with `pytest --nbval`): if a claim stops being true, the lesson fails.

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
# * IMDB gives 25,000 labelled training reviews, 25,000 labelled test reviews and 50,000 without a
#   label; positive and negative come half and half.
# * Pretraining may read the training and unlabelled reviews (never a copy of a test review);
#   fine-tuning keeps part of the training reviews aside for validation; the test reviews are read
#   once, at the very end (lesson 07), so the final score is honest.
#
# **Next, lesson 02**: the reviews become rows of word ids, with a vocabulary built from them.
