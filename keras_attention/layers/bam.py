"""BAM: bottleneck attention module (Park et al., BMVC 2018, eq. 1-4; SPEC §2), a competitor.

``BAM()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), with
``h = max(1, C // reduction)``:

1. channel branch (eq. 2): ``M_c = Dense_C(ReLU(BN(Dense_h(GAP(x)))))``, shape ``(B, 1.., C)``;
2. spatial branch (eq. 3): 1x1 convolution to ``h`` -> BN -> ReLU -> two rank-matched 3x3 (3 steps
   for sequences) convolutions ``h -> h`` with dilation ``dilation_rate`` (4), padding ``same``, each
   -> BN -> ReLU -> 1x1 convolution to 1 channel; ``M_s`` of shape ``(B, *S, 1)``;
3. combination (eq. 1, 4): ``A = sigmoid(M_c + M_s)`` broadcast to ``(B, *S, C)`` and
   ``out = x * (1 + A)``, so ``out / x`` lies in ``[1, 2]``.

``return_attention=True`` returns ``(out, A)``.

Reading of what SPEC and the paper leave open:
- every Dense and convolution carries a bias, and each BatchNorm uses PyTorch's defaults (epsilon
  1e-5, momentum 0.1, i.e. Keras ``momentum=0.9``), as in the official code; ``training`` is passed
  through to all four BatchNorms;
- the branches are combined by a SUM (paper eq. 4 and SPEC); the official code multiplies them
  (``1 + sigmoid(M_c * M_s)``) - SPEC wins;
- kernels are initialised with Glorot-uniform and biases with zeros (Keras' defaults).
"""

import keras
from keras import ops

from keras_attention.utils.checks import check_bool, check_feature_shape, check_positive_int

DILATED_CONVS = 2  # the paper's two 3x3 dilated convolutions
DILATED_KERNEL = 3


@keras.saving.register_keras_serializable(package="keras_attention")
class BAM(keras.layers.Layer):
    """Bottleneck attention module for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    Returns ``x * (1 + sigmoid(M_c + M_s))`` of the input's shape, or ``(output, attention)`` with
    ``return_attention=True`` where the attention ``sigmoid(M_c + M_s)`` has the input's shape.

    Args:
        reduction: reduction ratio ``r``; both branches are ``max(1, C // r)`` wide.
        dilation_rate: dilation of the spatial branch's two 3x3 convolutions (4 in the paper).
        return_attention: also return ``sigmoid(M_c + M_s)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for every Dense
            and convolution.
    """

    def __init__(
        self,
        reduction=16,
        dilation_rate=4,
        return_attention=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.dilation_rate = check_positive_int("dilation_rate", dilation_rate)
        self.return_attention = check_bool("return_attention", return_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

        def norm(name):
            return keras.layers.BatchNormalization(
                axis=-1, momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name=name
            )

        self.channel_norm = norm("channel_norm")
        self.reduce_norm = norm("reduce_norm")
        self.dilated_norms = [norm(f"dilated_norm_{i}") for i in range(DILATED_CONVS)]

    def _weights(self, name, kernel_shape):
        kernel = self.add_weight(
            name=f"{name}_kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        bias = self.add_weight(
            name=f"{name}_bias",
            shape=(kernel_shape[-1],),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
        )
        return kernel, bias

    def build(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = int(shape[-1])
        self._spatial_rank = len(shape) - 2
        hidden = max(1, channels // self.reduction)
        hidden_shape = shape[:-1] + (hidden,)
        # channel branch
        self.channel_kernel_1, self.channel_bias_1 = self._weights("channel_1", (channels, hidden))
        self.channel_kernel_2, self.channel_bias_2 = self._weights("channel_2", (hidden, channels))
        self.channel_norm.build((shape[0],) + (1,) * self._spatial_rank + (hidden,))
        # spatial branch (1x1 convolutions are matmuls over the channel axis)
        self.reduce_kernel, self.reduce_bias = self._weights("reduce", (channels, hidden))
        self.reduce_norm.build(hidden_shape)
        window = (DILATED_KERNEL,) * self._spatial_rank
        self.dilated_kernels, self.dilated_biases = [], []
        for i, bn in enumerate(self.dilated_norms):
            kernel, bias = self._weights(f"dilated_{i}", window + (hidden, hidden))
            self.dilated_kernels.append(kernel)
            self.dilated_biases.append(bias)
            bn.build(hidden_shape)
        self.spatial_kernel, self.spatial_bias = self._weights("spatial", (hidden, 1))

    def call(self, inputs, training=None):
        x = inputs
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        # channel branch (eq. 2): (B, 1.., C)
        c = ops.mean(x, axis=spatial_axes, keepdims=True)
        c = ops.matmul(c, self.channel_kernel_1) + self.channel_bias_1
        c = ops.relu(self.channel_norm(c, training=training))
        c = ops.matmul(c, self.channel_kernel_2) + self.channel_bias_2
        # spatial branch (eq. 3): (B, *S, 1)
        s = ops.matmul(x, self.reduce_kernel) + self.reduce_bias
        s = ops.relu(self.reduce_norm(s, training=training))
        dilation = (self.dilation_rate,) * self._spatial_rank
        for kernel, bias, bn in zip(self.dilated_kernels, self.dilated_biases, self.dilated_norms):
            s = ops.conv(s, kernel, strides=1, padding="same", dilation_rate=dilation) + bias
            s = ops.relu(bn(s, training=training))
        s = ops.matmul(s, self.spatial_kernel) + self.spatial_bias
        attention = ops.sigmoid(c + s)  # eq. 4, broadcast to (B, *S, C)
        output = x * (1.0 + attention)
        if self.return_attention:
            return output, attention
        return output

    def compute_output_shape(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        if self.return_attention:
            return shape, shape
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "dilation_rate": self.dilation_rate,
                "return_attention": self.return_attention,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
