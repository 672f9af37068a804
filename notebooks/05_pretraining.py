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
# # 05 · Pretraining: watch the model learn to fill in the blanks
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/05_pretraining.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/05_pretraining.ipynb)
#
# The model now plays fill-in-the-blank on thousands of reviews. You will
#
# 1. pretrain the small BERT by masked language modeling, with checkpoints to resume from,
# 2. read its curves on held-out reviews: loss, masked-token accuracy and perplexity,
# 3. have it fill in your sentences,
# 4. see what it learned, beside the instructor's model.
#
# **Time:** 20 minutes in class; the notebook runs in about 2.3 minutes in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up: imports, config, vocabulary and the encoded corpus.*

# %%
import sys
from pathlib import Path

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
import numpy as np
from bertmlm_lib import band, instructor, pretrain, representations, stages, vectorize
from bertmlm_lib.experiments import quality
from bertmlm_lib.fill_mask import PROBES, FillMasker, format_table
from bertmlm_lib.widgets.fill_mask import fill_mask_widget
from bertmlm_lib.widgets.time_lapse import time_lapse_widget

cfg = bertmlm_lib.start_lesson()
vectorizer = stages.vocabulary(cfg, progress=False)
corpus = stages.pretraining_corpus(cfg, vectorizer, progress=False)  # the ids lesson 02 kept (else encoded now)
print(f"preset {cfg.preset!r}: {len(corpus.train_ids):,} reviews to learn from, {len(corpus.heldout_ids):,} held out; "
      f"{cfg.pretrain_epochs} pass(es)" + (f", at most {cfg.for_lesson().pretrain_minutes:g} minutes in this lesson"
                                           if cfg.pretrain_minutes else ""))

# %% [markdown]
# ## How it trains
#
# * **Loss**: cross-entropy at the masked positions only.
# * **Optimizer**: Adam, adapting each weight's step size. The workshop preset keeps the rate
#   (`cfg.schedule`) constant; `full` warms it up, then decays it to zero.
# * **Clipping** scales down a gradient whose norm exceeds `cfg.clipnorm`, so one odd batch cannot
#   dominate; it bounds the gradient, not Adam's step.
# * **Short reviews first**: early, cheaper steps read only the first `cfg.short_length` tokens.
# * **Held-out reviews**, never trained on, are scored every `cfg.eval_every` with fixed masks, so
#   evaluations compare.
# * **Checkpoints** are saved regularly and on interrupt. If the kernel dies, run the set-up cell,
#   then the training cell with `resume=True`.
#
# As the next cell runs, a live panel shows each probe's top guesses and the expected word's
# probability: first random words, then frequent ones, then words that fit.

# %%
mlm, result = pretrain.pretrain(cfg.for_lesson(), corpus, vectorizer, resume=False)
print(f"{result.steps} steps in {result.seconds:.0f} s, stopped by {result.stopped_by}")

# %% [markdown]
# ## The curves
#
# *Masked-token accuracy* is the share of hidden words guessed exactly. *Perplexity* is
# `exp(loss)` per masked token: roughly, how many words the model still hesitates between. It
# compares only across runs with the same mask rate and lengths.
#
# Dashed lines: a uniform guess over V words (loss ln V, perplexity V), where training starts, and
# always guessing the most frequent word (printed below), the first bar to clear.
#
# **Is my run normal?** The green band is this recipe with other seeds, drawn by step: a slow
# laptop stays in it, stopping further left. The last line places your run.

# %%
reference = band.load_band("lesson", cfg.preset)  # None for a preset without a measured band
axes = pretrain.plot_curves(result.history, phases=result.phases, references=pretrain.reference_levels(vectorizer),
                            band=reference)
print(f"always guessing {vectorizer.tokens[vectorize.FIRST_WORD_ID]!r}: {pretrain.frequent_word_accuracy(vectorizer):.1%} masked accuracy")
print("is my run normal?", band.of_history(result.history, reference, pretrain.frequent_word_accuracy(vectorizer)))

# %%
print("held-out before training:", result.heldout_at_start)
print("held-out after training: ", result.heldout)

# %% [markdown]
# ## The frequent-word plateau
#
# Held-out accuracy climbs fast, then stalls near the dashed line: the model guesses words likely
# anywhere ("the", "movie", "i"). It leaves this **plateau** once it looks at the words beside
# the mask. A slow laptop may still be on it at the end; exercise 1 trains on.

# %% [markdown]
# ## Fill in your own sentences
#
# Type a sentence with a `[mask]` or more; each gets its own bars. `FillMasker` reads the saved
# artifacts, so this works in a fresh kernel.

# %%
masker = FillMasker.from_artifacts(cfg.artifacts_dir)
fill_mask_widget(masker)

# %% [markdown]
# ## Replay your run
#
# Training kept the whole model at every held-out evaluation. Slide back to step 0, then forward:
# the guesses turn from random to frequent to fitting words, the `[mask]`'s attention and the
# word neighbours change with them, and the last line says whether the model rates a good review
# above a bad one yet (lesson 06's question).

# %%
time_lapse_widget(cfg.artifacts_dir)

# %% [markdown]
# ## The instructor's model
#
# The library ships a model pretrained with this recipe in the `full` preset (shown if it fits
# yours). Lessons 06 and 07 start from it if you have not pretrained.

# %%
teacher = stages.instructor_artifacts(cfg)  # None when the shipped model does not fit this preset
if teacher is not None:
    print("the instructor's model:", instructor.describe(instructor.SHIPPED))
    print(format_table(FillMasker.from_artifacts(teacher)(list(PROBES), top_k=5)))
    print("\nyours:")
    print(format_table(masker(list(PROBES), top_k=5)))

# %% [markdown]
# ## What pretraining put into the model
#
# Each view compares a fresh model (yours at step 0), yours and the instructor's.
#
# **1. Words used alike point the same way.** Each word's nearest words, by cosine similarity
# (1 = same direction): words that fill the same blanks are pulled together, opposites too, so
# "good" and "bad" become neighbours.

# %%
shipped_model, shipped_vocabulary = instructor.load()  # shipped with the library, whatever your preset
models = {"fresh (step 0)": (pretrain.build_model_for(cfg, vectorizer).encoder, vectorizer),
          "yours": (mlm.encoder, vectorizer), "instructor's": (shipped_model.encoder, shipped_vocabulary)}
words = [word for word in ("good", "bad", "movie", "actor", "boring", "excellent")
         if all(vocabulary.id_of(word) >= vectorize.FIRST_WORD_ID for _, vocabulary in models.values())]
neighbours = {name: representations.nearest_words(encoder, vocabulary, words, k=4)
              for name, (encoder, vocabulary) in models.items()}
for word in words:
    print(f"{word}:")
    for name in models:
        print(f"   {name:15} " + ", ".join(f"{other} {similarity:.2f}" for other, similarity in neighbours[name][word]))

# %% [markdown]
# **2. One word, a different vector in each sentence.** The encoder's *output* for a word mixes in
# its context. Below, "good" in four sentences, by cosine similarity. A fresh model barely mixes,
# so all are near 1; a pretrained one gives "not good" and "good grief" different vectors,
# which lesson 06's classifier reads.

# %%
contexts = ["the acting was good", "the acting was not good", "good grief what a mess", "it was a good movie"]
similarities = {name: representations.cosine_matrix(representations.contextual_vectors(encoder, vocabulary, contexts, "good"))
                for name, (encoder, vocabulary) in models.items()}
for name, matrix in similarities.items():
    print(f"{name}: 'good' in sentence 1 vs 2, 3, 4: " + ", ".join(f"{value:.2f}" for value in matrix[0, 1:]))

# %% [markdown]
# **3. Where the `[mask]` looks.** Each bar is its attention to one word of a probe (last block,
# heads averaged); orange bars are its two neighbours, which decide what fits. A fresh model spreads
# attention about evenly: compare the printed shares. A short run may still look at the `[mask]`
# itself (grey).

# %%
axes = representations.plot_mask_attention(models, list(PROBES))
shares = {name: [representations.neighbour_share(*representations.mask_attention(encoder, vocabulary, sentence))
                 for sentence in PROBES] for name, (encoder, vocabulary) in models.items()}
print("share of the [mask]'s attention on its two neighbours, per probe: "
      + "; ".join(f"{name} " + ", ".join(f"{share:.0%}" for share in values) for name, values in shares.items()))

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert result.heldout["loss"] < result.heldout_at_start["loss"], "the model learned something"
assert result.heldout["perplexity"] < result.heldout_at_start["perplexity"]
assert Path(result.checkpoint).is_file(), "a checkpoint to resume from"
probe = masker("i have watched this [mask] and it was awesome", top_k=5)[0]["masks"][0]["predictions"]
assert len(probe) == 5 and all(0 <= p["prob"] <= 1 for p in probe)
# lesson 05's 2 minutes, measured: past the plateau, and "movie" or "film" first for the first probe
[two_minutes] = quality.load_report(name="quality_2_minutes.json")["candidates"][quality.WORKSHOP_RECIPE]["seeds"].values()
assert two_minutes["heldout"]["masked_accuracy"] > 0.20 and two_minutes["probe_top5"][0] in ("movie", "film")
assert len(result.history) >= 4, "the curve has points to read"
# what pretraining put into the vectors, checked on the instructor's model against a fresh one
assert (similarities["fresh (step 0)"][0, 1:] > 0.99).all(), "a fresh model barely mixes context into a word"
assert similarities["instructor's"][0, 1:].min() < 0.8, "a pretrained one gives one word different vectors"
assert "bad" in [other for other, _ in neighbours["instructor's"]["good"]], "opposites fill the same blanks"
assert np.mean(shares["instructor's"]) > 1.8 * np.mean(shares["fresh (step 0)"]), "a trained [mask] looks beside it"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `09_solutions_05.ipynb`. Try first!*
#
# 1. Train longer: `cfg = cfg.replace(pretrain_epochs=cfg.pretrain_epochs + 1)` (workshop preset:
#    also `lesson_pretrain_minutes=cfg.lesson_pretrain_minutes + 2`, as the lesson's time limit
#    counts all runs), then rerun the training cell with `resume=True`. At which step does it start?
#    Does held-out accuracy keep rising?
# 2. Predict which probe the model gets right first, then watch the panel. Why that one?

# %% [markdown]
# ## Recap
#
# * Held-out loss, masked accuracy and perplexity measure blank-filling; first the model guesses
#   frequent words (the plateau).
# * Pretraining groups words used alike, gives a word a vector per sentence, and teaches the
#   `[mask]` to look at its neighbours.
#
# **Next, lesson 06**: a classifier on this encoder, and a fair test of what pretraining buys.
