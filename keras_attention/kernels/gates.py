"""The fused pieces of CBAM's and BAM's fast paths (``implementation="fast"``), in ``keras.ops`` with their
gradients written out so that each full-size ``(B, *S, C)`` tensor is read and written as few times as possible.
Each computes the same values as the equations it replaces (to float32 round-off); the layers keep the
equations themselves as ``implementation="reference"``.

- :func:`spatial_mean_max` (CBAM's channel gate inputs) and :func:`channel_gate_and_pool` (CBAM's channel gate
  and the channel mean / max of its output, one gradient);
- :func:`pool_and_reduce` (BAM's two reads of ``x``, one gradient) and :func:`residual_gate` (BAM's
  ``x * (1 + A)`` with its gradient written out, for XLA).
"""

from collections.abc import Callable, Sequence
from typing import Any

from keras import ops

from keras_attention.kernels.gradients import cotangents, element_count, max_gradient_mask, spatial_pool
from keras_attention.kernels.probes import in_xla_context
from keras_attention.utils.types import Tensor


# ============================================================================ CBAM
def spatial_mean_max(x: Tensor, axes: Sequence[int]) -> tuple[Tensor, ...]:
    """``(mean, max, x)`` over the spatial ``axes`` (CBAM's channel-gate inputs, eq. 2), ``x`` passed through as in
    :func:`spatial_pool`. Under XLA both come from :func:`spatial_pool` (one fused select in the backward
    pass). Elsewhere, with static spatial sizes, the max is ``keras.ops.max_pool`` over the whole map: its
    backward pass is ONE kernel that routes each channel's gradient to its maximum, instead of the four
    full-size passes (compare, cast, count, select) of the split rule. Under exact ties (a constant
    channel) max-pooling routes the gradient to one of the tied maxima instead of splitting it evenly:
    another valid subgradient, and for ReLU features the tied zeros get no gradient either way."""
    spatial = tuple(x.shape[a] for a in axes)
    if in_xla_context() or any(d is None for d in spatial):
        return spatial_pool(x, axes)
    mean, x = spatial_pool(x, axes, with_max=False)
    maximum = ops.max_pool(x, pool_size=spatial, strides=1, padding="valid")
    return mean, maximum, x


def channel_gate_and_pool(
    x: Tensor, gate: Tensor, spatial_axes: Sequence[int], channels: int
) -> tuple[Tensor, Tensor, Tensor]:
    """``x' = x * gate`` (CBAM eq. 1) and the channel mean and max of ``x'`` (eq. 3's inputs), with one
    gradient: the mean's and max's shares are folded into ``dx'`` (one select) before the single multiply by
    ``gate``."""

    @ops.custom_gradient
    def gate_pool(
        x: Tensor, gate: Tensor
    ) -> tuple[tuple[Tensor, Tensor, Tensor], Callable[..., tuple[Tensor, Tensor]]]:
        gated = x * gate
        mean = ops.mean(gated, axis=-1, keepdims=True)
        maximum = ops.max(gated, axis=-1, keepdims=True)

        def grad(*args: Tensor, upstream: Any = None) -> tuple[Tensor, Tensor]:
            d_gated, d_mean, d_max = cotangents(args, upstream)
            mask, inverse_count = max_gradient_mask(gated, maximum, -1)
            share = d_mean / channels  # (B, *S, 1)
            d_gated = d_gated + ops.where(mask, share + d_max * inverse_count, share)
            d_gate = ops.sum(d_gated * x, axis=spatial_axes, keepdims=True)
            return d_gated * gate, d_gate

        return (gated, mean, maximum), grad

    return gate_pool(x, gate)


# ============================================================================ BAM
def pool_and_reduce(x: Tensor, kernel: Tensor, spatial_axes: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
    """``(mean_S(x), x @ kernel, x)``: the channel branch's average (BAM eq. 2) and the spatial branch's 1x1
    reduction (eq. 3, no bias) as one op. ``x`` comes back unchanged and the layer uses THAT tensor for the
    output, so its full-size gradient arrives here and the average's and the reduction's shares are
    added to it in ONE add: ``dx + [d_h, 1] @ [kernel^T; d_mean / N]``, a batched matmul whose extra
    row carries the average's broadcast (no tree of full-size adds, which TensorFlow's graph optimiser
    would turn into a slow accumulator)."""
    n = element_count(x, spatial_axes)

    @ops.custom_gradient
    def pool_reduce(
        x: Tensor, kernel: Tensor
    ) -> tuple[tuple[Tensor, Tensor, Tensor], Callable[..., tuple[Tensor, Tensor]]]:
        mean = ops.mean(x, axis=spatial_axes, keepdims=True)
        reduced = ops.matmul(x, kernel)

        def grad(*args: Tensor, upstream: Any = None) -> tuple[Tensor, Tensor]:
            d_mean, d_reduced, d_x = cotangents(args, upstream)
            channels, hidden = kernel.shape
            shape = ops.shape(x)
            batch = shape[0]
            rows = ops.reshape(d_reduced, (-1, hidden))  # every position of every sample
            d_kernel = ops.matmul(ops.transpose(ops.reshape(x, (-1, channels))), rows)
            rows = ops.reshape(d_reduced, (batch, -1, hidden))
            rows = ops.concatenate([rows, ops.ones_like(rows[..., :1])], axis=-1)  # (B, S, h + 1)
            weights = ops.concatenate(
                [
                    ops.broadcast_to(ops.transpose(kernel), (batch, hidden, channels)),
                    ops.reshape(d_mean / n, (batch, 1, channels)),
                ],
                axis=1,
            )  # (B, h + 1, C)
            return d_x + ops.reshape(ops.matmul(rows, weights), shape), d_kernel

        return (mean, reduced, x), grad

    return pool_reduce(x, ops.cast(kernel, x.dtype))  # a tensor (not the variable); its gradient reaches it


def residual_gate(x: Tensor, channel: Tensor, spatial: Tensor, spatial_axes: Sequence[int],
                  return_attention: bool) -> Tensor | tuple[Tensor, Tensor]:
    """``x * (1 + A)`` with ``A = sigmoid(channel + spatial)`` (eq. 1, 4), and ``A`` when asked for, with
    the gradient written out (``dx = dy + dy * A``, ``q = (dy * x + dA) * A * (1 - A)``,
    ``d_channel = sum_S(q)``, ``d_spatial = sum_C(q)``) so that XLA fuses each direction into one loop
    and keeps only ``A`` for the backward pass."""

    @ops.custom_gradient
    def gate(
        x: Tensor, channel: Tensor, spatial: Tensor
    ) -> tuple[Tensor | tuple[Tensor, Tensor], Callable[..., tuple[Tensor, Tensor, Tensor]]]:
        attention = ops.sigmoid(channel + spatial)
        output = x + x * attention

        def grad(*args: Tensor, upstream: Any = None) -> tuple[Tensor, Tensor, Tensor]:
            grads = cotangents(args, upstream)
            d_out = grads[0]
            d_x = d_out + d_out * attention
            q = d_out * x
            if return_attention and grads[1] is not None:
                q = q + grads[1]
            q = q * attention
            q = q - q * attention
            d_channel = ops.sum(q, axis=spatial_axes, keepdims=True)
            d_spatial = ops.sum(q, axis=-1, keepdims=True)
            return d_x, d_channel, d_spatial

        return ((output, attention) if return_attention else output), grad

    return gate(x, channel, spatial)
