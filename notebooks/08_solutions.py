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
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Worked solutions to the exercises of lessons 01-07
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/08_solutions.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/08_solutions.ipynb)
#
# Try each exercise in its lesson first: predict, then run. This notebook works every one of them,
# in order, and checks its claims with `assert`s, so it also runs in CI. It builds whatever an
# earlier lesson would have left (vocabulary, pretrained model, classifier) if it is missing.
#
# **Time:** not a class slot: open it after trying an exercise. It runs in about 2.3 minutes in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import (checkpoints, classifier, data, end_to_end, evaluate, finetune, masking, model, pretrain, stages,
                         vectorize)
from bertmlm_lib.experiments import label_efficiency
from bertmlm_lib.fill_mask import PROBE_ANSWERS, PROBES, FillMasker
from bertmlm_lib.widgets.sentiment import word_influence

cfg = bertmlm_lib.start_lesson()
imdb = data.load_imdb(cfg=cfg, progress=False)
vectorizer = stages.vocabulary(cfg, imdb=imdb)

# %% [markdown]
# ## 01 data
# **1.** The same preset and seed give the same reviews in the same order (the subsets are drawn with
# a seeded generator); another seed draws other reviews. With the full data (`train_reviews=None`)
# every review is kept, so only their order changes.

# %%
again = data.load_imdb(cfg=cfg, progress=False)
other = data.load_imdb(cfg=cfg.replace(seed=cfg.seed + 1), progress=False)
print(imdb.train.files[:3], other.train.files[:3], sep="\n")
assert again.train.files == imdb.train.files
assert other.train.files != imdb.train.files

# %% [markdown]
# **2.** Reviews are long: the share beyond 256 words is large, which is why `max_length` matters.

# %%
share = float((data.review_lengths(imdb.train.texts) > 256).mean())
print(f"{share:.1%} of the training reviews are longer than 256 words")
assert 0.1 < share < 0.5

# %% [markdown]
# ## 02 vectorization
# **1.** Words seen once (*hapax legomena*) are a large part of the distinct words; a vocabulary of
# `cfg.vocab_size` ids keeps only the most frequent words, so all of them become `[UNK]`.

# %%
counts = vectorize.count_words(imdb.pretraining_texts())
once = sum(1 for count in counts.values() if count == 1)
print(f"{once:,} of {len(counts):,} distinct words occur once; the vocabulary keeps {vectorizer.vocabulary_size:,} ids")
rarest_kept = min(counts[word] for word in vectorizer.tokens[vectorize.FIRST_WORD_ID:])
assert once > 0 and all(vectorizer.id_of(word) == vectorize.UNK_ID for word, count in counts.items() if count < rarest_kept)

# %% [markdown]
# **2.** The most frequent word that did not make it: it is just below the cut.

# %%
missing = next(word for word, _ in counts.most_common() if vectorizer.id_of(word) == vectorize.UNK_ID)
print(f"{missing!r} occurs {counts[missing]:,} times; the rarest kept word occurs "
      f"{counts[vectorizer.tokens[-1]]:,} times")
assert counts[missing] <= counts[vectorizer.tokens[-1]]

# %% [markdown]
# ## 03 masking
# **1.** At 40%, 40% of the real words are chosen. Masked accuracy falls: each guess has less
# context left (but each review teaches more guesses at once). Measured with the instructor's model
# on 500 held-out reviews of 256 tokens (`pretrain.masked_accuracy_at`): 34.9% of the blanks filled
# exactly at 15%, 32.7% at 25%, 29.3% at 40%. The cell after the next measures your own model on
# test reviews, which it never saw.
#
# **2.** With the `[mask]` share at 100% the model never sees a chosen word left as it is or
# replaced; at fine-tuning time there is no `[mask]` at all, so it never practised reading real
# words for what they are at the positions it predicts.

# %%
ids = vectorizer.encode(imdb.train.texts[:200])
for rate, mask_share in ((0.40, 0.8), (0.15, 1.0)):
    out = masking.mask_numpy(ids, 0, vectorizer.vocabulary_size, mask_rate=rate, mask_token_share=mask_share,
                             random_token_share=0.0 if mask_share == 1.0 else 0.1)
    stats = masking.masking_statistics(out["actions"], ids)
    print(f"rate {rate:.0%}, [mask] share {mask_share:.0%}: chosen {stats['chosen_share']:.1%}, "
          f"replaced {stats['replaced by a random word']}, kept {stats['chosen but kept']}")
    if mask_share == 1.0:
        assert stats["replaced by a random word"] == stats["chosen but kept"] == 0
    else:
        assert abs(stats["chosen_share"] - 0.40) < 0.02

# %%
stages.pretrained_encoder(cfg, vectorizer, progress=False)  # lesson 05's model, made if missing
pretraining_model, _, _ = checkpoints.load_pretrained(cfg.artifacts_dir)
test_ids = vectorizer.encode(imdb.test.texts[:300], length=cfg.max_length)
at_rate = {rate: pretrain.masked_accuracy_at(pretraining_model, test_ids, vectorizer.vocabulary_size, rate, seed=cfg.seed)
           for rate in (0.15, 0.40)}
print(", ".join(f"{rate:.0%} masked: {accuracy:.1%} filled exactly" for rate, accuracy in at_rate.items()))
assert at_rate[0.40] <= at_rate[0.15] + 0.02, "hiding more of the text does not make blanks easier"

# %% [markdown]
# ## 04 model
# **1.** Doubling `embed_dim` quadruples the `dim x dim` matrices (attention's queries, keys, values
# and output) and doubles those with one side fixed (the embedding tables, `vocabulary x dim`, and
# the feed-forward layers, `dim x ff_dim`), so the total grows between 2x and 4x.
#
# **2.** Without a padding mask, real words would attend to padding: the vectors of the real tokens
# would change with the amount of padding, and the `padding_leak` assert would fail.

# %%
small = model.parameter_counts(model.build_pretraining_model(cfg, vocabulary_size=vectorizer.vocabulary_size))
wide = model.parameter_counts(model.build_pretraining_model(cfg.replace(embed_dim=2 * cfg.embed_dim),
                                                            vocabulary_size=vectorizer.vocabulary_size))
print(small, wide, sep="\n")
assert 2 <= wide["total"] / small["total"] <= 4

# %% [markdown]
# ## 05 pretraining
# **1.** A resumed run starts at the step where the checkpoint stopped, with the optimizer's state,
# and trains until the raised budget runs out or the extra pass ends, whichever comes first (here
# half a minute more than all runs so far, to keep CI short); the held-out accuracy usually keeps
# rising while the model is this young.

# %%
encoder = stages.pretrained_encoder(cfg, vectorizer, progress=False)  # lesson 05's model, made if missing
corpus = pretrain.prepare_corpus(imdb.pretraining_texts(), vectorizer, cfg)
meta = checkpoints.read_checkpoint_meta(checkpoints.checkpoint_folder(cfg))
before = meta["step"]
# one more pass, and under a time budget half a minute more than all its runs so far
longer = cfg.replace(pretrain_epochs=cfg.pretrain_epochs + 1,
                     pretrain_minutes=meta["seconds"] / 60 + 0.5 if cfg.pretrain_minutes else None)
_, resumed = pretrain.pretrain(longer, corpus, vectorizer, resume=True, progress=False, fill_mask_display=False)
print(f"resumed at step {before}, now at {resumed.steps}; held-out masked accuracy {resumed.heldout['masked_accuracy']:.1%}")
assert resumed.history[0]["step"] == before and resumed.steps > before

# %% [markdown]
# **2.** Usually the first probe ("i have watched this [mask] and it was awesome"): the answer is
# one of the most frequent nouns of the corpus, and the words right before it ("watched this") point
# straight at it. The expected words of the others are rarer or need more context.

# %%
masker = FillMasker.from_artifacts(cfg.artifacts_dir)

known = [(p, a) for p, a in zip(PROBES, PROBE_ANSWERS) if vectorizer.id_of(a) >= vectorize.FIRST_WORD_ID]
for probe, answer in known:
    result = masker(probe, top_k=3, targets=[answer])[0]["masks"][0]
    print(f"P({answer}) = {result['targets'][answer]:.4f} in: {probe}")
assert known

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
outcomes = {}
for name, pooling, frozen in (("mean, frozen first", "mean", None), ("max, frozen first", "max", None),
                              ("mean, no frozen phase", "mean", 0)):
    encoder = checkpoints.load_encoder(cfg, vectorizer)
    candidate = classifier.classifier_for(encoder, cfg, pooling=pooling)
    outcomes[name] = finetune.finetune(candidate, encoder, train_ids, train.labels, validation_ids,
                                       validation.labels, cfg, frozen_epochs=frozen)
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
#   and the label-efficiency curve (about 80 minutes on a 2-core laptop).
# * Pretrain for longer: `bertmlm pretrain --resume --minutes N` continues any run from its
#   checkpoint; `bertmlm export` packs the result for a class (`docs/instructor.md`).
# * Change one thing and measure it: `bertmlm bench --quality` compares pretraining recipes by steps
#   and by seconds on the same held-out reviews, the way lesson 05's figures were made.
