"""Each stage run headless, as `bertmlm` runs it: from raw data, one run per artifacts folder at a time
(a lock), on one device or under a `tf.distribute` strategy, keeping the instructor's minute snapshots.

It composes the same pieces as the lesson's `pretrain.pretrain` (model, masked datasets, the clock,
the held-out evaluator, the fill-mask callback, checkpoints) and adds what only a headless run needs:
the lock, per-replica datasets, the workers' agreement, writing on the chief only, snapshots.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext

from .. import stages
from ..artifacts import ENCODER_FILE, FILL_MASK_LOG, LOG_FILE, exclusive
from ..backend import load_tensorflow, release_free_memory
from ..checkpoints import checkpoint_folder, read_snapshots, save_checkpoint, save_encoder, save_snapshot
from ..config import Config
from ..errors import ArtifactError
from ..pretrain import (MILESTONE_STEPS, Corpus, append_log, heldout_of, checkpoint_meta, datasets,
                        fit_phases, fit_to_budget, kept_to_look_back, phases_of, plan_steps, result_of,
                        short_dataset, start_model, status_of, whole_words)
from ..vectorize import Vectorizer
from .distribute import (AgreeAcrossWorkers, AgreedClock, AgreedStopOnCtrlC, SnapshotAt, agree, is_multiworker,
                         per_replica, save_target, strategy_for, weights_digest, writes_here)

load_tensorflow()

from ..callbacks import (CheckpointEvery, FillMaskCallback, HeldoutEvaluator, ProgressLine,  # noqa: E402
                         StartClock, StopAt, StopOnCtrlC, TrainingClock, step_of)


def pretrain(cfg: Config, corpus: Corpus, vectorizer: Vectorizer, resume: bool = False, callbacks=(),
             progress: bool = True, fill_mask_display: bool = True):
    """`pretrain.pretrain` as `bertmlm pretrain` runs it: one run per artifacts folder at a time (a second is
    refused with `ArtifactError`), under `cfg.strategy`, keeping `cfg.snapshot_minutes` snapshots. In a
    multi-worker run every worker calls this with the same data; only the chief writes to `cfg.artifacts_dir`,
    which every worker must be able to read (to resume)."""
    with headless(cfg, "pretraining") as (strategy, writes):
        return _pretrain(cfg, corpus, vectorizer, resume, callbacks, progress, fill_mask_display, strategy, writes)


@contextmanager
def headless(cfg: Config, what: str):
    """(strategy, writes) of a stage run by `bertmlm`: its `cfg.strategy`, and whether this process writes
    (False on a multi-worker run's other workers: only the chief writes), which then holds the artifacts
    folder's lock for `what`; what the stage freed goes back to the system at the end."""
    strategy = strategy_for(cfg)
    writes = writes_here(strategy)
    with exclusive(cfg.artifacts_dir, what) if writes else nullcontext():
        try:
            yield strategy, writes
        finally:
            release_free_memory()


def _pretrain(cfg, corpus, vectorizer, resume, callbacks, progress, fill_mask_display, strategy, writes):
    folder = checkpoint_folder(cfg)
    per_pass, planned = plan_steps(cfg, len(corpus.train_ids))
    with strategy.scope():  # one device by default; all of them under --strategy mirrored or multiworker
        model, before = start_model(cfg, vectorizer, folder, resume, planned, writes)
    step, size, whole = step_of(model), vectorizer.vocabulary_size, whole_words(cfg, vectorizer)
    several = is_multiworker(strategy)  # several workers agree on the clock and on signals after every batch
    clock = (AgreedClock if several else TrainingClock)(already=before["seconds"])
    train = per_replica(strategy, lambda c: datasets(corpus, c, size, step, whole)[0], cfg, vary_by_worker=True)
    heldout = per_replica(strategy, lambda c: datasets(corpus, c, size, step)[1], cfg)
    short = lambda c: per_replica(strategy, lambda s: short_dataset(corpus, s, size, step, whole), c,  # noqa: E731
                                  vary_by_worker=True)
    phases = phases_of(cfg, corpus, vectorizer, model, clock, planned, train, short_stream=short)
    stopper = StopAt(planned, clock, cfg.pretrain_minutes)
    evaluator = HeldoutEvaluator(heldout, clock, cfg.eval_every, at_steps=MILESTONE_STEPS)
    fill = FillMaskCallback(vectorizer, clock, every=cfg.eval_every,
                            log_path=folder / FILL_MASK_LOG if writes else None, display=fill_mask_display and writes,
                            status=status_of(cfg, vectorizer, evaluator))
    progress_line = ProgressLine("pretraining", planned, clock, cfg.pretrain_minutes, enabled=progress and writes)

    def save():  # on every worker: the others save into a scratch folder (see `save_target`)
        with save_target(strategy, folder) as where:
            save_checkpoint(model, where, checkpoint_meta(cfg, vectorizer, model, planned, per_pass, clock, before,
                                                          evaluator))

    def snapshot(minutes):
        evaluator.record()  # held-out scores at this very step
        with clock.pause(), save_target(strategy, folder) as where:
            save_snapshot(model, where, minutes, step_of(model), heldout_of(evaluator.rows[-1]))

    ctrl_c = AgreedStopOnCtrlC() if several else StopOnCtrlC()
    pieces = [StartClock(clock), *([AgreeAcrossWorkers(clock, ctrl_c, lambda values: agree(strategy, values))]
                                   if several else []),
              stopper, *fit_to_budget(model, clock, cfg.pretrain_minutes, planned), evaluator, fill, progress_line,
              CheckpointEvery(save, cfg.checkpoint_minutes, clock.seconds if several else time.monotonic),
              *callbacks, ctrl_c]
    if writes:
        pieces += kept_to_look_back(model, folder, evaluator, clock)
    if cfg.snapshot_minutes:
        pieces.append(SnapshotAt(clock, cfg.snapshot_minutes, snapshot,
                                 taken=[s["minutes"] for s in read_snapshots(folder)], already_seconds=before["seconds"]))
    ran = fit_phases(model, phases, pieces, planned, per_pass, stopper, ctrl_c, save, progress_line)
    result = result_of(model, clock, stopper, evaluator, fill, before, ran, folder)
    if writes:
        append_log(folder / LOG_FILE, result)
    with save_target(strategy, folder) as where:
        save_encoder(model, where)
    return model, result


def run_pretraining(cfg: Config, data_path=None, resume: bool = False, progress: bool = True,
                    fill_mask_display: bool = True):
    """The pretraining stage from raw data, under one lock: vocabulary (built if missing), corpus, training."""
    with headless(cfg, "pretraining") as (strategy, writes):  # the vocabulary is written under the lock too
        vectorizer = stages.vocabulary(cfg, data_path, progress=progress, save=writes)
        corpus = stages.pretraining_corpus(cfg, vectorizer, data_path, progress)  # no review text in memory when kept
        return _pretrain(cfg, corpus, vectorizer, resume, (), progress, fill_mask_display, strategy, writes)


def run_finetuning(cfg: Config, data_path=None, progress: bool = True, from_scratch: bool = False,
                   train_reviews: int | None = None) -> dict:
    """`stages.run_finetuning` as `bertmlm finetune` runs it: one run per artifacts folder at a time, under
    `cfg.strategy`. In a multi-worker run only the chief saves; the encoder must already be in the artifacts folder."""
    if cfg.strategy == "multiworker" and not from_scratch and not (checkpoint_folder(cfg) / ENCODER_FILE).is_file():
        raise ArtifactError(f"no pretrained encoder in {checkpoint_folder(cfg)}: a multi-worker fine-tuning starts from "
                            "the one in --artifacts (shared by every worker). Pretrain it first (or `bertmlm import` "
                            "one), or pass --from-scratch.")
    with headless(cfg, "fine-tuning") as (strategy, writes):
        started = time.monotonic()
        vectorizer, train, validation = stages.finetuning_inputs(cfg, data_path, progress, train_reviews)
        with strategy.scope():  # one device by default; several under --strategy mirrored or multiworker
            encoder = stages.starting_encoder(cfg, vectorizer, from_scratch, data_path, progress)
            classifier, result = stages.fine_tune(cfg, vectorizer, encoder, train, validation, from_scratch,
                                                  progress and writes)
        facts = {"from_scratch": from_scratch, "train_reviews": len(train), "validation_reviews": len(validation),
                 "seconds": round(time.monotonic() - started, 1)}
        if is_multiworker(strategy):  # equal on every worker when all went well
            facts["weights_digest"] = weights_digest(classifier)
        if not writes:  # it saves with the chief (see `distribute.save_target`), into a folder deleted at once
            with save_target(strategy, cfg.artifacts_dir) as scratch:
                summary = stages.save_finetuned(cfg.replace(artifacts=str(scratch)), vectorizer, classifier, result, facts)
            return {**summary, "model": None}
        return stages.save_finetuned(cfg, vectorizer, classifier, result, facts)
