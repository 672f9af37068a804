"""Past one device: the same training code under `tf.distribute.MirroredStrategy`.

Each replica gets whole batches of its own (`distribute_datasets_from_function`), so a batch's
packed masked positions always refer to that batch's own rows. Variables are created inside the
strategy's scope; Keras splits the work and sums the gradients.
"""

from __future__ import annotations

from .backend import load_tensorflow
from .errors import ConfigError


def strategy_for(cfg):
    """The tf.distribute strategy named by `cfg.strategy`."""
    tf = load_tensorflow()
    if cfg.strategy == "default":
        return tf.distribute.get_strategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus:
        return tf.distribute.MirroredStrategy(gpus)
    # On CPU devices the default all-reduce (collective ops) fails on the sparse gradients of an
    # embedding lookup whose rows differ between devices; summing on one device handles them.
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


def per_replica(strategy, make_dataset, cfg):
    """`make_dataset(cfg)` for one device, or one pipeline of per-replica batches for a mirrored strategy."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return make_dataset(cfg)
    if cfg.batch_size % replicas:
        raise ConfigError(f"config setting batch_size={cfg.batch_size} is invalid: with {replicas} devices it must be "
                          f"a multiple of {replicas}.")
    shard = cfg.replace(batch_size=cfg.batch_size // replicas)
    return strategy.distribute_datasets_from_function(lambda context: make_dataset(shard))
