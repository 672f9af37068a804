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
# # 06 · Fine-tuning: from filling blanks to reading sentiment
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/06_finetuning.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/06_finetuning.ipynb)
#
# Pretraining never showed the model a label. Does it know sentiment anyway? You will
#
# 1. ask the MLM itself a fill-in-the-blank question, with no label, then a few;
# 2. fine-tune a classifier on the encoder in two phases;
# 3. compare encoders fairly; see why a young encoder fine-tunes badly, and the fix.
#
# **Time:** 20 minutes in class; the notebook runs in about 2.1 minutes in the workshop preset on a
# 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up: imports, data, vocabulary and the pretrained encoder.*

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
import matplotlib.pyplot as plt

from bertmlm_lib import checkpoints, classifier, cloze, data, experiments, finetune, instructor, model, stages
from bertmlm_lib.experiments import cloze as cloze_study, label_efficiency
from bertmlm_lib.widgets.cloze import cloze_widget

cfg = bertmlm_lib.start_lesson()
imdb = stages.reviews(cfg, progress=False, unlabelled=False)
vectorizer = stages.vocabulary(cfg, imdb=imdb)
encoder = stages.pretrained_encoder(cfg, vectorizer)  # lesson 05's, else the instructor's (it says which)
train, validation = stages.labelled_splits(cfg, imdb)
train = data.balanced_subset(train, cfg.lesson_train_reviews, cfg.seed)  # a class slot: see below
train_ids, validation_ids = (classifier.encode_reviews(vectorizer, split.texts, cfg) for split in (train, validation))
print(f"preset {cfg.preset!r}: {len(train):,} labelled reviews to learn from, {len(validation):,} to validate on")
if cfg.lesson_train_reviews:
    print("(a lesson-sized share, so this notebook fits a class slot; `bertmlm run` fine-tunes on all of them)")

# %% [markdown]
# ## Ask the MLM itself
#
# We append *all in all the movie was [mask]* to the review. A class scores the log probability the
# MLM head gives its words there (the **verbalizer**: *great, good, ...* or *bad, terrible, ...*).
# Models favour some words whatever they read, so each class's average score on unlabelled reviews
# is subtracted (**calibration**). No label is used: **zero-shot**. Type a review in the box to ask
# both MLMs.

# %%
mlm, _, _ = checkpoints.load_pretrained(cfg.artifacts_dir)  # your whole MLM: encoder and head
teacher_mlm, teacher_vocabulary = instructor.load()
askers = {"your MLM": cloze.Cloze(mlm, vectorizer), "instructor's MLM": cloze.Cloze(teacher_mlm, teacher_vocabulary)}
never_read = train.texts[-500:]  # reviews whose labels calibration never looks at
val_slice = data.balanced_subset(validation, 1000, cfg.seed)
for name, asked in askers.items():
    asked.calibrate(never_read)
    print(f"{name:16} zero-shot, {len(val_slice):,} validation reviews: {asked.accuracy(val_slice.texts, val_slice.labels):.3f}")
cloze_widget(askers)

# %% [markdown]
# **When does a model learn this?** Zero-shot accuracy of your MLM's pretraining snapshots,
# beside a shipped workshop run and the instructor's MLM.

# %%
yours_over_steps = cloze.over_steps(mlm, vectorizer, cfg.artifacts_dir, val_slice.texts[:500], val_slice.labels[:500],
                                    never_read[:300])
shipped = experiments.load_measured("cloze.json")
shipped_run = shipped["workshop"]
runs = {f"a {shipped_run['minutes']:g}-minute workshop run (shipped)":
        [{"step": r["step"], "accuracy": r["val_accuracy"]} for r in shipped_run["zero_shot_by_step"]],
        **cloze_study.instructor_at_its_end(shipped)}
if yours_over_steps:
    runs = {"your run (lesson 05)": yours_over_steps, **runs}
else:
    print("no snapshots of your MLM here (the instructor's model stands in for it): run lesson 05 to see your own")
cloze.plot_over_steps(runs)
for name, rows in runs.items():
    print(f"{name}: " + ", ".join(f"step {r['step']:,} {r['accuracy']:.2f}" for r in rows))

# %% [markdown]
# **Few-shot.** A few labels can train the whole MLM on the same question: cross-entropy over the
# two classes' scores, no new layer. Here the instructor's MLM learns from 100 labels; then the
# shipped study, beside the classic classifier.

# %%
few = data.balanced_subset(train, 100, cfg.seed)
taught = cloze.Cloze(instructor.load()[0], teacher_vocabulary).calibrate_like(askers["instructor's MLM"])
rate = cloze_study.chosen_rate(shipped, labels=len(few))  # the rate validation chose in the shipped study
shot = cloze.few_shot(taught, few.texts, few.labels, val_slice.texts[:500], val_slice.labels[:500], rate=rate,
                      epochs=cloze_study.epochs_for(len(few), cfg.batch_size), batch_size=cfg.batch_size, seed=cfg.seed)
before = askers["instructor's MLM"].accuracy(val_slice.texts[:500], val_slice.labels[:500])
print(f"few-shot, {len(few)} labels, rate {rate:g}, {shot.steps} steps: validation accuracy {shot.val_accuracy:.3f} "
      f"(zero-shot on the same reviews: {before:.3f})")

# %%
cloze_study.plot(shipped["instructor"], experiments.load_measured("label_efficiency.json"))
print(cloze_study.summary(shipped))

# %% [markdown]
# ## A classifier on the encoder
#
# The classic way drops the MLM head: average the encoder's vectors of real tokens, then dropout
# and one sigmoid unit.
#
# Many reviews run past `max_length`, often with the verdict last, so the classifier averages
# consecutive **windows** of `max_length` tokens, all read by the same encoder.

# %%
lengths = (train_ids != 0).sum(axis=1)
print(f"the encoder knows {cfg.max_length} positions; the classifier reads up to {cfg.classifier_length} tokens "
      f"({cfg.classifier_windows} windows)")
print(f"reviews longer than {cfg.max_length} tokens: {(lengths >= cfg.max_length).mean():.0%}; "
      f"cut at {cfg.classifier_length}: {(lengths >= cfg.classifier_length).mean():.0%}")
sentiment = classifier.classifier_for(encoder, cfg)
sentiment.summary()

# %% [markdown]
# It trains in **two phases**: encoder frozen, so the new random layer's first updates cannot damage
# it; then everything, at a rate that warms up, then decays to zero. The best epoch on validation is
# kept; test reviews wait for lesson 07.

# %%
result = finetune.finetune(sentiment, (train_ids, train.labels), (validation_ids, validation.labels), cfg)
ax = finetune.plot_history(result.history, result.unfrozen_at_epoch)
print(f"best validation accuracy: {result.val_accuracy:.3f}")
saved = stages.save_finetuned(cfg, vectorizer, sentiment, result, {"train_reviews": len(train), "from_scratch": False})
print("saved for lesson 07:", saved["model"])

# %% [markdown]
# ## A fair comparison
#
# **Your encoder**, **the instructor's** and a **random** one get the same labels, steps and rate
# (`label_efficiency.Protocol`) and the same test reviews.
#
# A **linear probe** (logistic regression on the frozen encoder's averaged vectors) shows what
# pretraining put *into* the vectors. TF-IDF is the bar to clear. With one seed, a point or two is
# chance.

# %%
teacher = stages.instructor_artifacts(cfg)  # None when the shipped model does not fit this preset
contestants = {"your encoder": lambda: checkpoints.load_encoder(cfg, vectorizer)}
if teacher is not None:
    contestants["instructor's encoder"] = lambda: checkpoints.load_encoder(cfg.replace(artifacts=str(teacher)), vectorizer)
contestants["random encoder"] = lambda: model.build_encoder(cfg, vectorizer.vocabulary_size)
in_class = label_efficiency.Protocol.of(cfg, classifier_length=cfg.max_length, epochs=2, rates=(cfg.finetune_learning_rate,),
                                        seeds=1)
test_slice = data.balanced_subset(imdb.test, 2000, cfg.seed)  # enough to rank them, and quick in class
payoff = label_efficiency.compare_encoders(contestants, train, label_efficiency.validation_subset(validation, cfg),
                                           test_slice, vectorizer, cfg, labels=1000, protocol=in_class, progress=True)
print(f"{payoff['labels']:,} labelled reviews, {payoff['test_reviews']:,} test reviews, "
      f"every encoder {payoff['runs']['random encoder']['steps'][0]} steps reading {in_class.classifier_length} tokens")
for name, run in payoff["runs"].items():
    print(f"{name:22} fine-tuned {run['test_accuracy']:.3f}   linear probe {run['probe']:.3f}")
print(f"{'TF-IDF + LR':22} {payoff['tfidf']:.3f}")

# %% [markdown]
# ## Why does a young encoder lose when fine-tuned?
#
# A young encoder wins the probe yet, fine-tuned, loses to a random one. A shipped workshop run
# (next cell) shows why:
#
# 1. Pretraining **grew the weights** well past their starting size.
# 2. The handicap is **in the word vectors**: swap them between encoders and it moves with them (one
#    seed: a hint).
# 3. They **point mostly one way**: two reviews' averaged vectors are nearly parallel.
#
# A probe rescales each feature, so it still sees the differences. Fine-tuning must turn the
# vectors, but Adam moves a weight by about the learning rate per step, whatever its size: large
# vectors turn slowly.
#
# **The fix**: shrink the word vectors to a fresh size first (`classifier.shrink_word_vectors`). The
# LayerNorm after them undoes a common scale, so the encoder computes the same, yet each step
# turns them further. The last lines show how much pretraining the fixed encoder needs to beat a
# random one.

# %%
why = experiments.load_measured("why_finetuning.json")
scale = why["weight_scale"]
print("size (root mean square) after pretraining / fresh:")
for weight in list(scale["pretrained"])[:4]:
    print(f"  {weight:45} {scale['pretrained'][weight]:.3f} / {scale['random'][weight]:.3f}")
for name, spread in why["review_vector_spread"].items():
    print(f"{name:26} review vectors: mean cosine {spread['mean_cosine']:.2f}, varying share {spread['varying_share']:.2f}")
grid = next(iter(why["by_grid"]))
print(f"fine-tuned, {why['labels']} labels, {why['test_reviews']:,} test reviews, rate chosen on validation from {grid}:")
for name, runs in why["by_grid"][grid].items():
    print(f"  {name:38} {sum(runs) / len(runs):.3f}  ({len(runs)} seed{'s' * (len(runs) > 1)})")
for row in why.get("fix", {}).get("rows", []):
    print(f"{row['labels']:,} labels, {why['fix']['seeds_done']} seed(s), {why['fix']['test_reviews']:,} test reviews: " + ", ".join(
        f"{name} {row[name]:.3f} +- {row[name + '_std']:.3f}" for name in why["fix"]["rows"][0] if
        not name.endswith(("_std", "_runs", "_rates", "_steps")) and name != "labels"))
turns = why.get("turns", {})
if "shrunk" in turns:  # the instructor's run after a few minutes of pretraining, with the fix
    print(f"the instructor's run, word vectors shrunk, {turns['labels']} labels, fine-tuned:")
    for name, run in turns["shrunk"]["runs"].items():
        print(f"  {name:8} {run['test_accuracy']:.3f} +- {run['test_accuracy_std']:.3f}")

# %% [markdown]
# ## More pretraining, more labels
#
# The instructor's encoder after 5 to 240 minutes of pretraining, fine-tuned and probed with 1,000
# labels, three seeds (bars: one standard deviation), by minutes (left) and blank-filling (right).

# %%
downstream = experiments.load_measured("downstream.json")
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
label_efficiency.plot_budget(downstream, ax=left)
label_efficiency.plot_payoff(downstream, ax=right)
plt.tight_layout()
for name, run in downstream["runs"].items():
    masked = run["heldout_masked_accuracy"] or 0.0
    print(f"{name:8} masked accuracy {masked:6.1%}: fine-tuned {run['test_accuracy']:.3f} +- {run['test_accuracy_std']:.3f}, "
          f"probe {run['probe']:.3f} +- {run['probe_std']:.3f}")
print(f"TF-IDF + LR, same labels: {downstream['tfidf']:.3f} +- {downstream['tfidf_std']:.3f}")

# %%
measured = label_efficiency.latest_curve(cfg)
curve = measured["rows"]
ax = label_efficiency.plot(curve, title=f"What pretraining buys per label\n{measured['source']}")
print(f"measured by {measured['source']}, scored on {measured['test_reviews']:,} test reviews")
for row in curve:
    print(f"{row['labels']:6,} labels: " + ", ".join(f"{name} {row[arm]:.3f}" for arm, name in
                                                     label_efficiency.ARMS.items() if arm in row))

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert result.history[0]["phase"] == "encoder frozen" and result.history[-1]["phase"] == "encoder unfrozen"
assert all(0 <= run[key] <= 1 for run in payoff["runs"].values() for key in ("test_accuracy", "probe"))
assert result.val_accuracy == max(row["val_accuracy"] for row in result.history), "the best epoch's weights are kept"
assert payoff["tfidf"] > 0.5, "the baseline learns something even from a few hundred labels"
assert [row["labels"] for row in curve] == sorted(row["labels"] for row in curve) and curve
assert all(0 <= row[arm] <= 1 for row in curve for arm in ("pretrained", "scratch", "tfidf"))
steps = {tuple(run["steps"]) for run in payoff["runs"].values()}
assert len(steps) == 1, "every encoder took the same steps"
assert downstream["protocol"]["seeds"] == 3 and all(len(run["test_accuracy_runs"]) == 3 for run in downstream["runs"].values())
assert len(why["by_grid"]) == 2 and why["seeds_done"] >= 1
assert shipped["instructor"]["chosen"]["val_accuracy"] >= max(r["val_accuracy"] for r in shipped["instructor"]["candidates"])

# %% [markdown]
# ## Exercises
# *Worked solutions: `10_solutions_06_07.ipynb`. Try first!*
#
# 1. Does `pooling="max"` beat the mean? Predict, then check from a fresh encoder:
#    `classifier.classifier_for(stages.pretrained_encoder(cfg, vectorizer), cfg, pooling="max")`.
# 2. Skip phase 1 (`recipe=finetune.Recipe(frozen_epochs=0)` in `finetune.finetune`), again from a
#    fresh encoder. What happens in the first epochs?
# 3. Probe: `classifier.pooled_features` of 1,000 labelled reviews, then
#    `label_efficiency.linear_probe`. Do yours or a random encoder's vectors separate the classes
#    better?
# 4. Try `cloze.Prompt("{review} . i thought it was [mask] .")` on `val_slice`. Why choose a prompt
#    on validation, not test?

# %% [markdown]
# ## Recap
#
# * A well-pretrained MLM head answers a sentiment question with no label; a few labels help.
# * A classifier trains first with the encoder frozen, then all of it.
# * A young encoder's word vectors are large and alike, so fine-tuning turns them slowly; shrunk,
#   they do about as well as a random encoder's.
#
# **Next, lesson 07**: one model that reads raw strings, judged once on the test reviews.
