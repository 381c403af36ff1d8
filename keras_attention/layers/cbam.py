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
"""

import keras
from keras import ops

from keras_attention.utils.checks import check_bool, check_feature_shape, check_positive_int


@keras.saving.register_keras_serializable(package="keras_attention")
class CBAM(keras.layers.Layer):
    """Convolutional block attention module for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    Returns the input's shape, or ``(output, spatial_mask)`` with ``return_attention=True`` where the
    spatial mask has shape ``(B, *S, 1)``.

    Args:
        reduction: reduction ratio ``r`` of the channel MLP; the hidden width is ``max(1, C // r)``.
        spatial_kernel_size: kernel size of the spatial gate's convolution (7 in the paper).
        return_attention: also return the spatial mask.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the MLP and
            the spatial convolution (which has no bias).
    """

    def __init__(
        self,
        reduction=16,
        spatial_kernel_size=7,
        return_attention=False,
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
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
