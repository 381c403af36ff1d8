"""AWConv2D's forms of F3, the per-sample convolution ``O[b] = conv(x[b], K * (1 + a[b]))`` (AW paper eq. 5):
every form computes the layer's reference (one ordinary convolution per sample, in the layer) to float32
rounding; they differ in what they move through memory. ``AWConv2D``'s module docstring says which is chosen
where (:func:`fast_form`) and what each costs; ``tests/layers/test_aw_conv_fast_paths.py`` checks each against
the reference, outputs and gradients, eagerly, in a graph and under XLA.

- ``"grouped"``: the per-sample kernels as one grouped convolution with the batch folded into the channel
  groups (TensorFlow: :func:`keras_attention.kernels.tensorflow.aw_conv.grouped_conv`);
- ``"im2col"``: the windows concatenated to patches, times the per-sample kernels, one batched matmul;
- ``"tapwise"``: one batched product per kernel tap with the shared kernel, each scaled per sample and filter;
- ``"shifted"``: the same sum as ``kh * kw`` separate shifted 1x1 products.
"""

from collections.abc import Callable, Sequence
from typing import Protocol

import keras
from keras import ops

from keras_attention.kernels.convolution import conv
from keras_attention.kernels.probes import in_xla_context
from keras_attention.utils.types import Tensor


class AWConvLayer(Protocol):
    """What the forms read of the ``AWConv2D`` layer they compute for (set in its ``__init__`` and ``build``)."""

    @property
    def name(self) -> str: ...

    @property
    def filters(self) -> int: ...  # C2

    @property
    def kernel_size(self) -> tuple[int, ...]: ...  # (kh, kw)

    @property
    def strides(self) -> tuple[int, ...]: ...  # (sh, sw)

    @property
    def padding(self) -> str: ...  # "same" or "valid"

    @property
    def kernel(self) -> Tensor: ...  # K, (kh, kw, C1, C2)

    @property
    def _geometry(self) -> Sequence[tuple[int, int, int]]: ...  # conv_geometry of H and of W


FORMS = ("grouped", "im2col", "shifted", "tapwise")
KERNEL_FORM_RATIO = 0.4  # "tapwise" when C1 * C2 > this * H' * W' * (C1 + C2); see fast_form
# In a TensorFlow graph, one ordinary convolution per sample (tf.map_fn over the batch: oneDNN's own kernels and
# their gradients) beat the grouped and im2col forms once a sample's convolution has this many multiply-adds;
# below it the loop's per-sample overhead dominates (layer_overhead, graph mode: 32x32x64 -> 64 at batch 128,
# 37.7M MACs a sample: x1.38 against "grouped" x1.58 with AVX-512, x1.29 against x1.64 with oneDNN limited to
# AVX2; 56x56x64 -> 64: x1.11 against x1.39; LeNet's 28x28x1 -> 6, 0.1M: x5.7 against x1.9)
PER_SAMPLE_CONV_MACS = 2**20


def fast_form(layer: AWConvLayer, inputs: Tensor) -> str:
    """The form ``implementation="fast"`` computes F3 with for ``inputs``, here and now: ``"tapwise"`` when
    ``C1 * C2 > KERNEL_FORM_RATIO * H' * W' * (C1 + C2)`` (small images with many channels); on TensorFlow
    outside XLA, ``"reference"`` (one convolution per sample) when a sample's convolution has at least
    ``PER_SAMPLE_CONV_MACS`` multiply-adds, else ``"grouped"`` where its gradients exist for this layer
    (:func:`keras_attention.kernels.tensorflow.aw_conv.grouped_probe`); ``"im2col"`` elsewhere."""
    (out_h, _, _), (out_w, _, _) = layer._geometry
    c1, c2 = inputs.shape[-1], layer.filters
    if c1 * c2 > KERNEL_FORM_RATIO * out_h * out_w * (c1 + c2):
        return "tapwise"
    if keras.backend.backend() != "tensorflow" or in_xla_context():
        return "im2col"
    kh, kw = layer.kernel_size
    if out_h * out_w * kh * kw * c1 * c2 >= PER_SAMPLE_CONV_MACS:
        return "reference"
    from keras_attention.kernels.tensorflow.aw_conv import grouped_probe

    return "grouped" if grouped_probe(layer, inputs.dtype).works else "im2col"


def per_sample_kernels(kernel: Tensor, scale: Tensor) -> Tensor:
    """``AK = K * (1 + a)`` of shape ``(B, kh, kw, C1, C2)`` from ``K`` ``(kh, kw, C1, C2)`` and ``scale = 1 + a``
    ``(B, kh, kw, C2)`` (F2; ``a`` is shared along C1)."""
    return kernel[None] * scale[:, :, :, None, :]


def convolve(layer: AWConvLayer, inputs: Tensor, scale: Tensor, form: str) -> Tensor:
    """F3 of ``layer`` (an ``AWConv2D``) on ``inputs`` with ``scale = 1 + a`` in the named ``form``."""
    return _FORMS[form](layer, inputs, scale)


def grouped(layer: AWConvLayer, inputs: Tensor, scale: Tensor) -> Tensor:
    """F3 as one grouped convolution: the batch folded into ``B`` channel groups, ``x`` transposed to
    ``(1, H, W, B * C1)`` and the kernel ``(kh, kw, C1, B * C2)`` (group ``b`` holds ``AK[b]``), the result
    transposed back."""
    (out_h, _, _), (out_w, _, _) = layer._geometry
    kh, kw = layer.kernel_size
    height, width, channels = inputs.shape[1:]
    kernel = layer.kernel[:, :, :, None, :] * ops.transpose(scale, (1, 2, 0, 3))[:, :, None, :, :]
    kernel = ops.reshape(kernel, (kh, kw, channels, -1))
    x = ops.reshape(ops.transpose(inputs, (1, 2, 0, 3)), (1, height, width, -1))  # (1, H, W, B * C1)
    if keras.backend.backend() == "tensorflow":
        from keras_attention.kernels.tensorflow.aw_conv import grouped_conv

        y = grouped_conv(layer, x, kernel)
    else:
        y = conv(x, kernel, strides=layer.strides, padding=layer.padding)
    return ops.transpose(ops.reshape(y, (out_h, out_w, -1, layer.filters)), (2, 0, 1, 3))


def _padded(layer: AWConvLayer, inputs: Tensor) -> Tensor:
    """``inputs`` zero-padded as the layer's ``padding`` pads them (``(B, H + pads, W + pads, C1)``)."""
    (_, top, bottom), (_, left, right) = layer._geometry
    if top or bottom or left or right:
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return inputs


def _window(layer: AWConvLayer, x: Tensor, j: int, k: int) -> Tensor:
    """The strided window of tap ``(j, k)`` of the padded input: ``(B, H', W', C1)``."""
    (out_h, _, _), (out_w, _, _) = layer._geometry
    sh, sw = layer.strides
    return x[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]


def windows(layer: AWConvLayer, inputs: Tensor, axis: int) -> Tensor:
    """The ``kh * kw`` shifted (strided) windows of the padded input in the order ``(j, k)`` of
    ``K.reshape(kh * kw, C1, C2)``: stacked on a new first axis (``axis=0``: ``(kh * kw, B, H', W', C1)``, the
    taps) or concatenated on the channels (``axis=-1``: ``(B, H', W', kh * kw * C1)``, the patches, channels
    ordered ``(j, k, c1)`` like ``K.reshape(-1, C2)``). On TensorFlow outside XLA with a hand-written gradient
    (:func:`keras_attention.kernels.tensorflow.aw_conv.windows_with_fast_gradient`)."""
    if keras.backend.backend() == "tensorflow" and not in_xla_context():
        from keras_attention.kernels.tensorflow.aw_conv import windows_with_fast_gradient

        return windows_with_fast_gradient(inputs, layer.kernel_size, layer.strides, layer._geometry, axis=axis)
    x = _padded(layer, inputs)
    kh, kw = layer.kernel_size
    taps = [_window(layer, x, j, k) for j in range(kh) for k in range(kw)]
    return ops.stack(taps, axis=0) if axis == 0 else ops.concatenate(taps, axis=axis)


def im2col(layer: AWConvLayer, inputs: Tensor, scale: Tensor) -> Tensor:
    """F3 as im2col: patches ``(B, H' * W', kh * kw * C1)`` times ``AK`` ``(B, kh * kw * C1, C2)``."""
    (out_h, _, _), (out_w, _, _) = layer._geometry
    depth = layer.kernel_size[0] * layer.kernel_size[1] * inputs.shape[-1]
    patches = ops.reshape(windows(layer, inputs, axis=-1), (-1, out_h * out_w, depth))
    kernels = ops.reshape(per_sample_kernels(layer.kernel, scale), (-1, depth, layer.filters))
    return ops.reshape(ops.matmul(patches, kernels), (-1, out_h, out_w, layer.filters))


def tapwise(layer: AWConvLayer, inputs: Tensor, scale: Tensor) -> Tensor:
    """F3 per tap for the whole batch: ``Y_jk = x_shift_jk @ K[j, k]`` as one batched product over the
    ``kh * kw`` taps, then ``O = sum_jk (1 + a[:, j, k]) * Y_jk``; no per-sample kernel."""
    (out_h, _, _), (out_w, _, _) = layer._geometry
    taps_count = layer.kernel_size[0] * layer.kernel_size[1]
    channels = inputs.shape[-1]
    taps = ops.reshape(windows(layer, inputs, axis=0), (taps_count, -1, channels))  # (kh * kw, B * H' * W', C1)
    y = ops.matmul(taps, ops.reshape(layer.kernel, (taps_count, channels, layer.filters)))
    y = ops.reshape(y, (taps_count, -1, out_h * out_w, layer.filters))
    factors = ops.reshape(ops.transpose(scale, (1, 2, 0, 3)), (taps_count, -1, 1, layer.filters))
    return ops.reshape(ops.sum(y * factors, axis=0), (-1, out_h, out_w, layer.filters))


def shifted(layer: AWConvLayer, inputs: Tensor, scale: Tensor) -> Tensor:
    """F3 as ``kh * kw`` shifted 1x1 contractions, each scaled per sample and filter, summed (the package's form
    before 0.2.0, kept for comparison)."""
    x = _padded(layer, inputs)
    kh, kw = layer.kernel_size
    output: Tensor | None = None
    for j in range(kh):
        for k in range(kw):
            term = ops.matmul(_window(layer, x, j, k), layer.kernel[j, k]) * scale[:, j : j + 1, k : k + 1, :]
            output = term if output is None else output + term
    return output


_FORMS: dict[str, Callable[[AWConvLayer, Tensor, Tensor], Tensor]] = {
    "grouped": grouped, "im2col": im2col, "shifted": shifted, "tapwise": tapwise,
}
