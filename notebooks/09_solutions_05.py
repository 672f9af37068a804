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
# # Worked solutions to the exercises of lesson 05
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bertmlm/bertmlm/blob/v0.1.0/notebooks/09_solutions_05.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/bertmlm/bertmlm/v0.1.0?urlpath=lab/tree/notebooks/09_solutions_05.ipynb)
#
# Try each exercise in its lesson first: predict, then run. This notebook works the exercises of
# lesson 05 and checks its claims with `assert`s, so it also runs in CI (lessons 01-04:
# `08_solutions_01_04.ipynb`; 06-07: `10_solutions_06_07.ipynb`, a notebook of its own so that each
# fits Binder's memory). It builds whatever an earlier lesson would have left (the vocabulary, the
# encoded corpus, a pretrained model) if it is missing.
#
# **Time:** not a class slot: open it after trying an exercise. It runs in about 41 s in the
# workshop preset on a 2-core laptop (measured with `bertmlm bench --lessons`, in a fresh kernel).

# %%
import sys

if "google.colab" in sys.modules:  # Colab starts without our library: install this release of it (seconds;
    import subprocess              # Colab's own TensorFlow, Keras and ipywidgets stay as they are)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bertmlm @ git+https://github.com/bertmlm/bertmlm@v0.1.0"], check=True)

import bertmlm_lib
from bertmlm_lib import checkpoints, pretrain, stages, vectorize
from bertmlm_lib.fill_mask import PROBE_ANSWERS, PROBES, FillMasker

cfg = bertmlm_lib.start_lesson()
vectorizer = stages.vocabulary(cfg, progress=False)

# %% [markdown]
# ## 05 pretraining
# **1.** A resumed run starts at the step where the checkpoint stopped, with the optimizer's state,
# and trains until the raised budget runs out or the extra pass ends, whichever comes first (here
# half a minute more than all runs so far, to keep CI short); the held-out accuracy usually keeps
# rising while the model is this young.

# %%
encoder = stages.pretrained_encoder(cfg, vectorizer, progress=False)  # lesson 05's model, made if missing
corpus = stages.pretraining_corpus(cfg, vectorizer, progress=False)  # the ids lessons 02 and 05 kept
meta = checkpoints.read_checkpoint_meta(checkpoints.checkpoint_folder(cfg))
before = meta["step"]
# one more pass, and under a time budget half a minute more than all its runs so far
longer = cfg.replace(pretrain_epochs=cfg.pretrain_epochs + 1,
                     pretrain_minutes=meta["seconds"] / 60 + 0.5 if cfg.pretrain_minutes else None)
_, resumed = pretrain.pretrain(longer, corpus, vectorizer, resume=True, show=False)
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
# **Next**: the solutions of lessons 06 and 07, in `10_solutions_06_07.ipynb`.
