"""SAN: scale-space attention (SAN paper eq. 4-12; dissertation ch. 5; docs/methods/san.md).

``ScaleSpaceAttention()([previous, current])`` weights ``current`` (the output of layer l) by a soft
mask built from how it differs from ``previous`` (the output of layer l-1):

1. spatial alignment of ``previous`` to ``current`` (not in the paper, docs/methods/san.md#san-alignment):
   identity when the spatial shapes agree, average pooling when every previous size is an integer multiple,
   centre crop when every difference is even and non-negative (a ``valid`` convolution between them);
   when every spatial size is known at build time the rule is chosen then (``spatial_alignment``);
   when any is unknown (``None``) it is chosen at call time by the same rules (see "Unknown spatial
   sizes" below);
2. cross-layer channel alignment, CCA (eq. 6-7): the channel mean of ``previous`` broadcast to ``C``;
3. difference of convolutions, DoC (eq. 8): ``d = |current - p|``;
4. soft extrema (eq. 9-10): ``e = alpha * d`` with ``alpha`` the fraction of the 3x3 (rank 1: 3)
   zero-padded neighbourhood, centre included, that ``d`` is greater than or equal to; ``alpha``
   carries no gradient;
5. extrema smoothing (eq. 11-12): ``mask = sigmoid(conv(e))``, one rank-matched convolution with
   ``C`` filters, the feature branch's kernel size and dilation 1 (SAN-c) or 2 (SAN-d). The sigmoid is
   applied once: eq. 12 names the activation of eq. 11;
6. output (eq. 4): ``current * mask``.

Reading where the paper is silent (docs/methods/san.md#san-smoothing): the smoothing kernel is initialised
with Glorot-uniform and the bias with zeros (Keras' Conv defaults, as the authors' Keras code would have had).

Unknown spatial sizes: the alignment of step 1 is then chosen at call time by the same rules
(:mod:`keras_attention.layers.scale_space_alignment`).

Steps 2-6 have two implementations with equal outputs and gradients (to float rounding):
``implementation="fast"`` (default; a hand-written gradient and fused XLA computations chosen per
execution mode, see the class docstring) and ``implementation="reference"`` (the equations as written
in ``keras.ops``).
"""

import itertools
import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv, depthwise_conv
from keras_attention.kernels.probes import tensorflow_fast_paths
from keras_attention.layers.scale_space_alignment import (  # noqa: F401  (step 1; also importable from here)
    align_at_call_time,
    apply_alignment,
    build_time_alignment,
    spatial_alignment,
)
from keras_attention.utils.checks import check_bool, check_choice, check_positive_int, shape_str, split_input_shapes
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

VARIANT_DILATION = {"c": 1, "d": 2}


def soft_extrema_weights(d: Tensor, spatial_rank: int) -> Tensor:
    """``alpha`` of eq. 10: fraction of the zero-padded 3^rank neighbourhood (centre included) <= d.

    Args:
        d: the DoC ``(B, *S, C)`` (eq. 8), channels-last.
        spatial_rank: the number of spatial axes of ``d`` (1 or 2).

    Returns:
        ``alpha`` of the shape and dtype of ``d``, in ``[1 / 3^rank, 1]``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers.scale_space_attention import soft_extrema_weights
        >>> d = np.array([[[1.0], [3.0], [2.0]]], "float32")  # (B, T, C): a peak at t = 1
        >>> alpha = np.asarray(soft_extrema_weights(d, 1))
        >>> [round(float(a), 3) for a in alpha[0, :, 0]]
        [0.667, 1.0, 0.667]
    """
    padded = ops.pad(d, [[0, 0]] + [[1, 1]] * spatial_rank + [[0, 0]])
    count: Tensor = None
    for offsets in itertools.product(range(3), repeat=spatial_rank):
        index = (slice(None),) + tuple(slice(o, o - 2 if o < 2 else None) for o in offsets) + (slice(None),)
        ge = ops.cast(ops.greater_equal(d, padded[index]), d.dtype)
        count = ge if count is None else count + ge
    return count / float(3**spatial_rank)


@keras.saving.register_keras_serializable(package="keras_attention")
class ScaleSpaceAttention(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Scale-space attention module (SAN-c / SAN-d) for rank-1 (sequences) and rank-2 (images) features.

    Weights ``current``, the output of layer l, by a mask built from how it differs from ``previous``, the
    output of layer l-1 (or the network input), and from whether that difference is a local extremum (SAN
    paper eq. 4-12; docs/methods/san.md#san-call): ``previous`` is aligned to ``current``'s spatial sizes
    (docs/methods/san.md#san-alignment), averaged over its channels and broadcast to ``C`` (cross-layer
    channel alignment, eq. 6-7), subtracted from ``current`` (DoC, ``d = |current - p|``, eq. 8), weighted by
    the soft extrema ``alpha`` (``e = alpha * d``, eq. 9-10), smoothed by one trainable convolution and
    squashed (``mask = sigmoid(conv(e) + b)``, eq. 11-12); the output is ``current * mask`` (eq. 4). SAN-c
    smooths with dilation 1, SAN-d with dilation 2. Spatial sizes may be unknown (``None``) when the layer
    is built; ``previous`` is then aligned at call time (module docstring).

    Fast path (``implementation="fast"``; TensorFlow backend built with XLA, other backends run the
    reference): the module from the aligned ``p`` to its output is one ``tf.custom_gradient`` function
    whose forward and backward passes are written out. The forms are chosen per call by
    ``execution_mode()`` (eager, ``tf.function`` graph, or a trace for XLA; decided while tracing, so
    each traced function keeps its choice); measured forward + backward on the 2-core CPU at the
    VGG-16 first bottleneck:

    * eager and graph mode: the elementwise work before the smoothing (eq. 8-10) is one
      ``tf.function(jit_compile=True)`` call, the work after it (bias, sigmoid, eq. 4) another, and
      their gradients two more; between them, TensorFlow's own (oneDNN) convolution kernels, full or
      depthwise, and their gradient kernels. A dilated depthwise smoothing runs on the
      ``dilation**rank`` phase blocks (space-to-batch, the transposes fused into the compiled calls),
      because TensorFlow's CPU depthwise gradient kernels ignore the dilation; with an even kernel or
      unknown sizes it runs as the shifted sum below, in one compiled call;
    * under XLA (``tf.function(jit_compile=True)``, ``compile(jit_compile=True)``) the same functions
      are traced inline. XLA's depthwise (grouped) convolution and its gradients are an order of
      magnitude slower on the CPU than ``k**rank`` shifted multiply-adds, so depthwise smoothing is the
      shifted sum, its input gradient the transposed shifted sum, and its kernel and bias gradients one
      loop over the samples accumulating all taps (see ``_depthwise_parameter_gradients``);
    * the backward pass recomputes ``mask`` and ``alpha * sign(current - p)`` from what the forward
      pass keeps (the smoothing's input and output and the extrema count as uint8): on the CPU every
      large intermediate costs its allocation as well as its memory traffic;
    * the soft extrema are counted in uint8 inside a compiled computation (one fused loop over the
      3^rank window, bit-identical to the reference's float count);
    * full smoothing with a dilation > 1 uses oneDNN's or XLA's dilated kernels; without oneDNN
      (``TF_ENABLE_ONEDNN_OPTS=0``), whose CPU gradient kernels refuse dilations, the phase blocks or,
      for even kernels and unknown sizes, the reference's ``tf.nn.convolution`` and its gradient.

    Outputs and gradients equal the reference to float rounding
    (``tests/layers/test_scale_space_attention_fast_paths.py``: 1e-5 in every mode). ``implementation="reference"``
    is the straightforward ``keras.ops`` form of every equation (``_reference_call``).

    Args:
        variant: ``"c"`` (conventional smoothing convolution, dilation 1) or ``"d"`` (dilation 2).
        kernel_size: smoothing kernel size; the feature branch's kernel size (default 3).
        dilation_rate: overrides the dilation set by ``variant``.
        absolute: DoC as ``|current - p|`` (True) or ``current - p`` (Table IX "no-Abs").
        channel_alignment: CCA (eq. 6-7). False needs ``C' == C`` (Table IX "no-CCA").
        extrema: soft extrema weighting (eq. 9-10). False uses the DoC directly.
        smoothing: trainable smoothing convolution (eq. 11). False gives ``mask = sigmoid(e)``.
        smoothing_mode: ``"full"`` (the paper's ``C -> C`` convolution) or ``"depthwise"`` (cheap variant).
        implementation: ``"fast"`` (default) or ``"reference"``; same outputs and gradients (to float
            rounding), see "Fast path" above.
        return_attention: also return the mask (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the smoothing
            convolution; ``WeightArguments``.
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: the list ``[previous, current]``: ``previous`` of shape ``(B, *S', C')`` (the output of layer
            l-1, or the network input) and ``current`` of shape ``(B, *S, C)`` (the output of layer l), both
            ``(B, T, C)`` sequences or both images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``current * mask`` of ``current``'s shape, or ``(current * mask, mask)`` when ``return_attention``;
        ``mask`` has ``current``'s shape, with values in ``(0, 1)``.

    Raises:
        ValueError: when constructed, for an argument outside its choices or range. When built or called, for
            inputs that are not two tensors of the same rank (3 or 4), an unknown channel count of ``current``,
            ``channel_alignment=False`` with ``C' != C``, or spatial sizes that no alignment rule matches (the
            message names both shapes); sizes still symbolic in a TensorFlow graph fail a runtime assertion
            (``InvalidArgumentError``) instead.
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SAN
        >>> previous = np.random.rand(2, 16, 16, 3).astype("float32")  # layer l-1: (B, H', W', C')
        >>> current = np.random.rand(2, 8, 8, 16).astype("float32")  # layer l: (B, H, W, C)
        >>> layer = SAN(variant="d")  # previous is average-pooled by 2 to 8x8
        >>> tuple(layer([previous, current]).shape)
        (2, 8, 8, 16)
        >>> output, mask = layer([previous, current], return_attention=True)
        >>> tuple(mask.shape), bool(np.all((np.asarray(mask) > 0) & (np.asarray(mask) < 1)))
        ((2, 8, 8, 16), True)
        >>> series = np.random.rand(2, 12, 4).astype("float32")  # rank 1: (B, T, C)
        >>> hidden = np.random.rand(2, 10, 8).astype("float32")  # a valid convolution's output: cropped
        >>> tuple(SAN(variant="c")([series, hidden]).shape)
        (2, 10, 8)
    """

    def __init__(
        self,
        variant: str = "c",
        kernel_size: int = 3,
        dilation_rate: int | None = None,
        absolute: bool = True,
        channel_alignment: bool = True,
        extrema: bool = True,
        smoothing: bool = True,
        smoothing_mode: str = "full",
        implementation: str = "fast",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.variant = check_choice("variant", variant, set(VARIANT_DILATION))
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if dilation_rate is None:
            dilation_rate = VARIANT_DILATION[variant]
        self.dilation_rate = check_positive_int("dilation_rate", dilation_rate)
        self.absolute = check_bool("absolute", absolute)
        self.channel_alignment = check_bool("channel_alignment", channel_alignment)
        self.extrema = check_bool("extrema", extrema)
        self.smoothing = check_bool("smoothing", smoothing)
        self.smoothing_mode = check_choice("smoothing_mode", smoothing_mode, {"full", "depthwise"})
        self.implementation = check_choice("implementation", implementation, set(IMPLEMENTATIONS))

    def _check_shapes(
        self, input_shape: Sequence[ShapeLike]
    ) -> tuple[Shape, Shape, tuple[str, tuple[int, ...] | None]]:
        """``(previous, current, alignment)``: the two shapes and the build-time alignment decision; a
        ValueError naming the shapes when they do not fit together (class docstring, Raises)."""
        previous, current = split_input_shapes(type(self).__name__, input_shape, ["previous", "current"])
        if len(previous) != len(current) or len(current) not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} expects previous and current of the same rank, 3 (B, T, C) or "
                f"4 (B, H, W, C); got previous {shape_str(previous)} and current {shape_str(current)}."
            )
        if current[-1] is None:
            raise ValueError(
                f"{type(self).__name__} needs a known channel count; got current {shape_str(current)}."
            )
        if not self.channel_alignment and previous[-1] != current[-1]:
            raise ValueError(
                f"{type(self).__name__}(channel_alignment=False) is an incompatible configuration for "
                f"previous {shape_str(previous)} and current {shape_str(current)}: without cross-layer "
                "channel alignment both need the same channel count."
            )
        alignment = build_time_alignment(previous[1:-1], current[1:-1])
        return previous, current, alignment

    @channels_last_shapes
    def build(self, input_shape: Sequence[ShapeLike]) -> None:
        _, current, self._alignment = self._check_shapes(input_shape)
        self._spatial_rank = len(current) - 2
        channels = int(cast(int, current[-1]))  # known: _check_shapes refuses None
        if self.smoothing:
            window = (self.kernel_size,) * self._spatial_rank
            out_axis = channels if self.smoothing_mode == "full" else 1
            self.kernel = self.add_kernel("smoothing_kernel", window + (channels, out_axis))
            self.bias = self.add_bias("smoothing_bias", channels)

    def _align(self, previous: Tensor, current: Tensor) -> Tensor:
        kind, arg = self._alignment
        if kind == "dynamic":
            return align_at_call_time(previous, current)
        return apply_alignment(previous, kind, arg)

    @layer_call
    def call(self, inputs: Sequence[Tensor], return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        with_mask = self.returns_attention(return_attention)
        previous, current = inputs
        previous = self._align(previous, current)
        p = ops.mean(previous, axis=-1, keepdims=True) if self.channel_alignment else previous
        if self.implementation == "fast" and tensorflow_fast_paths():
            return self._fast_call(p, current, with_mask)
        return self._reference_call(p, current, with_mask)

    def _fast_call(self, p: Tensor, current: Tensor, with_mask: bool) -> Tensor | tuple[Tensor, Tensor]:
        from keras_attention.kernels.tensorflow.scale_space import scale_space_attention

        return scale_space_attention(self, p, current, with_mask)

    def _reference_call(self, p: Tensor, current: Tensor, with_mask: bool) -> Tensor | tuple[Tensor, Tensor]:
        """The equations as written (eq. 8-12, eq. 4) on the aligned ``p``; also the mask when ``with_mask``."""
        diff = current - p
        d = ops.abs(diff) if self.absolute else diff
        if self.extrema:
            alpha = ops.stop_gradient(soft_extrema_weights(d, self._spatial_rank))
            e = alpha * d
        else:
            e = d
        if self.smoothing:
            dilation = (self.dilation_rate,) * self._spatial_rank
            if self.smoothing_mode == "full":
                z = conv(e, self.kernel, strides=1, padding="same", dilation_rate=dilation)
            else:
                z = depthwise_conv(e, self.kernel, strides=1, padding="same", dilation_rate=dilation)
            z = z + self.bias
        else:
            z = e
        mask = ops.sigmoid(z)
        output = current * mask
        return (output, mask) if with_mask else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: Sequence[ShapeLike]) -> tuple[Shape, Shape]:
        _, current, _ = self._check_shapes(input_shape)
        return current, current


    def multiply_adds(self, input_shape: Sequence[Sequence[int]]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): the smoothing convolution: ``N k^r C^2`` (full) or ``N k^r C``
        (depthwise), 0 without smoothing; the alignment, the extrema weights and the gate are element-wise."""
        current = tuple(input_shape[1])
        if not self.smoothing:
            return 0
        positions, channels = math.prod(current[1:-1]), int(current[-1])
        window = self.kernel_size ** (len(current) - 2)
        return positions * window * channels * (channels if self.smoothing_mode == "full" else 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "variant": self.variant,
                "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate,
                "absolute": self.absolute,
                "channel_alignment": self.channel_alignment,
                "extrema": self.extrema,
                "smoothing": self.smoothing,
                "smoothing_mode": self.smoothing_mode,
                "implementation": self.implementation,
            }
        )
        return config


SAN = ScaleSpaceAttention
