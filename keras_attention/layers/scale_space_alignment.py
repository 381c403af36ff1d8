"""SAN's spatial alignment of ``previous`` to ``current``: step 1 of
:mod:`keras_attention.layers.scale_space_attention`, not in the paper (docs/methods/san.md#san-alignment).

Identity when the spatial shapes agree, average pooling when every previous size is an integer multiple of
current's, centre crop when every difference is even and non-negative (a ``valid`` convolution between them);
an impossible pair is a ``ValueError`` naming both shapes. When every spatial size is known at build time the
rule is chosen then (:func:`spatial_alignment`, :func:`build_time_alignment`, :func:`apply_alignment`).

Unknown spatial sizes (the alignment rules of docs/methods/san.md#san-alignment read for shapes such as
``keras.Input((None, None, 1))``): a ``None`` on either side can hide any size, so equal static shapes such
as ``(None, None)`` and ``(None, None)`` do not mean identity. When any spatial size of ``previous`` or
``current`` is unknown at build time, the build only checks that the known sizes still allow one of the rules
(all of them integer multiples, or all differences even and non-negative; otherwise the alignment's
``ValueError`` naming both shapes) and leaves the choice to the call, which applies the same rules to the
call-time sizes in the same order (identity, then average pooling, then centre crop):

* sizes known at call time (eager calls, JAX/PyTorch, and every ``jit_compile=True`` trace whose
  shapes are static): ``spatial_alignment`` decides exactly as it does at build time, the same
  ``ops.average_pool`` / slice is applied, and an impossible pair raises the same ``ValueError``
  naming both call-time shapes;
* sizes that are symbolic at call time (a TensorFlow graph traced with ``None`` sizes): the rule is
  computed from ``ops.shape`` in ``keras.ops``: ``previous`` is sliced to the window ``factor * S``
  starting at ``offset`` (pool: ``factor = S' // S``, ``offset = 0``; crop: ``factor = 1``,
  ``offset = (S' - S) / 2``; identity is both with ``factor = 1``, ``offset = 0``), reshaped to
  ``(B, S[0], factor[0], ..., C')`` and averaged over the factor axes, which is the average pooling of
  the static path. An impossible pair fails a runtime assertion (``InvalidArgumentError``) whose
  message starts like the ``ValueError`` and is followed by both call-time sizes. XLA drops
  assertions: inside ``jit_compile=True`` with sizes still symbolic in the trace, an impossible pair
  gets an invalid slice size, so it fails at compile time with XLA's slice error (which does not name
  the shapes) rather than returning a wrongly aligned tensor.

A layer whose sizes were all known at build time keeps its build-time decision for every later call.
"""

import numbers
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.utils.checks import shape_str
from keras_attention.utils.types import ShapeLike, Tensor


def _misalignment_message(prev: Sequence[Any], cur: Sequence[Any]) -> str:
    """The ``ValueError`` message of an impossible pair of spatial sizes (ints, numpy ints or None)."""
    return (
        f"Cannot align spatial shapes previous={shape_str(prev)} and current={shape_str(cur)}: expected "
        "equal sizes, previous sizes that are integer multiples of current's (average pooling), or "
        "differences that are even and non-negative (centre crop)."
    )


def spatial_alignment(
    previous_spatial: ShapeLike, current_spatial: ShapeLike
) -> tuple[str, tuple[int, ...] | None]:
    """Decide how ``previous`` is aligned to ``current`` (docs/methods/san.md#san-alignment).

    The first rule that applies: equal sizes (identity), every previous size an integer multiple of the
    current one (average pooling by those factors), every difference even and non-negative (centre crop).
    Unknown (None) sizes align only with an unknown size in the same place; the layer itself calls this
    only with known sizes (see ``build_time_alignment``).

    Args:
        previous_spatial: the spatial sizes of ``previous`` (without batch and channels).
        current_spatial: the spatial sizes of ``current``, as many.

    Returns:
        ``("identity", None)``, ``("pool", factors)`` or ``("crop", offsets)``, with one int per axis.

    Raises:
        ValueError: naming both shapes, when no rule applies or differing sizes are unknown.

    Example:
        >>> from keras_attention.layers.scale_space_alignment import spatial_alignment
        >>> spatial_alignment((28, 28), (28, 28))
        ('identity', None)
        >>> spatial_alignment((28, 28), (14, 7))
        ('pool', (2, 4))
        >>> spatial_alignment((14, 14), (10, 10))
        ('crop', (2, 2))
    """
    prev, cur = tuple(previous_spatial), tuple(current_spatial)
    if prev == cur:
        return "identity", None
    if any(p is None or c is None for p, c in zip(prev, cur)):
        raise ValueError(
            f"Cannot align spatial shapes previous={shape_str(prev)} and current={shape_str(cur)}: "
            "sizes that differ must be known when the layer is built."
        )
    sizes = cast("list[tuple[int, int]]", list(zip(prev, cur)))  # no None left (checked above)
    if all(c > 0 and p % c == 0 for p, c in sizes):
        return "pool", tuple(p // c for p, c in sizes)
    if all(p - c >= 0 and (p - c) % 2 == 0 for p, c in sizes):
        return "crop", tuple((p - c) // 2 for p, c in sizes)
    raise ValueError(_misalignment_message(prev, cur))


def build_time_alignment(
    previous_spatial: ShapeLike, current_spatial: ShapeLike
) -> tuple[str, tuple[int, ...] | None]:
    """The layer's build-time decision: ``spatial_alignment`` when every size is known, else ``("dynamic", None)``.

    With unknown sizes the rule is chosen at call time (``align_at_call_time``); the known sizes must
    still allow one rule (all integer multiples, or all differences even and non-negative), otherwise
    the ValueError of ``spatial_alignment`` naming both shapes is raised now.

    Args:
        previous_spatial: the spatial sizes of ``previous``, None where unknown.
        current_spatial: the spatial sizes of ``current``, None where unknown.

    Returns:
        The decision of ``spatial_alignment``, or ``("dynamic", None)``.

    Raises:
        ValueError: naming both shapes, when the known sizes allow no rule.

    Example:
        >>> from keras_attention.layers.scale_space_alignment import build_time_alignment
        >>> build_time_alignment((None, None), (None, None))
        ('dynamic', None)
        >>> build_time_alignment((16, 16), (8, 8))
        ('pool', (2, 2))
    """
    prev, cur = tuple(previous_spatial), tuple(current_spatial)
    if all(s is not None for s in prev + cur):
        return spatial_alignment(prev, cur)
    known = [(p, c) for p, c in zip(prev, cur) if p is not None and c is not None]
    poolable = all(c > 0 and p % c == 0 for p, c in known)
    croppable = all(p - c >= 0 and (p - c) % 2 == 0 for p, c in known)
    if not (poolable or croppable):
        raise ValueError(_misalignment_message(prev, cur))
    return "dynamic", None


def apply_alignment(previous: Tensor, kind: str, arg: tuple[int, ...] | None) -> Tensor:
    """Apply a ``spatial_alignment`` decision to ``previous`` (static sizes).

    Args:
        previous: ``(B, *S', C')`` features, channels-last.
        kind: ``"identity"``, ``"pool"`` or ``"crop"``.
        arg: the pooling factors or crop offsets of ``kind`` (None for the identity).

    Returns:
        ``previous`` average-pooled, centre-cropped or unchanged: ``(B, *S, C')``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers.scale_space_alignment import apply_alignment
        >>> previous = np.ones((2, 14, 14, 3), "float32")
        >>> tuple(apply_alignment(previous, "crop", (2, 2)).shape)
        (2, 10, 10, 3)
    """
    if kind == "pool":
        return ops.average_pool(previous, pool_size=arg, strides=arg, padding="valid")
    if kind == "crop":
        sizes = previous.shape[1:-1]
        offsets = cast("tuple[int, ...]", arg)  # "crop" comes with its offsets
        index = tuple(slice(o, s - o) for o, s in zip(offsets, sizes))
        return previous[(slice(None),) + index + (slice(None),)]
    return previous


def _assert_alignable(
    previous: Tensor,
    ok: Tensor,
    prev_sizes: Tensor,
    cur_sizes: Tensor,
    prev_static: Sequence[Any],
    cur_static: Sequence[Any],
) -> Tensor:
    """Runtime check for sizes only known when a TensorFlow graph runs (keras.ops has no assertion).

    Returns ``previous`` made to depend on the check, so the check fails before anything that uses it.
    """
    if keras.backend.backend() != "tensorflow":  # other backends always see integer sizes
        return previous
    import tensorflow as tf

    message = (
        _misalignment_message(prev_static, cur_static)
        + " Sizes unknown when traced; previous and current spatial sizes at call time:"
    )
    check = tf.debugging.Assert(ok, [message, prev_sizes, cur_sizes], summarize=16)
    with tf.control_dependencies([check]):
        return tf.identity(previous)


def _static_sizes(sizes: Sequence[Any]) -> tuple[numbers.Integral | None, ...]:
    """``sizes`` (ints or symbolic sizes) with every symbolic size as None, for the error message."""
    return tuple(s if isinstance(s, numbers.Integral) else None for s in sizes)


def align_at_call_time(previous: Tensor, current: Tensor) -> Tensor:
    """The alignment of docs/methods/san.md#san-alignment decided from the call-time shapes of ``previous``
    and ``current`` (rank 1 or 2).

    Known sizes take the static path (``spatial_alignment`` and ``apply_alignment``); sizes that are symbolic
    in a TensorFlow graph are aligned by one slice, reshape and mean computed from ``ops.shape`` (module
    docstring).

    Args:
        previous: ``(B, *S', C')`` features, channels-last.
        current: ``(B, *S, C)`` features, channels-last.

    Returns:
        ``previous`` aligned to ``current``'s spatial sizes: ``(B, *S, C')``.

    Raises:
        ValueError: naming both shapes, when known sizes allow no rule. With symbolic sizes an impossible
            pair fails a runtime assertion (TensorFlow's ``InvalidArgumentError``) instead.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers.scale_space_alignment import align_at_call_time
        >>> previous, current = np.ones((2, 16, 3), "float32"), np.ones((2, 8, 5), "float32")
        >>> tuple(align_at_call_time(previous, current).shape)
        (2, 8, 3)
    """
    prev_shape, cur_shape = ops.shape(previous), ops.shape(current)
    prev, cur = tuple(prev_shape[1:-1]), tuple(cur_shape[1:-1])
    if all(isinstance(s, numbers.Integral) for s in prev + cur):
        prev, cur = tuple(int(s) for s in prev), tuple(int(s) for s in cur)
        return apply_alignment(previous, *spatial_alignment(prev, cur))
    # Symbolic sizes (TensorFlow graph): one slice + reshape + mean covers the three rules.
    rank = len(cur)
    p = ops.stack([ops.convert_to_tensor(s, dtype="int32") for s in prev])
    c = ops.stack([ops.convert_to_tensor(s, dtype="int32") for s in cur])
    c_nonzero = ops.maximum(c, 1)
    poolable = ops.all(ops.logical_and(ops.greater(c, 0), ops.equal(p % c_nonzero, 0)))
    diff = p - c
    croppable = ops.all(ops.logical_and(ops.greater_equal(diff, 0), ops.equal(diff % 2, 0)))
    alignable = ops.logical_or(poolable, croppable)
    previous = _assert_alignable(previous, alignable, p, c, _static_sizes(prev), _static_sizes(cur))
    factors = ops.where(poolable, p // c_nonzero, ops.ones_like(p))
    offsets = ops.where(poolable, ops.zeros_like(p), diff // 2)
    # XLA drops assertions: an impossible pair gets the invalid slice size -2, so the slice fails
    # (at XLA compile time) instead of returning a wrongly aligned tensor.
    window = ops.where(alignable, factors * c, ops.full_like(p, -2))
    begin = [0] + [offsets[i] for i in range(rank)] + [0]
    size = [-1] + [window[i] for i in range(rank)] + [-1]
    window_previous = ops.slice(previous, begin, size)
    blocks = [-1]
    for i in range(rank):
        blocks += [cur[i], factors[i]]
    blocks.append(prev_shape[-1])
    return ops.mean(ops.reshape(window_previous, blocks), axis=tuple(2 + 2 * i for i in range(rank)))


__all__ = ["align_at_call_time", "apply_alignment", "build_time_alignment", "spatial_alignment"]
