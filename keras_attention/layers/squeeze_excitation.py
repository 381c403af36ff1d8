"""Squeeze-and-Excitation (Hu et al., CVPR 2018, eq. 2-4; SPEC §2), a competitor module.

``SqueezeExcitation()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images):

1. squeeze (eq. 2): ``z = GAP(x)``, the mean over every spatial axis, shape ``(B, C)``;
2. excitation (eq. 3): ``s = sigmoid(W2 relu(W1 z + b1) + b2)`` with ``W1: C -> max(1, C // reduction)``
   and ``W2: -> C``;
3. scale (eq. 4): ``out = x * s``, ``s`` broadcast over the spatial axes.

``return_attention=True`` returns ``(out, s)`` with ``s`` of shape ``(B, 1, C)`` or ``(B, 1, 1, C)``.

Reading of what the paper leaves open: both fully connected layers carry a bias (as in the authors'
released models); kernels are initialised with Glorot-uniform and biases with zeros (Keras' Dense
defaults). The hidden width is at least one unit, so narrow layers (``C < reduction``) still work.

Implementations (``implementation="fast"``, the default, or ``"reference"``; both give the same output and
the same gradients, to float32 round-off): ``"reference"`` is the equations above differentiated by the
backend; ``"fast"`` makes the squeeze one op whose gradient ``d_z / N`` is added into the gradient that
reaches ``x`` from ``x * s`` (``cbam.spatial_pool``), instead of a materialised full-size broadcast of it
and a sum of two full-size tensors. Under XLA (``jit_compile=True``, or the JAX backend), which fuses
the reference's gradient into the same loop anyway, ``"fast"`` runs the reference formulation.
"""

import keras
from keras import ops

from keras_attention.layers.cbam import IMPLEMENTATIONS, spatial_pool
from keras_attention.utils.checks import (
    add_dense_weights,
    check_bool,
    check_choice,
    check_feature_shape,
    check_positive_int,
)
from keras_attention.utils.execution import in_xla_context


@keras.saving.register_keras_serializable(package="keras_attention")
class SqueezeExcitation(keras.layers.Layer):
    """Squeeze-and-Excitation channel recalibration for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    Returns ``x * s`` of the input's shape, or ``(x * s, s)`` with ``return_attention=True``.

    Args:
        reduction: reduction ratio ``r``; the hidden width is ``max(1, C // r)``.
        return_attention: also return the channel scale ``s`` of shape ``(B, 1.., C)``.
        implementation: ``"fast"`` (default) or ``"reference"``, the same function computed with fewer
            full-size passes or written out as the equations (see the module docstring).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for both
            fully connected layers.
    """

    def __init__(
        self,
        reduction=16,
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
        self.return_attention = check_bool("return_attention", return_attention)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = int(shape[-1])
        self._spatial_axes = tuple(range(1, len(shape) - 1))
        hidden = max(1, channels // self.reduction)
        self.squeeze_kernel, self.squeeze_bias = add_dense_weights(self, "squeeze", channels, hidden)
        self.excite_kernel, self.excite_bias = add_dense_weights(self, "excite", hidden, channels)

    def call(self, inputs):
        if self.implementation == "fast" and not in_xla_context():  # XLA fuses the reference's gradient
            z, x = spatial_pool(inputs, self._spatial_axes, with_max=False)  # x carries z's gradient
        else:
            x = inputs
            z = ops.mean(x, axis=self._spatial_axes, keepdims=True)  # (B, 1.., C)
        h = ops.relu(ops.matmul(z, self.squeeze_kernel) + self.squeeze_bias)
        scale = ops.sigmoid(ops.matmul(h, self.excite_kernel) + self.excite_bias)
        output = x * scale
        if self.return_attention:
            return output, scale
        return output

    def compute_output_shape(self, input_shape):
        shape = check_feature_shape(type(self).__name__, input_shape)
        if self.return_attention:
            return shape, (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "return_attention": self.return_attention,
                "implementation": self.implementation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
