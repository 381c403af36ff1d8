"""AW-convolution: attention on the convolution weights (AW paper eq. 5-8, F1-F3, Fig. 1; SPEC §5).

``AWConv2D(filters, kernel_size)(x)`` is a 2-D convolution whose kernel ``K`` (``(kh, kw, C1, C2)``)
is rescaled per sample by an attention map computed from the input:

1. attention maps, F1 (eq. 7, with the paper's settings ``r_C1 = C1``, ``r_C2 = r_hw = 1``, SPEC §5):
   ``a0 = AdaptiveAvgPool(x)`` to ``(B, kh, kw, C1)``; ``a1 = relu(BN(a0 W1))`` with the pointwise
   ``W1: C1 -> max(8, C1 // reduction)``; ``a = sigmoid(BN(a1 W2))`` with ``W2: -> C2``, so that ``a``
   is ``(B, kh, kw, C2)``;
2. Expand along C1 (eq. 8): with ``r_C1 = C1`` there is one value per ``(b, kh, kw, C2)``, shared by
   every input channel;
3. attentional weights, F2: ``AK[b] = K + a[b] * K = K * (1 + a[b])``;
4. output, F3 (eq. 5): ``O[b] = conv(x[b], AK[b])`` (+ bias when ``use_bias``).

Adaptive average pooling uses PyTorch's bins, so that sizes that are not multiples of the kernel work:
output cell ``i`` of an axis of length ``n`` pooled to ``m`` averages input positions
``floor(i * n / m) <= p < ceil((i + 1) * n / m)`` (bins may overlap; each is non-empty, also for
``n < m``). It is computed as two small averaging matrices applied along H and W, so ``H`` and ``W`` must
be known when the layer is built.

Fast form, exact: since ``a`` does not depend on C1, for each kernel tap ``(j, k)``
``O[b, p, c2] = sum_jk (1 + a[b, j, k, c2]) * (x_shift_jk[b, p, :] @ K[j, k])[c2]``, i.e. the
convolution written as ``kh * kw`` shifted 1x1 contractions (one GEMM each over the whole batch),
each scaled by its per-sample, per-filter factor before they are summed. This costs the FLOPs of one
ordinary convolution and needs no per-sample kernel, no grouped convolution and no batch loop.
Padding follows Keras/TF: ``valid`` keeps ``floor((n - k) / s) + 1`` positions; ``same`` keeps
``ceil(n / s)`` and pads ``max((out - 1) * s + k - n, 0)`` zeros, the smaller half before.

Reading of the paper where SPEC is silent: the pointwise convolutions carry no bias (each is followed
by BatchNormalization, which has its own offset); the BatchNormalizations use PyTorch's defaults
(momentum 0.1, i.e. Keras ``momentum=0.9``, ``epsilon=1e-5``), as the authors' code is PyTorch; ``K``
and the pointwise kernels are initialised Glorot-uniform (Keras' Conv2D default); dilation is 1.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.utils.checks import check_bool, check_choice, check_positive_int, shape_str


def _pair(argument, value):
    """An int or a pair of positive ints -> a tuple of two ints, or a ValueError naming ``argument``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"Argument `{argument}` must be an integer or a pair of integers; got {value!r}."
            )
        return tuple(check_positive_int(argument, v) for v in value)
    v = check_positive_int(argument, value)
    return (v, v)


def adaptive_pool_bins(n, m):
    """PyTorch adaptive-pooling bins of an axis of length ``n`` pooled to ``m``: ``[(start, end), ...]``."""
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def adaptive_pool_matrix(n, m):
    """``(m, n)`` matrix whose row ``i`` averages the positions of bin ``i`` (see ``adaptive_pool_bins``)."""
    matrix = np.zeros((m, n), dtype="float32")
    for i, (start, end) in enumerate(adaptive_pool_bins(n, m)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def conv_geometry(size, kernel, stride, padding):
    """``(output size, pad before, pad after)`` of one axis under Keras/TF ``same``/``valid`` rules."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="keras_attention")
class AWConv2D(keras.layers.Layer):
    """2-D convolution with attentional weights (AW-convolution), channels-last.

    Call: ``layer(x)`` with ``x`` of shape ``(B, H, W, C1)`` (H, W known). Returns
    ``(B, H', W', filters)``.

    Args:
        filters: ``C2``, the number of output channels.
        kernel_size: ``(kh, kw)`` or one int for both.
        strides: ``(sh, sw)`` or one int for both.
        padding: ``"same"`` or ``"valid"``.
        reduction: the attention branch's hidden width is ``max(8, C1 // reduction)``.
        use_bias: add a bias after the convolution.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        reduction=16,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = check_choice("padding", padding, {"same", "valid"})
        self.reduction = check_positive_int("reduction", reduction)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        bn = dict(axis=-1, momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy)
        self.bn1 = keras.layers.BatchNormalization(name="attention_bn1", **bn)
        self.bn2 = keras.layers.BatchNormalization(name="attention_bn2", **bn)

    def _check_shape(self, input_shape):
        name = type(self).__name__
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{name} expects inputs of rank 4 (B, H, W, C1); got shape {shape_str(shape)}.")
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"{name} needs known H, W and C1 (the adaptive pooling to the kernel size is built for "
                f"them); got shape {shape_str(shape)}."
            )
        geometry = [
            conv_geometry(n, k, s, self.padding)
            for n, k, s in zip(shape[1:3], self.kernel_size, self.strides)
        ]
        if any(out < 1 for out, _, _ in geometry):
            raise ValueError(
                f"{name} with padding='valid' and kernel_size={self.kernel_size} needs H >= kh and W >= kw; "
                f"got inputs of shape {shape_str(shape)}."
            )
        return shape, geometry

    def build(self, input_shape):
        shape, self._geometry = self._check_shape(input_shape)
        height, width, channels = shape[1:]
        kh, kw = self.kernel_size
        hidden = max(8, channels // self.reduction)
        self._pool_h = adaptive_pool_matrix(height, kh)
        self._pool_w = adaptive_pool_matrix(width, kw)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(kh, kw, channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.pointwise1 = self.add_weight(
            name="attention_pointwise1",
            shape=(channels, hidden),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.pointwise2 = self.add_weight(
            name="attention_pointwise2",
            shape=(hidden, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bn1.build((None, kh, kw, hidden))
        self.bn2.build((None, kh, kw, self.filters))

    def attention(self, x, training=None):
        """F1: the attention maps ``a`` of shape ``(B, kh, kw, filters)`` (eq. 7-8)."""
        pool_h = ops.convert_to_tensor(self._pool_h, dtype=x.dtype)
        pool_w = ops.convert_to_tensor(self._pool_w, dtype=x.dtype)
        pooled = ops.einsum("ih,bhwc->biwc", pool_h, x)
        pooled = ops.einsum("jw,biwc->bijc", pool_w, pooled)  # (B, kh, kw, C1)
        hidden = ops.relu(self.bn1(ops.matmul(pooled, self.pointwise1), training=training))
        return ops.sigmoid(self.bn2(ops.matmul(hidden, self.pointwise2), training=training))

    def call(self, inputs, training=None):
        a = self.attention(inputs, training=training)
        (out_h, top, bottom), (out_w, left, right) = self._geometry
        sh, sw = self.strides
        kh, kw = self.kernel_size
        x = inputs
        if top or bottom or left or right:
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        scale = 1.0 + a  # F2: AK[b] = K * (1 + a[b])
        output = None
        for j in range(kh):
            for k in range(kw):
                shifted = x[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]
                term = ops.matmul(shifted, self.kernel[j, k]) * scale[:, j : j + 1, k : k + 1, :]
                output = term if output is None else output + term
        if self.bias is not None:
            output = output + self.bias
        return output

    def compute_output_shape(self, input_shape):
        shape, geometry = self._check_shape(input_shape)
        return (shape[0], geometry[0][0], geometry[1][0], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "reduction": self.reduction,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
