"""SPANet: salient positions attention (SPANet paper eq. 3-7, Algorithm 1; SPEC §4).

``SalientPositionsAttention()(x)`` on ``x`` of shape ``(B, H, W, C)`` (or a sequence ``(B, T, C)``;
the ``N = H * W`` (``T``) positions are flattened, everything else is the same):

1. query and value (eq. 3-4): ``Q = theta(x)``, ``V = g(x)``, two 1x1 convolutions (with bias) from
   ``C`` to ``inter = inter_channels or max(1, C // 2)`` channels; shape ``(B, N, inter)``;
2. salient positions selection, SPS (eq. 5, Algorithm 1): ``score[n] = sum_c Q[n, c]^2``; the ``k``
   positions with the largest score are kept, ``K = Q[topk]`` of shape ``(B, k, inter)``. With
   ``adaptive=True``, ``k = max(1, N // reduction)``;
3. affinity (eq. 6): ``A = softmax(K^T K / inter)`` over the last axis, shape ``(B, inter, inter)``.
   ``normalize=False`` drops the ``/ inter`` as the authors' code does;
4. aggregation (eq. 7): ``y = V A^T``, i.e. ``y[n, i] = sum_j A[i, j] V[n, j]`` (the authors'
   ``A @ g(x)`` in channels-first layout), shape ``(B, N, inter)``;
5. output: ``z = BN(W y) + x`` with ``W`` a 1x1 convolution (with bias) from ``inter`` back to ``C``.

Reading of what SPEC leaves open:
- ties in the score: among equal scores the LOWER position index (row-major over ``H, W``) is kept
  first; this is what ``keras.ops.top_k`` does on the TensorFlow backend, eagerly and under XLA. Only
  the set of kept positions matters, since ``K^T K`` sums over them;
- ``eq. 6``'s ``C`` is the channel count of ``K``, i.e. ``inter`` (SPEC §4);
- the BatchNorm after ``W`` keeps the default initialisation (gamma 1, beta 0) as in the authors' code,
  which, unlike the non-local block, does not zero-initialise it; momentum 0.9 and epsilon 1e-5 are
  PyTorch's defaults, which the authors' code uses;
- the scores, ``K^T K`` and the softmax are computed in float32 whatever the compute dtype (they are
  tiny, ``inter x inter``; float16 squares overflow easily), and ``A`` is cast back to the compute dtype;
- ``k`` must not exceed ``N``; ``adaptive=True`` needs the spatial sizes to be known when building.
"""

import math

import keras
from keras import ops

from keras_attention.utils.checks import (
    add_dense_weights,
    check_bool,
    check_feature_shape,
    check_positive_int,
    shape_str,
)


def salient_positions(theta, k):
    """SPS (Algorithm 1): indices ``(B, k)`` of the ``k`` positions of ``theta`` ``(B, N, D)`` with the
    largest ``sum_d theta^2``; ties keep the lower index first. Returns ``(indices, scores)``."""
    scores = ops.sum(ops.square(theta), axis=-1)
    _, indices = ops.top_k(scores, k, sorted=True)
    return indices, scores


@keras.saving.register_keras_serializable(package="keras_attention")
class SalientPositionsAttention(keras.layers.Layer):
    """Salient positions attention block (SPANet) for ``(B, H, W, C)`` images or ``(B, T, C)`` sequences.

    Returns ``x + BN(W (V A^T))`` of the input's shape (see the module docstring for the equations).

    Args:
        k: number of salient positions kept (ignored when ``adaptive=True``).
        inter_channels: channels of the query / value embeddings; default ``max(1, C // 2)``.
        adaptive: choose ``k = max(1, N // reduction)`` from the number of positions ``N``.
        reduction: the ratio used by ``adaptive``.
        normalize: divide ``K^T K`` by ``inter`` before the softmax (eq. 6); False as the authors' code.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the three 1x1
            convolutions ``theta``, ``g`` and ``W``.
    """

    def __init__(
        self,
        k=8,
        inter_channels=None,
        adaptive=False,
        reduction=16,
        normalize=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.k = check_positive_int("k", k)
        if inter_channels is not None:
            check_positive_int("inter_channels", inter_channels)
        self.inter_channels = inter_channels
        self.adaptive = check_bool("adaptive", adaptive)
        self.reduction = check_positive_int("reduction", reduction)
        self.normalize = check_bool("normalize", normalize)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.norm = keras.layers.BatchNormalization(
            axis=-1, momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="norm"
        )

    def _num_positions(self, shape):
        spatial = shape[1:-1]
        return None if any(d is None for d in spatial) else math.prod(spatial)

    def _resolve_k(self, shape):
        """The ``k`` used for an input of ``shape``; raises when it cannot be used."""
        name = type(self).__name__
        n = self._num_positions(shape)
        where = "H*W" if len(shape) == 4 else "T"
        if self.adaptive:
            if n is None:
                raise ValueError(
                    f"{name}(adaptive=True) needs known spatial sizes to set "
                    f"k = max(1, {where} // reduction); got input shape {shape_str(shape)}."
                )
            return max(1, n // self.reduction)
        if n is not None and self.k > n:
            raise ValueError(
                f"Argument `k`={self.k} of {name} exceeds the number of positions {where}={n} of the input "
                f"shape {shape_str(shape)}; expected 1 <= k <= {where}."
            )
        return self.k

    def build(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._k = self._resolve_k(shape)
        channels = int(shape[-1])
        inter = self.inter_channels or max(1, channels // 2)
        self._inter = inter

        self.theta_kernel, self.theta_bias = add_dense_weights(self, "theta", channels, inter)
        self.g_kernel, self.g_bias = add_dense_weights(self, "g", channels, inter)
        self.w_kernel, self.w_bias = add_dense_weights(self, "w", inter, channels)
        self.norm.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        batch = ops.shape(x)[0]
        theta = ops.matmul(x, self.theta_kernel) + self.theta_bias
        v = ops.matmul(x, self.g_kernel) + self.g_bias
        theta = ops.reshape(theta, (batch, -1, self._inter))
        v = ops.reshape(v, (batch, -1, self._inter))

        theta32 = ops.cast(theta, "float32")
        indices, _ = salient_positions(theta32, self._k)
        # K = Q[topk] as one flat gather (ops.take_along_axis is ~20x slower eagerly on TensorFlow)
        offsets = ops.expand_dims(ops.arange(batch, dtype=indices.dtype) * ops.shape(theta)[1], -1)
        keys = ops.take(ops.reshape(theta32, (-1, self._inter)), indices + offsets, axis=0)  # (B, k, inter)
        gram = ops.matmul(ops.transpose(keys, (0, 2, 1)), keys)  # (B, inter, inter)
        if self.normalize:
            gram = gram / float(self._inter)
        affinity = ops.cast(ops.softmax(gram, axis=-1), v.dtype)

        y = ops.matmul(v, ops.transpose(affinity, (0, 2, 1)))  # (B, N, inter) = V A^T
        y = ops.reshape(y, tuple(ops.shape(x)[:-1]) + (self._inter,))
        w = ops.matmul(y, self.w_kernel) + self.w_bias
        return self.norm(w, training=training) + x

    def compute_output_shape(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._resolve_k(shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "k": self.k,
                "inter_channels": self.inter_channels,
                "adaptive": self.adaptive,
                "reduction": self.reduction,
                "normalize": self.normalize,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config


SPANet = SalientPositionsAttention
