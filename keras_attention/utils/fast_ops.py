"""Building blocks of the layers' fast paths (``implementation="fast"`` of CBAM, BAM and SqueezeExcitation).

Every function computes exactly what its plain ``keras.ops`` form computes (to float32 round-off), with
fewer full-size passes or a faster kernel:

- :func:`custom_gradients_supported`: whether the backend runs them (not torch: reference forms there);
- :func:`cotangents`: the upstream gradients of a ``keras.ops.custom_gradient`` function, whatever the
  backend's calling convention;
- :func:`element_count`, :func:`max_gradient_mask`: the pieces of the gradient of a mean and of a max;
- :func:`spatial_pool`: the mean (and max) over the spatial axes with one fused gradient;
- :func:`conv_same`, :func:`banded_conv`, :func:`phase_conv`: a ``same``, stride-1 convolution as a
  convolution over rows with a banded kernel (thin kernels) or over the phase images (dilated kernels).

Unlike the other modules of :mod:`keras_attention.utils`, this one imports Keras (and so the backend).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.utils.convolution import conv
from keras_attention.utils.execution import in_xla_context

BANDED_MAX_WIDTH = 64  # widest image whose convolution may run as a banded row convolution (W/k_w times the flops)


def custom_gradients_supported():
    """Whether the fast paths' ``keras.ops.custom_gradient`` functions run on this backend.

    They return several outputs (``spatial_pool``: the mean, the max and ``x``), and Keras' torch
    ``custom_gradient`` (a ``torch.autograd.Function`` whose ``backward`` takes one upstream gradient)
    fails on those as soon as gradients are taken. Under torch the layers run their reference forms,
    which compute the same values."""
    return keras.backend.backend() != "torch"


def cotangents(args, upstream):
    """The upstream gradients of a ``keras.ops.custom_gradient`` function as a tuple, whatever the
    backend's calling convention (``grad(*upstream)`` or ``grad(*args, upstream=...)``)."""
    grads = args if upstream is None else upstream
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) == 1 and isinstance(grads[0], (tuple, list)):
        grads = grads[0]
    return tuple(grads)


def element_count(x, axes):
    """Number of elements of ``x`` along ``axes``: a Python int when static, else a tensor of x's dtype."""
    dims = [x.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return math.prod(dims)
    shape = ops.shape(x)
    n = 1
    for a in axes:
        n = n * shape[a]
    return ops.cast(n, x.dtype)


def max_gradient_mask(x, maximum, axes):
    """``[x == maximum] / count`` along ``axes``: how the gradient of a max splits among its maxima (the
    same rule as the backend's ``max``), as a boolean mask and the reciprocal count."""
    mask = ops.equal(x, maximum)
    count = ops.sum(ops.cast(mask, x.dtype), axis=axes, keepdims=True)
    return mask, 1.0 / count


def spatial_pool(x, axes, with_max=True):
    """``(mean, [max,] x)`` over ``axes`` with one fused gradient for ``x``.

    ``x`` comes back unchanged as the last output, and the layer must use THAT tensor for everything
    else it computes from ``x``: its gradient (the full-size ``dx`` of the rest of the layer) arrives in
    this op's backward pass, which adds the mean's and max's share (``d_mean / N`` and the max's select)
    into it, instead of the backend materialising a broadcast of each and summing them.
    """
    n = element_count(x, axes)

    @ops.custom_gradient
    def pool(x):
        mean = ops.mean(x, axis=axes, keepdims=True)
        maximum = ops.max(x, axis=axes, keepdims=True) if with_max else None

        def grad(*args, upstream=None):
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


def banded_conv(x, kernel, dilation=1):
    """``same``, stride-1 rank-2 convolution of ``x`` (channels last) as a rank-1 convolution over rows, or
    None when the width is unknown or wider than ``BANDED_MAX_WIDTH``.

    Each image row ``(W, C_in)`` is one vector of ``W * C_in`` channels; a banded (Toeplitz) kernel
    ``(k_h, W * C_in, W * C_out)`` built from ``kernel`` does the column taps and the zero padding along W,
    so ``conv1d(rows, banded)`` over H is the rank-2 convolution. Same values as ``keras.ops.conv`` (to
    round-off), but a thin convolution (CBAM's 2 -> 1 channels, BAM's ``C/r -> C/r``) becomes one with
    ``W``-times wider channels, which oneDNN and XLA run far faster."""
    if x.ndim != 4 or x.shape[2] is None or x.shape[2] > BANDED_MAX_WIDTH:
        return None
    k_h, k_w, c_in, c_out = (int(d) for d in kernel.shape)
    width = int(x.shape[2])
    before = (k_w - 1) * dilation // 2
    a = np.arange(width)[:, None]  # input column
    w = np.arange(width)[None, :]  # output column
    band = np.stack([a - w + before == j * dilation for j in range(k_w)])  # (k_w, W_in, W_out)
    band = ops.convert_to_tensor(band.astype(keras.backend.standardize_dtype(x.dtype)))
    kernel = ops.cast(kernel, x.dtype)
    banded = ops.einsum("ijco,jaw->iacwo", kernel, band)  # (k_h, W_in, C_in, W_out, C_out)
    banded = ops.reshape(banded, (k_h, width * c_in, width * c_out))
    shape = ops.shape(x)
    rows = ops.reshape(x, (shape[0], shape[1], width * c_in))
    out = conv(rows, banded, strides=1, padding="same", dilation_rate=dilation)
    return ops.reshape(out, (shape[0], shape[1], width, c_out))


def phase_conv(x, kernel, dilation):
    """``same`` rank-2 convolution with dilation ``d`` as an undilated one on the ``d * d`` phase images
    (``x[:, i::d, j::d]``, stacked along the batch), or None unless H and W are static multiples of ``d``
    and the window is odd (then the padding falls on whole phase rows/columns and the result is exact).
    Each phase image is convolved by :func:`conv_same` (banded), so BAM's thin 3x3, dilation-4
    convolutions become small dense matmul-like convolutions instead of oneDNN's or XLA's slow paths."""
    k_h, k_w = int(kernel.shape[0]), int(kernel.shape[1])
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None or height % dilation or width % dilation or not (k_h % 2 and k_w % 2):
        return None
    c_in, c_out = int(kernel.shape[2]), int(kernel.shape[3])
    h, w = height // dilation, width // dilation
    phases = ops.reshape(x, (-1, h, dilation, w, dilation, c_in))
    phases = ops.reshape(ops.transpose(phases, (0, 2, 4, 1, 3, 5)), (-1, h, w, c_in))
    out = conv_same(phases, kernel)
    out = ops.reshape(out, (-1, dilation, dilation, h, w, c_out))
    return ops.reshape(ops.transpose(out, (0, 3, 1, 4, 2, 5)), (-1, height, width, c_out))


def conv_same(x, kernel, dilation=1):
    """``keras.conv(x, kernel, padding="same", dilation_rate=dilation)`` (stride 1), computed for
    images by :func:`banded_conv` (no dilation) or :func:`phase_conv` (dilation) where they apply, and
    under XLA by a dilated :func:`banded_conv` where the phases do not; same values to round-off."""
    if x.ndim == 4:
        if dilation == 1:
            out = banded_conv(x, kernel)
        else:
            out = phase_conv(x, kernel, dilation)
            if out is None and in_xla_context():  # oneDNN's own dilated convolution is faster outside XLA
                out = banded_conv(x, kernel, dilation)
        if out is not None:
            return out
    rank = x.ndim - 2
    return conv(x, kernel, strides=1, padding="same", dilation_rate=(dilation,) * rank)
