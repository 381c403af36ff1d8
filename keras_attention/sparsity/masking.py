"""Masks from edge scores, one-shot sparsification and a sparsity report (eq. 4.5, 4.12;
docs/methods/isparse.md#isparse-masks, docs/methods/isparse.md#isparse-training).

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
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from numpy.typing import ArrayLike, NDArray

from keras_attention.utils.checks import check_choice
from keras_attention.sparsity.mask_constraint import record_masks, unwrap
from keras_attention.sparsity.propagation import (
    ScorePlan,
    is_prunable,
    kernel_array,
    kernel_variable,
    output_scores,
)
from keras_attention.sparsity.samples import NumpySamples, collect_samples

STRATEGIES = ("isparse", "magnitude", "random")


def check_sparsity(sparsity: float, argument: str = "sparsity") -> float:
    """A float in [0, 1); raise a ValueError naming ``argument`` otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating, np.integer)) or not (
        0.0 <= float(sparsity) < 1.0
    ):
        raise ValueError(f"Argument `{argument}` must be a number in [0, 1); got {sparsity!r}.")
    return float(sparsity)


def kept_count(total: int, sparsity: float) -> int:
    """Number of edges a layer of ``total`` edges keeps at ``sparsity``: ``total - floor(s * total + 1e-6)``.

    The count behind the threshold ``tau_l(theta_l)`` of eq. 4.5 (docs/methods/isparse.md#isparse-masks):
    never below the ``1 - sparsity`` fraction rounded up, and at least one edge when ``total > 0`` (the
    ``1e-6`` absorbs float error such as ``0.29 * 100 = 28.999...``). ``sparsity`` is not validated here.

    Args:
        total: number of kernel entries (edges) of the layer.
        sparsity: fraction of them to prune, in [0, 1).

    Returns:
        The number of edges kept (0 for an empty layer).

    Example:
        >>> from keras_attention.sparsity import kept_count
        >>> kept_count(100, 0.29), kept_count(7, 0.5), kept_count(10, 0.95)
        (71, 4, 1)
    """
    pruned = int(math.floor(sparsity * total + 1e-6))
    return max(1, total - pruned) if total > 0 else 0


def _layer_sparsity(sparsity: float | dict[str, float], name: str) -> float:
    if isinstance(sparsity, dict):
        if name not in sparsity:
            raise ValueError(f"Argument `sparsity` is a dict without an entry for layer {name!r}.")
        return check_sparsity(sparsity[name], f"sparsity[{name!r}]")
    return check_sparsity(sparsity)


def mask_from_scores(score: ArrayLike, sparsity: float, kernel: ArrayLike | None = None) -> NDArray[np.bool_]:
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


def masks(
    scores: Mapping[str, ArrayLike],
    sparsity: float | dict[str, float],
    kernels: Mapping[str, ArrayLike] | None = None,
) -> dict[str, NDArray[np.bool_]]:
    """Per-layer boolean masks from edge scores (eq. 4.5).

    Each layer keeps its :func:`kept_count` highest scores; ties go to the larger ``|W|`` (when ``kernels``
    are given), then to the lower flat index, so masks are deterministic
    (docs/methods/isparse.md#isparse-masks).

    Args:
        scores: ``{layer name: E}``.
        sparsity: fraction of edges to prune in [0, 1), one float for every layer or ``{layer name: float}``.
        kernels: optional ``{layer name: W}`` for the ``|W|`` tie-break.

    Returns:
        ``{layer name: bool array shaped like E}``.

    Raises:
        ValueError: ``scores`` is not a non-empty dict, a sparsity is not a number in [0, 1) or a dict lacks
            a layer, a score is NaN / inf, or a kernel's shape differs from its scores'.

    Example:
        >>> import numpy as np
        >>> from keras_attention.sparsity import masks
        >>> scores = {"dense_a": np.array([[0.9, 0.1], [0.5, 0.3]])}
        >>> masks(scores, 0.5)["dense_a"].tolist()  # the 2 highest of 4 scores are kept
        [[True, False], [True, False]]
        >>> tied = {"dense_a": np.array([[0.5, 0.5], [0.1, 0.2]])}
        >>> kernels = {"dense_a": np.array([[0.1, -0.7], [1.0, 1.0]])}
        >>> masks(tied, 0.75, kernels)["dense_a"].tolist()  # a tie goes to the larger |W|
        [[False, True], [False, False]]
    """
    if not isinstance(scores, dict) or not scores:
        raise ValueError(f"Argument `scores` must be a non-empty dict {{layer name: edge scores}}; got {scores!r}.")
    per_layer = {name: _layer_sparsity(sparsity, name) for name in scores}
    kernels = kernels or {}
    return {name: mask_from_scores(e, per_layer[name], kernels.get(name)) for name, e in scores.items()}


def strategy_scores(
    plan: ScorePlan,
    strategy: str,
    samples: NumpySamples | None = None,
    *,
    seed: int | None = None,
    alpha: float = 0.5,
    batch_size: int = 64,
) -> dict[str, NDArray[np.float64]]:
    """``{layer name: E}`` for a validated :class:`ScorePlan` under ``strategy``."""
    check_choice("strategy", strategy, set(STRATEGIES))
    if strategy == "isparse":
        if samples is None:  # callers pass collect_samples' result; never None for "isparse"
            raise ValueError('Strategy "isparse" needs score samples; got None.')
        edges, _ = plan.propagate(output_scores(plan.model, samples, alpha, batch_size))
        return edges
    if strategy == "magnitude":
        return {layer.name: np.abs(kernel_array(layer).astype(np.float64)) for layer in plan.prunable}
    rng = np.random.default_rng(seed)
    return {layer.name: rng.random(tuple(kernel_variable(layer).shape)) for layer in plan.prunable}


def apply_masks(model: keras.Model, layer_masks: Mapping[str, ArrayLike]) -> None:
    """Multiply the kernels of ``model``'s layers in place by ``{layer name: mask}``."""
    for name, mask in layer_masks.items():
        var = kernel_variable(model.get_layer(name))
        w = np.asarray(keras.ops.convert_to_numpy(var))
        var.assign((w * mask).astype(w.dtype))


def sparsify(
    model: keras.Model,
    sparsity: float | dict[str, float],
    x: Any = None,
    strategy: str = "isparse",
    seed: int | None = None,
    *,
    alpha: float = 0.5,
    batch_size: int = 64,
    max_samples: int | None = None,
) -> keras.Model:
    """One-shot sparsification (sparsify-with, no retraining): a NEW masked copy of ``model``.

    The copy's prunable layers compute ``act((W * M) x + b)`` (eq. 4.12) with the masks ``M`` of
    :func:`masks` (eq. 4.5) on the strategy's scores: iSparse's ``E`` (eq. 4.6-4.11), ``|W|`` or uniform
    random numbers (module docstring; docs/methods/isparse.md#isparse-training).

    Args:
        model: a built functional or Sequential Keras model; it is not modified.
        sparsity: fraction of edges pruned in every prunable layer, in [0, 1) (or ``{layer name: float}``).
        x: score samples (array, list / dict of arrays, or a batched ``tf.data.Dataset``); needed for
            ``strategy="isparse"``, ignored otherwise.
        strategy: ``"isparse"``, ``"magnitude"`` or ``"random"``.
        seed: seed of the ``"random"`` strategy.
        alpha: InfFS loading coefficient (see :func:`edge_scores`).
        batch_size: batch size of the scoring inference pass.
        max_samples: use at most this many of the samples ``x`` (None: all).

    Returns:
        The sparsified copy (a ``keras.models.clone_model`` copy with the original's weights, not compiled),
        carrying its masks as dormant :class:`MaskConstraint` records.

    Raises:
        ValueError: unknown ``strategy``, a sparsity not in [0, 1) (or a dict without an entry for a prunable
            layer), a model iSparse cannot score (see :class:`ScorePlan`), or missing / too few samples
            ``x`` for ``"isparse"``.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import sparsify, sparsity_report
        >>> inputs = keras.Input((6,))
        >>> hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))
        >>> x = np.random.default_rng(0).random((16, 6)).astype("float32")
        >>> sparse = sparsify(model, 0.5, x=x)  # strategy "isparse"
        >>> [(row["layer"], row["kept"], row["total"]) for row in sparsity_report(sparse)]
        [('hidden', 12, 24), ('out', 6, 12), ('total', 18, 36)]
        >>> kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel)
        >>> sparse is model, int(np.count_nonzero(kernel))  # the original model stays dense
        (False, 24)
        >>> sparse = sparsify(model, {"hidden": 0.75, "out": 0.0}, strategy="magnitude")
        >>> [row["kept"] for row in sparsity_report(sparse)]
        [6, 12, 18]
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


def sparsity_report(model: keras.Model) -> list[dict[str, Any]]:
    """Per prunable layer: kernel entries kept (non-zero) and total, with a final ``"total"`` row.

    Args:
        model: a Keras model with at least one ``Dense`` / ``Conv1D`` / ``Conv2D`` / ``Conv3D`` layer.

    Returns:
        A list of dicts ``{"layer": str, "kept": int, "total": int, "sparsity": float}``
        (``sparsity = 1 - kept / total``), one per prunable layer and a last ``"total"`` row; biases are
        not counted.

    Raises:
        ValueError: ``model`` has no prunable layer.

    Example:
        >>> import keras
        >>> from keras_attention.sparsity import sparsify, sparsity_report
        >>> inputs = keras.Input((6,))
        >>> model = keras.Model(inputs, keras.layers.Dense(4, name="dense_a")(inputs))
        >>> sparsity_report(model)
        [{'layer': 'dense_a', 'kept': 24, 'total': 24, 'sparsity': 0.0},
         {'layer': 'total', 'kept': 24, 'total': 24, 'sparsity': 0.0}]
        >>> sparsity_report(sparsify(model, 0.25, strategy="random", seed=0))[-1]
        {'layer': 'total', 'kept': 18, 'total': 24, 'sparsity': 0.25}
    """
    layers = [layer for layer in getattr(model, "layers", []) if is_prunable(layer)]
    if not layers:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} has no prunable layer (Dense, Conv1D, Conv2D, Conv3D)."
        )
    rows: list[dict[str, Any]] = []
    for layer in layers:
        w = kernel_array(layer)
        rows.append({"layer": layer.name, "kept": int(np.count_nonzero(w)), "total": int(w.size)})
    rows.append({"layer": "total", "kept": sum(r["kept"] for r in rows), "total": sum(r["total"] for r in rows)})
    for row in rows:
        row["sparsity"] = 1.0 - row["kept"] / row["total"]
    return rows


def format_sparsity_report(rows: Sequence[Mapping[str, Any]]) -> str:
    """Plain-text table of :func:`sparsity_report` rows.

    Args:
        rows: dicts with ``"layer"`` (str), ``"kept"`` and ``"total"`` (int) and ``"sparsity"`` (float), as
            :func:`sparsity_report` returns them; at least one.

    Returns:
        A header line and one line per row: layer name, kept, total, sparsity to 4 decimals.

    Example:
        >>> from keras_attention.sparsity import format_sparsity_report
        >>> rows = [{"layer": "conv", "kept": 54, "total": 108, "sparsity": 0.5},
        ...         {"layer": "total", "kept": 54, "total": 108, "sparsity": 0.5}]
        >>> print(format_sparsity_report(rows))
        layer        kept       total  sparsity
        conv           54         108    0.5000
        total          54         108    0.5000
    """
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
