"""The learning-rate schedule of pretraining and fine-tuning, and fine-tuning's optimizer, in a module of their own.

A saved model keeps its optimizer and schedule by registered name, so whatever loads a model (even
`bertmlm predict` in a fresh process, which imports only the end-to-end module) must have imported
these classes first: `finetune` and `pretrain` both import them from here.
"""

from __future__ import annotations

from .backend import load_tensorflow

load_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402


@keras.saving.register_keras_serializable(package="bertmlm")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising linearly from 0 to `peak` over the first `warmup_share` of the steps,
    then falling linearly to 0 at `total_steps` (with `decay=False`: staying at `peak`).

    `total_steps` can be moved during training (`set_total_steps`): under a time budget the
    schedule is stretched or shrunk so that the rate reaches zero when the time runs out.

    >>> [round(float(WarmupLinearDecay(1.0, 10, 0.2, decay=decay)(step)), 2) for decay in (True, False) for step in (1, 6)]
    [0.5, 0.5, 0.5, 1.0]
    """

    def __init__(self, peak: float, total_steps: int, warmup_share: float = 0.06, decay: bool = True):
        self.peak, self.warmup_share, self.decay = float(peak), float(warmup_share), bool(decay)
        self.total_steps = keras.Variable(float(max(total_steps, 1)), dtype="float32", trainable=False,
                                          name="schedule_total_steps")

    def set_total_steps(self, total_steps: int) -> None:
        self.total_steps.assign(float(max(total_steps, 1)))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total_steps)
        warmup = ops.maximum(self.warmup_share * total, 1.0)
        warm = self.peak * step / warmup
        after = (self.peak * ops.maximum(total - step, 0.0) / ops.maximum(total - warmup, 1.0) if self.decay
                 else self.peak)
        return ops.where(step < warmup, warm, after)

    def get_config(self):
        return {"peak": self.peak, "total_steps": int(float(self.total_steps.numpy())),
                "warmup_share": self.warmup_share, "decay": self.decay}


@keras.saving.register_keras_serializable(package="bertmlm")
class GlobalClipAdamW(keras.optimizers.AdamW):
    """AdamW whose `global_clipnorm` is applied by TensorFlow's own `tf.clip_by_global_norm`.

    The same arithmetic as Keras's clipping (every gradient scaled by `min(1, clip / global norm)`),
    but Keras builds it from many small ops whose traced graphs TensorFlow keeps after the model is
    gone: ~35 MB per fine-tuning in a notebook's kernel, measured. Lesson 06 fine-tunes four times in
    one kernel, against Binder's 2 GB.
    """

    def _clip_gradients(self, grads):
        if not (self.global_clipnorm and self.global_clipnorm > 0):
            return super()._clip_gradients(grads)
        present = [g for g in grads if g is not None]
        clipped = iter(tf.clip_by_global_norm(present, self.global_clipnorm)[0])
        return [None if g is None else next(clipped) for g in grads]


def adamw(learning_rate, weight_decay: float, clipnorm: float, decay_norms_and_biases: bool = True) -> GlobalClipAdamW:
    """The optimizer of both stages: AdamW, gradients clipped to global norm `clipnorm`. Pretraining does not
    decay LayerNorm scales and biases (`decay_norms_and_biases=False`, as BERT); fine-tuning decays every weight."""
    optimizer = GlobalClipAdamW(learning_rate=learning_rate, weight_decay=weight_decay, global_clipnorm=clipnorm)
    if not decay_norms_and_biases:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
