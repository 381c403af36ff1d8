"""Masks from edge scores, one-shot sparsification and a sparsity report (eq. 4.5, 4.12; SPEC §9).

``masks(scores, sparsity)`` keeps, per layer, the edges with the highest score ``E`` (eq. 4.5). Exact
counts: a layer with ``n`` kernel entries prunes ``floor(sparsity * n + 1e-6)`` of them and keeps the
rest (the small tolerance absorbs float error such as ``0.29 * 100 = 28.999...``), so the kept count is
never below the ``1 - sparsity`` fraction, rounded up; as ``sparsity < 1`` at least one edge is kept.
Ties in ``E`` go to the larger ``|W|`` (when the kernels are given), remaining ties to the lower flat
index (C order) - the masks are deterministic. Biases are never pruned.

``sparsify(model, sparsity, x, strategy)`` (sparsify-with, no retraining) returns a NEW model: a
``keras.models.clone_model`` copy with the original's weights, whose kernels are multiplied by the
masks, so the layer computes ``act((W * M) x + b)`` (eq. 4.12). The original model is not touched. The
copy is not compiled; it carries its masks (dormant
:class:`~keras_attention.sparsity.mask_constraint.MaskConstraint` kernel constraints: they survive
``model.save`` / ``load_model`` and an :class:`~keras_attention.sparsity.ISparse` run on the copy starts
from them) without any effect on its outputs. Strategies differ only in the score that ranks the edges:

- ``"isparse"``: ``E`` of :func:`~keras_attention.sparsity.propagation.edge_scores` (needs ``x``);
- ``"magnitude"``: ``E = |W|`` (retraining-free magnitude pruning);
- ``"random"``: ``E`` uniform in [0, 1) from ``numpy.random.default_rng(seed)`` (a fixed DropConnect-style
  mask, same seed - same mask).

Every strategy prunes the same layers and validates the graph the same way (unknown weighted layers
raise a ValueError), so their results compare like for like.
"""

import math

import keras
import numpy as np

from keras_attention.utils.checks import check_choice
from keras_attention.sparsity.mask_constraint import record_masks, unwrap
from keras_attention.sparsity.propagation import (
    ScorePlan,
    is_prunable,
    kernel_array,
    kernel_variable,
    output_scores,
)
from keras_attention.sparsity.samples import collect_samples

STRATEGIES = ("isparse", "magnitude", "random")


def check_sparsity(sparsity, argument="sparsity"):
    """A float in [0, 1); raise a ValueError naming ``argument`` otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating, np.integer)) or not (
        0.0 <= float(sparsity) < 1.0
    ):
        raise ValueError(f"Argument `{argument}` must be a number in [0, 1); got {sparsity!r}.")
    return float(sparsity)


def kept_count(total, sparsity):
    """Number of edges a layer of ``total`` edges keeps at ``sparsity``: ``total - floor(s * total + 1e-6)``."""
    pruned = int(math.floor(sparsity * total + 1e-6))
    return max(1, total - pruned) if total > 0 else 0


def _layer_sparsity(sparsity, name):
    if isinstance(sparsity, dict):
        if name not in sparsity:
            raise ValueError(f"Argument `sparsity` is a dict without an entry for layer {name!r}.")
        return check_sparsity(sparsity[name], f"sparsity[{name!r}]")
    return check_sparsity(sparsity)


def mask_from_scores(score, sparsity, kernel=None):
    """Boolean mask shaped like ``score`` keeping the ``kept_count`` highest scores (ties: larger |kernel|)."""
    score = np.asarray(score, dtype=np.float64)
    flat = score.reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise ValueError("Edge scores must be finite; got NaN or infinite values.")
    keep = kept_count(flat.size, sparsity)
    if kernel is None:
        order = np.argsort(-flat, kind="stable")
    else:
        magnitude = np.abs(np.asarray(kernel, dtype=np.float64)).reshape(-1)
        if magnitude.shape != flat.shape:
            raise ValueError(
                f"Kernel of shape {np.shape(kernel)} does not match edge scores of shape {score.shape}."
            )
        order = np.lexsort((-magnitude, -flat))  # primary key last: score desc, then |W| desc, then index
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(score.shape)


def masks(scores, sparsity, kernels=None):
    """Per-layer boolean masks from edge scores (eq. 4.5).

    Args:
        scores: ``{layer name: E}``.
        sparsity: fraction of edges to prune in [0, 1), one float for every layer or ``{layer name: float}``.
        kernels: optional ``{layer name: W}`` for the ``|W|`` tie-break.

    Returns:
        ``{layer name: bool array shaped like E}``.
    """
    if not isinstance(scores, dict) or not scores:
        raise ValueError(f"Argument `scores` must be a non-empty dict {{layer name: edge scores}}; got {scores!r}.")
    per_layer = {name: _layer_sparsity(sparsity, name) for name in scores}
    kernels = kernels or {}
    return {name: mask_from_scores(e, per_layer[name], kernels.get(name)) for name, e in scores.items()}


def strategy_scores(plan, strategy, samples=None, *, seed=None, alpha=0.5, batch_size=64):
    """``{layer name: E}`` for a validated :class:`ScorePlan` under ``strategy``."""
    check_choice("strategy", strategy, set(STRATEGIES))
    if strategy == "isparse":
        edges, _ = plan.propagate(output_scores(plan.model, samples, alpha, batch_size))
        return edges
    if strategy == "magnitude":
        return {layer.name: np.abs(kernel_array(layer).astype(np.float64)) for layer in plan.prunable}
    rng = np.random.default_rng(seed)
    return {layer.name: rng.random(tuple(kernel_variable(layer).shape)) for layer in plan.prunable}


def apply_masks(model, layer_masks):
    """Multiply the kernels of ``model``'s layers in place by ``{layer name: mask}``."""
    for name, mask in layer_masks.items():
        var = kernel_variable(model.get_layer(name))
        w = np.asarray(keras.ops.convert_to_numpy(var))
        var.assign((w * mask).astype(w.dtype))


def sparsify(model, sparsity, x=None, strategy="isparse", seed=None, *, alpha=0.5, batch_size=64, max_samples=None):
    """One-shot sparsification (sparsify-with, no retraining): a NEW masked copy of ``model``.

    Args:
        model: a built functional or Sequential Keras model; it is not modified.
        sparsity: fraction of edges pruned in every prunable layer, in [0, 1) (or ``{layer name: float}``).
        x: score samples (array, list / dict of arrays, or a batched ``tf.data.Dataset``); needed for
            ``strategy="isparse"``, ignored otherwise.
        strategy: ``"isparse"``, ``"magnitude"`` or ``"random"``.
        seed: seed of the ``"random"`` strategy.
        alpha, batch_size, max_samples: see :func:`edge_scores`.

    Returns:
        the sparsified copy (not compiled), carrying its masks.
    """
    check_choice("strategy", strategy, set(STRATEGIES))
    if not isinstance(sparsity, dict):
        check_sparsity(sparsity)
    plan = ScorePlan(model)
    for layer in plan.prunable:
        _layer_sparsity(sparsity, layer.name)
    samples = collect_samples(x, max_samples) if strategy == "isparse" else None
    scores = strategy_scores(plan, strategy, samples, seed=seed, alpha=alpha, batch_size=batch_size)
    kernels = {layer.name: kernel_array(layer) for layer in plan.prunable}
    layer_masks = masks(scores, sparsity, kernels)

    new = keras.models.clone_model(model)
    new.set_weights(model.get_weights())
    apply_masks(new, layer_masks)
    record_masks(new, layer_masks)  # replaces any masks the clone inherited from ``model``'s config
    for name in layer_masks:
        var = kernel_variable(new.get_layer(name))
        var.constraint = unwrap(var.constraint)
    return new


def sparsity_report(model):
    """Per prunable layer: kernel entries kept (non-zero) and total, with a final ``"total"`` row.

    Returns a list of dicts ``{"layer", "kept", "total", "sparsity"}`` (``sparsity = 1 - kept / total``);
    biases are not counted. Raises a ValueError when ``model`` has no prunable layer.
    """
    layers = [layer for layer in getattr(model, "layers", []) if is_prunable(layer)]
    if not layers:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} has no prunable layer (Dense, Conv1D, Conv2D, Conv3D)."
        )
    rows = []
    for layer in layers:
        w = kernel_array(layer)
        rows.append({"layer": layer.name, "kept": int(np.count_nonzero(w)), "total": int(w.size)})
    rows.append({"layer": "total", "kept": sum(r["kept"] for r in rows), "total": sum(r["total"] for r in rows)})
    for row in rows:
        row["sparsity"] = 1.0 - row["kept"] / row["total"]
    return rows


def format_sparsity_report(rows):
    """Plain-text table of :func:`sparsity_report` rows."""
    width = max(len("layer"), *(len(r["layer"]) for r in rows))
    lines = [f"{'layer':<{width}}  {'kept':>10}  {'total':>10}  {'sparsity':>8}"]
    for r in rows:
        lines.append(f"{r['layer']:<{width}}  {r['kept']:>10d}  {r['total']:>10d}  {r['sparsity']:>8.4f}")
    return "\n".join(lines)


__all__ = [
    "STRATEGIES",
    "check_sparsity",
    "format_sparsity_report",
    "kept_count",
    "masks",
    "sparsify",
    "sparsity_report",
]
