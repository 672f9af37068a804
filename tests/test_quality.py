"""The time-to-quality benchmark on a tiny archive: every candidate trains, curves are written."""

import json

import pytest

from bertmlm_lib import config, stages
from bertmlm_lib.tools import runner
from bertmlm_lib.experiments import label_efficiency
from bertmlm_lib.experiments import quality
from bertmlm_lib.tools.measure import label_efficiency as measure_label_efficiency, quality as measure_quality
from bertmlm_lib.model import build_pretraining_model


def test_candidates_reach_the_model():
    base = config.load("smoke")
    for name in ("workshop_before", "alibi_mask40", "rope_128"):
        cfg = measure_quality.candidate_config(name, base)
        for key, value in quality.CANDIDATES[name][1].items():
            assert getattr(cfg, key) == value, (name, key)
    cfg = measure_quality.candidate_config("alibi_preln", base, vocab_size=50, max_length=16)
    model = build_pretraining_model(cfg)
    blocks = [layer for layer in model.encoder.layers if layer.name.startswith("encoder_block_")]
    assert len(blocks) == 1 and all(b.pre_layer_norm and b.position_encoding == "alibi" for b in blocks)
    assert quality.label_of("alibi_128") == "ALiBi distance bias"
    with pytest.raises(ValueError, match="unknown candidate"):
        measure_quality.candidate_config("nope", base)


def test_instructor_candidates_are_the_full_recipe_with_one_change():
    full = config.load("full")
    same = lambda name: {k: v for k, v in quality.CANDIDATES[name][1].items() if getattr(full, k) == v}
    recipe = quality.CANDIDATES["instructor"][1]
    assert same("instructor") == recipe and {"schedule", "max_length", "num_layers"} <= set(recipe)
    assert set(recipe) - set(same("instructor_2_layers")) == {"num_layers"}
    assert set(recipe) - set(same("instructor_wider")) == {"embed_dim", "ff_dim"}
    cfg = measure_quality.candidate_config("instructor_2_layers", measure_quality.base_config("full"), pretrain_minutes=10)
    assert (cfg.num_layers, cfg.pretrain_minutes, cfg.heldout_reviews, cfg.train_reviews) == (2, 10, quality.HELDOUT_REVIEWS, None)


def test_plateau_exit_and_accuracy_at_a_step():
    curve = [{"step": s, "masked_accuracy": a} for s, a in ((0, 0.0), (100, 0.14), (200, 0.19), (300, 0.25))]
    assert quality.plateau_exit_step(curve) == 300 and quality.plateau_exit_step(curve, 0.1) == 100
    assert quality.plateau_exit_step(curve[:3]) is None
    assert quality.accuracy_at(curve, 250) == 0.19 and quality.accuracy_at(curve, 400) is None
    timed = [{**point, "seconds": 10.0 * i} for i, point in enumerate(curve)]
    assert quality.accuracy_at(timed, 25, by="seconds") == 0.19 and quality.accuracy_at(timed, 31, by="seconds") is None


def test_quality_run_counts_steps_with_seeds_and_resumes(tiny_archive, tmp_path):
    base = config.load("smoke", artifacts=tmp_path / "run", heldout_reviews=4, vocab_size=60)
    names = ["workshop_before", "alibi_128"]
    report = measure_quality.run(6, names, seeds=2, data_path=tiny_archive, base=base, out=tmp_path / "out",
                         progress=False, eval_every=2)
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert (tmp_path / "out" / "quality.png").stat().st_size > 1000
    assert report["protocol"]["steps"] == 6 and report["protocol"]["heldout_masking"]["mask_rate"] == 0.15
    for name in names:
        entry = report["candidates"][name]
        assert set(entry["seeds"]) == {str(base.seed), str(base.seed + 1)}
        for run in entry["seeds"].values():
            assert run["steps"] == 6
            assert [p["step"] for p in run["curve"]] == [0, 2, 4, 6]
            assert run["curve"][-1]["seconds"] > 0
        assert entry["summary"]["seeds"] == 2 and entry["summary"]["final_accuracy"]["n"] == 2
        assert set(entry["summary"]["accuracy_at_seconds"]) == {str(s) for s in quality.CHECKPOINT_SECONDS}
        for run in entry["seeds"].values():  # scored in the vocabulary it trained with: the same masks, the same score
            assert run["shared_vocabulary"]["all_words"] == pytest.approx(run["heldout"]["masked_accuracy"], abs=1e-6)
    # the two seeds differ (another initialisation and other masks), the held-out set does not
    losses = [run["curve"][0]["loss"] for run in report["candidates"]["alibi_128"]["seeds"].values()]
    assert losses[0] != losses[1]
    # a third seed adds one run per candidate and keeps the two already measured
    again = measure_quality.run(6, names[:1], seeds=3, data_path=tiny_archive, base=base, out=tmp_path / "out",
                        progress=False, eval_every=2)
    assert len(again["candidates"]["workshop_before"]["seeds"]) == 3
    assert again["candidates"]["alibi_128"]["seeds"] == report["candidates"]["alibi_128"]["seeds"]
    lines = quality.format_ranking(again).splitlines()
    assert len(lines) == 3 and "ALiBi distance bias" in quality.format_ranking(again)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny pretrained run (and its archive) shared by the downstream tests: (cfg, archive)."""
    from conftest import imdb_members, write_archive

    folder = tmp_path_factory.mktemp("downstream")
    archive = write_archive(folder / "aclImdb_v1.tar.gz", imdb_members())
    cfg = config.load("smoke", artifacts=folder / "run", vocab_size=60, max_length=8, classifier_windows=2,
                      embed_dim=16, num_heads=2, ff_dim=32, heldout_reviews=4, eval_every=2, batch_size=4,
                      frozen_steps=1, label_seeds=2)
    runner.run_pretraining(cfg, archive, progress=False, fill_mask_display=False)
    return cfg, archive


def test_label_efficiency_is_fair_and_repeated_over_seeds(tiny_run):
    """Every encoder arm reads the same tokens and takes the same steps; each point has one run per
    seed (another labelled subset each), reported as mean and spread, with linear probes beside."""
    import numpy as np

    cfg, tiny_archive = tiny_run
    imdb = stages.reviews(cfg, tiny_archive, progress=False, unlabelled=False)
    vectorizer = stages.vocabulary(cfg, tiny_archive, progress=False, imdb=imdb)
    train, validation = stages.labelled_splits(cfg, imdb)
    protocol = label_efficiency.Protocol.of(cfg, epochs=2, rates=(1e-3,))  # one rate: the test's time
    assert protocol.classifier_length == 16 and protocol.seeds == 2 and protocol.frozen_epochs == 1
    [row] = measure_label_efficiency.measure(train, validation, imdb.test, vectorizer, cfg,
                                     cfg.artifacts_dir / "pretrain" / "encoder.keras", (6,), protocol)
    for arm in label_efficiency.ARMS:
        assert len(row[f"{arm}_runs"]) == 2 and row[arm] == pytest.approx(np.mean(row[f"{arm}_runs"]), abs=1e-4)
        assert row[f"{arm}_std"] == pytest.approx(np.std(row[f"{arm}_runs"], ddof=1), abs=1e-4)
    # one frozen epoch of 1 batch, then one unfrozen epoch of 6 reviews in batches of 4: 1 + 2 steps, both arms
    assert row["pretrained_steps"] == row["scratch_steps"] == [3, 3]
    assert row["pretrained_reads_tokens"] == row["scratch_reads_tokens"] == [16, 16]
    assert set(row["pretrained_rates"]) <= set(protocol.rates) and set(row["probe_pretrained_C"]) <= set(protocol.probe_grid)


def test_reading_length_is_the_protocols_whatever_the_encoders_length():
    from bertmlm_lib.model import build_encoder

    protocol = label_efficiency.Protocol(classifier_length=16)
    short, long = (build_encoder(config.load("smoke", vocab_size=30, max_length=n, embed_dim=16, num_heads=2,
                                             ff_dim=16), 30) for n in (8, 16))
    assert protocol.windows_for(short) == 2 and protocol.windows_for(long) == 1
    assert label_efficiency.Protocol(classifier_length=12).windows_for(short) == 2  # reads 12 of 16 positions


def test_downstream_check_compares_every_snapshot_with_a_random_encoder(tiny_run, tmp_path):
    import shutil
    from types import SimpleNamespace

    from bertmlm_lib.artifacts import load_model
    from bertmlm_lib.checkpoints import save_snapshot

    cfg, tiny_archive = tiny_run
    shutil.copytree(cfg.artifacts_dir, tmp_path / "run")  # the snapshot below stays out of the shared run
    cfg = cfg.replace(artifacts=str(tmp_path / "run"))
    folder = cfg.artifacts_dir / "pretrain"
    encoder = load_model(folder / "encoder.keras", "encoder", "")
    save_snapshot(SimpleNamespace(encoder=encoder), folder, 5, 3, {"masked_accuracy": 0.1})
    protocol = label_efficiency.Protocol.of(cfg, epochs=1, frozen_epochs=0, rates=(1e-3,))  # the test's time
    report = measure_label_efficiency.downstream_check(cfg.artifacts_dir, labels=6, test_reviews=6, data_path=tiny_archive,
                                               base=cfg, protocol=protocol)
    assert report["labels"] == 6 and report["test_reviews"] == 6 and report["protocol"]["seeds"] == 2
    assert list(report["runs"]) == ["random", "5 min"]
    for run in report["runs"].values():
        assert len(run["test_accuracy_runs"]) == 2 and len(run["probe_runs"]) == 2 and 0 <= run["test_accuracy"] <= 1
        assert run["steps"] == [2, 2] and run["reads_tokens"] == [16, 16]  # 6 reviews in batches of 4, every arm
    assert report["runs"]["random"]["heldout_masked_accuracy"] < 0.1  # the untrained model, scored at step 0
    assert report["runs"]["random"]["pretraining_minutes"] == 0.0 and report["runs"]["5 min"]["heldout_masked_accuracy"] == 0.1
    assert len(report["tfidf_runs"]) == 2


def test_candidates_are_evaluated_by_steps_even_when_the_preset_evaluates_by_time(tiny_archive, tmp_path):
    """The workshop preset evaluates every 15 s of training; the benchmark must evaluate every N steps,
    or a recipe with faster steps gets a coarser (later) plateau exit step."""
    base = config.load("smoke", artifacts=tmp_path / "run", heldout_reviews=4, vocab_size=60, eval_every="0.06s")
    report = measure_quality.run(6, ["rope_64_first"], data_path=tiny_archive, base=base, out=tmp_path / "out",
                         progress=False, eval_every=2)
    [run] = report["candidates"]["rope_64_first"]["seeds"].values()
    assert [point["step"] for point in run["curve"]] == [0, 2, 4, 6]
    assert report["protocol"]["evaluated_by"] == "steps"


def test_a_smaller_vocabulary_is_scored_on_the_larger_ones_words():
    """A 50-word model on reviews encoded with 100 ids: unknown ids are read as [UNK], and a masked
    word it cannot name counts wrong in "all words" but is left out of "common words"."""
    import numpy as np
    from bertmlm_lib.masking import mlm_dataset
    from bertmlm_lib.vectorize import Vectorizer

    cfg = config.load("smoke", vocab_size=50, max_length=16, embed_dim=16, num_heads=2, ff_dim=16)
    model = build_pretraining_model(cfg)
    ids = np.random.default_rng(0).integers(3, 100, size=(40, 16))
    heldout = mlm_dataset(ids, vocabulary_size=100, batch_size=8, seed=1, shuffle=False, fixed_masks=True,
                          mask_rate=0.5)
    scores = measure_quality.shared_vocabulary_scores(model, heldout, model_vocabulary_size=50, common=50)
    assert 0.3 < scores["common_share"] < 0.7 and scores["masked_words"] > 100
    assert scores["all_words"] == pytest.approx(scores["common_words"] * scores["common_share"])
    words = ["", "[UNK]", "[mask]", "the", "a", "movie"]
    measure_quality.require_prefix(Vectorizer(words[:5], 8), Vectorizer(words, 8))
    with pytest.raises(ValueError, match="not a prefix"):
        measure_quality.require_prefix(Vectorizer(words[:4] + ["movie"], 8), Vectorizer(words, 8))


def test_the_summary_scores_every_candidate_in_the_reference_vocabulary():
    """An 8k run's "all words" score is its own held-out score (same reviews, same masks), also for runs
    that predate the shared scoring; a 4k run has only what was measured; "common words" is never guessed."""
    def run(accuracy, shared=None):
        curve = [{"step": 0, "seconds": 0, "masked_accuracy": 0.0}, {"step": 100, "seconds": 9, "masked_accuracy": accuracy}]
        return {"steps": 100, "training_seconds": 9.0, "heldout": {"masked_accuracy": accuracy}, "curve": curve,
                **({"shared_vocabulary": shared} if shared else {})}

    old_8k = {"overrides": {"vocab_size": 8_000}, "seeds": {"1": run(0.25), "2": run(0.27)}}
    small = {"overrides": {"vocab_size": 4_000},
             "seeds": {"1": run(0.30, {"all_words": 0.28, "common_words": 0.29}), "2": run(0.31)}}
    assert quality.summarize(old_8k)["all_words_accuracy_8000"]["mean"] == pytest.approx(0.26)
    assert quality.summarize(old_8k)["common_words_accuracy_8000"] is None
    assert quality.summarize(small)["all_words_accuracy_8000"] == pytest.approx(
        {"mean": 0.28, "sd": 0.0, "min": 0.28, "max": 0.28, "n": 1})
    report = {"candidates": {"a": {"label": "eight", "summary": quality.summarize(old_8k), **old_8k},
                             "b": {"label": "four", "summary": quality.summarize(small), **small}}}
    table = quality.format_ranking(report)
    assert "in 8k words" in table and "26.0+-1.4%" in table and "28.0%" in table


def test_the_plot_can_leave_out_seconds_and_circles_a_smaller_vocabularys_fair_score(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    curve = [{"step": 0, "seconds": 0, "masked_accuracy": 0.0}, {"step": 100, "seconds": 9, "masked_accuracy": 0.3}]
    run = {"steps": 100, "training_seconds": 9.0, "heldout": {"masked_accuracy": 0.3}, "curve": curve,
           "shared_vocabulary": {"all_words": 0.25, "common_words": 0.3}}
    small = {"label": "four", "overrides": {"vocab_size": 4_000}, "seeds": {"1": run}}
    report = {"candidates": {"rope_mask25_vocab4k": {**small, "summary": quality.summarize(small)}}}
    axes = quality.plot_quality(report, tmp_path / "steps.png", by_time=False)
    assert len(axes) == 1 and (tmp_path / "steps.png").stat().st_size > 5000
    circles = [line for line in axes[0].lines if line.get_marker() == "o"]
    assert [tuple(line.get_xydata()[0]) for line in circles] == [(100.0, 25.0)]  # the fair score, at the end
    assert len(quality.plot_quality(report)) == 2


# -- "named words": one held-out score for words and pieces -------------------------------------------

def _word_and_piece_vocabularies():
    from bertmlm_lib.subwords import WordPieceVectorizer
    from bertmlm_lib.vectorize import Vectorizer

    words = Vectorizer(["", "[UNK]", "[mask]", "good", "film"], max_length=8)
    pieces = WordPieceVectorizer(["[PAD]", "[UNK]", "[mask]", "good", "film", "un", "##watch", "##able"], 8)
    return words, pieces


class _Guesser:
    """Stands in for an MLM model: for each masked position it gives the token `answers` holds for
    it (row-major flat position -> id), wrong ones where `wrong` says so."""

    def __init__(self, answers: dict, vocabulary_size: int, wrong=()):
        self.answers, self.size, self.wrong = answers, vocabulary_size, set(wrong)

    def __call__(self, inputs, training=False):
        import numpy as np

        flat = np.asarray(inputs["mask_positions"]).tolist()
        logits = np.zeros((len(flat), self.size), dtype=np.float32)
        for i, position in enumerate(flat):
            answer = self.answers[position]
            logits[i, (answer + 1) % self.size if position in self.wrong else answer] = 1.0
        return logits


def test_named_words_hide_the_same_words_for_words_and_pieces():
    from bertmlm_lib.tools.measure.named_words import HiddenWords, masked_rows

    words, pieces = _word_and_piece_vocabularies()
    held = HiddenWords([["good", "film", "unwatchable", "zzz"]], [[1, 2, 3]])
    ids, targets = masked_rows(held, words, 8)
    assert ids.tolist() == [[3, 2, 2, 2, 0, 0, 0, 0]]
    assert targets == [(0, [1], (4,)), (0, [2], (1,)), (0, [3], (1,))]
    ids, targets = masked_rows(held, pieces, 8)
    assert ids.tolist() == [[3, 2, 2, 2, 2, 2, 0, 0]]  # every piece of a hidden word is [mask]
    assert targets == [(0, [1], (4,)), (0, [2, 3, 4], (5, 6, 7)), (0, [5], (1,))]
    ids, targets = masked_rows(held, pieces, 4)  # "unwatchable" would end past 4 pieces: cut before it
    assert ids.tolist() == [[3, 2, 0, 0]] and [t[1] for t in targets] == [[1]]


def test_a_word_counts_as_named_only_when_every_piece_is_right():
    from bertmlm_lib.tools.measure.named_words import HiddenWords, masked_rows, named_word_score

    words, pieces = _word_and_piece_vocabularies()
    held = HiddenWords([["good", "film", "unwatchable", "zzz"]], [[1, 2, 3]])
    for vocabulary, named, unknown in ((words, 1 / 3, 2 / 3), (pieces, 2 / 3, 1 / 3)):
        _, targets = masked_rows(held, vocabulary, 8)
        truth = {8 * row + p: token for row, where, tokens in targets for p, token in zip(where, tokens)}
        score = named_word_score(_Guesser(truth, vocabulary.vocabulary_size), vocabulary, held)
        # [UNK] is never a name, even when the model "guesses" it: "zzz" (and, for words, "unwatchable")
        assert score == {"named": pytest.approx(named), "hidden_words": 3, "scored_words": 3,
                         "unknown_share": pytest.approx(unknown)}
    _, targets = masked_rows(held, pieces, 8)
    truth = {8 * row + p: token for row, where, tokens in targets for p, token in zip(where, tokens)}
    one_piece_wrong = named_word_score(_Guesser(truth, pieces.vocabulary_size, wrong={3}), pieces, held)
    assert one_piece_wrong["named"] == pytest.approx(1 / 3)  # "##watch" wrong: "unwatchable" is not named


def test_hidden_words_are_fixed_by_the_seed_and_cut_to_the_words_read():
    from bertmlm_lib.tools.measure.named_words import hide_words

    texts = ["one two three four five six seven eight nine ten " * 3, "A [MASK] film."]
    first, again, other = (hide_words(texts, seed=s, words_read=20) for s in (3, 3, 4))
    assert first == again and first.hidden != other.hidden
    assert [len(w) for w in first.words] == [20, 2] and first.words[1] == ["a", "film"]  # [mask] is not a word
    assert [len(h) for h in first.hidden] == [3, 1]


def test_quality_scores_words_and_pieces_on_the_same_hidden_words(tiny_archive, tmp_path):
    base = config.load("smoke", artifacts=tmp_path / "run", heldout_reviews=4, vocab_size=60)
    names = ["workshop_before", "wordpiece_whole_words"]
    report = measure_quality.run(4, names, data_path=tiny_archive, base=base, out=tmp_path / "out", progress=False,
                         eval_every=2)
    words, pieces = (next(iter(report["candidates"][n]["seeds"].values())) for n in names)
    assert "shared_vocabulary" in words and "shared_vocabulary" not in pieces  # pieces are no word vocabulary
    assert words["named_words"]["hidden_words"] == pieces["named_words"]["hidden_words"] > 0
    for run in (words, pieces):
        assert 0 < run["named_words"]["scored_words"] <= run["named_words"]["hidden_words"]
        assert 0 <= run["named_words"]["named"] <= 1
    assert "named words" in quality.format_ranking(report).splitlines()[0]
    assert report["candidates"]["wordpiece_whole_words"]["summary"]["named_words"]["n"] == 1
    ax = quality.plot_named_words(report)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["words: workshop before: learned positions, 64 tokens first",
                                                            "pieces: whole words masked"]
    assert [round(bar.get_width(), 6) for bar in ax.patches] == [
        round(100 * next(iter(report["candidates"][n]["seeds"].values()))["named_words"]["named"], 6) for n in names]
