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
``n < m``). It is computed as one ``(kh * kw, H * W)`` averaging matrix (the Kronecker product of the two
per-axis ones) applied to ``x`` reshaped to ``(B, H * W, C1)``, so ``H`` and ``W`` must be known when the
layer is built.

Computing F3 (argument ``implementation``). Every form below is exact: equal to the per-sample reference
to float32 rounding, outputs and gradients (``tests/layers/test_aw_conv_fast_paths.py``, 1e-5):

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
- TensorFlow, ``tf.function`` graph: ``"grouped"`` where the probe finds its gradients (above), else
  ``"im2col"``;
- TensorFlow, XLA (a function compiled with ``jit_compile=True``, also a function called inside one):
  ``"im2col"`` (x1.5-1.7 at 32x32x64; XLA expands grouped convolutions into dense ones, x40-200);
- TensorFlow, eager: the layer's ops run as one ``tf.function`` graph per layer (traced once per input
  signature and ``training`` value, autograph off), with the graph forms: eager execution pays
  TensorFlow's per-op dispatch, ~200 ops per training step of this layer, once instead;
- other backends: ``"im2col"`` / ``"tapwise"`` by the shape rule (JAX compiles with XLA; torch is not
  measured here).

Padding follows Keras/TF: ``valid`` keeps ``floor((n - k) / s) + 1`` positions; ``same`` keeps
``ceil(n / s)`` and pads ``max((out - 1) * s + k - n, 0)`` zeros, the smaller half before.

Reading of the paper where SPEC is silent: the pointwise convolutions carry no bias (each is followed
by BatchNormalization, which has its own offset); the BatchNormalizations use PyTorch's defaults
(momentum 0.1, i.e. Keras ``momentum=0.9``, ``epsilon=1e-5``), as the authors' code is PyTorch; ``K``
and the pointwise kernels are initialised Glorot-uniform (Keras' Conv2D default); dilation is 1.
"""

import math
import weakref

import keras
import numpy as np
from keras import ops

from keras_attention.utils.checks import (
    check_bool,
    check_choice,
    check_positive_int,
    shape_str,
)
from keras_attention.utils.convolution import conv
from keras_attention.utils.execution import in_xla_context
from keras_attention.utils.layer_arguments import WeightArguments
from keras_attention.utils.layer_inputs import layer_call


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


IMPLEMENTATIONS = ("fast", "grouped", "im2col", "shifted", "tapwise", "reference")


def _tf_executing_eagerly():
    import tensorflow as tf

    return tf.executing_eagerly()


_EAGER_FUNCTIONS = weakref.WeakKeyDictionary()


def _eager_graph_function(layer):
    """A ``tf.function`` (autograph off) of ``layer._forward``, one per layer; it holds the layer weakly."""
    function = _EAGER_FUNCTIONS.get(layer)
    if function is None:
        import tensorflow as tf

        reference = weakref.ref(layer)

        def forward(inputs, training=None):
            return reference()._forward(inputs, training=training)

        function = tf.function(forward, autograph=False, reduce_retracing=True)
        _EAGER_FUNCTIONS[layer] = function
    return function


_GROUPED_PROBES = {}  # (dtype, C1, C2, kernel_size, strides, padding) -> GroupedProbe; one entry per layer shape


class GroupedProbe(tuple):
    """``(works, reason)``: whether TensorFlow differentiated a grouped convolution of this structure here,
    and why not (TensorFlow's first error line) when it did not."""

    __slots__ = ()

    def __new__(cls, works, reason=""):
        return super().__new__(cls, (bool(works), str(reason)))

    @property
    def works(self):
        return self[0]

    @property
    def reason(self):
        return self[1]


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def _try_grouped_gradients(dtype, channels, filters, kernel_size, strides, padding):
    """Run the two ops the gradient of a grouped convolution consists of (``Conv2DBackpropInput`` and
    ``Conv2DBackpropFilter``) for the layer's group structure: 2 groups of ``channels`` input and ``filters``
    output channels, the layer's kernel, strides and padding; eagerly and in a ``tf.function`` graph (oneDNN
    rewrites the ops of each separately). The ops are called directly, not through a ``GradientTape``: the
    probe runs under ``tf.init_scope``, which pauses every tape. Returns a :class:`GroupedProbe`."""
    import tensorflow as tf

    kh, kw = kernel_size
    sh, sw = strides
    groups = 2
    x = tf.ones((1, kh + sh, kw + sw, groups * channels), dtype)
    kernel = tf.ones((kh, kw, channels, groups * filters), dtype)
    conv_strides = [1, sh, sw, 1]

    def gradients(x, kernel):
        y = tf.nn.conv2d(x, kernel, strides=conv_strides, padding=padding.upper())
        dy = tf.ones_like(y)
        dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                                            strides=conv_strides, padding=padding.upper())
        dkernel = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                                                  strides=conv_strides, padding=padding.upper())
        return dx, dkernel

    try:
        for run in (gradients, tf.function(gradients, autograph=False)):
            dx, dkernel = run(x, kernel)
            if tuple(dx.shape) != tuple(x.shape) or tuple(dkernel.shape) != tuple(kernel.shape):
                return GroupedProbe(False, f"gradients of shapes {dx.shape}, {dkernel.shape}")
    except (tf.errors.OpError, ValueError, TypeError) as error:
        return GroupedProbe(False, _first_line(error))
    return GroupedProbe(True)


def grouped_gradients_probe(dtype, channels, filters, kernel_size, strides, padding):
    """Whether TensorFlow can differentiate the grouped convolution of ``implementation="grouped"`` for a
    layer of this structure, on the device it runs on (a visible GPU, else the CPU): found by doing it once
    (:func:`_try_grouped_gradients`) and cached per ``(dtype, C1, C2, kernel_size, strides, padding)``.

    TensorFlow's own CPU kernels have no grouped-convolution gradients; oneDNN (TensorFlow's default on x86
    Linux) has them for the structures and instruction sets it implements, and cuDNN on a GPU. Flags do not
    say which case holds on a given machine, so the probe tries. It runs outside any function being traced
    (``tf.init_scope``). Returns a :class:`GroupedProbe` ``(works, reason)``."""
    key = (str(dtype), int(channels), int(filters), tuple(kernel_size), tuple(strides), str(padding))
    probe = _GROUPED_PROBES.get(key)
    if probe is None:
        import tensorflow as tf

        with tf.init_scope():
            probe = _try_grouped_gradients(*key)
        _GROUPED_PROBES[key] = probe
    return probe


def _tf_taps_with_fast_gradient(x, kernel_size, strides, geometry, axis=0):
    """TensorFlow outside XLA: the ``kh * kw`` shifted (strided) windows of ``x`` stacked on a new axis 0,
    ``(kh * kw, B, H', W', C)`` (``axis=0``) or concatenated on the channels, ``(B, H', W', kh * kw * C)``
    (``axis=-1``), with a hand-written gradient (col2im): TensorFlow differentiates each
    strided slice into a zero-padded full-size tensor with its slow ``StridedSliceGrad`` (3-4 times the
    time of these pads and sums). Taps of one stride phase are summed at low resolution and the phases
    interleaved with a reshape."""
    import tensorflow as tf

    kh, kw = kernel_size
    sh, sw = strides
    (out_h, top, bottom), (out_w, left, right) = geometry
    height, width = x.shape[1], x.shape[2]
    padded_h, padded_w = height + top + bottom, width + left + right
    low_h, low_w = -(-padded_h // sh), -(-padded_w // sw)  # canvas of one phase

    def window(xp, j, k):
        return xp[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]

    @tf.custom_gradient
    def taps(x):
        xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        windows = [window(xp, j, k) for j in range(kh) for k in range(kw)]
        out = tf.stack(windows, axis=0) if axis == 0 else tf.concat(windows, axis=-1)

        def grad(upstream):
            if axis != 0:
                upstream = tf.split(upstream, kh * kw, axis=-1)
            phases = {}
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


def conv_geometry(size, kernel, stride, padding):
    """``(output size, pad before, pad after)`` of one axis under Keras/TF ``same``/``valid`` rules."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="keras_attention")
class AWConv2D(WeightArguments, keras.layers.Layer):
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
        implementation: how F3 is computed, ``"fast"`` (default: chosen per backend and execution mode),
            ``"grouped"``, ``"im2col"``, ``"shifted"`` or ``"reference"`` (one convolution per sample);
            all equal to float32 rounding (module docstring).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for ``K``, its bias and
            the two pointwise kernels of the attention branch; ``WeightArguments``.
    """

    KERNEL_FORM_RATIO = 0.4  # see fast_form

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        reduction=16,
        use_bias=False,
        implementation="fast",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = check_choice("padding", padding, {"same", "valid"})
        self.reduction = check_positive_int("reduction", reduction)
        self.use_bias = check_bool("use_bias", use_bias)
        self.implementation = check_choice("implementation", implementation, set(IMPLEMENTATIONS))
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
        # (kh * kw, H * W): both averaging matrices at once, so that pooling is one matrix product
        self._pool = np.kron(self._pool_h, self._pool_w)
        self.kernel = self.add_kernel("kernel", (kh, kw, channels, self.filters))
        self.bias = self.add_bias("bias", self.filters) if self.use_bias else None
        self.pointwise1 = self.add_kernel("attention_pointwise1", (channels, hidden))
        self.pointwise2 = self.add_kernel("attention_pointwise2", (hidden, self.filters))
        self.bn1.build((None, kh, kw, hidden))
        self.bn2.build((None, kh, kw, self.filters))

    def attention(self, x, training=None):
        """F1: the attention maps ``a`` of shape ``(B, kh, kw, filters)`` (eq. 7-8)."""
        kh, kw = self.kernel_size
        height, width, channels = x.shape[1:]
        pool = ops.convert_to_tensor(self._pool, dtype=x.dtype)
        pooled = ops.matmul(pool, ops.reshape(x, (-1, height * width, channels)))
        pooled = ops.reshape(pooled, (-1, kh, kw, channels))  # (B, kh, kw, C1)
        hidden = ops.relu(self.bn1(ops.matmul(pooled, self.pointwise1), training=training))
        return ops.sigmoid(self.bn2(ops.matmul(hidden, self.pointwise2), training=training))

    def fast_form(self, inputs):
        """The form ``implementation="fast"`` computes F3 with for ``inputs``, here and now (module docstring):
        ``"tapwise"`` when ``C1 * C2 > KERNEL_FORM_RATIO * H' * W' * (C1 + C2)``; otherwise ``"grouped"`` on
        TensorFlow outside XLA where its gradients exist for this layer (:meth:`grouped_probe`), ``"im2col"``
        elsewhere.
        """
        (out_h, _, _), (out_w, _, _) = self._geometry
        c1, c2 = inputs.shape[-1], self.filters
        if c1 * c2 > self.KERNEL_FORM_RATIO * out_h * out_w * (c1 + c2):
            return "tapwise"
        if keras.backend.backend() != "tensorflow" or in_xla_context():
            return "im2col"
        return "grouped" if self.grouped_probe(inputs.dtype).works else "im2col"

    def grouped_probe(self, dtype):
        """:func:`grouped_gradients_probe` for this layer's structure in ``dtype``: ``(works, reason)``."""
        return grouped_gradients_probe(keras.backend.standardize_dtype(dtype), self.kernel.shape[2], self.filters,
                                       self.kernel_size, self.strides, self.padding)

    @layer_call
    def call(self, inputs, training=None):
        if (
            self.implementation == "fast"
            and keras.backend.backend() == "tensorflow"
            and training in (None, True, False)
            and _tf_executing_eagerly()
        ):
            # eager: the layer's ops run as one traced graph (per layer, input signature and `training`),
            # so that eager execution pays TensorFlow's per-op dispatch once instead of ~200 times
            return _eager_graph_function(self)(inputs, training=training)
        return self._forward(inputs, training=training)

    def _forward(self, inputs, training=None):
        a = self.attention(inputs, training=training)
        scale = 1.0 + a  # F2: AK[b] = K * (1 + a[b]); a is shared along C1
        form = self.fast_form(inputs) if self.implementation == "fast" else self.implementation
        output = getattr(self, f"_conv_{form}")(inputs, scale)
        if self.bias is not None:
            output = output + self.bias
        return output

    def _per_sample_kernels(self, scale):
        """``AK`` of shape ``(B, kh, kw, C1, C2)``."""
        return self.kernel[None] * scale[:, :, :, None, :]

    def _conv_reference(self, inputs, scale):
        """F3 by its definition: one ordinary convolution ``conv(x[b], AK[b])`` per sample."""

        def one(pair):
            x, kernel = pair
            return conv(x[None], kernel, strides=self.strides, padding=self.padding)[0]

        return ops.map(one, (inputs, self._per_sample_kernels(scale)))

    def _conv_grouped(self, inputs, scale):
        """F3 as one grouped convolution: the batch folded into ``B`` channel groups."""
        (out_h, _, _), (out_w, _, _) = self._geometry
        kh, kw = self.kernel_size
        height, width, channels = inputs.shape[1:]
        # kernel (kh, kw, C1, B * C2): group b holds AK[b] (batch-major over the output channels)
        kernel = self.kernel[:, :, :, None, :] * ops.transpose(scale, (1, 2, 0, 3))[:, :, None, :, :]
        kernel = ops.reshape(kernel, (kh, kw, channels, -1))
        x = ops.reshape(ops.transpose(inputs, (1, 2, 0, 3)), (1, height, width, -1))  # (1, H, W, B * C1)
        if keras.backend.backend() == "tensorflow":
            y = self._tf_grouped_conv(x, kernel)
        else:
            y = conv(x, kernel, strides=self.strides, padding=self.padding)
        return ops.transpose(ops.reshape(y, (out_h, out_w, -1, self.filters)), (2, 0, 1, 3))

    def _tf_grouped_conv(self, x, kernel):
        """``tf.nn.conv2d`` of the batch-folded input; where the probe finds no gradient for it here, the
        forward pass still runs and asking for the gradient raises a ``ValueError`` naming the forms that
        work, instead of TensorFlow's "Gradients for grouped convolutions are not supported on CPU"."""
        import tensorflow as tf

        def grouped(x, kernel):
            return tf.nn.conv2d(x, kernel, strides=self.strides, padding=self.padding.upper())

        probe = self.grouped_probe(x.dtype)
        if probe.works or in_xla_context():
            return grouped(x, kernel)
        message = (
            f"{type(self).__name__} {self.name!r}: implementation='grouped' has no gradient on this machine for "
            f"C1={self.kernel.shape[2]}, filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides} in {keras.backend.standardize_dtype(x.dtype)} ({probe.reason}). Use "
            f"implementation='fast' (it chooses a form that works here) or one of 'im2col', 'tapwise', "
            f"'shifted', 'reference'."
        )

        @tf.custom_gradient
        def forward_only(x, kernel):
            def grad(upstream):
                raise ValueError(message)

            return grouped(x, kernel), grad

        return forward_only(x, kernel)

    def _windows(self, inputs, axis):
        """The ``kh * kw`` shifted (strided) windows of the padded input in the order ``(j, k)`` of
        ``K.reshape(kh * kw, C1, C2)``: stacked on a new first axis (``axis=0``: ``(kh * kw, B, H', W', C1)``,
        the taps) or concatenated on the channels (``axis=-1``: ``(B, H', W', kh * kw * C1)``, the patches,
        channels ordered ``(j, k, c1)`` like ``K.reshape(-1, C2)``)."""
        if keras.backend.backend() == "tensorflow" and not in_xla_context():
            return _tf_taps_with_fast_gradient(inputs, self.kernel_size, self.strides, self._geometry, axis=axis)
        (out_h, top, bottom), (out_w, left, right) = self._geometry
        sh, sw = self.strides
        kh, kw = self.kernel_size
        x = inputs
        if top or bottom or left or right:
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        windows = [x[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]
                   for j in range(kh) for k in range(kw)]
        return ops.stack(windows, axis=0) if axis == 0 else ops.concatenate(windows, axis=axis)

    def _conv_im2col(self, inputs, scale):
        """F3 as im2col: patches ``(B, H' * W', kh * kw * C1)`` times ``AK`` ``(B, kh * kw * C1, C2)``."""
        (out_h, _, _), (out_w, _, _) = self._geometry
        depth = self.kernel_size[0] * self.kernel_size[1] * inputs.shape[-1]
        patches = ops.reshape(self._windows(inputs, axis=-1), (-1, out_h * out_w, depth))
        kernels = ops.reshape(self._per_sample_kernels(scale), (-1, depth, self.filters))
        return ops.reshape(ops.matmul(patches, kernels), (-1, out_h, out_w, self.filters))

    def _conv_tapwise(self, inputs, scale):
        """F3 per tap for the whole batch: ``Y_jk = x_shift_jk @ K[j, k]`` as one batched product over the
        ``kh * kw`` taps, then ``O = sum_jk (1 + a[:, j, k]) * Y_jk``; no per-sample kernel."""
        (out_h, _, _), (out_w, _, _) = self._geometry
        taps_count = self.kernel_size[0] * self.kernel_size[1]
        channels = inputs.shape[-1]
        taps = ops.reshape(self._windows(inputs, axis=0), (taps_count, -1, channels))  # (kh * kw, B * H' * W', C1)
        y = ops.matmul(taps, ops.reshape(self.kernel, (taps_count, channels, self.filters)))
        y = ops.reshape(y, (taps_count, -1, out_h * out_w, self.filters))
        factors = ops.reshape(ops.transpose(scale, (1, 2, 0, 3)), (taps_count, -1, 1, self.filters))
        return ops.reshape(ops.sum(y * factors, axis=0), (-1, out_h, out_w, self.filters))

    def _conv_shifted(self, inputs, scale):
        """F3 as ``kh * kw`` shifted 1x1 contractions, each scaled per sample and filter, summed."""
        (out_h, top, bottom), (out_w, left, right) = self._geometry
        sh, sw = self.strides
        kh, kw = self.kernel_size
        x = inputs
        if top or bottom or left or right:
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        output = None
        for j in range(kh):
            for k in range(kw):
                shifted = x[:, j : j + sh * (out_h - 1) + 1 : sh, k : k + sw * (out_w - 1) + 1 : sw, :]
                term = ops.matmul(shifted, self.kernel[j, k]) * scale[:, j : j + 1, k : k + 1, :]
                output = term if output is None else output + term
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
                "implementation": self.implementation,
            }
        )
        return config
