"""BAM: bottleneck attention module (Park et al., BMVC 2018, eq. 1-4; docs/methods/cbam_bam_se.md#bam).

``BAM()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), with
``h = max(1, C // reduction)``:

1. channel branch (eq. 2): ``M_c = Dense_C(ReLU(BN(Dense_h(GAP(x)))))``, shape ``(B, 1.., C)``;
2. spatial branch (eq. 3): 1x1 convolution to ``h`` -> BN -> ReLU -> two rank-matched 3x3 (3 steps
   for sequences) convolutions ``h -> h`` with dilation ``dilation_rate`` (4), padding ``same``, each
   -> BN -> ReLU -> 1x1 convolution to 1 channel; ``M_s`` of shape ``(B, *S, 1)``;
3. combination (eq. 1, 4): ``A = sigmoid(M_c + M_s)`` broadcast to ``(B, *S, C)`` and
   ``out = x * (1 + A)``, so ``out / x`` lies in ``[1, 2]``.

``return_attention=True`` returns ``(out, A)``.

A competitor module. Reading of what the paper leaves open (docs/methods/cbam_bam_se.md#bam-readings):
- every Dense and convolution carries a bias, and each BatchNorm uses PyTorch's defaults (epsilon
  1e-5, momentum 0.1, i.e. Keras ``momentum=0.9``), as in the official code; ``training`` is passed
  through to all four BatchNorms;
- the branches are combined by a SUM (paper eq. 4); the official code multiplies them
  (``1 + sigmoid(M_c * M_s)``) - the layer follows the paper, as the documentation says;
- kernels are initialised with Glorot-uniform and biases with zeros (Keras' defaults).

Implementations (``implementation="fast"``, the default, or ``"reference"``; both give the same output and
the same gradients, to float32 round-off):
- ``"reference"`` is the equations above written out and differentiated by the backend;
- ``"fast"`` computes the same values with fewer full-size ``(B, *S, C)`` passes. The two reads of ``x``
  (the channel branch's average and the spatial branch's 1x1 reduction) are one op whose gradient,
  ``d_avg / N + d_h @ W^T``, is added into the gradient that reaches ``x`` from the output in a single
  add (the reference's three-way sum of full-size gradients is what TensorFlow's graph optimiser turns
  into a slow accumulator). Under XLA (``jit_compile=True``, or the JAX backend) the output
  ``x * (1 + A)`` is also one op with its gradient written out (``dx = dy + dy * A``,
  ``dM_c = sum_S(q)``, ``dM_s = sum_C(q)``, ``q = dy * x * A * (1 - A)``), which XLA fuses into one
  loop each way, and the dilated 3x3 convolutions of images run as convolutions over rows with banded
  kernels (``banded_conv`` of :mod:`keras_attention.kernels.convolution`; same values), which XLA's CPU
  backend runs far faster than the thin dilated convolutions. Outside XLA the backend's own gradient of
  the output and its native dilated convolution are the cheaper ones, and are kept.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv, conv_same
from keras_attention.kernels.gates import pool_and_reduce, residual_gate
from keras_attention.kernels.probes import custom_gradients_supported, in_xla_context
from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

DILATED_CONVS = 2  # the paper's two 3x3 dilated convolutions
DILATED_KERNEL = 3


@keras.saving.register_keras_serializable(package="keras_attention")
class BAM(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Bottleneck attention module for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    A channel branch ``M_c`` (BAM paper eq. 2: spatial mean, Dense to ``h = max(1, C // reduction)``, BatchNorm,
    ReLU, Dense to ``C``) and a spatial branch ``M_s`` (eq. 3: 1x1 convolution to ``h``, BatchNorm, ReLU, two
    dilated 3x3 convolutions with BatchNorm and ReLU, 1x1 convolution to one channel), combined by a sum into
    ``A = sigmoid(M_c + M_s)`` (eq. 4) and the output ``x + x * A = x * (1 + A)`` (eq. 1). The BatchNorms sit where
    the official code puts them; the readings are in docs/methods/cbam_bam_se.md#bam-readings.

    Args:
        reduction: reduction ratio ``r``; both branches are ``max(1, C // r)`` wide.
        dilation_rate: dilation of the spatial branch's two 3x3 convolutions (4 in the paper).
        implementation: ``"fast"`` (default) or ``"reference"``, the same function computed with fewer
            full-size passes or written out as the equations (see the module docstring).
        return_attention: also return ``sigmoid(M_c + M_s)`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for every Dense
            and convolution; ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or ``(B, H, W, C)`` images (``(B, C, H, W)`` with
            ``data_format="channels_first"``); the channel count must be known.
        training: passed to the four BatchNorms (batch statistics when True).
        return_attention: True or False decides for this call, None (default) takes the constructor's.

    Returns:
        ``x * (1 + A)``, of the input's shape, or ``(x * (1 + A), A)`` when ``return_attention`` (the call's,
        else the constructor's), with the attention ``A = sigmoid(M_c + M_s)`` broadcast to the input's shape.

    Raises:
        ValueError: ``reduction`` or ``dilation_rate`` is not a positive integer, or ``implementation`` /
            ``data_format`` / ``return_attention`` is not one of the values above (when the layer is made or
            called); the input is not of rank 3 or 4 or has an unknown channel count (when it is built).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import BAM
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> out, attention = BAM(reduction=4, dilation_rate=2)(x, return_attention=True)
        >>> tuple(out.shape), tuple(attention.shape)
        ((2, 8, 8, 16), (2, 8, 8, 16))
        >>> ratio = np.asarray(out) / x
        >>> bool(ratio.min() >= 1.0 and ratio.max() <= 2.0)
        True
    """

    def __init__(self, reduction: int = 16, dilation_rate: int = 4, implementation: str = "fast",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.dilation_rate = check_positive_int("dilation_rate", dilation_rate)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)

        def norm(name: str) -> Any:
            return batch_normalization(name, dtype=self.dtype_policy)

        self.channel_norm = norm("channel_norm")
        self.reduce_norm = norm("reduce_norm")
        self.dilated_norms = [norm(f"dilated_norm_{i}") for i in range(DILATED_CONVS)]

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        self._spatial_rank = len(shape) - 2
        hidden = max(1, channels // self.reduction)
        hidden_shape = shape[:-1] + (hidden,)
        # channel branch
        self.channel_kernel_1, self.channel_bias_1 = self.add_kernel_and_bias("channel_1", (channels, hidden))
        self.channel_kernel_2, self.channel_bias_2 = self.add_kernel_and_bias("channel_2", (hidden, channels))
        self.channel_norm.build((shape[0],) + (1,) * self._spatial_rank + (hidden,))
        # spatial branch (1x1 convolutions are matmuls over the channel axis)
        self.reduce_kernel, self.reduce_bias = self.add_kernel_and_bias("reduce", (channels, hidden))
        self.reduce_norm.build(hidden_shape)
        window = (DILATED_KERNEL,) * self._spatial_rank
        self.dilated_kernels, self.dilated_biases = [], []
        for i, bn in enumerate(self.dilated_norms):
            kernel, bias = self.add_kernel_and_bias(f"dilated_{i}", window + (hidden, hidden))
            self.dilated_kernels.append(kernel)
            self.dilated_biases.append(bias)
            bn.build(hidden_shape)
        self.spatial_kernel, self.spatial_bias = self.add_kernel_and_bias("spatial", (hidden, 1))

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        with_attention = self.returns_attention(return_attention)
        if self.implementation == "reference" or not custom_gradients_supported():
            return self._call_reference(inputs, training, with_attention)
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        c, s, x = pool_and_reduce(inputs, self.reduce_kernel, spatial_axes)
        # channel branch (eq. 2): (B, 1.., C)
        c = ops.matmul(c, self.channel_kernel_1) + self.channel_bias_1
        c = ops.relu(self.channel_norm(c, training=training))
        c = ops.matmul(c, self.channel_kernel_2) + self.channel_bias_2
        # spatial branch (eq. 3): (B, *S, 1)
        s = ops.relu(self.reduce_norm(s + self.reduce_bias, training=training))
        for kernel, bias, bn in zip(self.dilated_kernels, self.dilated_biases, self.dilated_norms):
            s = conv_same(s, kernel, self.dilation_rate) + bias
            s = ops.relu(bn(s, training=training))
        s = ops.matmul(s, self.spatial_kernel) + self.spatial_bias
        return self._gate(x, c, s, spatial_axes, with_attention)

    def _call_reference(self, inputs: Tensor, training: bool | None,
                        with_attention: bool) -> Tensor | tuple[Tensor, Tensor]:
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
            s = conv(s, kernel, strides=1, padding="same", dilation_rate=dilation) + bias
            s = ops.relu(bn(s, training=training))
        s = ops.matmul(s, self.spatial_kernel) + self.spatial_bias
        return self._gate(x, c, s, spatial_axes, with_attention)

    def _gate(self, x: Tensor, c: Tensor, s: Tensor, spatial_axes: tuple[int, ...],
              with_attention: bool) -> Tensor | tuple[Tensor, Tensor]:
        """Eq. 4: ``x * (1 + sigmoid(c + s))``, and the attention ``sigmoid(c + s)`` when ``with_attention``."""
        if in_xla_context():  # one fused loop each way; elsewhere the backend's own gradient is cheaper
            return residual_gate(x, c, s, spatial_axes, with_attention)
        attention = ops.sigmoid(c + s)  # broadcast to (B, *S, C)
        output = x * (1.0 + attention)
        return (output, attention) if with_attention else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_feature_shape(type(self).__name__, input_shape)
        return shape, shape


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 C h`` (channel MLP) ``+ N C h + 2 N 3^r h^2 + N h`` (the spatial
        branch's reduction, two dilated convolutions, projection)."""
        positions, channels = math.prod(input_shape[1:-1]), int(input_shape[-1])
        hidden = int(self.channel_kernel_1.shape[-1])
        window = DILATED_KERNEL ** (len(input_shape) - 2)
        spatial = channels * hidden + DILATED_CONVS * window * hidden * hidden + hidden
        return 2 * channels * hidden + positions * spatial

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "dilation_rate": self.dilation_rate,
                "implementation": self.implementation,
            }
        )
        return config
