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
# # Worked solutions to the exercises of lessons 06-07
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/10_solutions_06_07.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/10_solutions_06_07.ipynb)
#
# Try each exercise in its lesson first: predict, then run. This notebook works every exercise of
# lessons 06 and 07, in order, and checks its claims with `assert`s, so it also runs in CI (lessons
# 01-04: `08_solutions_01_04.ipynb`; 05: `09_solutions_05.ipynb`). It builds whatever an earlier
# lesson would have left (the vocabulary, a pretrained model, a classifier) if it is missing.
#
# **Time:** not a class slot: open it after trying an exercise. It runs in about 61 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import checkpoints, classifier, data, end_to_end, evaluate, finetune, model, stages, vectorize
from bertmlm_lib.experiments import label_efficiency
from bertmlm_lib.widgets.sentiment import word_influence

cfg = bertmlm_lib.start_lesson()
imdb = stages.reviews(cfg, progress=False, unlabelled=False)  # the labelled reviews
vectorizer = stages.vocabulary(cfg, progress=False)
stages.pretrained_encoder(cfg, vectorizer, progress=False)  # makes lesson 05's model if it is missing
print(f"preset {cfg.preset!r}: lesson 05's encoder is ready in {cfg.artifacts_dir}")

# %% [markdown]
# ## 06 fine-tuning
# **1.** Max pooling keeps the strongest value of each feature over the review: one very positive
# word can dominate. The mean weighs every word. Which wins depends on the encoder; here is the check.
#
# **2.** Without the frozen phase, the randomly initialised head sends large, noisy gradients into the
# pretrained encoder in the first steps, which can undo some of what pretraining learned.

# %%
train, validation = data.split_validation(imdb.train, cfg.validation_fraction, cfg.seed)
train = data.balanced_subset(train, 1500, cfg.seed)  # 1,500 labels: three runs in about a minute
validation = data.balanced_subset(validation, 1000, cfg.seed)  # enough to compare, and quicker
train_ids, validation_ids = (classifier.encode_reviews(vectorizer, split.texts, cfg) for split in (train, validation))


def variant(pooling, frozen_epochs):
    """One fine-tuning from lesson 05's encoder; only its result comes back, so each classifier is
    gone before the next is built (three in one kernel, on Binder's 2 GB)."""
    encoder = checkpoints.load_encoder(cfg, vectorizer)
    candidate = classifier.classifier_for(encoder, cfg, pooling=pooling)
    return finetune.finetune(candidate, (train_ids, train.labels), (validation_ids, validation.labels), cfg,
                             finetune.Recipe(frozen_epochs=frozen_epochs))


outcomes = {}
for name, pooling, frozen in (("mean, frozen first", "mean", None), ("max, frozen first", "max", None),
                              ("mean, no frozen phase", "mean", 0)):
    outcomes[name] = variant(pooling, frozen)
    print(f"{name:22} validation accuracy {outcomes[name].val_accuracy:.3f}, first epoch "
          f"{outcomes[name].history[0]['val_accuracy']:.3f}")
assert all(0 <= result.val_accuracy <= 1 for result in outcomes.values())
assert outcomes["mean, no frozen phase"].history[0]["phase"] == "encoder unfrozen"

# %% [markdown]
# **3.** A linear probe: the encoder stays frozen, each review becomes the average of its token
# vectors, and a logistic regression learns from those. A random encoder's vectors still carry which
# words occur (each word has its own random vector), so its probe beats a coin; pretrained vectors
# should do better, because pretraining put words used alike near each other. In the measurement
# shipped with lesson 06 (the instructor's encoder, 1,000 labels): 0.815 against 0.666.

# %%
probe_train, probe_validation = data.balanced_subset(train, 1000, cfg.seed), validation
probe_ids = [classifier.encode_reviews(vectorizer, split.texts, cfg) for split in (probe_train, probe_validation)]
probes = {}
for name, make in (("yours", lambda: checkpoints.load_encoder(cfg, vectorizer)),
                   ("random", lambda: model.build_encoder(cfg, vectorizer.vocabulary_size))):
    frozen = make()
    features = [classifier.pooled_features(frozen, ids, cfg.classifier_windows) for ids in probe_ids]
    probes[name] = label_efficiency.linear_probe(features[0], probe_train.labels, features[1], probe_validation.labels)
    print(f"{name:7} encoder: probe validation accuracy {probes[name]['val_accuracy']:.3f} (C={probes[name]['C']:g})")
assert features[0].shape == (len(probe_train), cfg.embed_dim)
assert all(0.4 <= probe["val_accuracy"] <= 1 for probe in probes.values())

# %% [markdown]
# **4.** Each question is calibrated on reviews whose labels are never read and scored on validation
# reviews. Choosing on test would make the test number optimistic: the best of several tries on the
# same reviews is partly luck, and test is meant to be scored once, after every choice.

# %%
from bertmlm_lib import cloze

mlm = checkpoints.load_pretrained(cfg.artifacts_dir)[0]
check = data.balanced_subset(validation, 500, cfg.seed)
questions = {}
for template in (cloze.TEMPLATE, "{review} . i thought it was [mask] ."):
    asked = cloze.Cloze(mlm, vectorizer, cloze.Prompt(template)).calibrate(train.texts[:300])
    questions[template] = asked.accuracy(check.texts, check.labels)
    print(f"{template!r}: validation accuracy {questions[template]:.3f}")
assert len(questions) == 2 and all(0 <= accuracy <= 1 for accuracy in questions.values())

# %% [markdown]
# ## 07 end to end
# **1.** A review that praises with negative words ("not bad at all, I was never bored") often fools
# a small model: leaving each word out shows which words it leaned on.
#
# **2.** Compare accuracy by review length: very short reviews give little evidence, and reviews
# longer than the classifier reads (`cfg.classifier_length` tokens) are cut, so the model never reads
# their endings, where the verdict often is. The table below answers it for your model: compare the
# first and the last rows with the middle ones.

# %%
sentiment = end_to_end.load(stages.lesson_model(cfg, vectorizer))
tricky = "not bad at all, i was never bored and nothing about it was terrible"
probability, influences = word_influence(lambda texts: end_to_end.predict(sentiment, texts), tricky,
                                         vectorize.standardize_text, cfg.classifier_length)
print(f"P(positive) = {probability:.3f}; strongest words:",
      sorted(influences, key=lambda item: -abs(item[1]))[:4])
sample = data.balanced_subset(imdb.test, 5000, cfg.seed)  # 5,000 test reviews answer it, in a fifth of the time
probabilities = end_to_end.predict(sentiment, sample.texts)
by_length = evaluate.accuracy_by_length(sample.labels, probabilities, data.review_lengths(sample.texts))
for row in by_length:
    print(f"{row['words_from']:4}-{row['words_to']:<10} words: {row['count']:5} reviews, accuracy {row['accuracy']:.3f}")
assert 0 <= probability <= 1 and sum(row["count"] for row in by_length) == len(sample)

# %% [markdown]
# ## Where to go next
#
# * `bertmlm run --preset full`: the hour-long pretraining and every stage after it, with a report
#   and the label-efficiency curve (`docs/full-run/report.md` gives its measured time on 2 cores).
# * Pretrain for longer: `bertmlm pretrain --resume --minutes N` continues any run from its
#   checkpoint; `bertmlm export` packs the result for a class (`docs/instructor.md`).
# * Change one thing and measure it: `bertmlm bench --quality` compares pretraining recipes by steps
#   and by seconds on the same held-out reviews, the way lesson 05's figures were made.
