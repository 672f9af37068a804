"""Stage 4, the model: a small BERT built from Keras layers.

Two parts, so fine-tuning can reuse the first one:

- the **encoder** (`build_encoder`), its own `keras.Model`: word ids `[B, L]` -> one vector per
  token `[B, L, D]`. Token embeddings plus a position signal (`TokenAndPositionEmbedding`), then
  N `TransformerBlock`s (multi-head self-attention + feed-forward, each with a residual and
  LayerNorm) that receive a padding mask, so padded positions influence nothing;
- the **MLM head** (`MaskedLMHead`), used by `BertMaskedLM`: it takes the vectors at the masked
  positions only, packed for the whole batch into one list `[N, D]`, applies Dense + GELU +
  LayerNorm, and scores every word of the vocabulary with the *same* matrix as the token embedding
  (tied weights, as in BERT), giving logits `[N, V]`.

Attention by itself ignores word order, so the model must be told where each token is
(`position_encoding`): a learned vector per position added to the word vector (BERT, the
reference), a fixed sinusoid added the same way (Vaswani et al. 2017), or a signal inside
attention itself: ALiBi, a penalty on attention scores that grows with distance (Press et al.
2022), or rotary embeddings, which turn queries and keys by an angle that grows with position
(RoPE, Su et al. 2021). ALiBi favours a token's neighbours from the first step; with RoPE the
score depends on distance, so favouring them is quick to learn.

The reference keras-io tutorial scored all V words at all L positions, although only ~15% of the
positions carry a label. Scoring only the N real predictions of a batch is where most of our speed
comes from (measured by `bertmlm bench`).
"""

from __future__ import annotations

import numpy as np

from .backend import load_tensorflow
from .config import POSITION_ENCODINGS, Config, fields_of, with_saved_defaults
from .masking import max_predictions_for

load_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402

EMBEDDING_LAYER = "embeddings"
# What builds the encoder: the config's "model" settings, its length and its dropout.
ENCODER_SETTINGS = ("max_length", *fields_of("model"), "dropout")
# How the model knows where a token is (`POSITION_ENCODINGS`): "learned" and "sinusoidal" add a vector
# to each word vector; "alibi", "rope" and "t5" act inside attention (see `SelfAttention`).
ADDED_POSITIONS = ("learned", "sinusoidal")


INIT_STD = 0.02  # BERT's initial weights: a truncated normal of this spread


def _initializer():
    return keras.initializers.TruncatedNormal(stddev=INIT_STD)


@keras.saving.register_keras_serializable(package="bertmlm")
class PaddingMask(keras.layers.Layer):
    """True where a token is real, False where it is padding (id 0): `[B, L]` ints -> `[B, L]` bools."""

    def call(self, token_ids):
        return ops.not_equal(token_ids, 0)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="bertmlm")
class PositionEmbedding(keras.layers.Layer):
    """One learned vector per position: `[B, L, D]` -> the first L position vectors, broadcast to `[B, L, D]`.

    Args:
        sequence_length: how many positions it knows (the longest input it can read).
    """

    def __init__(self, sequence_length: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]),
                                                   initializer=_initializer(), name="embeddings")

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.broadcast_to(ops.slice(self.position_embeddings, (0, 0), (shape[-2], shape[-1])), shape)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


def sinusoid_table(length: int, width: int) -> np.ndarray:
    """Vaswani et al.'s fixed position vectors `[length, width]`: sines and cosines of falling frequency.

    >>> sinusoid_table(4, 6).shape
    (4, 6)
    """
    half = width // 2
    frequencies = 1.0 / (10_000 ** (np.arange(half) / max(half, 1)))
    angles = np.arange(length)[:, None] * frequencies[None, :]
    table = np.zeros((length, width), np.float32)
    table[:, 0:2 * half:2], table[:, 1:2 * half:2] = np.sin(angles), np.cos(angles)
    return table


@keras.saving.register_keras_serializable(package="bertmlm")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Word vector (+ position vector) per token: ids `[B, L]` -> `[B, L, D]` (L <= sequence_length).

    `position_encoding` says what is added: "learned" (one trained vector per position, BERT's),
    "sinusoidal" (fixed sines and cosines, nothing to learn), or nothing for "alibi", "rope" and "t5",
    which put the position into attention instead. `token_embedding` (a `keras.layers.Embedding`)
    is the matrix the MLM head reuses for its output. Our own layer rather than keras-hub's:
    importing keras-hub costs ~150 MB of memory (measured), a tenth of the workshop's budget.

    Args:
        vocabulary_size: number of word ids.
        sequence_length: the longest input it is built for.
        embedding_dim: D.
        position_encoding: one of `POSITION_ENCODINGS`.
    """

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int,
                 position_encoding: str = "learned", **kwargs):
        super().__init__(**kwargs)
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"`position_encoding` should be one of {POSITION_ENCODINGS}. "
                             f"Received: position_encoding={position_encoding!r}")
        self.vocabulary_size, self.sequence_length, self.embedding_dim = (
            int(vocabulary_size), int(sequence_length), int(embedding_dim))
        self.position_encoding = position_encoding
        self.token_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim,
                                                      embeddings_initializer=_initializer(), name="token_embedding")
        self.position_embedding = (PositionEmbedding(sequence_length, name="position_embedding")
                                   if position_encoding == "learned" else None)
        self.sinusoids = (sinusoid_table(sequence_length, embedding_dim) if position_encoding == "sinusoidal"
                          else None)

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        if self.position_embedding is not None:
            self.position_embedding.build((*input_shape, self.embedding_dim))

    def call(self, token_ids):
        words = self.token_embedding(token_ids)
        if self.position_embedding is not None:
            return words + self.position_embedding(words)
        if self.sinusoids is not None:
            return words + ops.convert_to_tensor(self.sinusoids)[: ops.shape(words)[1]]
        return words

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "position_encoding": self.position_encoding}


def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi's per-head slopes: a geometric series from 2^(-8/H) down to 2^(-8) (Press et al. 2022).

    Steep heads look almost only at their neighbours, gentle ones far away.

    >>> alibi_slopes(4).tolist()
    [0.25, 0.0625, 0.015625, 0.00390625]
    """
    return (2.0 ** (-8.0 * np.arange(1, num_heads + 1) / num_heads)).astype(np.float32)


def alibi_bias(num_heads: int, length):
    """The attention-score penalty `[heads, L, L]`: -slope x |i - j|, the same in both directions (an encoder).

    `length` may be a tensor's dynamic length: `SelfAttention` adds this to its scores.

    >>> (np.asarray(alibi_bias(2, 3))[0] + 0.0).tolist()  # head 1 of 2: slope 1/16
    [[0.0, -0.0625, -0.125], [-0.0625, 0.0, -0.0625], [-0.125, -0.0625, 0.0]]
    """
    positions = ops.cast(ops.arange(length), "float32")
    distance = ops.abs(ops.expand_dims(positions, 1) - ops.expand_dims(positions, 0))
    return -ops.convert_to_tensor(alibi_slopes(num_heads))[:, None, None] * distance[None]


def relative_buckets(length, num_buckets: int = 32, max_distance: int = 128):
    """T5's buckets of relative position `[L, L]` (Raffel et al. 2020), both directions (an encoder).

    Half of the buckets are for keys after the query, half for keys before it; within each half,
    the nearest distances get a bucket each and farther ones share buckets that widen
    logarithmically up to `max_distance` (beyond it, the last bucket).

    >>> np.asarray(relative_buckets(5, num_buckets=8, max_distance=8))[2].tolist()  # query at position 2
    [2, 1, 0, 5, 6]
    """
    positions = ops.arange(length)
    relative = ops.expand_dims(positions, 0) - ops.expand_dims(positions, 1)  # key - query
    half = num_buckets // 2
    buckets = ops.where(relative > 0, half, 0)  # keys after the query in the upper half
    distance = ops.abs(relative)
    exact = half // 2
    far = exact + ops.cast(ops.log(ops.maximum(ops.cast(distance, "float32"), 1.0) / exact)
                           / np.log(max_distance / exact) * (half - exact), "int32")
    far = ops.minimum(far, half - 1)
    return buckets + ops.where(distance < exact, distance, far)


def rotate_by_position(x):
    """RoPE (Su et al. 2021): turn each pair of features of `x` `[B, L, heads, d]` by position x frequency.

    After the turn, the dot product of a query at i and a key at j depends on i - j only.
    """
    length, width = ops.shape(x)[1], x.shape[-1]
    half = width // 2
    frequencies = 1.0 / (10_000.0 ** (np.arange(half, dtype="float32") / half))
    angles = ops.expand_dims(ops.cast(ops.arange(length), "float32"), 1) * frequencies[None, :]  # [L, d/2]
    cos, sin = ops.cos(angles)[None, :, None, :], ops.sin(angles)[None, :, None, :]
    first, second = x[..., :half], x[..., half:]
    return ops.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


@keras.saving.register_keras_serializable(package="bertmlm")
class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention that can carry the position signal inside it: ALiBi, RoPE or T5 buckets.

    Input `[B, L, D]` and a padding mask `[B, L]` (True = real token); output `[B, L, D]`. Each head
    projects the tokens to queries, keys and values `[B, L, H, D/H]`; scores are q.k / sqrt(D/H),
    plus, with "alibi", a fixed penalty growing with the distance between the two tokens; with "t5",
    a learned bias per head for each bucket of relative position (`relative_buckets`); with "rope",
    queries and keys are first turned by their position; with "none" (positions added to the word
    vectors instead) it is plain multi-head attention. Padding keys get no weight. Keras's
    `MultiHeadAttention` has no place to add a bias to the scores or to turn q and k, hence this layer;
    its weights have the same names and shapes, so encoders saved with it load into this one.

    Args:
        num_heads: H.
        key_dim: width of each head's queries and keys (D / H here).
        position_encoding: "alibi", "rope", "t5" or "none".

    >>> attention = SelfAttention(num_heads=2, key_dim=4, position_encoding="alibi")
    >>> tuple(attention(np.zeros((1, 5, 8), "float32"), padding_mask=np.ones((1, 5), bool)).shape)
    (1, 5, 8)

    References: Press et al., "Train short, test long" (ALiBi, 2022); Su et al., "RoFormer" (2021);
    Raffel et al., "Exploring the limits of transfer learning" (T5, 2020).
    """

    RELATIVE_BUCKETS, MAX_DISTANCE = 32, 128  # T5's own

    def __init__(self, num_heads: int, key_dim: int, position_encoding: str = "none", **kwargs):
        super().__init__(**kwargs)
        if position_encoding not in ("none", "alibi", "rope", "t5"):
            raise ValueError("`position_encoding` should be 'none', 'alibi', 'rope' or 't5'. "
                             f"Received: position_encoding={position_encoding!r}")
        self.num_heads, self.key_dim, self.position_encoding = int(num_heads), int(key_dim), position_encoding

    def build(self, x_shape, padding_mask_shape=None):  # Keras names build's arguments after call's
        width = x_shape[-1]
        projection = dict(kernel_initializer=_initializer(), bias_axes="hk")
        self.query, self.key, self.value = (
            keras.layers.EinsumDense("bld,dhk->blhk", output_shape=(None, self.num_heads, self.key_dim),
                                     name=name, **projection) for name in ("query", "key", "value"))
        self.output_dense = keras.layers.EinsumDense("blhk,hkd->bld", output_shape=(None, width), bias_axes="d",
                                                     kernel_initializer=_initializer(), name="attention_output")
        for layer in (self.query, self.key, self.value):
            layer.build(x_shape)
        if self.position_encoding == "t5":  # one learned bias per (bucket, head), shared by all positions
            self.relative_bias = self.add_weight(shape=(self.RELATIVE_BUCKETS, self.num_heads),
                                                 initializer=_initializer(), name="relative_bias")
        self.output_dense.build((*x_shape[:-1], self.num_heads, self.key_dim))

    def call(self, x, padding_mask=None, return_attention_scores=False):
        q, k, v = self.query(x), self.key(x), self.value(x)
        if self.position_encoding == "rope":
            q, k = rotate_by_position(q), rotate_by_position(k)
        scores = ops.einsum("bqhk,bthk->bhqt", q, k) / float(np.sqrt(self.key_dim))  # [B, H, L, L]
        if self.position_encoding == "alibi":
            scores = scores + alibi_bias(self.num_heads, ops.shape(x)[1])
        elif self.position_encoding == "t5":
            buckets = relative_buckets(ops.shape(x)[1], self.RELATIVE_BUCKETS, self.MAX_DISTANCE)
            scores = scores + ops.transpose(ops.take(self.relative_bias, buckets, axis=0), (2, 0, 1))  # [H, L, L]
        if padding_mask is not None:
            scores = ops.where(ops.expand_dims(ops.expand_dims(padding_mask, 1), 1), scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        out = self.output_dense(ops.einsum("bhqt,bthk->bqhk", weights, v))
        return (out, weights) if return_attention_scores else out

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "position_encoding": self.position_encoding}


@keras.saving.register_keras_serializable(package="bertmlm")
class TransformerBlock(keras.layers.Layer):
    """One encoder block: self-attention, then a position-wise feed-forward network.

    Input `[B, L, D]` and a padding mask `[B, L]` (True = real token); output `[B, L, D]`. Each
    sub-layer has a residual connection and a LayerNorm, after it (BERT, "post-LN") or before it
    ("pre-LN", steadier at high learning rates). Dropout acts on each sub-layer's output; the
    attention weights themselves are not dropped (that costs ~25% of a step on a CPU, measured).

    Args:
        embed_dim: D, the width of every token vector.
        num_heads: attention heads (D must be divisible by it).
        ff_dim: width of the feed-forward hidden layer.
        dropout: dropout rate on both sub-layers' outputs.
        activation: "relu" or "gelu", of the feed-forward hidden layer.
        pre_layer_norm: normalize before each sub-layer instead of after.
        position_encoding: the encoder's scheme; "alibi", "rope" and "t5" live in this block's attention
            (`SelfAttention`), the others in the embeddings.

    >>> block = TransformerBlock(embed_dim=8, num_heads=2, ff_dim=16)
    >>> tuple(block(np.zeros((1, 5, 8), "float32"), padding_mask=np.ones((1, 5), bool)).shape)
    (1, 5, 8)

    Reference: Vaswani et al., "Attention is all you need" (2017); Devlin et al., "BERT" (2019).
    """

    def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float = 0.1,
                 activation: str = "relu", pre_layer_norm: bool = False, position_encoding: str = "learned",
                 **kwargs):
        super().__init__(**kwargs)
        if embed_dim % num_heads:
            raise ValueError(f"`embed_dim` should be divisible by `num_heads`. Received: embed_dim={embed_dim}, "
                             f"num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.ff_dim = embed_dim, num_heads, ff_dim
        self.dropout, self.activation, self.pre_layer_norm = dropout, activation, pre_layer_norm
        self.position_encoding = position_encoding
        init = _initializer()
        inside = "none" if position_encoding in ADDED_POSITIONS else position_encoding  # added ones live in the embeddings
        self.attention = SelfAttention(num_heads, embed_dim // num_heads, inside, name="attention")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention_dropout = keras.layers.Dropout(dropout)
        self.hidden = keras.layers.Dense(ff_dim, activation=activation, kernel_initializer=init, name="ff_hidden")
        self.output_dense = keras.layers.Dense(embed_dim, kernel_initializer=init, name="ff_output")
        self.ff_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="ff_norm")
        self.ff_dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.hidden.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ff_norm.build(input_shape)

    def call(self, x, padding_mask=None, training=None):
        y = self.attention_norm(x) if self.pre_layer_norm else x
        y = self.attention_dropout(self.attention(y, padding_mask=padding_mask), training=training)
        x = x + y if self.pre_layer_norm else self.attention_norm(x + y)
        y = self.ff_norm(x) if self.pre_layer_norm else x
        y = self.ff_dropout(self.output_dense(self.hidden(y)), training=training)
        return x + y if self.pre_layer_norm else self.ff_norm(x + y)

    def attention_weights(self, x, padding_mask=None):
        """The attention weights of this block for input `x`: `[B, heads, L, L]` (rows sum to 1)."""
        y = self.attention_norm(x) if self.pre_layer_norm else x
        _, weights = self.attention(y, padding_mask=padding_mask, return_attention_scores=True)
        return weights

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "ff_dim": self.ff_dim, "dropout": self.dropout, "activation": self.activation,
                "pre_layer_norm": self.pre_layer_norm, "position_encoding": self.position_encoding}


def encoder_settings(cfg) -> dict:
    """The config values that define the encoder's shape (a Config or a dict of them)."""
    source = cfg if isinstance(cfg, dict) else {name: getattr(cfg, name) for name in ENCODER_SETTINGS}
    source = with_saved_defaults(source)
    return {name: source[name] for name in ENCODER_SETTINGS}


def build_encoder(cfg, vocabulary_size: int | None = None, name: str = "bert_encoder") -> keras.Model:
    """The BERT encoder: int ids `[B, L]` (0 = padding, L <= max_length) -> vectors `[B, L, embed_dim]`.

    `cfg` is a Config (or a dict of `ENCODER_SETTINGS`); `vocabulary_size` defaults to `cfg.vocab_size`.
    """
    s = encoder_settings(cfg)
    vocabulary_size = vocabulary_size or cfg.vocab_size
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = TokenAndPositionEmbedding(vocabulary_size, s["max_length"], s["embed_dim"], s["position_encoding"],
                                          name=EMBEDDING_LAYER)
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    x = embedding(token_ids)
    if not s["pre_layer_norm"]:  # BERT normalizes the embeddings; pre-LN blocks normalize inside
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="embeddings_norm")(x)
    x = keras.layers.Dropout(s["dropout"], name="embeddings_dropout")(x)
    for i in range(s["num_layers"]):
        x = TransformerBlock(s["embed_dim"], s["num_heads"], s["ff_dim"], s["dropout"], s["activation"],
                             s["pre_layer_norm"], s["position_encoding"], name=f"encoder_block_{i}")(
                                 x, padding_mask=padding_mask)
    if s["pre_layer_norm"]:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return keras.Model(token_ids, x, name=name)


def token_embedding_of(encoder: keras.Model):
    """The encoder's word-embedding layer (a `keras.layers.Embedding`), shared with the MLM head."""
    return encoder.get_layer(EMBEDDING_LAYER).token_embedding


@keras.saving.register_keras_serializable(package="bertmlm")
class MaskedLMHead(keras.layers.Layer):
    """BERT's MLM head on packed masked positions, with the output matrix tied to the token embedding.

    Inputs: the encoder's output `[B, L, D]` and `mask_positions` `[N]`, indices into the batch's
    tokens laid end to end (`row * L + position`, see `masking.pack_predictions`). Output: logits
    `[N, V]`, one score per vocabulary word for each of the N masked tokens. Steps: gather the N
    vectors, Dense(D) + GELU, LayerNorm, then multiply by the transposed embedding matrix `[V, D]`
    and add a bias `[V]`. Only real predictions are scored: no padding slots, no unmasked tokens.

    Args:
        token_embedding: the encoder's word `Embedding`; its matrix is the output projection.
        layer_norm_epsilon: LayerNorm's epsilon.

    Like keras-hub's `MaskedLMHead`, but fed packed positions. Reference: Devlin et al. (2019).
    """

    def __init__(self, token_embedding, layer_norm_epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.layer_norm_epsilon = layer_norm_epsilon
        width = token_embedding.output_dim
        self.dense = keras.layers.Dense(width, activation="gelu", kernel_initializer=_initializer(), name="transform")
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="transform_norm")

    def build(self, sequence_shape, mask_positions_shape=None):
        width = self.token_embedding.output_dim
        self.dense.build((None, width))
        self.norm.build((None, width))
        self.bias = self.add_weight(shape=(self.token_embedding.input_dim,), initializer="zeros", name="output_bias")

    def call(self, sequence, mask_positions):
        width = ops.shape(sequence)[-1]
        vectors = ops.take(ops.reshape(sequence, (-1, width)), mask_positions, axis=0)  # [N, D]
        vectors = self.norm(self.dense(vectors))
        return ops.matmul(vectors, ops.transpose(self.token_embedding.embeddings)) + self.bias  # [N, V]

    def compute_output_shape(self, sequence_shape, mask_positions_shape=None):
        return (None, self.token_embedding.input_dim)

    def get_config(self):  # the embedding is passed by BertMaskedLM when it rebuilds the head
        return {**super().get_config(), "layer_norm_epsilon": self.layer_norm_epsilon}


@keras.saving.register_keras_serializable(package="bertmlm")
class BertMaskedLM(keras.Model):
    """Encoder + MLM head: `{token_ids [B, L], mask_positions [N]}` -> logits `[N, V]`.

    `mask_positions` lists the batch's masked tokens as `row * L + position` (what
    `masking.mlm_dataset` produces). Built from its config, so a saved `.keras` file reloads with
    the head still sharing the embedding matrix. `model.encoder` is what fine-tuning reuses.

    Args:
        encoder_config: the `ENCODER_SETTINGS` values (see `encoder_settings(cfg)`).
        vocabulary_size: number of word ids, specials included.

    >>> from bertmlm_lib import config
    >>> m = BertMaskedLM(encoder_settings(config.load("smoke")), vocabulary_size=100)
    >>> tuple(m({"token_ids": np.ones((2, 8), "int32"), "mask_positions": np.array([1, 9], "int32")}).shape)
    (2, 100)
    """

    def __init__(self, encoder_config: dict, vocabulary_size: int, **kwargs):
        encoder = build_encoder(dict(encoder_config), vocabulary_size)
        head = MaskedLMHead(token_embedding_of(encoder), name="mlm_head")
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        mask_positions = keras.Input(shape=(), dtype="int32", name="mask_positions")
        logits = head(encoder(token_ids), mask_positions)
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


def attention_maps(encoder: keras.Model, token_ids) -> np.ndarray:
    """Attention weights of every block for a batch of ids: `[layers, B, heads, L, L]`.

    Runs the encoder's layers one by one (no dropout) and asks each block for its weights.
    """
    ids = np.asarray(token_ids, dtype=np.int32)
    padding_mask = ops.not_equal(ids, 0)
    x = encoder.get_layer(EMBEDDING_LAYER)(ids)
    maps = []
    for layer in encoder.layers:
        if layer.name == "embeddings_norm":
            x = layer(x)
        elif isinstance(layer, TransformerBlock):
            maps.append(np.asarray(layer.attention_weights(x, padding_mask)))
            x = layer(x, padding_mask=padding_mask)
    return np.stack(maps)


def padding_leak(encoder: keras.Model, token_ids) -> float:
    """Largest change of a real token's vector when the same reviews get more padding (0.0 = isolated).

    Cuts the reviews to half their length, then compares the encoder's vectors for them with and
    without padding filling the other half.
    """
    ids = np.asarray(token_ids, dtype=np.int32)
    half = max(1, ids.shape[1] // 2)
    short = ids[:, :half]
    longer = np.pad(short, ((0, 0), (0, ids.shape[1] - half)))
    real = short != 0
    if not real.any():
        return 0.0
    change = np.abs(np.asarray(encoder(short)) - np.asarray(encoder(longer))[:, :half])
    return float(change[real].max())


def attention_masks(real: int, length: int) -> dict[str, np.ndarray]:
    """Who may attend to whom, `[L, L]` booleans (row: the word that looks; column: the word it sees),
    for a review of `real` words padded to `length`: BERT's padding mask, which lets every word see
    every real word on both sides, and a causal mask (a next-word model's), which hides the words after it.

    >>> masks = attention_masks(3, 4)
    >>> masks["padding"].astype(int).tolist()[0], masks["causal"].astype(int).tolist()[1]
    ([1, 1, 1, 0], [1, 1, 0, 0])
    """
    sees_real = np.arange(length)[np.newaxis, :] < real
    padding = np.broadcast_to(sees_real, (length, length))
    return {"padding": padding.copy(), "causal": padding & np.tri(length, dtype=bool)}


def plot_attention_masks(real: int = 7, length: int = 10, axes=None):
    """The two masks of `attention_masks` side by side, as a learner reads them: a white cell is allowed."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
    titles = {"padding": "BERT (padding mask): both sides", "causal": "next-word model (causal mask): left only"}
    for ax, (name, mask) in zip(axes, attention_masks(real, length).items()):
        ax.imshow(mask, cmap="gray", vmin=0, vmax=1)
        ax.set_title(titles[name], fontsize=10)
        ax.set_xlabel("the word it may see (position)")
        ax.set_xticks(range(length), [str(i) if i < real else "pad" for i in range(length)], fontsize=8)
        ax.set_yticks(range(length), [str(i) if i < real else "pad" for i in range(length)], fontsize=8)
    axes[0].set_ylabel("the word that looks (position)")
    axes[0].figure.suptitle(f"Who may attend to whom: a review of {real} words padded to {length} (white: allowed)")
    return axes


def flat_positions(rows_of_positions, sequence_length: int) -> np.ndarray:
    """`[[p, ...], ...]` per row -> the packed `row * L + p` list the model takes."""
    return np.array([row * sequence_length + p for row, positions in enumerate(rows_of_positions) for p in positions],
                    dtype=np.int32)


@keras.saving.register_keras_serializable(package="bertmlm")
class MaskedPerplexity(keras.metrics.Metric):
    """exp(mean cross-entropy) over the masked tokens: how many words the model hesitates between.

    Takes labels `[N]` and logits `[N, V]` (optional sample weights `[N]`). Lower is better; a model
    that guesses uniformly scores V.
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
    """Cross-entropy from logits, averaged over the N masked tokens of the batch (all real: they are packed)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="mlm_loss")


def mlm_metrics() -> list:
    """Masked-token accuracy and perplexity, over the masked tokens only."""
    return [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy"), MaskedPerplexity()]


def interleaved_step_seconds(runs: dict, steps: int = 10, warmup: int = 2) -> dict[str, list[float]]:
    """Wall seconds of each training step of compiled models, timed in turns so that a busy machine
    slows them alike: `runs` is name -> (model, [batch, ...]), a batch `(inputs, labels, weights)`.
    Step i of every model uses its batch i (cycling); the first `warmup` rounds trace and are not kept."""
    import time

    timings = {name: [] for name in runs}
    for step in range(warmup + steps):
        for name, (built, batches) in runs.items():
            inputs, labels, weights = batches[step % len(batches)]
            started = time.perf_counter()
            built.train_on_batch(inputs, labels, sample_weight=weights)  # returns after the step has run
            if step >= warmup:
                timings[name].append(time.perf_counter() - started)
    return timings


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
    """FLOPs of the output projection per batch (forward): all positions (reference) vs masked ones.

    Counts the P prediction slots per review; packing (only the real predictions) saves more on
    reviews shorter than max_length.
    """
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
