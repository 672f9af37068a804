"""Presets: every size and knob of the pipeline in one frozen dataclass.

Three presets share one shape:
- `smoke`: a few hundred reviews and a toy model; CI runs every notebook with it in seconds.
- `workshop`: what a learner runs live on a 2-core laptop in a class.
- `full`: starts from the reference keras-io tutorial's config (vocab 30,000, length 256,
  dim 128, 8 heads, FF 128, 1 layer, batch 32, lr 1e-3); each departure is listed in
  `FULL_PRESET_DEPARTURES` with its reason.

`load()` picks the preset named by the argument, else `BERTMLM_PRESET`, else `workshop`, applies
keyword overrides, checks every value, and resolves the artifacts folder (`artifacts=` argument,
else `BERTMLM_ARTIFACTS`, else a per-user cache folder per preset).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError

PRESET_ENV = "BERTMLM_PRESET"
ARTIFACTS_ENV = "BERTMLM_ARTIFACTS"
CACHE_ENV = "BERTMLM_CACHE"
DEFAULT_PRESET = "workshop"
# The choices of the settings that take one of a few names (checked by `_checked`, listed in its message).
Activation = Literal["relu", "gelu"]
PositionEncoding = Literal["learned", "sinusoidal", "alibi", "rope", "t5"]
Schedule = Literal["linear", "warmup", "constant"]
Strategy = Literal["default", "mirrored", "multiworker"]
Tokenizer = Literal["word", "wordpiece"]
POSITION_ENCODINGS = typing.get_args(PositionEncoding)
# What a setting meant before it existed: a config or model saved then had this behaviour, whatever
# the preset's default is now, so it reloads and resumes unchanged.
SAVED_BEFORE_SETTING = {"position_encoding": "learned", "tokenizer": "word", "whole_word_masking": False}


def with_saved_defaults(saved: dict) -> dict:
    """A saved config (or part of one) with the settings it predates filled in as they behaved then
    (and the evaluation period saved as two settings, before `eval_every` took seconds too, as one)."""
    saved = {**SAVED_BEFORE_SETTING, **saved}
    if "eval_every_seconds" in saved:
        seconds = saved.pop("eval_every_seconds")
        if seconds:
            saved["eval_every"] = f"{seconds:g}s"
    return saved


def cadence(every: int | str) -> tuple[int | None, float | None]:
    """(steps, seconds) of an evaluation period: a whole number of steps, or seconds of training
    written with an "s". ValueError if it is neither.

    >>> cadence(200), cadence("15s"), cadence("0.5s")
    ((200, None), (None, 15.0), (None, 0.5))
    """
    text = str(every).strip().lower()
    if isinstance(every, bool) or not text:
        raise ValueError(every)
    if text.endswith("s"):
        seconds = float(text[:-1])  # ValueError if it is not a number
        if not seconds > 0:
            raise ValueError(every)
        return None, seconds
    steps = int(text)
    if steps < 1:
        raise ValueError(every)
    return steps, None


@dataclass(frozen=True)
class Config:
    """One run's settings. Sizes of `None` mean "the whole split"."""

    preset: str
    # Data: reviews per split (label-balanced subsets), and the share of train kept for validation.
    train_reviews: int | None = None
    test_reviews: int | None = None
    unsup_reviews: int | None = None
    validation_fraction: float = 0.1
    # Vectorization: ids kept (specials included) and tokens per review. `tokenizer` says what a token
    # is: a whole word ("word": every rarer word is [UNK]) or a WordPiece piece ("wordpiece", learned
    # with keras-hub: frequent words whole, rarer ones spelled from pieces; see `subwords.py`).
    # Words stay the default: with the workshop's pretraining they taught the encoder more than pieces
    # learned from every word, scored on validation reviews (notebook 11; `measured/tokenizers_validation.json`)
    # and by naming hidden words without labels (`measured/quality_tokenizers.json`).
    tokenizer: Tokenizer = "word"
    vocab_size: int = 30_000
    max_length: int = 256
    # Masking (BERT's recipe): share of real tokens chosen; of those, the shares replaced by
    # [mask] and by a random word (the rest stay as they are).
    mask_rate: float = 0.15
    mask_token_share: float = 0.8
    random_token_share: float = 0.1
    # With WordPiece: choose whole words, so all pieces of a word are masked together (a word's first
    # piece never gives its second away). Nothing changes for a word-level vocabulary.
    whole_word_masking: bool = False
    # Model: a small BERT encoder.
    embed_dim: int = 128
    num_heads: int = 8
    ff_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.1
    activation: Activation = "relu"  # of the feed-forward layers (the reference used relu; BERT uses gelu)
    pre_layer_norm: bool = False  # LayerNorm before each sub-layer (more stable) or after (BERT's)
    # How the model knows word order (see `model.py`): "learned" (BERT's), "sinusoidal", or, inside
    # attention, "alibi" or "rope".
    position_encoding: PositionEncoding = "learned"
    # Pretraining: AdamW, linear warmup then linear decay to zero, gradient clipping.
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: Schedule = "linear"  # "linear": warmup, then linear decay to 0 (fitted to a time budget);
    # "warmup": warmup, then constant; "constant": the rate from the first step
    warmup_share: float = 0.06  # of all pretraining steps
    embedding_init_std: float = 0.02  # spread of the word vectors a new model starts from (BERT's 0.02)
    weight_decay: float = 0.01
    clipnorm: float = 1.0
    # XLA off: on a 2-core CPU it gained nothing measurable (`bertmlm bench --levers`), and with dropout
    # on the attention weights Keras's XLA random numbers made steps several times slower. Try it on a GPU.
    jit_compile: bool = False
    pretrain_epochs: int = 5
    pretrain_minutes: float | None = None
    pretrain_steps: int | None = None  # stop after this many optimizer steps in all (None: the passes decide)
    # Short reviews first: the first `short_share` of pretraining (of the time budget, else of the
    # steps) reads only the first `short_length` tokens of each review, the rest the full length.
    # Short steps are cheap, and the model learns to use nearby words as well on them; it keeps that at
    # full length (`bertmlm bench --quality`, notebook 11).
    short_length: int | None = None
    short_share: float = 0.0
    heldout_reviews: int = 1000  # of the pretraining corpus, kept aside to measure masked accuracy
    checkpoint_minutes: float = 5.0
    # Keep the encoder as it was after each of these training minutes (`pretrain/snapshots/`, with its
    # held-out scores), so a long run shows what each stretch of pretraining bought downstream.
    snapshot_minutes: tuple[float, ...] = ()
    # How often to score the held-out reviews and refresh the fill-mask panel: a whole number of steps
    # (200), or of seconds of training written with an "s" ("15s": a lesson's curve then has a point
    # every few seconds on a fast laptop and a slow one alike). See `cadence`.
    eval_every: int | str = 200
    # Fine-tuning: phase 1 (encoder frozen) is at most `frozen_steps` batches per round (None: whole
    # epochs), phase 2 (unfrozen) `finetune_epochs` epochs.
    finetune_epochs: int = 5
    frozen_steps: int | None = None
    # Peak rate of phase 2 (the head learns at 3e-3 in phase 1); it warms up and decays. Of 1e-4, 5e-4 and
    # 1e-3 on the workshop preset, 1e-3 validated best.
    finetune_learning_rate: float = 1e-3
    # The classifier reads up to this many consecutive windows of `max_length` tokens per review,
    # each through the same encoder (which learned max_length positions), and pools over all of them.
    classifier_windows: int = 1
    # "default": one device (the GPU if there is one, else the CPU); "mirrored": every local GPU, or
    # every logical CPU device, through tf.distribute.MirroredStrategy (the batch is split between them);
    # "multiworker": several processes or machines, through tf.distribute.MultiWorkerMirroredStrategy
    # (the cluster from TF_CONFIG or `--workers`; see tools/distribute.py).
    strategy: Strategy = "default"
    # The label-efficiency curve of `bertmlm run`: labelled-review counts, and the label-balanced
    # slice of test it is scored on (None: the preset's whole test set).
    label_sizes: tuple = (500, 1000, 2000, 5000)
    label_test_reviews: int | None = 5000
    label_validation_reviews: int | None = 1000  # of validation, to pick each arm's rate (None: all)
    label_seeds: int = 3  # repeats of every point (another labelled subset and initialisation each)
    # Lessons 05 and 06 in a class slot (each notebook <= 3 minutes on a 2-core laptop): minutes of live
    # pretraining, and labelled reviews to fine-tune on (None: as `bertmlm run`, the preset's budget).
    lesson_pretrain_minutes: float | None = None
    lesson_train_reviews: int | None = None
    seed: int = 1337
    # Where this run's outputs live (resolved by `load`).
    artifacts: str = ""

    @property
    def classifier_length(self) -> int:
        """How many tokens of a review the sentiment classifier reads (windows of max_length)."""
        return self.max_length * self.classifier_windows

    def for_lesson(self) -> "Config":
        """The config a lesson trains with: the preset's, with the class-slot budgets applied."""
        return self.replace(pretrain_minutes=self.lesson_pretrain_minutes or self.pretrain_minutes)

    @property
    def artifacts_dir(self) -> Path:
        """The folder holding this run's vocabulary, checkpoints and reports."""
        return Path(self.artifacts)

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field, for reports and artifact metadata."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Config":
        """A checked copy with some fields changed (the preset name is kept)."""
        return _checked(dataclasses.replace(self, **_known(changes)))


# Every setting belongs to exactly one group (a test checks it). The groups say what a setting changes,
# and everything that must compare or hash settings derives its list from them: the vocabulary's
# record of what it was built from, a checkpoint's architecture, what an instructor checkpoint must
# match, and the stage keys of `bertmlm run`. A new setting joins one group here and nowhere else.
FIELD_GROUPS = {
    "data": ("train_reviews", "test_reviews", "unsup_reviews", "seed"),
    "vocabulary": ("tokenizer", "vocab_size", "max_length"),
    "masking": ("mask_rate", "mask_token_share", "random_token_share", "whole_word_masking"),
    "model": ("embed_dim", "num_heads", "ff_dim", "num_layers", "activation", "pre_layer_norm", "position_encoding"),
    "pretraining": ("dropout", "batch_size", "learning_rate", "schedule", "warmup_share", "embedding_init_std",
                    "weight_decay", "clipnorm",
                    "pretrain_epochs", "pretrain_minutes", "pretrain_steps", "short_length", "short_share", "heldout_reviews"),
    "finetuning": ("validation_fraction", "finetune_epochs", "frozen_steps", "classifier_windows",
                   "finetune_learning_rate"),
    "evaluation": ("label_sizes", "label_test_reviews", "label_validation_reviews", "label_seeds"),
    # how and where a run goes, not what it computes
    "running": ("preset", "artifacts", "strategy", "jit_compile", "checkpoint_minutes", "snapshot_minutes", "eval_every",
                "lesson_pretrain_minutes", "lesson_train_reviews"),
}


def fields_of(*groups: str) -> tuple[str, ...]:
    """The settings of some groups, in order.

    >>> fields_of("vocabulary")
    ('tokenizer', 'vocab_size', 'max_length')
    """
    return tuple(name for group in groups for name in FIELD_GROUPS[group])


# The settings whose type is a `Literal`, with their allowed values.
CHOICES = {name: typing.get_args(kind) for name, kind in typing.get_type_hints(Config).items()
           if typing.get_origin(kind) is Literal}


PRESETS: dict[str, Config] = {
    # CI and first contact: seconds per notebook. Sizes are tiny but every code path runs. 2,000
    # labelled reviews and 3 epochs are the least at which the classifier reliably tells a clearly
    # positive review from a clearly negative one (the browser test types both).
    "smoke": Config(
        preset="smoke",
        train_reviews=2_000,
        test_reviews=200,
        unsup_reviews=400,
        validation_fraction=0.2,
        vocab_size=2_000,
        max_length=64,
        embed_dim=32,
        num_heads=2,
        ff_dim=64,
        num_layers=1,
        batch_size=32,
        pretrain_epochs=1,
        heldout_reviews=64,
        eval_every=5,
        finetune_epochs=3,
        classifier_windows=2,  # so every run exercises reading a review in windows
        position_encoding="rope",  # the workshop's, so CI runs the lessons' code path
        label_sizes=(200,),  # one point, for CI time (the full preset draws three)
        label_test_reviews=None,
        label_seeds=1,
    ),
    # A class on 2-core laptops: the whole corpus and the recipe that learned the most per CPU-minute in
    # `bertmlm bench --quality` (the reference's one-layer model, 8,000 words, a constant rate, 64-token
    # reviews first, rotary positions, 25% masked). The measurements are in notebook 11 and
    # docs/measurements.md (`experiments/measured/quality*.json`); the classifier's window count was
    # chosen on validation (`measured/windows.json`, a test keeps this preset to it).
    "workshop": Config(
        preset="workshop",
        vocab_size=8_000,
        max_length=128,
        embed_dim=128,
        num_heads=8,
        ff_dim=128,
        num_layers=1,
        dropout=0.1,
        batch_size=32,
        learning_rate=2e-3,
        schedule="constant",
        weight_decay=0.0,
        pretrain_epochs=5,  # the 4-minute budget ends it first (how many steps depends on the machine)
        pretrain_minutes=4.0,
        short_length=64,
        short_share=0.7,
        position_encoding="rope",
        mask_rate=0.25,
        heldout_reviews=500,
        eval_every="15s",  # a curve point and a panel refresh every 15 s of training: 8 in the 2-minute lesson
        finetune_epochs=1,
        frozen_steps=150,
        classifier_windows=3,
        label_sizes=(500,),  # one point of the curve fits the budget; the full preset draws 500, 1k and 2k
        label_test_reviews=5000,
        label_validation_reviews=500,
        label_seeds=1,  # one seed fits the budget: the point has no error bar, and the report says so
        lesson_pretrain_minutes=2.0,
        lesson_train_reviews=6_000,  # lesson 06's share of labels, sized to its slot (bertmlm bench --lessons)
    ),
    # The reference tutorial's model and length (256) on all the data, with the workshop's recipe for an
    # hour: the rate warms up briefly and decays to zero at the end of the budget. The shipped instructor
    # model is this run resumed to 240 minutes (training/README.md; `instructor.describe` prints how well
    # it did). One layer of width 128 stays: wider or deeper did no better in 10-minute runs
    # (`measured/quality_instructor_size.json`).
    "full": Config(
        preset="full",
        vocab_size=8_000,
        max_length=256,
        learning_rate=2e-3,
        schedule="linear",
        warmup_share=0.02,
        pretrain_epochs=100,  # the 60-minute budget ends it first
        pretrain_minutes=60.0,
        short_length=64,
        short_share=0.5,
        position_encoding="rope",
        mask_rate=0.25,  # the workshop's measured winner
        eval_every=2_000,
        checkpoint_minutes=10.0,
        snapshot_minutes=(5, 15, 30, 60, 120, 240),  # the instructor model's long run keeps these
        finetune_epochs=2,
        frozen_steps=300,
        classifier_windows=2,  # 512 tokens
        # The curve's 5,000-label point alone would cost ~15 minutes per seed here (2 arms x 2 rates x
        # 4 epochs at 512 tokens): over the 90-minute budget. The classifier itself has all 22,500
        # labels. Three seeds per point (the default), scored on 5,000 test reviews.
        label_sizes=(500, 1000, 2000),
    ),
}

# Why `full` (and the pipeline around it) differs from the reference tutorial, one line each.
FULL_PRESET_DEPARTURES = {
    "recipe": "vocabulary 8,000 (not 30,000), AdamW 2e-3 with warmup and linear decay to zero over a "
    "60-minute budget (not Adam 1e-3 for 5 epochs), the first half on 64-token reviews: measured to "
    "learn far more per CPU-minute (`bertmlm bench --quality`).",
    "masking": "25% of the real words chosen (not BERT's 15%): the small model leaves the frequent-word "
    "plateau sooner by steps at the same accuracy per minute (`bertmlm bench --quality`, at 128 tokens).",
    "positions": "rotary (RoPE) instead of learned position vectors: the model leaves the frequent-word "
    "plateau within 800 steps instead of after thousands (`bertmlm bench --quality`).",
    "labels": "pos=1, neg=0 (the reference had them reversed, which reads wrongly in every metric).",
    "pretraining corpus": "train + unsup, 75k reviews; the reference pretrained on test reviews too.",
    "validation": "carved from train (10%, stratified); the reference validated on test.",
    "vocabulary": "ids 0/1/2 are padding/[UNK]/[mask] and every real word is maskable "
    "(the reference's `<= 2` test also excluded the most frequent word).",
    "punctuation": "every non-letter, non-digit character is stripped, double quotes included "
    "(the reference kept '\"', so '\"great' and 'great' were different words).",
}



def preset_names() -> list[str]:
    """The presets a user can choose, smallest first."""
    return list(PRESETS)


# Chosen by their own arguments (`load(preset, artifacts)`, `--preset`, `--artifacts`), not as settings.
NOT_SETTINGS = ("preset", "artifacts")


def setting_names() -> list[str]:
    """The Config fields a user may change (everything but `NOT_SETTINGS`)."""
    return [f.name for f in dataclasses.fields(Config) if f.name not in NOT_SETTINGS]


def _unknown_setting(name: str) -> str:
    """Why `name` is not a setting, with the closest setting names (or all of them)."""
    close = difflib.get_close_matches(name, setting_names(), n=3)
    return f"there is no setting {name!r}; " + (f"did you mean {' or '.join(close)}?" if close
                                                 else f"the settings are: {', '.join(setting_names())}.")


def _known(changes: dict) -> dict:
    """Refuse override names that are not Config fields, naming the closest valid ones."""
    unknown = sorted(set(changes) - set(setting_names()) - {"artifacts"})
    if unknown:
        raise ConfigError("unknown config setting: " + " ".join(_unknown_setting(name) for name in unknown))
    for name in _TUPLE_SETTINGS:
        if isinstance(changes.get(name), list):  # as read back from JSON
            changes = {**changes, name: tuple(changes[name])}
    return changes


# The settings that hold a tuple (JSON gives lists back), found from the Config annotations.
_TUPLE_SETTINGS = tuple(f.name for f in dataclasses.fields(Config) if str(f.type).startswith("tuple"))


def masking_problem(mask_rate: float, mask_token_share: float, random_token_share: float) -> tuple[str, str] | None:
    """(setting, rule) for the first masking share out of range, else None: the one rule that both
    the config and the masking functions apply.

    >>> masking_problem(1.0, 0.8, 0.1)
    ('mask_rate', 'between 0 and 1 (exclusive)')
    """
    if not 0 < mask_rate < 1:
        return "mask_rate", "between 0 and 1 (exclusive)"
    for name, share in (("mask_token_share", mask_token_share), ("random_token_share", random_token_share)):
        if not 0 <= share <= 1:
            return name, "between 0 and 1"
    if mask_token_share + random_token_share > 1 + 1e-9:
        return "random_token_share", f"at most 1 - mask_token_share = {1 - mask_token_share:g}"
    return None


def _checked(cfg: Config) -> Config:
    """Check that every value makes sense, with a message that names the setting."""

    def fail(name, rule):
        raise ConfigError(f"config setting {name}={getattr(cfg, name)!r} is invalid: it must be {rule}.")

    for name in ("train_reviews", "test_reviews", "unsup_reviews"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 2):
            fail(name, "None (all reviews) or a whole number >= 2")
    for name in ("embed_dim", "num_heads", "ff_dim", "num_layers", "batch_size",
                 "pretrain_epochs", "finetune_epochs", "max_length", "classifier_windows"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            fail(name, "a whole number >= 1")
    if not isinstance(cfg.vocab_size, int) or cfg.vocab_size < 4:
        fail("vocab_size", "a whole number >= 4 (three ids are reserved: padding, [UNK], [mask])")
    if not 0 < cfg.validation_fraction < 1:
        fail("validation_fraction", "between 0 and 1 (exclusive)")
    problem = masking_problem(cfg.mask_rate, cfg.mask_token_share, cfg.random_token_share)
    if problem:
        fail(*problem)
    if not 0 <= cfg.dropout <= 1:
        fail("dropout", "between 0 and 1")
    if cfg.embed_dim % cfg.num_heads:
        fail("num_heads", f"a divisor of embed_dim={cfg.embed_dim}")
    for name in ("learning_rate", "finetune_learning_rate", "clipnorm", "checkpoint_minutes", "embedding_init_std"):
        if not getattr(cfg, name) > 0:
            fail(name, "positive")
    for name in ("warmup_share", "weight_decay"):
        if not 0 <= getattr(cfg, name) < 1:
            fail(name, "in [0, 1)")
    if not isinstance(cfg.heldout_reviews, int) or cfg.heldout_reviews < 1:
        fail("heldout_reviews", "a whole number >= 1")
    try:
        steps, _ = cadence(cfg.eval_every)
    except (TypeError, ValueError):
        fail("eval_every", 'a whole number of steps >= 1, or seconds of training written like "15s"')
    if steps is not None and cfg.eval_every != steps:  # "200" from the command line: the number
        cfg = dataclasses.replace(cfg, eval_every=steps)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in cfg.label_sizes):
        fail("label_sizes", "a tuple of whole numbers >= 2 (labelled reviews per point of the curve)")
    if cfg.label_test_reviews is not None and (not isinstance(cfg.label_test_reviews, int) or cfg.label_test_reviews < 2):
        fail("label_test_reviews", "None (the whole test set) or a whole number >= 2")
    if not isinstance(cfg.label_seeds, int) or isinstance(cfg.label_seeds, bool) or cfg.label_seeds < 1:
        fail("label_seeds", "a whole number >= 1 (repeats of every point of the curve)")
    if cfg.label_validation_reviews is not None and (not isinstance(cfg.label_validation_reviews, int)
                                                     or cfg.label_validation_reviews < 2):
        fail("label_validation_reviews", "None (the whole validation split) or a whole number >= 2")
    if not isinstance(cfg.whole_word_masking, bool):
        fail("whole_word_masking", "true or false")
    for name, choices in CHOICES.items():
        if getattr(cfg, name) not in choices:
            fail(name, " or ".join(repr(choice) for choice in choices))
    if cfg.short_length is not None and (not isinstance(cfg.short_length, int) or isinstance(cfg.short_length, bool)
                                         or not 1 <= cfg.short_length < cfg.max_length):
        fail("short_length", f"None (off) or a whole number from 1 to max_length - 1 = {cfg.max_length - 1}")
    if not 0 <= cfg.short_share < 1:
        fail("short_share", "in [0, 1): the share of pretraining spent on short reviews")
    if not (all(isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 for m in cfg.snapshot_minutes)
            and list(cfg.snapshot_minutes) == sorted(set(cfg.snapshot_minutes))):
        fail("snapshot_minutes", "training minutes > 0 in increasing order, e.g. 5,15,30 (empty: no snapshots)")
    if cfg.frozen_steps is not None and (not isinstance(cfg.frozen_steps, int) or cfg.frozen_steps < 1):
        fail("frozen_steps", "None (whole epochs) or a whole number of batches >= 1")
    if cfg.lesson_pretrain_minutes is not None and not cfg.lesson_pretrain_minutes > 0:
        fail("lesson_pretrain_minutes", "None (the preset's budget) or a positive number of minutes")
    if cfg.lesson_train_reviews is not None and (not isinstance(cfg.lesson_train_reviews, int)
                                                 or cfg.lesson_train_reviews < 2):
        fail("lesson_train_reviews", "None (all labelled reviews) or a whole number >= 2")
    if cfg.pretrain_minutes is not None and not cfg.pretrain_minutes > 0:
        fail("pretrain_minutes", "None (no time limit) or a positive number of minutes")
    if cfg.pretrain_steps is not None and not (isinstance(cfg.pretrain_steps, int) and cfg.pretrain_steps > 0):
        fail("pretrain_steps", "None (the passes over the corpus decide) or a whole number of steps > 0")
    return cfg


def cache_root() -> Path:
    """Per-user cache folder for downloads and artifacts (`BERTMLM_CACHE`, else XDG's cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "bertmlm"


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _typed(text: str, kind):
    """`text` as a value of the type `kind` (from Config's annotations); ValueError with the reason if it is not one."""
    options = typing.get_args(kind)
    if typing.get_origin(kind) is Literal:
        if text not in options:
            raise ValueError(f"one of {', '.join(map(repr, options))}")
        return text
    if type(None) in options:  # an optional setting: "none" switches it off
        if text.lower() == "none":
            return None
        return _typed(text, next(option for option in options if option is not type(None)))
    if kind is tuple or typing.get_origin(kind) is tuple:  # whole numbers, written with commas
        return tuple(_typed(part.strip(), options[0] if options else int) for part in text.split(",")
                     if part.strip())
    if kind is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError("true or false")
        return text.lower() in _TRUE
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number") from None
    return text


def parse_setting(text: str) -> tuple[str, object]:
    """One `KEY=VALUE` from the command line (`--set`) as (setting, value of the setting's type).
    "none" turns off a setting that may be None; a tuple is written with commas. Ranges are checked by `load`.

    >>> parse_setting("mask_rate=0.25"), parse_setting("short_length=none"), parse_setting("label_sizes=500,1000")
    (('mask_rate', 0.25), ('short_length', None), ('label_sizes', (500, 1000)))
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ConfigError(f"--set {text!r} is not KEY=VALUE; write it like --set mask_rate=0.25.")
    if name in NOT_SETTINGS:
        raise ConfigError(f"--set {text!r}: use --{name} for that.")
    if name not in setting_names():
        raise ConfigError(f"--set {text!r}: {_unknown_setting(name)}")
    try:
        return name, _typed(value, typing.get_type_hints(Config)[name])
    except ValueError as reason:
        raise ConfigError(f"--set {text!r}: {name} must be {reason}.") from None


def load(preset: str | None = None, artifacts: str | os.PathLike | None = None, **overrides) -> Config:
    """The config of a preset (argument, else `BERTMLM_PRESET`, else 'workshop'), with overrides.

    >>> load("smoke", vocab_size=500).vocab_size
    500
    """
    name = preset or os.environ.get(PRESET_ENV) or DEFAULT_PRESET
    if name not in PRESETS:
        source = "" if preset else f" (from {PRESET_ENV})"
        raise ConfigError(f"unknown preset {name!r}{source}; choose one of: {', '.join(PRESETS)}.")
    folder = artifacts or os.environ.get(ARTIFACTS_ENV) or cache_root() / "artifacts" / name
    changes = _known(overrides)
    return _checked(dataclasses.replace(PRESETS[name], artifacts=str(Path(folder).expanduser()), **changes))


def from_dict(saved: dict) -> Config:
    """The Config a saved `to_dict()` describes (a checkpoint's, a report's, a stage request's), checked again."""
    saved = with_saved_defaults(saved)
    return load(saved.get("preset", DEFAULT_PRESET), artifacts=saved.get("artifacts") or ".",
                **{k: v for k, v in saved.items() if k not in ("preset", "artifacts")})
