"""AW-convolution: attention on the convolution weights (AW paper eq. 5-8, F1-F3, Fig. 1; docs/methods/awconv.md).

``AWConv2D(filters, kernel_size)(x)`` is a 2-D convolution whose kernel ``K`` (``(kh, kw, C1, C2)``)
is rescaled per sample by an attention map computed from the input:

1. attention maps, F1 (eq. 7, with the paper's settings ``r_C1 = C1``, ``r_C2 = r_hw = 1``,
   docs/methods/awconv.md#awconv-attention-branch):
   ``a0 = AdaptiveAvgPool(x)`` to ``(B, kh, kw, C1)``; ``a1 = relu(BN(a0 W1))`` with the pointwise
   ``W1: C1 -> max(8, C1 // reduction)``; ``a = sigmoid(BN(a1 W2))`` with ``W2: -> C2``, so that ``a``
   is ``(B, kh, kw, C2)``;
2. Expand along C1 (eq. 8): with ``r_C1 = C1`` there is one value per ``(b, kh, kw, C2)``, shared by
   every input channel;
3. attentional weights, F2: ``AK[b] = K + a[b] * K = K * (1 + a[b])``;
4. output, F3 (eq. 5): ``O[b] = conv(x[b], AK[b])`` (+ bias when ``use_bias``).

Adaptive average pooling (docs/methods/awconv.md#awconv-pooling) uses PyTorch's bins, so that sizes that are
not multiples of the kernel work: output cell ``i`` of an axis of length ``n`` pooled to ``m`` averages input
positions ``floor(i * n / m) <= p < ceil((i + 1) * n / m)`` (bins may overlap; each is non-empty, also for
``n < m``). It is computed as one ``(kh * kw, H * W)`` averaging matrix (the Kronecker product of the two
per-axis ones) applied to ``x`` reshaped to ``(B, H * W, C1)``, so ``H`` and ``W`` must be known when the
layer is built.

Computing F3 (argument ``implementation``; docs/methods/awconv.md#awconv-implementations). Every form below is
exact: equal to the per-sample reference to float32 rounding, outputs and gradients
(``tests/layers/test_aw_conv_fast_paths.py``, 1e-5):

- ``"reference"``: the definition itself, ``O[b] = conv(x[b], AK[b])``, one ordinary convolution per
  sample (``keras.ops.map`` over the batch). Slow; kept as the check of the other forms.
- ``"grouped"``: the per-sample kernels as one grouped convolution with the batch folded into the channel
  groups: ``x`` transposed to ``(1, H, W, B * C1)``, kernel ``(kh, kw, C1, B * C2)``, ``B`` groups, the
  result transposed back. On TensorFlow it calls ``tf.nn.conv2d`` directly (``keras.ops.conv`` wraps
  grouped convolutions in XLA there). Its gradients exist only where a backend kernel has them: TensorFlow's
  own CPU kernels have none, oneDNN (TensorFlow's default on x86 Linux) has them for the structures and
  instruction sets it implements, cuDNN on a GPU. Whether they exist for a layer's group structure on this
  machine is found by differentiating a tiny grouped convolution of that structure once
  (:func:`grouped_gradients_probe`). Where they do not, a forced ``"grouped"`` still runs forward
  (inference) and its gradient raises a ``ValueError`` that names the forms that work.
- ``"im2col"``: the ``kh * kw`` windows concatenated once to patches ``(B, H' * W', kh * kw * C1)``, the
  per-sample kernels ``AK`` reshaped to ``(B, kh * kw * C1, C2)``, one batched matrix product.
- ``"tapwise"``: since ``a`` does not depend on C1, for each kernel tap ``(j, k)``
  ``O[b, p, c2] = sum_jk (1 + a[b, j, k, c2]) * (x_shift_jk[b, p, :] @ K[j, k])[c2]``: the ``kh * kw``
  windows stacked to ``(kh * kw, B * H' * W', C1)``, one batched product with ``K`` as
  ``(kh * kw, C1, C2)``, each tap's result scaled per sample and filter, summed over the taps. No
  per-sample kernel, but ``kh * kw`` copies of the input and output windows.
- ``"shifted"``: the same sum as ``kh * kw`` separate shifted 1x1 products (the package's form before
  step 10, kept for comparison).

The windows (``"im2col"``, ``"tapwise"``) are strided slices of the padded input. On TensorFlow outside
XLA they carry a hand-written gradient (pads summed per stride phase, phases interleaved by a reshape),
because TensorFlow's ``StridedSliceGrad`` writes one zero-padded full-size tensor per window and is 3-4
times slower; XLA fuses the slices and their gradients itself. (``keras.ops.image.extract_patches`` is a
dense convolution with an identity kernel, ``kh * kw`` times the FLOPs of the convolution; TensorFlow's
``tf.image.extract_patches`` has a slow gradient, and under XLA is a grouped convolution.)

``"fast"`` (the default) chooses per backend, execution mode and shape (``AWConv2D.fast_form``), from
measurements on a 2-core x86 CPU (TensorFlow 2.21 with oneDNN; forward + backward against ``Conv2D`` of
the same shape, batch 32):

- shape: the per-sample-kernel forms move ``B * kh * kw * C1 * C2`` kernel values, ``"tapwise"``
  ``B * kh * kw * H' * W' * (C1 + C2)`` window values; ``"tapwise"`` is taken when
  ``C1 * C2 > 0.4 * H' * W' * (C1 + C2)`` (small images with many channels: a ResNet's last stages, where
  ``"grouped"`` measured x5-7 and ``"tapwise"`` x2-3.5), a per-sample-kernel form otherwise (32x32x64 ->
  64: ``"grouped"`` x1.2-1.3, ``"im2col"`` x2.0, ``"tapwise"`` x2.7, ``"shifted"`` x5);
- TensorFlow, ``tf.function`` graph: ``"reference"``, one ordinary convolution per sample (``tf.map_fn``:
  oneDNN's own kernels), once a sample's convolution has ``kernels.aw_conv.PER_SAMPLE_CONV_MACS`` (2^20)
  multiply-adds or more (32x32x64 -> 64 at batch 128: x1.38 against ``"grouped"``'s x1.58 with AVX-512, x1.29
  against x1.64 with oneDNN limited to AVX2); below that ``"grouped"`` where the probe finds its gradients
  (above), else ``"im2col"``;
- TensorFlow, XLA (a function compiled with ``jit_compile=True``, also a function called inside one):
  ``"im2col"`` (x1.5-1.7 at 32x32x64; XLA expands grouped convolutions into dense ones, x40-200);
- TensorFlow, eager: the layer's ops run as one ``tf.function`` graph per layer (traced once per input
  signature and ``training`` value, autograph off), with the graph forms: eager execution pays
  TensorFlow's per-op dispatch, ~200 ops per training step of this layer, once instead;
- other backends: ``"im2col"`` / ``"tapwise"`` by the shape rule (JAX compiles with XLA; torch is not
  measured here).

Padding follows Keras/TF (docs/methods/awconv.md#awconv-attentional-weights): ``valid`` keeps
``floor((n - k) / s) + 1`` positions; ``same`` keeps ``ceil(n / s)`` and pads ``max((out - 1) * s + k - n, 0)``
zeros, the smaller half before.

Reading of the paper where it is silent (docs/methods/awconv.md#awconv-attention-branch,
docs/methods/awconv.md#awconv-attentional-weights): the pointwise convolutions carry no bias (each is followed
by BatchNormalization, which has its own offset); the BatchNormalizations use PyTorch's defaults
(momentum 0.1, i.e. Keras ``momentum=0.9``, ``epsilon=1e-5``), as the authors' code is PyTorch; ``K``
and the pointwise kernels are initialised Glorot-uniform (Keras' Conv2D default); dilation is 1.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
import numpy as np
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS as _IMPLEMENTATIONS
from keras_attention.kernels import aw_conv as aw_kernels
from keras_attention.kernels.convolution import conv
from keras_attention.kernels.geometry import conv_geometry
from keras_attention.kernels.probes import Probe, tensorflow_eager
from keras_attention.utils.checks import (
    check_bool,
    check_choice,
    check_positive_int,
    shape_str,
)
from keras_attention.utils.layer_arguments import DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import ShapeLike, Tensor


# An input shape (B, H, W, C1) once `AWConv2D._check_shape` has found H, W and C1 known.
_ImageShape = tuple[int | None, int, int, int]


def _pair(argument: str, value: int | Sequence[int]) -> tuple[int, ...]:
    """An int or a pair of positive ints -> a tuple of two ints, or a ValueError naming ``argument``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"Argument `{argument}` must be an integer or a pair of integers; got {value!r}."
            )
        return tuple(check_positive_int(argument, v) for v in value)
    v = check_positive_int(argument, value)
    return (v, v)


def adaptive_pool_bins(n: int, m: int) -> list[tuple[int, int]]:
    """PyTorch adaptive-pooling bins of an axis of length ``n`` pooled to ``m`` (docs/methods/awconv.md#awconv-pooling).

    Output cell ``i`` averages the input positions ``floor(i * n / m) <= p < ceil((i + 1) * n / m)``: bins may
    overlap, and none is empty, also for ``n < m``.

    Args:
        n: the input length.
        m: the output length.

    Returns:
        ``[(start, end), ...]``, one half-open range of input positions per output cell.

    Example:
        >>> from keras_attention.layers.aw_conv import adaptive_pool_bins
        >>> adaptive_pool_bins(7, 3)
        [(0, 3), (2, 5), (4, 7)]
        >>> adaptive_pool_bins(2, 3)
        [(0, 1), (0, 2), (1, 2)]
    """
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def adaptive_pool_matrix(n: int, m: int) -> np.ndarray:
    """The averaging matrix of PyTorch's adaptive pooling of an axis of length ``n`` to ``m``.

    Args:
        n: the input length.
        m: the output length.

    Returns:
        An ``(m, n)`` float32 matrix whose row ``i`` averages the positions of bin ``i`` of
        :func:`adaptive_pool_bins`.

    Example:
        >>> from keras_attention.layers.aw_conv import adaptive_pool_matrix
        >>> adaptive_pool_matrix(4, 2).round(2).tolist()
        [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
    """
    matrix = np.zeros((m, n), dtype="float32")
    for i, (start, end) in enumerate(adaptive_pool_bins(n, m)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="keras_attention")
class AWConv2D(DataFormat, WeightArguments, keras.layers.Layer):
    """2-D convolution with attentional weights (AW-convolution).

    The kernel ``K`` (``(kh, kw, C1, filters)``) is rescaled per sample by an attention map of the input: F1
    (AW paper eq. 7-8), ``a = sigmoid(BN(relu(BN(AdaptiveAvgPool(x) W1)) W2))`` of shape
    ``(B, kh, kw, filters)``, shared by every input channel; F2, the attentional weights ``AK[b] = K * (1 + a[b])``;
    F3 (eq. 5), ``O[b] = conv(x[b], AK[b])`` (+ bias). The readings where the paper is silent are in
    docs/methods/awconv.md#awconv-attention-branch and docs/methods/awconv.md#awconv-attentional-weights; how F3 is
    computed (``implementation``) in the module docstring.

    Args:
        filters: ``C2``, the number of output channels.
        kernel_size: ``(kh, kw)`` or one int for both.
        strides: ``(sh, sw)`` or one int for both.
        padding: ``"same"`` or ``"valid"``.
        reduction: the attention branch's hidden width is ``max(8, C1 // reduction)``.
        use_bias: add a bias after the convolution.
        implementation: how F3 is computed, ``"fast"`` (default: chosen per backend, execution mode and shape),
            ``"grouped"``, ``"im2col"``, ``"shifted"``, ``"tapwise"`` or ``"reference"`` (one convolution per
            sample); all equal to float32 rounding (module docstring).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``), None for
            ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs back at its exit, the same values as channels-last.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for ``K``, its bias and
            the two pointwise kernels of the attention branch; ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: images ``(B, H, W, C1)`` (``(B, C1, H, W)`` with ``data_format="channels_first"``) with known
            ``H``, ``W`` and ``C1``.
        training: passed to the attention branch's two BatchNorms (batch statistics when True).

    Returns:
        The convolution's output, ``(B, H', W', filters)`` (``(B, filters, H', W')`` channels-first), with
        ``H' = ceil(H / sh)`` for ``"same"`` padding and ``floor((H - kh) / sh) + 1`` for ``"valid"``.

    Raises:
        ValueError: ``filters``, ``kernel_size``, ``strides`` or ``reduction`` is not a positive integer (or a
            pair of them), ``use_bias`` is not a bool, or ``padding`` / ``implementation`` / ``data_format`` is
            not one of the values above (when the layer is made); the input is not of rank 4, has an unknown
            ``H``, ``W`` or ``C1``, or is smaller than the kernel with ``"valid"`` padding (when it is built);
            under TensorFlow, the gradient of a forced ``"grouped"`` form where no kernel has one (module
            docstring).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import AWConv2D
        >>> x = np.random.rand(2, 8, 8, 4).astype("float32")
        >>> layer = AWConv2D(16, 3, strides=2)
        >>> tuple(layer(x).shape)
        (2, 4, 4, 16)
        >>> a = layer.attention(x)  # F1: one factor per sample, kernel tap and filter
        >>> tuple(a.shape), bool(np.all((np.asarray(a) > 0) & (np.asarray(a) < 1)))
        ((2, 3, 3, 16), True)
    """

    IMPLEMENTATIONS = _IMPLEMENTATIONS[:1] + aw_kernels.FORMS + _IMPLEMENTATIONS[1:]  # "fast", the forms, "reference"

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "same",
        reduction: int = 16,
        use_bias: bool = False,
        implementation: str = "fast",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = check_choice("padding", padding, {"same", "valid"})
        self.reduction = check_positive_int("reduction", reduction)
        self.use_bias = check_bool("use_bias", use_bias)
        self.implementation = check_choice("implementation", implementation, set(self.IMPLEMENTATIONS))
        self.bn1 = batch_normalization("attention_bn1", dtype=self.dtype_policy)
        self.bn2 = batch_normalization("attention_bn2", dtype=self.dtype_policy)

    def _check_shape(self, input_shape: ShapeLike) -> tuple[_ImageShape, list[tuple[int, int, int]]]:
        """``(shape, geometry)``: the input shape with H, W and C1 known, and ``conv_geometry`` of H and W."""
        name = type(self).__name__
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{name} expects inputs of rank 4 (B, H, W, C1); got shape {shape_str(shape)}.")
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"{name} needs known H, W and C1 (the adaptive pooling to the kernel size is built for "
                f"them); got shape {shape_str(shape)}."
            )
        known = cast(_ImageShape, shape)  # rank 4 with H, W and C1 known: checked above
        geometry = [
            conv_geometry(n, k, s, self.padding)
            for n, k, s in zip(known[1:3], self.kernel_size, self.strides)
        ]
        if any(out < 1 for out, _, _ in geometry):
            raise ValueError(
                f"{name} with padding='valid' and kernel_size={self.kernel_size} needs H >= kh and W >= kw; "
                f"got inputs of shape {shape_str(shape)}."
            )
        return known, geometry

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape, self._geometry = self._check_shape(input_shape)
        height, width, channels = shape[1:]
        kh, kw = self.kernel_size
        hidden = max(8, channels // self.reduction)
        self._pool_h = adaptive_pool_matrix(height, kh)
        self._pool_w = adaptive_pool_matrix(width, kw)
        # (kh * kw, H * W): both averaging matrices at once, so that pooling is one matrix product
        self._pool = np.kron(self._pool_h, self._pool_w)
        self.kernel = self.add_kernel("kernel", (kh, kw, channels, self.filters))
        self.bias = self.add_bias("bias", self.filters) if self.use_bias else None
        self.pointwise1 = self.add_kernel("attention_pointwise1", (channels, hidden))
        self.pointwise2 = self.add_kernel("attention_pointwise2", (hidden, self.filters))
        self.bn1.build((None, kh, kw, hidden))
        self.bn2.build((None, kh, kw, self.filters))

    def attention(self, x: Tensor, training: bool | None = None) -> Tensor:
        """F1: the attention maps ``a`` of shape ``(B, kh, kw, filters)`` (eq. 7-8).

        Args:
            x: the channels-last input ``(B, H, W, C1)`` of a built layer.
            training: passed to the two BatchNorms.

        Returns:
            ``a``, values in ``(0, 1)``; the kernel of sample ``b`` is ``K * (1 + a[b])``.
        """
        kh, kw = self.kernel_size
        height, width, channels = x.shape[1:]
        pool = ops.convert_to_tensor(self._pool, dtype=x.dtype)
        pooled = ops.matmul(pool, ops.reshape(x, (-1, height * width, channels)))
        pooled = ops.reshape(pooled, (-1, kh, kw, channels))  # (B, kh, kw, C1)
        hidden = ops.relu(self.bn1(ops.matmul(pooled, self.pointwise1), training=training))
        return ops.sigmoid(self.bn2(ops.matmul(hidden, self.pointwise2), training=training))

    def fast_form(self, inputs: Tensor) -> str:
        """The form ``implementation="fast"`` computes F3 with for ``inputs``, here and now
        (:func:`keras_attention.kernels.aw_conv.fast_form`)."""
        return aw_kernels.fast_form(self, inputs)

    def grouped_probe(self, dtype: Any) -> Probe:
        """Whether TensorFlow can differentiate this layer's ``"grouped"`` form here, in ``dtype``:
        ``(works, reason)`` (:func:`keras_attention.kernels.probes.grouped_gradients_probe`)."""
        from keras_attention.kernels.tensorflow.aw_conv import grouped_probe

        return grouped_probe(self, dtype)

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if self.implementation == "fast" and training in (None, True, False) and tensorflow_eager():
            # eager TensorFlow: the layer's ops run as one traced graph (per layer, input signature and
            # `training`), so that eager execution pays TensorFlow's per-op dispatch once instead of ~200 times
            from keras_attention.kernels.tensorflow.aw_conv import eager_graph_function

            return eager_graph_function(self)(inputs, training=training)
        return self._forward(inputs, training=training)

    def _forward(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        a = self.attention(inputs, training=training)
        scale = 1.0 + a  # F2: AK[b] = K * (1 + a[b]); a is shared along C1
        form = self.fast_form(inputs) if self.implementation == "fast" else self.implementation
        if form == "reference":
            output = self._conv_reference(inputs, scale)
        else:
            output = aw_kernels.convolve(self, inputs, scale, form)
        if self.bias is not None:
            output = output + self.bias
        return output

    def _conv_reference(self, inputs: Tensor, scale: Tensor) -> Tensor:
        """F3 by its definition: one ordinary convolution ``conv(x[b], AK[b])`` per sample."""

        def one(pair: tuple[Tensor, Tensor]) -> Tensor:
            x, kernel = pair
            return conv(x[None], kernel, strides=self.strides, padding=self.padding)[0]

        return ops.map(one, (inputs, aw_kernels.per_sample_kernels(self.kernel, scale)))

    @channels_last_shapes
    def compute_output_shape(self, input_shape: ShapeLike) -> _ImageShape:
        shape, geometry = self._check_shape(input_shape)
        return (shape[0], geometry[0][0], geometry[1][0], self.filters)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``H' W' k_h k_w C_1 C_2 + k_h k_w (C_1 h + h C_2)``: the convolution
        and the attention branch's two pointwise convolutions on the pooled ``k_h x k_w`` map."""
        out = self.compute_output_shape(tuple(input_shape))
        kh, kw = self.kernel_size
        c1, c2, hidden = int(input_shape[-1]), self.filters, int(self.pointwise1.shape[-1])
        return math.prod(out[1:-1]) * kh * kw * c1 * c2 + kh * kw * (c1 * hidden + hidden * c2)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "reduction": self.reduction,
                "use_bias": self.use_bias,
                "implementation": self.implementation,
            }
        )
        return config
