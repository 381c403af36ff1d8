"""The heads of XM2A and MSMSA (dissertation ch. 7, Table 7.1, eq. 7.4; docs/methods/xm2a.md#xm2a-heads): each
head's temporal scale, its kernel length, Keras' ``same`` padding of it, TensorFlow's ``same`` average pool, the
packing of heads into few convolutions (the fused path), the receptive field, and the check of a sequence input.

Receptive field (time steps that reach one output step through the value path). Every step of ``S_h``
sees ``head_scales(variant, H)[h-1]`` input steps (its kernel, or its pool for the pool variants), the key
descriptor ``k_h2[t]`` the steps of head h2's window around t, and the norm and the output Dense act per
step; what else reaches step t are global summaries, the same for every t: the query descriptor
``q_h1`` (a mean / max over all of T) and the softmax's normaliser over time. So one layer sees
``max_h scale_h`` steps around t (cross-talk: the widest head; self-talk: the head's own, at most the
widest), and ``L`` layers stacked with pointwise sub-blocks between them (the attention encoder)
``1 + L * (max_h scale_h - 1)`` (:func:`receptive_field`)::

    variant   widest head (H heads)   2 blocks x 4 heads   6 blocks x 8 heads (the dissertation)
    xm2a      H                        7 steps              43 steps
    pool      H (pool size)            7 steps              43 steps
    msmsa     2H - 1                  13 steps              85 steps
    exp       2^(H-1)                 15 steps             763 steps
    exp_pool  2^(H-1) (pool size)     15 steps             763 steps

The UEA/UCR series of the experiments are 25 (JapaneseVowels) to 1,460 (ACSF1) steps long, so beyond
these windows XM2A sees the series only through the global descriptors before the encoder's global pool.
"""

from collections.abc import Sequence
from typing import cast

import numpy as np
from keras import ops

from keras_attention.utils.checks import (
    check_choice,
    check_positive_int,
    shape_str,
)
from keras_attention.utils.types import ShapeLike, Tensor

VARIANTS = ("xm2a", "msmsa", "exp", "pool", "exp_pool")
POOL_VARIANTS = ("pool", "exp_pool")


def head_scales(variant: str, num_heads: int) -> list[int]:
    """Temporal scale of each head (Table 7.1): kernel length, or pool size for the pool variants.

    Args:
        variant: one of ``VARIANTS`` (``"xm2a"``, ``"msmsa"``, ``"exp"``, ``"pool"``, ``"exp_pool"``).
        num_heads: the number of heads H.

    Returns:
        ``H`` ints, head 1 first: ``h`` (``xm2a``, ``pool``), ``2h - 1`` (``msmsa``) or ``2^(h-1)`` (``exp``,
        ``exp_pool``).

    Example:
        >>> from keras_attention.layers.multi_scale_heads import head_scales
        >>> head_scales("msmsa", 4), head_scales("exp_pool", 4)
        ([1, 3, 5, 7], [1, 2, 4, 8])
    """
    h = np.arange(1, num_heads + 1)
    if variant in ("xm2a", "pool"):
        return [int(v) for v in h]
    if variant == "msmsa":
        return [int(v) for v in 2 * h - 1]
    return [int(2 ** (v - 1)) for v in h]


def receptive_field(variant: str, num_heads: int, num_layers: int = 1) -> int:
    """Input time steps that reach one output step through the value path of ``num_layers`` stacked XM2A
    layers with per-step operations between them: ``1 + num_layers * (max(head_scales) - 1)`` (the
    query descriptors and the softmax's normaliser, global over time, left aside; module docstring and
    docs/methods/xm2a.md#xm2a-receptive-field).

    Args:
        variant: one of ``VARIANTS``.
        num_heads: the number of heads H of every layer (>= 1).
        num_layers: the number of stacked layers L (>= 1).

    Returns:
        The number of input steps around an output step.

    Raises:
        ValueError: for an unknown ``variant`` or a count below 1.

    Example:
        >>> from keras_attention.layers.multi_scale_heads import receptive_field
        >>> receptive_field("xm2a", num_heads=4, num_layers=2), receptive_field("exp", num_heads=8, num_layers=6)
        (7, 763)
    """
    check_choice("variant", variant, set(VARIANTS))
    check_positive_int("num_heads", num_heads)
    check_positive_int("num_layers", num_layers)
    return 1 + num_layers * (max(head_scales(variant, num_heads)) - 1)


def kernel_lengths(variant: str, num_heads: int) -> list[int]:
    """Trainable kernel length of each head (Table 7.1 '# of Parameters' column).

    Args:
        variant: one of ``VARIANTS``.
        num_heads: the number of heads H.

    Returns:
        ``H`` ints: the head scales, or 1 for every head of the pool variants (a kernel-1 convolution after
        the pool).

    Example:
        >>> from keras_attention.layers.multi_scale_heads import kernel_lengths
        >>> kernel_lengths("xm2a", 3), kernel_lengths("pool", 3)
        ([1, 2, 3], [1, 1, 1])
    """
    if variant in POOL_VARIANTS:
        return [1] * num_heads
    return head_scales(variant, num_heads)


def same_offsets(length: int) -> tuple[int, int]:
    """Steps padded (before, after) by Keras' ``same`` for a window of ``length``.

    Args:
        length: the window's length (>= 1).

    Returns:
        ``((length - 1) // 2, the rest)``: an even window pads one step more after than before.

    Example:
        >>> from keras_attention.layers.multi_scale_heads import same_offsets
        >>> same_offsets(3), same_offsets(4)
        ((1, 1), (1, 2))
    """
    before = (length - 1) // 2
    return before, length - 1 - before


def same_average_pool_1d(x: Tensor, size: int) -> Tensor:
    """TensorFlow's ``same`` average pool of ``x`` (B, T, C) over time, stride 1, on every backend.

    ``ops.average_pool(..., padding="same")`` is backend dependent for even sizes (Keras' torch backend
    pads differently, and averages the padding: pool 4 on 1..7 gives 1.75 first, TensorFlow and JAX
    2.0). Here: ``same_offsets(size)`` zero steps before and after (the extra one after), a ``valid``
    window sum, divided by the number of steps of the window inside the series.

    Args:
        x: ``(B, T, C)`` sequences, floating point.
        size: the pool size (>= 1; 1 returns ``x``).

    Returns:
        ``(B, T, C)``: the mean of the steps of each window that lie inside the series.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers.multi_scale_heads import same_average_pool_1d
        >>> x = np.arange(1, 8, dtype="float32").reshape(1, 7, 1)  # 1 .. 7
        >>> [round(float(v), 3) for v in np.asarray(same_average_pool_1d(x, 4))[0, :, 0]]
        [2.0, 2.5, 3.5, 4.5, 5.5, 6.0, 6.5]
    """
    if size == 1:
        return x
    before, after = same_offsets(size)
    padded = ops.pad(x, [[0, 0], [before, after], [0, 0]])
    sums = ops.average_pool(padded, pool_size=size, strides=1, padding="valid") * ops.cast(size, x.dtype)
    t = ops.cast(ops.arange(ops.shape(x)[1]), x.dtype)
    total = ops.cast(ops.shape(x)[1], x.dtype)
    count = ops.minimum(total, t + (after + 1)) - ops.maximum(ops.cast(0, x.dtype), t - before)
    return sums / count[None, :, None]


def pack_heads(lengths: Sequence[int], waste: float = 2.0) -> list[list[int]]:
    """Group consecutive heads (from the longest down) into convolutions with zero-padded kernels.

    A group grows while its padded cost (heads x longest length) stays within ``waste`` times the
    cost of its own kernels, so ``xm2a``/``msmsa`` give one convolution and ``exp`` a few.

    Args:
        lengths: the kernel length of each head, head 1 first.
        waste: the largest ratio of a group's padded cost to the cost of its own kernels.

    Returns:
        Lists of 0-based head indices, in head order.

    Example:
        >>> from keras_attention.layers.multi_scale_heads import kernel_lengths, pack_heads
        >>> pack_heads(kernel_lengths("xm2a", 4)), pack_heads(kernel_lengths("exp", 8))
        ([[0, 1, 2, 3]], [[0, 1], [2, 3, 4], [5, 6, 7]])
    """
    groups: list[list[int]] = []
    current: list[int] = []
    for h in reversed(range(len(lengths))):
        trial = current + [h]
        if current and len(trial) * max(lengths[i] for i in trial) > waste * sum(lengths[i] for i in trial):
            groups.append(sorted(current))
            trial = [h]
        current = trial
    groups.append(sorted(current))
    return sorted(groups)


def check_sequence_shape(layer_name: str, input_shape: ShapeLike) -> tuple[int | None, int | None, int]:
    """Normalise ``input_shape`` (tuple, list or TensorShape) to a 3-tuple, or raise a ValueError.

    Args:
        layer_name: the layer named in the error.
        input_shape: the shape a layer is built or asked about, ``(B, T, V)``.

    Returns:
        ``(B, T, V)`` as a tuple of ints, None where unknown (``V`` is known).

    Raises:
        ValueError: naming the layer and the shape, for anything but one rank-3 shape with a known ``V``.

    Example:
        >>> from keras_attention.layers.multi_scale_heads import check_sequence_shape
        >>> check_sequence_shape("XM2A", [None, 60, 3])
        (None, 60, 3)
    """
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except TypeError:  # not a single shape (e.g. a list of shapes)
        raise ValueError(
            f"{layer_name} expects inputs of shape (B, T, V), a 3-D tensor; got {input_shape!r}."
        ) from None
    if len(shape) != 3:
        raise ValueError(f"{layer_name} expects inputs of shape (B, T, V), a 3-D tensor; got {shape_str(shape)}.")
    if shape[-1] is None:
        raise ValueError(f"{layer_name} needs a known number of variates V; got inputs of shape {shape_str(shape)}.")
    return cast("tuple[int | None, int | None, int]", shape)  # rank 3 with a known V (checked above)


__all__ = ["POOL_VARIANTS", "VARIANTS", "check_sequence_shape", "head_scales", "kernel_lengths", "pack_heads",
           "receptive_field", "same_average_pool_1d", "same_offsets"]
