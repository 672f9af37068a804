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
# # 07 · End to end: a model that reads raw text, judged once on test
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/07_end_to_end.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/07_end_to_end.ipynb)
#
# In this lesson you will
#
# 1. wrap vectorization and classifier into **one Keras model that takes raw strings**,
# 2. save it as a single `.keras` file and reload it,
# 3. evaluate it once on the **test** reviews and see where it fails,
# 4. type a review and see which words moved the prediction, and where attention looks.
#
# **Time:** 15 minutes in class; the notebook runs in about 39 s in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up (helper cell): imports, config, and lesson 06's classifier (fine-tuned now if missing).*

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import time

import bertmlm_lib
import numpy as np
from bertmlm_lib import data, end_to_end, evaluate, stages, vectorize
from bertmlm_lib.widgets.sentiment import attention_widget, sentiment_widget

cfg = bertmlm_lib.start_lesson()
imdb = stages.reviews(cfg, progress=False, unlabelled=False)
vectorizer = stages.vocabulary(cfg, imdb=imdb)
model_path = stages.lesson_model(cfg, vectorizer)  # lesson 06's model; made now if you skipped it
model = end_to_end.load(model_path)
print(f"preset {cfg.preset!r}: end-to-end model from {model_path}")

# %% [markdown]
# ## One model, raw strings in
#
# `end_to_end.build_end_to_end_model` puts the `TextVectorization` layer of lesson 02 in front of
# the classifier of lesson 06: `[B]` strings -> `[B, L]` ids -> `[B, 1]` probability of "positive".
# Lesson 06 saved this model; the set-up cell reloaded it.

# %%
examples = ["A wonderful, moving film. The cast is superb!", "Dull, predictable and far too long. Avoid."]
print(end_to_end.predict(model, examples))

# %% [markdown]
# ## Save, reload, same answers
#
# The `.keras` file holds the vocabulary, the standardization and every weight. It reloads with
# `safe_mode=True`: no arbitrary code runs.

# %%
copy_path = end_to_end.save(model, cfg.artifacts_dir / "end_to_end_copy.keras")
reloaded = end_to_end.load(copy_path)
difference = float(np.abs(end_to_end.predict(reloaded, examples) - end_to_end.predict(model, examples)).max())
print(f"largest difference after reloading: {difference}")

# %% [markdown]
# ## The test set, once
#
# Every choice so far used validation reviews. Now, once, the test reviews.

# %%
started = time.perf_counter()
probabilities = end_to_end.predict(model, imdb.test.texts)
seconds = time.perf_counter() - started
report = evaluate.summary(imdb.test.labels, probabilities)
print(f"test accuracy {report['accuracy']:.3f}, ROC AUC {report['auc']:.3f} on {report['reviews']:,} reviews "
      f"({len(imdb.test) / seconds:,.0f} reviews/s from raw text)")

# %% [markdown]
# Beside accuracy:
#
# * **ROC AUC** is the chance that a random positive review scores above a random negative one
#   (0.5 is guessing, 1.0 perfect). It ignores the 0.5 threshold.
# * **Calibration** asks: of reviews given about 0.8, are about 80% positive?
#
# The **confusion matrix** counts the four outcomes at the 0.5 threshold; the cell after the plot
# puts it in words.

# %%
ax = evaluate.plot_confusion(report["confusion"])

# %%
counts = report["confusion"]
negatives, positives = counts["true_negative"] + counts["false_positive"], counts["true_positive"] + counts["false_negative"]
print(f"of {positives:,} positive reviews, {counts['false_negative']:,} were called negative "
      f"({counts['false_negative'] / max(positives, 1):.1%}); of {negatives:,} negative reviews, "
      f"{counts['false_positive']:,} were called positive ({counts['false_positive'] / max(negatives, 1):.1%})")

# %% [markdown]
# The reliability plot puts the test reviews into ten bins. Each point is a bin: across, its mean
# prediction; up, the share really positive. On the diagonal: calibrated; below, too sure of
# "positive"; above, too sure of "negative".

# %%
ax = evaluate.plot_reliability(evaluate.calibration(imdb.test.labels, probabilities))

# %% [markdown]
# ## Where does it fail?
#
# Accuracy by review length, then the surest mistakes. Read them: look for sarcasm, "not bad", or
# a verdict hidden in the last line.

# %%
evaluate.accuracy_by_length(imdb.test.labels, probabilities, data.review_lengths(imdb.test.texts))

# %%
for mistake in evaluate.most_confident_mistakes(imdb.test.texts, imdb.test.labels, probabilities, n=3):
    print(f"label {mistake['label']}, P(positive) {mistake['prob_pos']:.2f}: {mistake['text'][:300]}\n")

# %% [markdown]
# ## Try it
#
# Type a review. Each word is tinted by how much leaving it out changes the prediction: green
# pushed towards positive, red towards negative.

# %%
sentiment_widget(lambda texts: end_to_end.predict(model, texts), vectorize.standardize_text, cfg.classifier_length)

# %% [markdown]
# Where does each attention head look? Pick a layer and a head. Rows are the words of your review,
# columns the words they can look at; colour is how much of a row's attention goes there (rows sum
# to 1). Look for rows focused on one column: a neighbour, a sentiment word, or the word itself.
#
# **A caveat**: attention shows where a head *reads from*, not *why* the model decided. For
# "which words mattered", trust the tints above.

# %%
attention_widget(model.get_layer("sentiment_classifier").get_layer("bert_encoder"), vectorizer)

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert difference < 1e-5, "the reloaded model gives the same predictions"
assert report["reviews"] == len(imdb.test) and 0 <= report["accuracy"] <= 1 and 0 <= report["auc"] <= 1
assert sum(report["confusion"].values()) == len(imdb.test) == positives + negatives
assert end_to_end.predict(model, ["great " * 5000]).shape == (1,), "a very long review is cut, not refused"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `10_solutions_06_07.ipynb`. Try first!*
#
# 1. Write a review the model gets wrong on purpose. Which words did it rely on?
# 2. Predict, then check: is the model better on short or on long reviews? Why?

# %% [markdown]
# ## Recap
#
# * One `.keras` file takes raw strings: vectorization, encoder and classifier together.
# * The test reviews are read once: accuracy, AUC, calibration and the confusion matrix.
# * Attention shows where the model looks, not why it decides.
#
# **Next**: the worked solutions in `10_solutions_06_07.ipynb`; then `bertmlm run --preset full` for the hour-long version of everything here, or the instructor's guide (`docs/instructor.md`).
