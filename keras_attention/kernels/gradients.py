"""Building blocks of custom gradients in ``keras.ops`` (the fast paths of CBAM, BAM and SqueezeExcitation).

Each computes exactly what its plain ``keras.ops`` form computes (to float32 round-off), with fewer full-size
passes in the backward pass:

- :func:`cotangents`: the upstream gradients of a ``keras.ops.custom_gradient`` function, whatever the
  backend's calling convention;
- :func:`element_count`, :func:`max_gradient_mask`: the pieces of the gradient of a mean and of a max;
- :func:`spatial_pool`: the mean (and max) over the spatial axes with one fused gradient.

They run under TensorFlow and JAX; torch's ``custom_gradient`` takes one output only
(:func:`keras_attention.kernels.probes.custom_gradients_supported`).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

from keras import ops

from keras_attention.utils.types import Tensor


def cotangents(args: Sequence[Any], upstream: Any) -> tuple[Tensor, ...]:
    """The upstream gradients of a ``keras.ops.custom_gradient`` function as a tuple, whatever the
    backend's calling convention (``grad(*upstream)`` or ``grad(*args, upstream=...)``)."""
    grads = args if upstream is None else upstream
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) == 1 and isinstance(grads[0], (tuple, list)):
        grads = grads[0]
    return tuple(grads)


def element_count(x: Tensor, axes: Sequence[int]) -> int | Tensor:
    """Number of elements of ``x`` along ``axes``: a Python int when static, else a tensor of x's dtype."""
    dims = [x.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return math.prod(dims)
    shape = ops.shape(x)
    n = 1
    for a in axes:
        n = n * shape[a]
    return ops.cast(n, x.dtype)


def max_gradient_mask(x: Tensor, maximum: Tensor, axes: int | Sequence[int]) -> tuple[Tensor, Tensor]:
    """``[x == maximum] / count`` along ``axes``: how the gradient of a max splits among its maxima (the
    same rule as the backend's ``max``), as a boolean mask and the reciprocal count."""
    mask = ops.equal(x, maximum)
    count = ops.sum(ops.cast(mask, x.dtype), axis=axes, keepdims=True)
    return mask, 1.0 / count


def spatial_pool(x: Tensor, axes: Sequence[int], with_max: bool = True) -> tuple[Tensor, ...]:
    """``(mean, [max,] x)`` over ``axes`` with one fused gradient for ``x``.

    ``x`` comes back unchanged as the last output, and the layer must use THAT tensor for everything
    else it computes from ``x``: its gradient (the full-size ``dx`` of the rest of the layer) arrives in
    this op's backward pass, which adds the mean's and max's share (``d_mean / N`` and the max's select)
    into it, instead of the backend materialising a broadcast of each and summing them.
    """
    n = element_count(x, axes)

    @ops.custom_gradient
    def pool(x: Tensor) -> tuple[tuple[Tensor, ...], Callable[..., Tensor]]:
        mean = ops.mean(x, axis=axes, keepdims=True)
        maximum = ops.max(x, axis=axes, keepdims=True) if with_max else None

        def grad(*args: Tensor, upstream: Any = None) -> Tensor:
            grads = cotangents(args, upstream)
            d_mean, d_x = grads[0], grads[-1]
            share = d_mean / n  # (B, 1.., C)
            if with_max:
                mask, inverse_count = max_gradient_mask(x, maximum, axes)
                share = ops.where(mask, share + grads[1] * inverse_count, share)
            return d_x + share

        outputs = (mean, maximum, x) if with_max else (mean, x)
        return outputs, grad

    return pool(x)
