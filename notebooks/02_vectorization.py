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
# # 02 · Vectorization: from words to ids
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/02_vectorization.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/02_vectorization.ipynb)
#
# A model reads numbers, not words. Here every review becomes a row of `max_length` integers:
#
# 1. **standardize** the text and **count** its words (Zipf's law),
# 2. keep the most frequent words as the vocabulary, with a `[mask]` token,
# 3. **encode** reviews to ids and **decode** them back,
# 4. compare words with WordPiece subwords from keras-hub.
#
# **Time:** 15 minutes in class, together with lesson 01; the notebook runs in about 36 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %% [markdown]
# *Set-up (helper cell): Colab install, imports, config, and the reviews from lesson 01.*

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import stages, vectorize

cfg = bertmlm_lib.start_lesson()
imdb = stages.reviews(cfg)
corpus = imdb.pretraining_texts()
print(f"preset {cfg.preset!r}: vocabulary of {cfg.vocab_size:,} ids, reviews cut at {cfg.max_length} words, "
      f"{len(corpus):,} reviews to learn words from")

# %% [markdown]
# ## Standardization
#
# `standardize_text` makes `Great`, `great` and `"great"` one word: it lowercases (accents stay),
# removes HTML tags such as `<br />`, and drops all but letters, digits and spaces.
#
# Only `[mask]` (or `[MASK]`) survives whole: it marks the words we hide.

# %%
examples = [
    'I have watched this [MASK] and it was "AWESOME"!<br /><br />10/10.',
    "Don't bother... the plot? Non-existent. Café scenes were nice, though.",
]
for text in examples:
    print(f"{text}\n  -> {vectorize.standardize_text(text)}\n")

# %% [markdown]
# ## Counting words: Zipf's law
#
# We count words in the pretraining corpus (train + unsup, never test). Zipf's law: the top
# word is about twice as frequent as the second, three times the third, and so on; on log-log
# axes, nearly a straight line.

# %%
counts = vectorize.count_words(corpus)
print(f"{sum(counts.values()):,} words, {len(counts):,} distinct")
print(vectorize.most_frequent(counts, 15))

# %%
ax = vectorize.plot_zipf(counts)

# %% [markdown]
# ## How big a vocabulary?
#
# The *k* most frequent words cover most of the text; the rest become `[UNK]` (unknown). Size
# costs: the last layer scores every vocabulary word at each masked position.

# %%
sizes = [500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000]
curve = vectorize.coverage_curve(counts, sizes)
ax = vectorize.plot_coverage(curve, chosen=cfg.vocab_size)

# %% [markdown]
# ## The vectorizer
#
# `build_vectorizer` keeps the `vocab_size - 3` most frequent words, after three special tokens:
#
# | id | token | meaning |
# |---|---|---|
# | 0 | `''` | padding up to `max_length` |
# | 1 | `[UNK]` | unknown word |
# | 2 | `[mask]` | hidden word, to predict |
#
# Ids from 3 up are real words, all maskable. The vocabulary is saved: later lessons share its ids.

# %%
vectorizer = vectorize.build_vectorizer(corpus, cfg.vocab_size, cfg.max_length, counts=counts)
saved_to = vectorizer.save(cfg.artifacts_dir, cfg=cfg)  # records the settings, so lessons 03-05 reuse it
print(f"{vectorizer.vocabulary_size:,} ids, first ones: {vectorizer.tokens[:10]}")
print(f"saved to {saved_to}")

# %% [markdown]
# ## Encode and decode
#
# Encoding gives one fixed-length row per review; decoding maps ids back to words. The round trip
# loses punctuation, case, rare words (now `[UNK]`) and words past `max_length`. The second cell
# measures how much of the corpus the vocabulary knows.

# %%
sentence = "I have watched this [MASK] and it was awesome!"
ids = vectorizer.encode([sentence])[0]
print(ids[:12])
print(vectorizer.decode(ids))

# %%
coverage = vectorizer.coverage(corpus, counts=counts)
coverage

# %% [markdown]
# ## Encode the corpus once
#
# Pretraining reads each review many times, so `stages.pretraining_corpus` encodes it once, keeping
# the ids, and holds some reviews out. The cell compares the ids' size with the text's.

# %%
encoded = stages.pretraining_corpus(cfg, vectorizer, imdb=imdb)
print(f"{len(encoded.train_ids):,} reviews to train on + {len(encoded.heldout_ids):,} held out, "
      f"{encoded.train_ids.shape[1]} ids each: {encoded.train_ids.nbytes / 2**20:.0f} MB as int32 "
      f"(the review texts: {sum(len(text) for text in corpus) / 2**20:.0f} MB)")

# %% [markdown]
# ## Subwords: the vocabulary real BERT reads
#
# An `[UNK]` word can be neither read nor predicted: a typo like "awfull" is lost.
#
# Real BERT reads **WordPiece** pieces (30,522 of them): frequent words stay whole, others are
# spelled from pieces. A piece continuing a word starts with `##`: `awfull` can become `awful ##l`.
#
# [keras-hub](https://keras.io/keras_hub/) learns the pieces (`compute_word_piece_vocabulary`) and
# splits text (`WordPieceTokenizer`). We ask for as many pieces as word ids. For speed, the learner
# sees only the counts of the most frequent words (10,000 by default), so rare words never shape
# the pieces.

# %%
from bertmlm_lib import subwords

pieces = subwords.build_wordpiece_vectorizer(counts, cfg.vocab_size, cfg.max_length)
continuing = [token for token in pieces.tokens if token.startswith(subwords.CONTINUATION)]
print(f"{pieces.vocabulary_size:,} pieces ({cfg.vocab_size:,} asked; the learner gets within a few percent): "
      f"{pieces.vocabulary_size - len(continuing) - 3:,} start a word, {len(continuing):,} continue one, "
      f"e.g. {[token for token in continuing if len(token) >= 5][:8]}")
for word in ("movie", "unwatchable", "rewatchable", "kubrick", "awfull", "moive", "déjà"):
    print(f"  {word:12} -> {' '.join(pieces.pieces(word)):30} as a word: {vectorizer.decode([vectorizer.id_of(word)])}")

# %% [markdown]
# Both vocabularies read unseen test reviews. Left: tokens read as `[UNK]`; right: tokens per
# review. Pieces almost never give up (only on a character the learner never saw), but reviews grow
# longer and more are cut at `max_length`.

# %%
unseen = imdb.test.texts[:5000]
comparison = subwords.compare(vectorizer, pieces, unseen)
axes = subwords.plot_comparison(comparison)
for kind in ("words", "pieces"):
    report = comparison[kind]
    print(f"{kind:6}: {report['unknown_rate']:.2%} of tokens [UNK], median {report['median_length']:.0f} tokens "
          f"per review, {report['truncated_share']:.0%} of reviews cut at {cfg.max_length}")

# %% [markdown]
# ## Pieces through the whole tutorial
#
# Every stage can read pieces: `config.load(tokenizer="wordpiece")`. Lesson 03's
# `whole_word_masking=True` then hides a word's pieces together. We stay with words; notebook 11
# shows why.

# %% [markdown]
# ## What this lesson claims, checked

# %%
assert vectorizer.tokens[:3] == ["", "[UNK]", "[mask]"]
assert vectorizer.encode(["[MASK] [mask]"])[0, :2].tolist() == [vectorize.MASK_ID] * 2
assert vectorizer.decode(vectorizer.encode([sentence])[0]).startswith("i have watched this [mask]")
assert vectorizer.tokens[vectorize.FIRST_WORD_ID] == vectorize.most_frequent(counts, 1)[0][0], "the top word gets id 3, the first real-word id"
assert ids.shape == (cfg.max_length,) and (ids[len(vectorize.standardize_text(sentence).split()):] == 0).all()
assert coverage["known_share"] > 0.8, "the vocabulary knows most words of the corpus"
assert vectorize.Vectorizer.load(cfg.artifacts_dir).fingerprint == vectorizer.fingerprint
assert len(encoded.train_ids) + len(encoded.heldout_ids) == len(corpus) and encoded.train_ids.shape[1] == cfg.max_length
assert comparison["pieces"]["unknown_rate"] < comparison["words"]["unknown_rate"], "pieces know more of unseen text"
assert comparison["pieces"]["pieces_per_word"] > 1, "and pay for it in length"
assert pieces.decode(pieces.encode(["rewatchable"])[0]) == "rewatchable", "a word spelled in pieces reads back whole"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `08_solutions_01_04.ipynb`. Try first!*
#
# 1. Predict, then check with `counts`: how many words occur only once? What becomes of them?
# 2. Find a word of your own that becomes `[UNK]`. Why is it missing?
# 3. Learn 2,000 and 16,000 pieces (`subwords.build_wordpiece_vectorizer(counts, size, cfg.max_length)`)
#    and compare each with `subwords.compare`. How do the `[UNK]` share and review length change?
#    Which size would you pick?

# %% [markdown]
# ## Recap
#
# * Standardized text splits into words; the most frequent become the vocabulary, after the
#   specials (0 padding, 1 `[UNK]`, 2 `[mask]`).
# * Zipf's law: a few thousand words cover most text; the rest become `[UNK]`.
# * WordPiece spells rare words from pieces: almost no `[UNK]`, but longer reviews.
#
# **Next, lesson 03**: we hide some of these ids on purpose, for the model to guess.
