"""Past one device, and past one machine: the same training code under a `tf.distribute` strategy.

- "mirrored": every local GPU (or logical CPU device) of one machine, `tf.distribute.MirroredStrategy`.
- "multiworker": several processes, usually on several machines, `tf.distribute.MultiWorkerMirroredStrategy`.
  Every worker runs the same command; the cluster comes from `TF_CONFIG` (or `bertmlm ... --workers`).
  Gradients are summed over all workers at every step, so every worker holds the same weights. Worker 0
  (the chief) writes checkpoints, logs and reports; the others write nothing.

Each replica gets whole batches of its own (`distribute_datasets_from_function`), so a batch's
packed masked positions always refer to that batch's own rows. Variables are created inside the
strategy's scope; Keras splits the work and sums the gradients.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..backend import load_tensorflow
from ..errors import ConfigError

_multiworker = None  # the process's one MultiWorkerMirroredStrategy, made by `start_multiworker`


def strategy_for(cfg):
    """The tf.distribute strategy named by `cfg.strategy`."""
    tf = load_tensorflow()
    if cfg.strategy == "default":
        return tf.distribute.get_strategy()
    if cfg.strategy == "multiworker":
        return _multiworker or start_multiworker()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus:
        return tf.distribute.MirroredStrategy(gpus)
    # On CPU devices the default all-reduce (collective ops) fails on the sparse gradients of an
    # embedding lookup whose rows differ between devices; summing on one device handles them.
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


def per_replica(strategy, make_dataset, cfg, vary_by_worker: bool = False):
    """`make_dataset(cfg)` for one device, or one pipeline of per-replica batches for a distributed strategy.

    With `vary_by_worker` (a training stream), each worker's pipeline draws its own order and masks
    (its seed is shifted by the worker's index), so the workers do not all read the same batches.
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return make_dataset(cfg)
    if cfg.batch_size % replicas:
        raise ConfigError(f"config setting batch_size={cfg.batch_size} is invalid: with {replicas} devices it must be "
                          f"a multiple of {replicas}.")
    shard = cfg.replace(batch_size=cfg.batch_size // replicas)

    def pipeline(context):
        shift = 104_729 * context.input_pipeline_id if vary_by_worker else 0
        return make_dataset(shard.replace(seed=shard.seed + shift))

    return strategy.distribute_datasets_from_function(pipeline)


# ------------------------------------------------------------------------------------------
# Several workers
# ------------------------------------------------------------------------------------------


def cluster_config(workers: str, index: int) -> dict:
    """The `TF_CONFIG` of worker `index` in the cluster `workers` ("host:port,host:port,...")."""
    addresses = [address.strip() for address in workers.split(",") if address.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--workers {workers!r} is invalid: {address!r} is not host:port "
                              "(give every worker's address, e.g. --workers 10.0.0.1:2222,10.0.0.2:2222).")
    if len(addresses) < 2:
        raise ConfigError(f"--workers {workers!r} names {len(addresses)} worker(s): a multi-worker run needs at "
                          "least two (on one machine, use --strategy default or mirrored).")
    if not 0 <= index < len(addresses):
        raise ConfigError(f"--worker-index {index} is invalid: with {len(addresses)} workers it must be 0 to "
                          f"{len(addresses) - 1} (0 is the chief, which writes the checkpoints).")
    return {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}


def _check_tf_config(text: str | None) -> dict:
    if not text:
        raise ConfigError("--strategy multiworker needs the cluster: pass --workers host:port,... and --worker-index N, "
                          "or set TF_CONFIG as TensorFlow describes it.")
    try:
        spec = json.loads(text)
        workers = spec["cluster"]["worker"] + spec["cluster"].get("chief", [])
        task = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG is invalid ({type(exc).__name__}: {exc}): it must be JSON like "
                          '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}.') from None
    if len(workers) < 2 or task[0] not in ("worker", "chief"):
        raise ConfigError(f"TF_CONFIG {text!r} is invalid: it must name at least two workers and a task of type "
                          "'worker' (or 'chief').")
    return spec


def start_multiworker(workers: str | None = None, index: int | None = None):
    """Join the cluster (from `workers`/`index`, else `TF_CONFIG`) and return its strategy; once per process.

    TensorFlow sets up the collective ops between workers when the strategy is made, which must come
    before the process runs any TensorFlow operation: the `bertmlm` command does it first thing. It
    waits until every worker has joined.
    """
    global _multiworker
    if _multiworker is not None:
        return _multiworker
    if workers is not None:
        os.environ["TF_CONFIG"] = json.dumps(cluster_config(workers, 0 if index is None else index))
    _check_tf_config(os.environ.get("TF_CONFIG"))
    try:
        _multiworker = _strategy_class()()
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"could not join the cluster ({exc}). A multi-worker run must start before the process runs "
                          "anything in TensorFlow: run `bertmlm pretrain --strategy multiworker` (or finetune) in a "
                          "fresh process on every worker.") from None
    return _multiworker


def _strategy_class():
    tf = load_tensorflow()

    class MultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
        """TensorFlow's `MultiWorkerMirroredStrategy`, with `reduce` fixed for Keras 3's `fit`
        (tensorflow/tensorflow#72388: as it is, `fit` fails on the first batch).

        - Keras reduces each scalar log with `axis=0`, which a scalar does not have: it is reduced
          without an axis.
        - Before training, Keras reduces the first batch, a whole structure at once, only to build
          the model from its shapes; the collective `reduce` takes one value, and batches of packed
          masked positions differ in shape between workers. A structure gets this worker's own batch.
        """

        def reduce(self, reduce_op, value, axis):
            if not isinstance(value, tf.distribute.DistributedValues):  # the first batch, for its shapes
                return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
            rank = self.experimental_local_results(value)[0].shape.rank
            return super().reduce(reduce_op, value, axis if rank else None)

        def mean_over_workers(self, values: list[float]) -> list[float]:
            """The mean of each of `values` over all workers, the same numbers on every worker."""
            local = tf.constant(values, tf.float32)
            return [float(v) for v in super().reduce("MEAN", self.run(lambda: tf.identity(local)), axis=None).numpy()]

    return MultiWorker


def is_multiworker(strategy) -> bool:
    return strategy is not None and strategy is _multiworker


def writes_here(strategy) -> bool:
    """Whether this process writes files: always, except on a worker of a multi-worker run that is not the chief."""
    return not is_multiworker(strategy) or bool(strategy.extended.should_checkpoint)


@contextmanager
def save_target(strategy, folder: Path):
    """The folder this process saves a model into: `folder` itself, or, on a worker that writes nothing,
    a scratch folder deleted at once. Every worker must save when the chief does: reading some
    variables (metric totals kept per worker) is itself a collective operation that all must join."""
    if writes_here(strategy):
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="bertmlm-worker-") as scratch:
        yield Path(scratch)


def agree(strategy, values: list[float]) -> list[float]:
    """The mean of `values` over all workers (the values themselves on one machine): every worker gets the
    same numbers back, so decisions taken from them (stop now, evaluate now) are the same everywhere."""
    return strategy.mean_over_workers(values) if is_multiworker(strategy) else list(values)


def weights_digest(model) -> str:
    """A short SHA-256 of a model's weights: equal on two workers exactly when their weights are equal."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(weights.tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Callbacks of a multi-worker run, and the instructor's snapshots
# --------------------------------------------------------------------------------------------

load_tensorflow()

import keras  # noqa: E402

from ..callbacks import StopOnCtrlC, TrainingClock  # noqa: E402


class AgreedClock(TrainingClock):
    """A multi-worker run's training clock: each worker's own count differs a little; `agreed` (set by
    `AgreeAcrossWorkers` after every batch) is the time all of them read instead."""

    def __init__(self, already: float = 0.0):
        super().__init__(already)
        self.agreed: float | None = None

    def seconds(self) -> float:
        return self.agreed if self.agreed is not None else self.local_seconds()

    def local_seconds(self) -> float:
        """This process's own count."""
        return super().seconds()


class AgreedStopOnCtrlC(StopOnCtrlC):
    """`StopOnCtrlC` for several workers: training stops on the flag they agreed on (`pressed`, set by
    `AgreeAcrossWorkers` from every worker's `signalled`), since a signal can land between the agreement
    and the end of the batch on one worker alone."""

    def on_train_batch_end(self, batch, logs=None):
        if self.pressed:
            self.model.stop_training = True


class AgreeAcrossWorkers(keras.callbacks.Callback):
    """Multi-worker runs: after every batch the workers agree on the training time and on Ctrl-C or kill.

    Every decision a callback takes from the clock (stop at the budget, evaluate, snapshot, stretch
    the schedule) then falls on the same step on every worker, as it must: evaluation and training
    steps are collective, and a worker that stopped alone would leave the others waiting. A signal
    on any worker stops all of them after the same batch: `ctrl_c` acts on the agreed flag only, since
    a signal can land between the agreement and the end of the batch on one worker alone.
    `agree` is `agree` for the run's strategy; `ctrl_c` is an `AgreedStopOnCtrlC`.
    """

    def __init__(self, clock: "AgreedClock", ctrl_c: "AgreedStopOnCtrlC", agree):
        super().__init__()
        self.clock, self.ctrl_c, self.agree = clock, ctrl_c, agree

    def _sync(self):
        seconds, signalled = self.agree([self.clock.local_seconds(), float(self.ctrl_c.signalled)])
        self.clock.agreed = seconds
        if signalled > 0:
            self.ctrl_c.pressed = True

    def on_train_begin(self, logs=None):
        self._sync()

    def on_train_batch_end(self, batch, logs=None):
        self._sync()


class SnapshotAt(keras.callbacks.Callback):
    """Call `take(minutes)` once, as training time passes each of `minutes`.

    Minutes already behind the run when it starts (a resumed run) or already in `taken` are skipped:
    a snapshot is always the model as it was at its minute, never a later one under an earlier name.
    """

    def __init__(self, clock: TrainingClock, minutes, take, taken=(), already_seconds: float = 0.0):
        super().__init__()
        self.clock, self.take = clock, take
        self.pending = [m for m in sorted(minutes) if m not in set(taken) and 60 * m > already_seconds]

    def on_train_batch_end(self, batch, logs=None):
        while self.pending and self.clock.seconds() >= 60 * self.pending[0]:
            self.take(self.pending.pop(0))
