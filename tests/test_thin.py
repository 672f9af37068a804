"""The book stays thin: a lesson's training call runs code in few library files.

Lesson 05's `pretrain.pretrain(...)` and lesson 06's `finetune.finetune(...)` run here in the smoke
preset under a profiler (every thread), and the library files whose functions ran are counted. A
learner who follows a lesson's call into the library should meet the lesson's ideas, not the
machinery that runs the book headless (`bertmlm_lib/tools/`).

The target (issue 36) is at most 6 files per call; it is not met yet. The ceilings below are the
counts after the book/tools split (from 16 files for pretraining before it), so the book cannot grow
back; lower them as files leave the lessons' path. Today pretraining reaches, beside its five
lesson files (pretrain, model, masking, callbacks, fill_mask), the vocabulary (vectorize), the
optimizer (schedules), the checkpoint files (checkpoints, artifacts), the settings (config), the
progress line (progress), the input check of the probe sentence (errors) and TensorFlow's loader
(backend).
"""

import sys
import threading
from pathlib import Path

import numpy as np

from bertmlm_lib import config, finetune, pretrain
from bertmlm_lib.classifier import classifier_for
from bertmlm_lib.model import build_encoder
from bertmlm_lib.vectorize import build_vectorizer

LIBRARY = Path(pretrain.__file__).resolve().parent
MOST_FILES = {"pretrain": 14, "finetune": 7}  # library files a lesson's training call may run code in (target: 6;
# pretraining went from 13 to 14 with band.py, the live panel's "is it normal?" line)

SENTENCES = ["i have watched this movie and it was awesome", "the acting was bad and the plot was awful",
             "a good story with great acting", "this film is a waste of time"]


def library_files_run(call) -> list[str]:
    """The library files (relative to `bertmlm_lib/`) whose code ran during `call()`, in every thread."""
    seen = set()

    def profile(frame, event, arg):
        if event == "call":
            seen.add(frame.f_code.co_filename)

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    files = {Path(name).resolve() for name in seen if name.endswith(".py")}
    return sorted(str(path.relative_to(LIBRARY)) for path in files if LIBRARY in path.parents)


def _smoke(tmp_path):
    texts = [" ".join(np.random.default_rng(i).choice(SENTENCES, size=2)) for i in range(96)]
    cfg = config.load("smoke", artifacts=tmp_path, vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32,
                      batch_size=8, pretrain_epochs=1, heldout_reviews=16)
    return cfg, texts, build_vectorizer(texts, cfg.vocab_size, cfg.max_length)


def test_lesson_05s_pretraining_call_runs_code_in_few_library_files(tmp_path):
    cfg, texts, vectorizer = _smoke(tmp_path)
    corpus = pretrain.prepare_corpus(texts, vectorizer, cfg)
    files = library_files_run(lambda: pretrain.pretrain(cfg.for_lesson(), corpus, vectorizer))
    assert "pretrain.py" in files and not any(name.startswith("tools") for name in files), files
    assert len(files) <= MOST_FILES["pretrain"], f"lesson 05's pretraining runs code in {len(files)} library files: {files}"


def test_lesson_06s_finetuning_call_runs_code_in_few_library_files(tmp_path):
    cfg, texts, vectorizer = _smoke(tmp_path)
    ids, labels = vectorizer.encode(texts), np.array([("awesome" in t or "great" in t) * 1 for t in texts])
    sentiment = classifier_for(build_encoder(cfg, vectorizer.vocabulary_size), cfg)
    files = library_files_run(lambda: finetune.finetune(sentiment, (ids[:64], labels[:64]), (ids[64:], labels[64:]), cfg))
    assert "finetune.py" in files and not any(name.startswith("tools") for name in files), files
    assert len(files) <= MOST_FILES["finetune"], f"lesson 06's fine-tuning runs code in {len(files)} library files: {files}"


def test_the_count_sees_every_file_a_call_runs(tmp_path):
    """The counter can fail: a call through three library files is counted as three."""
    from bertmlm_lib import config as config_module, errors, vectorize

    files = library_files_run(lambda: (config_module.load("smoke"), vectorize.standardize("A b"),
                                       errors.BertmlmError("x")))
    assert {"config.py", "vectorize.py"} <= set(files)
