"""CBAM: convolutional block attention module (Woo et al., ECCV 2018, eq. 1-3; SPEC §2), a competitor.

``CBAM()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), channel gate
first, then spatial gate (eq. 1, the sequential arrangement the paper and its official code use):

1. channel gate (eq. 2): one shared MLP ``C -> max(1, C // reduction) -> C`` (ReLU in between, bias
   on both layers) applied to the spatial average and to the spatial max;
   ``M_c = sigmoid(MLP(avg) + MLP(max))``, ``x' = x * M_c``;
2. spatial gate (eq. 3): ``[mean_c(x'), max_c(x')]`` concatenated along channels (2 channels) ->
   one rank-matched convolution to 1 filter, kernel ``spatial_kernel_size`` (7, or 7 steps for
   sequences), padding ``same``, no bias -> BatchNorm -> sigmoid = ``M_s`` of shape ``(B, *S, 1)``;
   ``out = x' * M_s``.

``return_attention=True`` returns ``(out, M_s)``.

Reading of what SPEC and the paper leave open:
- the pooled maps are concatenated in the order [mean, max] (paper eq. 3 and SPEC); the official code
  stacks [max, mean], which only permutes the input axis of the 7x7 kernel;
- the BatchNorm follows the official ``BasicConv``: epsilon 1e-5 and PyTorch momentum 0.01, i.e.
  Keras ``momentum=0.99``; ``training`` is passed through to it;
- kernels are initialised with Glorot-uniform and biases with zeros (Keras' defaults).

Implementations (``implementation="fast"``, the default, or ``"reference"``; both give the same output and
the same gradients, to float32 round-off):
- ``"reference"`` is the equations above written out and differentiated by the backend;
- ``"fast"`` computes the same values with fewer full-size ``(B, *S, C)`` passes:
  * the spatial average (and, under XLA, the spatial max) of ``x`` are one op whose gradient,
    ``d_avg / N [+ [x == max] * d_max / count]``, is added into the gradient that reaches ``x`` from
    the gated output, instead of materialising a broadcast of each and summing three full-size
    tensors (``count`` = number of maxima: ties split the gradient exactly as the backend's max does);
    outside XLA the spatial max is a whole-map ``max_pool``, whose backward pass is one kernel (see
    ``spatial_mean_max`` for its tie rule);
  * the channel gate and the channel mean/max of ``x' = x * M_c`` are one op whose gradient folds the
    mean's and max's shares into ``dx'`` (one select) before the single multiply by ``M_c``;
  * for images up to ``BANDED_MAX_WIDTH`` wide, the spatial gate's thin 2 -> 1 channel convolution
    runs as a convolution over rows with a banded (Toeplitz) kernel built from the 7x7 one (same
    values; see ``banded_conv``), which is several times faster on oneDNN and on XLA's CPU backend.
  The gated output ``x' * M_s`` and the small parts (MLP, convolution, BatchNorm) are differentiated
  by the backend as in the reference.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.utils.checks import (
    check_bool,
    check_choice,
    check_feature_shape,
    check_positive_int,
)
from keras_attention.utils.execution import IMPLEMENTATIONS, in_xla_context

BANDED_MAX_WIDTH = 64  # widest image whose convolution may run as a banded row convolution (W/k_w times the flops)


# ============================================================================ fast-path helpers
# Shared by CBAM, BAM and SqueezeExcitation (their ``implementation="fast"``).
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


def spatial_mean_max(x, axes):
    """``(mean, max, x)`` over the spatial ``axes`` (CBAM's channel-gate inputs), ``x`` passed through as in
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
    out = ops.conv(rows, banded, strides=1, padding="same", dilation_rate=dilation)
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
    """``keras.ops.conv(x, kernel, padding="same", dilation_rate=dilation)`` (stride 1), computed for
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
    return ops.conv(x, kernel, strides=1, padding="same", dilation_rate=(dilation,) * rank)


def _channel_gate_and_pool(x, gate, spatial_axes, channels):
    """``x' = x * gate`` and the channel mean and max of ``x'``, with one gradient: the mean's and max's
    shares are folded into ``dx'`` (one select) before the single multiply by ``gate``."""

    @ops.custom_gradient
    def gate_pool(x, gate):
        gated = x * gate
        mean = ops.mean(gated, axis=-1, keepdims=True)
        maximum = ops.max(gated, axis=-1, keepdims=True)

        def grad(*args, upstream=None):
            d_gated, d_mean, d_max = cotangents(args, upstream)
            mask, inverse_count = max_gradient_mask(gated, maximum, -1)
            share = d_mean / channels  # (B, *S, 1)
            d_gated = d_gated + ops.where(mask, share + d_max * inverse_count, share)
            d_gate = ops.sum(d_gated * x, axis=spatial_axes, keepdims=True)
            return d_gated * gate, d_gate

        return (gated, mean, maximum), grad

    return gate_pool(x, gate)


@keras.saving.register_keras_serializable(package="keras_attention")
class CBAM(keras.layers.Layer):
    """Convolutional block attention module for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    Returns the input's shape, or ``(output, spatial_mask)`` with ``return_attention=True`` where the
    spatial mask has shape ``(B, *S, 1)``.

    Args:
        reduction: reduction ratio ``r`` of the channel MLP; the hidden width is ``max(1, C // r)``.
        spatial_kernel_size: kernel size of the spatial gate's convolution (7 in the paper).
        return_attention: also return the spatial mask.
        implementation: ``"fast"`` (default) or ``"reference"``, the same function computed with fewer
            full-size passes or written out as the equations (see the module docstring).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the MLP and
            the spatial convolution (which has no bias).
    """

    def __init__(
        self,
        reduction=16,
        spatial_kernel_size=7,
        return_attention=False,
        implementation="fast",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.spatial_kernel_size = check_positive_int("spatial_kernel_size", spatial_kernel_size)
        self.return_attention = check_bool("return_attention", return_attention)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.spatial_norm = keras.layers.BatchNormalization(
            axis=-1, momentum=0.99, epsilon=1e-5, dtype=self.dtype_policy, name="spatial_norm"
        )

    def _kernel(self, name, shape):
        return self.add_weight(
            name=f"{name}_kernel", shape=shape, initializer=self.kernel_initializer, regularizer=self.kernel_regularizer
        )

    def _bias(self, name, size):
        return self.add_weight(
            name=f"{name}_bias", shape=(size,), initializer=self.bias_initializer, regularizer=self.bias_regularizer
        )

    def build(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = int(shape[-1])
        self._spatial_rank = len(shape) - 2
        hidden = max(1, channels // self.reduction)
        self.mlp_kernel_1, self.mlp_bias_1 = self._kernel("mlp_1", (channels, hidden)), self._bias("mlp_1", hidden)
        self.mlp_kernel_2, self.mlp_bias_2 = self._kernel("mlp_2", (hidden, channels)), self._bias("mlp_2", channels)
        window = (self.spatial_kernel_size,) * self._spatial_rank
        self.spatial_kernel = self._kernel("spatial", window + (2, 1))
        self.spatial_norm.build(shape[:-1] + (1,))

    def _mlp(self, v):
        h = ops.relu(ops.matmul(v, self.mlp_kernel_1) + self.mlp_bias_1)
        return ops.matmul(h, self.mlp_kernel_2) + self.mlp_bias_2

    def call(self, inputs, training=None):
        if self.implementation == "reference":
            return self._call_reference(inputs, training)
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        avg, mx, x = spatial_mean_max(inputs, spatial_axes)  # x: the same tensor, carrying their gradient
        gate = ops.sigmoid(self._mlp(avg) + self._mlp(mx))  # eq. 2
        x, mean_map, max_map = _channel_gate_and_pool(x, gate, spatial_axes, int(inputs.shape[-1]))
        z = conv_same(ops.concatenate([mean_map, max_map], axis=-1), self.spatial_kernel)
        mask = ops.sigmoid(self.spatial_norm(z, training=training))  # eq. 3, (B, *S, 1)
        output = x * mask
        if self.return_attention:
            return output, mask
        return output

    def _call_reference(self, inputs, training=None):
        x = inputs
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        avg = ops.mean(x, axis=spatial_axes, keepdims=True)  # (B, 1.., C)
        mx = ops.max(x, axis=spatial_axes, keepdims=True)
        x = x * ops.sigmoid(self._mlp(avg) + self._mlp(mx))  # eq. 2
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        z = ops.conv(pooled, self.spatial_kernel, strides=1, padding="same")
        mask = ops.sigmoid(self.spatial_norm(z, training=training))  # eq. 3, (B, *S, 1)
        output = x * mask
        if self.return_attention:
            return output, mask
        return output

    def compute_output_shape(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        if self.return_attention:
            return shape, shape[:-1] + (1,)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "spatial_kernel_size": self.spatial_kernel_size,
                "return_attention": self.return_attention,
                "implementation": self.implementation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
