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
# A model reads numbers, not words. This lesson turns every review into a row of `max_length`
# integers with a Keras `TextVectorization` layer:
#
# 1. **standardize** the text (lowercase, no HTML, no punctuation, but keep `[mask]`),
# 2. **count** the words of the pretraining corpus and keep the most frequent ones as the vocabulary,
# 3. **encode** reviews to ids and **decode** ids back to words,
# 4. see what the vocabulary covers, and meet the `[mask]` token that the next lessons are about,
# 5. meet subwords: a WordPiece vocabulary learned with keras-hub, which almost never says `[UNK]`.
#
# Every function used here lives in `bertmlm_lib/vectorize.py` (subwords: `bertmlm_lib/subwords.py`).
#
# **Time:** 15 minutes in class, together with lesson 01; the notebook runs in about 53 s in the
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
# Before splitting a review into words we make equal things look equal: `Great`, `great` and
# `"great"` should be one word. Our `standardize` function lowercases every letter (accented ones
# too: `É` becomes `é`, the accent stays), removes
# HTML tags such as the `<br />` line breaks IMDB is full of, and strips every character that is not
# a letter, a digit or a space. One exception: `[mask]` (typed `[mask]` or `[MASK]`) survives as a
# single token, because later we will hide words behind it.

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
# Counting the standardized words of the pretraining corpus (train + unsup; never test) shows a
# famous pattern, Zipf's law: roughly, the most frequent word appears about twice as often as the
# second, three times as often as the third, and so on. On log-log axes that is close to a
# straight line.

# %%
counts = vectorize.count_words(corpus)
print(f"{sum(counts.values()):,} words, {len(counts):,} distinct")
print(vectorize.most_frequent(counts, 15))

# %%
ax = vectorize.plot_zipf(counts)

# %% [markdown]
# ## How big a vocabulary?
#
# A vocabulary of the *k* most frequent words covers most of the text with surprisingly few
# words; each word left out becomes `[UNK]` ("unknown"). A bigger vocabulary costs more: the
# model's last layer scores every word of it at every masked position.

# %%
sizes = [500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000]
curve = vectorize.coverage_curve(counts, sizes)
ax = vectorize.plot_coverage(curve, chosen=cfg.vocab_size)

# %% [markdown]
# ## The vectorizer
#
# `build_vectorizer` keeps the `vocab_size - 3` most frequent words and puts three special tokens
# first, at ids that never change:
#
# | id | token | meaning |
# |---|---|---|
# | 0 | `''` | padding: fills a short review up to `max_length` |
# | 1 | `[UNK]` | a word outside the vocabulary |
# | 2 | `[mask]` | a hidden word, to be predicted |
#
# Every id from 3 up is a real word, and every one of them can be masked later. (The reference
# tutorial skipped ids `<= 2` when masking, which silently protected its most frequent word, "the".)
# The vocabulary is saved in the artifacts folder, so the next lessons read the same ids.

# %%
vectorizer = vectorize.build_vectorizer(corpus, cfg.vocab_size, cfg.max_length, counts=counts)
saved_to = vectorizer.save(cfg.artifacts_dir, cfg=cfg)  # records the settings, so lessons 03-05 reuse it
print(f"{vectorizer.vocabulary_size:,} ids, first ones: {vectorizer.tokens[:10]}")
print(f"saved to {saved_to}")

# %% [markdown]
# ## Encode and decode
#
# Encoding gives a fixed-length row per review; decoding maps ids back to words. The round trip is
# not perfect on purpose: punctuation and case are gone, rare words became `[UNK]`, and a long
# review is cut after `max_length` words.

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
# Pretraining reads every review again and again, so lesson 05 does not keep the text: it reads the
# ids, encoded once here and kept beside the data (`stages.pretraining_corpus`; a few hundred
# reviews are set aside as held-out, never trained on). A table of integers is much smaller than the
# reviews it came from, and reading it back takes a second and no TensorFlow text processing.

# %%
encoded = stages.pretraining_corpus(cfg, vectorizer, imdb=imdb)
print(f"{len(encoded.train_ids):,} reviews to train on + {len(encoded.heldout_ids):,} held out, "
      f"{encoded.train_ids.shape[1]} ids each: {encoded.train_ids.nbytes / 2**20:.0f} MB as int32 "
      f"(the review texts: {sum(len(text) for text in corpus) / 2**20:.0f} MB)")

# %% [markdown]
# ## Subwords: the vocabulary real BERT reads
#
# A vocabulary of words has a hard edge: a word outside it is `[UNK]`, and the model can neither
# read it nor learn to fill it in. Typos, rare names and rare compounds ("awfull", "moive",
# "rewatchable") fall off that edge (the cell below shows which words yours keeps). Real BERT reads **WordPiece** pieces instead (30,522 of them):
# frequent words stay whole, and any other word is spelled from smaller pieces. A piece that
# continues the word before it starts with `##`, so `awfull` can become `awful ##l`.
#
# [keras-hub](https://keras.io/keras_hub/), the library of ready-made Keras models, learns such a
# vocabulary (`compute_word_piece_vocabulary`) and splits text with it (`WordPieceTokenizer`). We
# learn one with as many ids as our word vocabulary, from the same word counts (the 10,000 most
# frequent words, with how often each occurred, so it takes seconds, not minutes). The catch: the
# rare words that pieces exist for never shape this quick learner's pieces. Loading keras-hub
# takes a few seconds and about 150 MB, which is why only this section imports it.

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
# What does it buy? Both vocabularies read the same test reviews, which neither was built from. The
# left panel counts the tokens read as `[UNK]`; the right one how long a review becomes. Pieces
# almost never give up (a word with a character the learner left out, such as a rare accented
# letter, still does), and pay for it in length: more of each review is cut at `max_length`.

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
# Every stage can read pieces instead of words: set `tokenizer="wordpiece"` (here
# `config.load(tokenizer="wordpiece")`, on the command line `bertmlm run --set tokenizer=wordpiece`).
# Pieces bring one more choice to lesson 03's masking: with `whole_word_masking=True` all the pieces
# of a chosen word are hidden together, so the model cannot read `unw` and guess the `##atch` beside it.
#
# Which recipe teaches the encoder more in a workshop's 4 minutes? Held-out masked accuracy cannot
# say (guessing one of 8,000 words is another task than guessing one of 8,000 pieces), so each
# encoder was fine-tuned on the same 1,000 labelled reviews, and linearly probed, beside a random
# encoder of its own vocabulary. Every arm read 256 tokens of each review and took the same steps,
# three times with other labels and seeds. It takes half an hour, so we load the measured result.

# %%
from bertmlm_lib.experiments import load_measured, tokenizers

recipes = load_measured("tokenizers.json")
tokenizers.plot(recipes)
for name, run in recipes["recipes"].items():
    pretrained = f", {run['pretraining_steps']:,} pretraining steps" if "pretraining_steps" in run else ""
    print(f"{name:19} fine-tuned {run['test_accuracy']:.3f} +- {run['test_accuracy_std']:.3f}, "
          f"probe {run['probe']:.3f} +- {run['probe_std']:.3f}{pretrained}")

# %% [markdown]
# Read the bars in pairs, each encoder beside the random one of its vocabulary. Words came out ahead:
# by 0.9 points fine-tuned (about one standard deviation, so a lean rather than a verdict) and by 1.8
# as a probe. Pretraining put more into the pieces' vectors than into the words' (the probe rose 4.8
# points over random pieces, 3.3 over random words), but pieces started lower: a review in pieces is
# longer, so 256 tokens hold less of it. Masking whole words did not help in 4 minutes (1 point
# lower, again about one standard deviation). And after 4 minutes every pretrained encoder still
# fine-tunes *below* its random one; lesson 06 shows how many minutes it takes to turn that around.
#
# A second yardstick needs no labels. Hide the same words in the same 500 held-out reviews from every
# model (all the pieces of a hidden word become `[mask]`), and count a word as named only when the
# model gives it exactly, every piece of it. A word the vocabulary lacks is `[UNK]` and can never be
# named, so the word model starts a few points behind. `bertmlm bench --quality` scores every
# pretraining run this way; here is the shipped run, each recipe pretrained for 4 minutes, twice.

# %%
from bertmlm_lib.experiments import quality

quality.plot_named_words(quality.load_report(name="quality_tokenizers.json"));

# %% [markdown]
# The word model names 22.3% of the hidden words, the piece models 21.3% (with whole words masked
# too), each within 0.2 points across its two seeds: words lead by a point although 6.8% of the hidden
# words are `[UNK]` to them, lost before the model even tries. A piece model can spell nearly any
# word, but it must get every piece of it right. Both yardsticks, labels or none, put words first.
# So the tutorial reads words, and pieces are one setting away.

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
assert recipes["recipes"]["word"]["test_accuracy"] > recipes["recipes"]["wordpiece"]["test_accuracy"], "words won downstream"

# %% [markdown]
# ## Exercises
# *Worked solutions, checked by CI: `08_solutions_01_04.ipynb`. Try first!*
#
# 1. Predict, then check with `counts`: how many distinct words occur only once in the corpus? What
#    happens to them in a vocabulary of `cfg.vocab_size` ids?
# 2. Find a word of your own that becomes `[UNK]`. Why is it missing?
# 3. Pick a vocabulary size for pieces: learn 2,000 and 16,000 of them
#    (`subwords.build_wordpiece_vectorizer(counts, size, cfg.max_length)`) and compare each with
#    `subwords.compare`. What happens to the `[UNK]` share and to review length? Which would you pick
#    for a model whose last layer scores every id at every masked position?

# %% [markdown]
# ## Recap
#
# * Text is standardized, split into words, and the most frequent words become the vocabulary;
#   ids are sorted by frequency, after the specials (0 padding, 1 `[UNK]`, 2 `[mask]`).
# * Word frequencies follow Zipf's law, so a few thousand words cover most of the text; every other
#   word becomes `[UNK]`.
# * WordPiece (keras-hub) keeps frequent words whole and spells the rest from pieces: almost no
#   `[UNK]`, but longer reviews. Real BERT reads pieces; in a workshop's 4 minutes words taught the
#   encoder more, so the rest of this tutorial reads words (`tokenizer="wordpiece"` switches).
#
# **Next, lesson 03**: we hide some of those ids on purpose, and the model will have to guess them.
