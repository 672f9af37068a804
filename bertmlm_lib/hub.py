"""The same small BERT built from keras-hub's layers, held against ours (lesson 04).

keras-hub is the library of ready-made Keras models a learner would use next. Its
`TokenAndPositionEmbedding`, `TransformerEncoder` and `MaskedLMHead` build the model of lesson 04
in a few lines. Ours departs on purpose, and this module measures where:

- keras-hub's encoder drops attention *weights* (dropout on the attention probabilities); ours
  drops each sub-layer's output only, which is cheaper on a CPU (`model.TransformerBlock`);
- keras-hub's head scores every prediction slot `[B, P]`, unused ones too; ours scores a packed
  list of the real masked tokens (`model.MaskedLMHead`);
- keras-hub's encoder block knows learned positions added to the embeddings, not rotary ones.

keras-hub is imported inside these functions only (via `subwords.keras_hub`): loading it costs
~150 MB, and nothing else in the tutorial should pay for it.
"""

from __future__ import annotations

import numpy as np

from . import model as model_module
from .config import Config
from .masking import mask_numpy, max_predictions_for
from .subwords import keras_hub
from .vectorize import FIRST_WORD_ID, MASK_ID


def import_cost_mb() -> float:
    """Import keras-hub; the resident memory that added, in MB (0 when it was loaded before).
    psutil comes with Jupyter's kernel."""
    import sys

    import psutil

    if "keras_hub" in sys.modules:
        keras_hub()
        return 0.0
    before = psutil.Process().memory_info().rss
    keras_hub()
    return (psutil.Process().memory_info().rss - before) / 2**20


def build_hub_mlm(cfg: Config, vocabulary_size: int):
    """Our model's sizes from keras-hub's layers: `{token_ids [B, L], mask_positions [B, P]}` -> logits
    `[B, P, V]` (learned positions, post-LayerNorm blocks, the output matrix tied to the embedding)."""
    hub = keras_hub()
    import keras

    token_ids = keras.Input(shape=(cfg.max_length,), dtype="int32", name="token_ids")
    mask_positions = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
    embedding = hub.layers.TokenAndPositionEmbedding(vocabulary_size, cfg.max_length, cfg.embed_dim,
                                                     embeddings_initializer=keras.initializers.TruncatedNormal(
                                                         stddev=cfg.embedding_init_std), name="embeddings")
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="embeddings_norm")(embedding(token_ids))
    x = keras.layers.Dropout(cfg.dropout, name="embeddings_dropout")(x)
    padding_mask = keras.ops.not_equal(token_ids, 0)
    for i in range(cfg.num_layers):
        x = hub.layers.TransformerEncoder(cfg.ff_dim, cfg.num_heads, dropout=cfg.dropout, activation=cfg.activation,
                                          layer_norm_epsilon=1e-5, normalize_first=cfg.pre_layer_norm,
                                          name=f"encoder_block_{i}")(x, padding_mask=padding_mask)
    head = hub.layers.MaskedLMHead(token_embedding=embedding.token_embedding, intermediate_activation="gelu",
                                   name="mlm_head")
    return keras.Model({"token_ids": token_ids, "mask_positions": mask_positions}, head(x, mask_positions),
                       name="keras_hub_mlm")


def build_hub_bert(cfg: Config, vocabulary_size: int):
    """keras-hub's own `BertBackbone` and `BertMaskedLM` at our sizes: `(backbone, masked_lm)`."""
    hub = keras_hub()
    backbone = hub.models.BertBackbone(vocabulary_size=vocabulary_size, num_layers=cfg.num_layers,
                                       num_heads=cfg.num_heads, hidden_dim=cfg.embed_dim,
                                       intermediate_dim=cfg.ff_dim, dropout=cfg.dropout,
                                       max_sequence_length=cfg.max_length)
    return backbone, hub.models.BertMaskedLM(backbone)


def part_counts(model) -> dict[str, int]:
    """Parameters per top-level part (layer) of a model, each weight counted once: a head that
    reuses the embedding matrix is counted without it."""
    seen, counts = set(), {}
    for layer in model.layers:
        own = [weight for weight in layer.weights if id(weight) not in seen]
        seen.update(id(weight) for weight in layer.weights)
        if own:
            counts[layer.name] = int(sum(np.prod(weight.shape) for weight in own))
    return counts


def _our_masks(token_ids: np.ndarray, cfg: Config, vocabulary_size: int, seed: int | None) -> dict:
    """Our masking of `token_ids` with the preset's recipe (`masking.mask_numpy`)."""
    return mask_numpy(token_ids, cfg.seed if seed is None else seed, vocabulary_size, mask_rate=cfg.mask_rate,
                      mask_token_share=cfg.mask_token_share, random_token_share=cfg.random_token_share)


def masked_batch(token_ids: np.ndarray, cfg: Config, vocabulary_size: int, seed: int | None = None) -> dict:
    """One masked batch in both forms: ours (packed positions, labels `[N]`) and keras-hub's
    (positions `[B, P]`, labels `[B, P]`, weights 0 for unused slots)."""
    out = _our_masks(token_ids, cfg, vocabulary_size, seed)
    used = out["mask_weights"] > 0
    packed = model_module.flat_positions([row[weights].tolist() for row, weights in zip(out["mask_positions"], used)],
                                         token_ids.shape[1])
    return {"ours": ({"token_ids": out["token_ids"], "mask_positions": packed}, out["mask_ids"][used], None),
            "hub": ({"token_ids": out["token_ids"], "mask_positions": out["mask_positions"]}, out["mask_ids"],
                    out["mask_weights"]),
            "slots": int(out["mask_positions"].size), "predictions": int(used.sum())}


def seconds_per_step(runs: dict, steps: int = 10, warmup: int = 2, learning_rate: float = 1e-3) -> dict[str, float]:
    """Median wall seconds of one training step (Adam, cross-entropy on the logits) of each model on
    its batch: `runs` is name -> (model, batch). The models take turns (`model.interleaved_step_seconds`,
    as `bertmlm bench` times them), so a busy machine slows them alike; `warmup` rounds trace first."""
    import keras

    for built, _ in runs.values():
        built.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=model_module.mlm_loss())
    timings = model_module.interleaved_step_seconds({name: (built, [batch]) for name, (built, batch) in runs.items()},
                                                    steps=steps, warmup=warmup)
    return {name: float(np.median(values)) for name, values in timings.items()}


def compare_masking(token_ids: np.ndarray, cfg: Config, vocabulary_size: int, seed: int | None = None) -> dict:
    """What our masking and keras-hub's `MaskedLMMaskGenerator` do to the same batch: the share of
    real words chosen, and of the chosen ones masked, replaced and kept. Same recipe, other draws."""
    hub = keras_hub()
    generator = hub.layers.MaskedLMMaskGenerator(
        vocabulary_size, mask_selection_rate=cfg.mask_rate, mask_token_id=MASK_ID,
        mask_selection_length=max_predictions_for(cfg.max_length, cfg.mask_rate), unselectable_token_ids=list(range(FIRST_WORD_ID)),
        mask_token_rate=cfg.mask_token_share, random_token_rate=cfg.random_token_share)
    theirs = {name: np.asarray(value) for name, value in generator(token_ids).items()}
    ours = _our_masks(token_ids, cfg, vocabulary_size, seed)
    return {"ours": _shares(token_ids, ours), "keras-hub": _shares(token_ids, theirs),
            "same_positions": float(np.mean([set(a[w > 0]) == set(b[v > 0]) for a, w, b, v in zip(
                ours["mask_positions"], ours["mask_weights"], theirs["mask_positions"], theirs["mask_weights"])]))}


def _shares(token_ids: np.ndarray, out: dict) -> dict:
    """Shares of one masking's outcome, read from its positions and labels (both libraries give them)."""
    used = np.asarray(out["mask_weights"]) > 0
    rows = np.nonzero(used)[0]
    positions = np.asarray(out["mask_positions"])[used]
    before, after = token_ids[rows, positions], np.asarray(out["token_ids"])[rows, positions]
    chosen = len(positions)
    return {"chosen_share": chosen / max(int((token_ids >= FIRST_WORD_ID).sum()), 1),
            "masked": float(np.mean(after == MASK_ID)) if chosen else 0.0,
            "replaced": float(np.mean((after != MASK_ID) & (after != before))) if chosen else 0.0,
            "kept": float(np.mean(after == before)) if chosen else 0.0}
