"""AWConv2D's TensorFlow-only pieces (imported by the layer only under the TensorFlow backend):

- :func:`eager_graph_function`: the layer's ops as one ``tf.function`` per layer for eager calls, so that eager
  execution pays TensorFlow's per-op dispatch (~200 ops per training step of the layer) once;
- :func:`grouped_conv`: ``tf.nn.conv2d`` of the batch-folded input (the ``"grouped"`` form), with a clear error
  where TensorFlow cannot differentiate it here (:func:`keras_attention.kernels.probes.grouped_gradients_probe`);
- :func:`windows_with_fast_gradient`: the ``kh * kw`` strided windows of the padded input with a hand-written
  gradient (col2im), because TensorFlow's ``StridedSliceGrad`` writes one zero-padded full-size tensor per window
  and is 3-4 times slower; XLA fuses the slices and their gradients itself.
"""

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import keras
import tensorflow as tf

from keras_attention.kernels.probes import Probe, grouped_gradients_probe, in_xla_context
from keras_attention.utils.types import Tensor


class _GroupedLayer(Protocol):
    """What :func:`grouped_probe` and :func:`grouped_conv` read of an ``AWConv2D``."""

    @property
    def name(self) -> str: ...

    @property
    def filters(self) -> int: ...

    @property
    def kernel_size(self) -> tuple[int, ...]: ...

    @property
    def strides(self) -> tuple[int, ...]: ...

    @property
    def padding(self) -> str: ...

    @property
    def kernel(self) -> Tensor: ...


class _ForwardLayer(Protocol):
    """An ``AWConv2D`` as :func:`eager_graph_function` calls it: its whole computation, ``_forward``."""

    def _forward(self, inputs: Tensor, *, training: bool | None = None) -> Tensor: ...


# layer -> its tf.function; an entry goes with its layer
_EAGER_FUNCTIONS: weakref.WeakKeyDictionary[_ForwardLayer, Callable[..., Tensor]] = weakref.WeakKeyDictionary()


def eager_graph_function(layer: _ForwardLayer) -> Callable[..., Tensor]:
    """A ``tf.function`` (autograph off) of ``layer._forward``, one per layer; it holds the layer weakly. Each
    layer's function is traced for its own shapes by design, so TensorFlow's "triggered tf.function retracing"
    warning (which counts the traces of every function made from the same Python code, e.g. the AW
    convolutions of a ResNet) is turned off for them."""
    function = _EAGER_FUNCTIONS.get(layer)
    if function is None:
        reference = weakref.ref(layer)

        def forward(inputs: Tensor, training: bool | None = None) -> Tensor:
            # the layer is alive: it calls its function (which it keeps alive in _EAGER_FUNCTIONS)
            return cast(_ForwardLayer, reference())._forward(inputs, training=training)

        function = tf.function(forward, autograph=False, reduce_retracing=True)
        if hasattr(function, "_omit_frequent_tracing_warning"):
            function._omit_frequent_tracing_warning = True  # private in TensorFlow: without it, only a warning
        _EAGER_FUNCTIONS[layer] = function
    return function


def grouped_probe(layer: _GroupedLayer, dtype: Any) -> Probe:
    """:func:`grouped_gradients_probe` for ``layer``'s structure in ``dtype``: ``(works, reason)``."""
    return grouped_gradients_probe(keras.backend.standardize_dtype(dtype), layer.kernel.shape[2], layer.filters,
                                   layer.kernel_size, layer.strides, layer.padding)


def grouped_conv(layer: _GroupedLayer, x: Tensor, kernel: Tensor) -> Tensor:
    """``tf.nn.conv2d`` of the batch-folded input (``keras.ops.conv`` wraps grouped convolutions in XLA on
    TensorFlow). Where the probe finds no gradient for it here, the forward pass still runs and asking for the
    gradient raises a ``ValueError`` naming the forms that work, instead of TensorFlow's "Gradients for grouped
    convolutions are not supported on CPU"."""

    def grouped(x: Tensor, kernel: Tensor) -> Tensor:
        """The grouped convolution itself (TensorFlow takes the groups from the channel counts)."""
        return tf.nn.conv2d(x, kernel, strides=layer.strides, padding=layer.padding.upper())

    probe = grouped_probe(layer, x.dtype)
    if probe.works or in_xla_context():
        return grouped(x, kernel)
    message = (
        f"{type(layer).__name__} {layer.name!r}: implementation='grouped' has no gradient on this machine for "
        f"C1={layer.kernel.shape[2]}, filters={layer.filters}, kernel_size={layer.kernel_size}, "
        f"strides={layer.strides} in {keras.backend.standardize_dtype(x.dtype)} ({probe.reason}). Use "
        f"implementation='fast' (it chooses a form that works here) or one of 'im2col', 'tapwise', "
        f"'shifted', 'reference'."
    )

    @tf.custom_gradient
    def forward_only(x: Tensor, kernel: Tensor) -> tuple[Tensor, Callable[[Tensor], tuple[Tensor, Tensor]]]:
        def grad(upstream: Tensor) -> tuple[Tensor, Tensor]:
            raise ValueError(message)

        return grouped(x, kernel), grad

    return forward_only(x, kernel)


def windows_with_fast_gradient(x: Tensor, kernel_size: Sequence[int], strides: Sequence[int],
                               geometry: Sequence[tuple[int, int, int]], axis: int = 0) -> Tensor:
    """TensorFlow outside XLA: the ``kh * kw`` shifted (strided) windows of ``x`` stacked on a new axis 0,
    ``(kh * kw, B, H', W', C)`` (``axis=0``) or concatenated on the channels, ``(B, H', W', kh * kw * C)``
    (``axis=-1``), with a hand-written gradient (col2im): TensorFlow differentiates each
    strided slice into a zero-padded full-size tensor with its slow ``StridedSliceGrad`` (3-4 times the
    time of these pads and sums). Taps of one stride phase are summed at low resolution and the phases
    interleaved with a reshape."""
    kh, kw = kernel_size
    sh, sw = strides
    (out_h, top, bottom), (out_w, left, right) = geometry
    height, width = x.shape[1], x.shape[2]
    padded_h, padded_w = height + top + bottom, width + left + right
    low_h, low_w = -(-padded_h // sh), -(-padded_w // sw)  # canvas of one phase

    def window(xp: Tensor, j: int, k: int) -> Tensor:
        """The strided window of tap ``(j, k)`` of the padded ``xp``: ``(B, H', W', C)``."""
        return xp[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]

    @tf.custom_gradient
    def taps(x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        windows = [window(xp, j, k) for j in range(kh) for k in range(kw)]
        out = tf.stack(windows, axis=0) if axis == 0 else tf.concat(windows, axis=-1)

        def grad(upstream: Tensor) -> Tensor:
            if axis != 0:
                upstream = tf.split(upstream, kh * kw, axis=-1)
            phases: dict[tuple[int, int], list[Tensor]] = {}
            for j in range(kh):
                for k in range(kw):
                    q, r = j // sh, k // sw
                    term = tf.pad(
                        upstream[j * kw + k],
                        [[0, 0], [q, low_h - q - out_h], [r, low_w - r - out_w], [0, 0]],
                    )
                    phases.setdefault((j % sh, k % sw), []).append(term)
            first = next(iter(phases.values()))[0]
            summed = {key: tf.add_n(terms) for key, terms in phases.items()}
            if sh == sw == 1:
                canvas = summed[(0, 0)]
            else:
                zeros = tf.zeros_like(first)
                rows = [
                    tf.stack([summed.get((pj, pk), zeros) for pk in range(sw)], axis=3)  # (B, h, w, sw, C)
                    for pj in range(sh)
                ]
                canvas = tf.stack(rows, axis=2)  # (B, h, sh, w, sw, C)
                canvas = tf.reshape(canvas, [-1, low_h * sh, low_w * sw, x.shape[-1]])
            return canvas[:, top : top + height, left : left + width, :]

        return out, grad

    return taps(x)
