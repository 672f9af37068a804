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
# # Worked solutions to the exercises of lessons 01-04
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/08_solutions_01_04.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/08_solutions_01_04.ipynb)
#
# Try each exercise in its lesson first: predict, then run. This notebook works every exercise of
# lessons 01-04, in order, and checks its claims with `assert`s, so it also runs in CI; lesson 05
# has its own in `09_solutions_05.ipynb`, lessons 06-07 in `10_solutions_06_07.ipynb` (three
# notebooks, so that each fits Binder's memory).
# It builds whatever an earlier lesson would have left (the vocabulary, a pretrained model) if it
# is missing.
#
# **Time:** not a class slot: open it after trying an exercise. It runs in about 58 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import checkpoints, data, masking, model, pretrain, stages, vectorize

cfg = bertmlm_lib.start_lesson()
imdb = data.load_imdb(cfg=cfg, progress=False)
vectorizer = stages.vocabulary(cfg, imdb=imdb)

# %% [markdown]
# ## 01 data
# **1.** The same preset and seed give the same reviews in the same order (the subsets are drawn with
# a seeded generator); another seed draws other reviews. With the full data (`train_reviews=None`)
# every review is kept, so only their order changes.

# %%
labelled_only = dict(test_reviews=0, unsup_reviews=0, progress=False)  # the training reviews are enough to see it
again = data.load_imdb(cfg=cfg, **labelled_only)
other = data.load_imdb(cfg=cfg.replace(seed=cfg.seed + 1), **labelled_only)
print(imdb.train.files[:3], other.train.files[:3], sep="\n")
assert again.train.files == imdb.train.files
assert other.train.files != imdb.train.files
del again, other  # two more copies of 25,000 reviews: let them go

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
# **3.** Fewer pieces spell more words from smaller parts: each word takes more pieces, so reviews
# get longer and more of each is cut at `max_length`. More pieces keep more words whole, but every
# extra id costs the model at every masked position (its last layer scores them all), and rare
# pieces get few training examples. `[UNK]` stays near zero either way: it is the length and the
# cost that decide. For a 2-core laptop, the word vocabulary's size (8,000 in the workshop) is a
# fair middle.

# %%
from bertmlm_lib import subwords

unseen = imdb.test.texts[:2000]
by_size = {}
for size in (2_000, 16_000):
    sized = subwords.build_wordpiece_vectorizer(counts, size, cfg.max_length)
    by_size[sized.vocabulary_size] = subwords.compare(vectorizer, sized, unseen)["pieces"]
for size, report in sorted(by_size.items()):
    print(f"{size:6,} pieces: {report['unknown_rate']:.3%} [UNK], {report['pieces_per_word']:.2f} pieces per word, "
          f"{report['truncated_share']:.0%} of reviews cut at {cfg.max_length}")
fewer, more = (by_size[size] for size in sorted(by_size))
assert fewer["pieces_per_word"] > more["pieces_per_word"], "fewer pieces: longer reviews"
assert max(fewer["unknown_rate"], more["unknown_rate"]) < 0.005

# %% [markdown]
# ## 03 masking
# **1.** At 40%, 40% of the real words are chosen. Masked accuracy falls: each guess has less
# context left (but each review teaches more guesses at once). Measured with the instructor's model
# on the first 500 test reviews, 256 tokens each (`pretrain.masked_accuracy_at`): 36.1% of the blanks
# filled exactly at 15%, 33.4% at 25%, 29.7% at 40%. The cell after the next measures your own model on
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
# ## Next
#
# The exercises of lesson 05 (resuming pretraining, which probe is easiest) are worked in
# `09_solutions_05.ipynb`; those of lessons 06-07 (pooling and the frozen phase, a linear probe,
# where the classifier goes wrong) in `10_solutions_06_07.ipynb`.
