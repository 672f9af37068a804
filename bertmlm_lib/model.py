"""Stage 4, the model: a small BERT built from Keras layers.

Two parts, so fine-tuning can reuse the first one:

- the **encoder** (`build_encoder`), its own `keras.Model`: word ids `[B, L]` -> one vector per
  token `[B, L, D]`. Token + position embeddings (keras-hub's `TokenAndPositionEmbedding`), then
  N transformer encoder blocks (keras-hub's `TransformerEncoder`) that receive a padding mask, so
  padded positions influence nothing;
- the **MLM head** (keras-hub's `MaskedLMHead`), used by `build_pretraining_model`: it gathers
  the vectors at the masked positions only (`[B, P, D]`), applies Dense + GELU + LayerNorm and
  scores every word of the vocabulary with the *same* matrix as the token embedding (tied weights),
  giving logits `[B, P, V]`.

The reference keras-io tutorial scored all V words at all L positions, although only ~15% of
positions carry a label: L / P = 256 / 39 ≈ 6.6 times more work in the layer that dominates the cost.
"""

from __future__ import annotations

import numpy as np

from .backend import load_tensorflow
from .config import Config
from .masking import max_predictions_for

load_tensorflow()

import keras  # noqa: E402
import keras_hub  # noqa: E402
from keras import ops  # noqa: E402

EMBEDDING_LAYER = "embeddings"


@keras.saving.register_keras_serializable(package="bertmlm")
class PaddingMask(keras.layers.Layer):
    """True where a token is real, False where it is padding (id 0): `[B, L]` ints -> `[B, L]` bools.

    The encoder blocks use it so that no real token attends to padding.
    """

    def call(self, token_ids):
        return ops.not_equal(token_ids, 0)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")


ENCODER_SETTINGS = ("max_length", "embed_dim", "num_heads", "ff_dim", "num_layers", "dropout", "activation",
                    "pre_layer_norm")


def encoder_settings(cfg) -> dict:
    """The config values that define the encoder's shape (a Config or a dict of them)."""
    source = cfg if isinstance(cfg, dict) else {name: getattr(cfg, name) for name in ENCODER_SETTINGS}
    return {name: source[name] for name in ENCODER_SETTINGS}


def build_encoder(cfg, vocabulary_size: int | None = None, name: str = "bert_encoder") -> keras.Model:
    """The BERT encoder: int ids `[B, L]` (0 = padding, L <= max_length) -> vectors `[B, L, embed_dim]`.

    `cfg` is a Config (or a dict of `ENCODER_SETTINGS`); `vocabulary_size` defaults to `cfg.vocab_size`.
    """
    s = encoder_settings(cfg)
    vocabulary_size = vocabulary_size or cfg.vocab_size
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=vocabulary_size, sequence_length=s["max_length"], embedding_dim=s["embed_dim"],
        embeddings_initializer=init, name=EMBEDDING_LAYER,
    )
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    x = embedding(token_ids)
    if not s["pre_layer_norm"]:  # BERT normalizes the embeddings; pre-LN blocks normalize inside
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="embeddings_norm")(x)
    x = keras.layers.Dropout(s["dropout"], name="embeddings_dropout")(x)
    for i in range(s["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=s["ff_dim"], num_heads=s["num_heads"], dropout=s["dropout"],
            activation=s["activation"], normalize_first=s["pre_layer_norm"], kernel_initializer=init,
            name=f"encoder_block_{i}",
        )(x, padding_mask=padding_mask)
    if s["pre_layer_norm"]:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return keras.Model(token_ids, x, name=name)


def token_embedding_of(encoder: keras.Model):
    """The encoder's word-embedding layer (a keras-hub ReversibleEmbedding), shared with the head."""
    return encoder.get_layer(EMBEDDING_LAYER).token_embedding


@keras.saving.register_keras_serializable(package="bertmlm")
class BertMaskedLM(keras.Model):
    """Encoder + MLM head on masked positions: `{token_ids [B, L], mask_positions [B, P]}` -> logits `[B, P, V]`.

    The head (keras-hub's `MaskedLMHead`) gathers the encoder's vectors at `mask_positions`, applies
    Dense + GELU + LayerNorm, and scores all V words with the token embedding matrix itself (tied
    weights, as in BERT). Built from its config, so a saved `.keras` file reloads with the weights
    still shared. `model.encoder` is the part fine-tuning reuses.

    Args:
        encoder_config: the `ENCODER_SETTINGS` values (see `encoder_settings(cfg)`).
        vocabulary_size: number of word ids, specials included.

    >>> from bertmlm_lib import config
    >>> m = BertMaskedLM(encoder_settings(config.load("smoke")), vocabulary_size=100)
    >>> m({"token_ids": np.ones((2, 8), "int32"), "mask_positions": np.zeros((2, 3), "int32")}).shape
    (2, 3, 100)
    """

    def __init__(self, encoder_config: dict, vocabulary_size: int, **kwargs):
        encoder = build_encoder(dict(encoder_config), vocabulary_size)
        embedding = token_embedding_of(encoder)
        head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=vocabulary_size, token_embedding=embedding, intermediate_activation="gelu",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name="mlm_head",
        )
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        mask_positions = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        logits = head(encoder(token_ids), mask_positions=mask_positions)
        kwargs.setdefault("name", "bert_mlm")
        super().__init__(inputs={"token_ids": token_ids, "mask_positions": mask_positions}, outputs=logits, **kwargs)
        self.encoder, self.head = encoder, head
        self.encoder_config, self.vocabulary_size = dict(encoder_config), int(vocabulary_size)

    def get_config(self):
        return {"encoder_config": self.encoder_config, "vocabulary_size": self.vocabulary_size, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_pretraining_model(cfg: Config, vocabulary_size: int | None = None) -> BertMaskedLM:
    """The model pretrained with MLM, sized for the preset (or for a vocabulary that came out smaller)."""
    return BertMaskedLM(encoder_settings(cfg), vocabulary_size or cfg.vocab_size)


@keras.saving.register_keras_serializable(package="bertmlm")
class MaskedPerplexity(keras.metrics.Metric):
    """exp(mean cross-entropy) over the weighted (real) masked positions only.

    Takes labels `[B, P]`, logits `[B, P, V]` and sample weights `[B, P]`; a weight of 0 marks an
    unused prediction slot. Lower is better; a model that guesses uniformly scores V.
    """

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        losses = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        weights = ops.ones_like(losses) if sample_weight is None else ops.cast(sample_weight, losses.dtype)
        self.total.assign_add(ops.sum(losses * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.exp(self.total / ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


def mlm_loss() -> keras.losses.Loss:
    """Cross-entropy from logits, averaged over the real masked positions (weights > 0) only."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight",
                                                      name="mlm_loss")


def mlm_metrics() -> list:
    """Masked-token accuracy and perplexity, both on weighted positions only."""
    return [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy"), MaskedPerplexity()]


def parameter_counts(model: keras.Model) -> dict:
    """Trainable parameters per top-level layer (shared weights counted once, where they live)."""
    counts, seen = {}, set()
    for layer in model.layers:
        fresh = [w for w in layer.trainable_weights if id(w) not in seen]
        seen.update(id(w) for w in fresh)
        total = sum(int(ops.size(w)) for w in fresh)
        if total:
            counts[layer.name] = total
    counts["total"] = sum(counts.values())
    return counts


def head_cost(cfg: Config, vocabulary_size: int | None = None) -> dict:
    """Multiply-adds of the output projection per batch: all positions (reference) vs masked ones (ours)."""
    vocabulary_size = vocabulary_size or cfg.vocab_size
    predictions = max_predictions_for(cfg.max_length, cfg.mask_rate)
    per_position = cfg.embed_dim * vocabulary_size
    every_position = cfg.batch_size * cfg.max_length * per_position
    masked_only = cfg.batch_size * predictions * per_position
    return {
        "positions_scored_reference": cfg.batch_size * cfg.max_length,
        "positions_scored_masked_head": cfg.batch_size * predictions,
        "projection_gflop_reference": 2 * every_position / 1e9,
        "projection_gflop_masked_head": 2 * masked_only / 1e9,
        "saving_factor": every_position / masked_only,
    }
