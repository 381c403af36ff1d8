"""SAN: scale-space attention (SAN paper eq. 4-12; dissertation ch. 5; SPEC §1).

``ScaleSpaceAttention()([previous, current])`` weights ``current`` (the output of layer l) by a soft
mask built from how it differs from ``previous`` (the output of layer l-1):

1. spatial alignment of ``previous`` to ``current`` (not in the paper, SPEC §1.1): identity when the
   spatial shapes agree, average pooling when every previous size is an integer multiple, centre crop
   when every difference is even and non-negative (a ``valid`` convolution between them);
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

Reading of the paper where SPEC is silent: the smoothing kernel is initialised with Glorot-uniform and
the bias with zeros (Keras' Conv defaults, as the authors' Keras code would have had).

Unknown spatial sizes (SPEC §1.1 read for shapes such as ``keras.Input((None, None, 1))``): a ``None``
on either side can hide any size, so equal static shapes such as ``(None, None)`` and ``(None, None)``
do not mean identity. When any spatial size of ``previous`` or ``current`` is unknown at build time,
the build only checks that the known sizes still allow one of the rules (all of them integer multiples,
or all differences even and non-negative; otherwise the SPEC's ``ValueError`` naming both shapes) and
leaves the choice to the call, which applies SPEC §1.1 to the call-time sizes in the same order
(identity, then average pooling, then centre crop):

* sizes known at call time (eager calls, JAX/PyTorch, and every ``jit_compile=True`` trace whose
  shapes are static): ``spatial_alignment`` decides exactly as it does at build time, the same
  ``ops.average_pool`` / slice is applied, and an impossible pair raises the same ``ValueError``
  naming both call-time shapes;
* sizes that are symbolic at call time (a TensorFlow graph traced with ``None`` sizes): the rule is
  computed from ``ops.shape`` in ``keras.ops``: ``previous`` is sliced to the window ``factor * S``
  starting at ``offset`` (pool: ``factor = S' // S``, ``offset = 0``; crop: ``factor = 1``,
  ``offset = (S' - S) / 2``; identity is both with ``factor = 1``, ``offset = 0``), reshaped to
  ``(B, S[0], factor[0], ..., C')`` and averaged over the factor axes, which is the average pooling of
  the static path. An impossible pair fails a runtime assertion (``InvalidArgumentError``) whose
  message starts like the ``ValueError`` and is followed by both call-time sizes. XLA drops
  assertions: inside ``jit_compile=True`` with sizes still symbolic in the trace, an impossible pair
  gets an invalid slice size, so it fails at compile time with XLA's slice error (which does not name
  the shapes) rather than returning a wrongly aligned tensor.

A layer whose sizes were all known at build time keeps its build-time decision for every later call.

Steps 2-6 have two implementations with equal outputs and gradients (to float rounding):
``implementation="fast"`` (default; a hand-written gradient and fused XLA computations chosen per
execution mode, see the class docstring) and ``implementation="reference"`` (the equations as written
in ``keras.ops``).
"""

import collections
import functools
import itertools
import numbers

import keras
from keras import ops

from keras_attention.utils.checks import check_bool, check_choice, check_positive_int, shape_str, split_input_shapes
from keras_attention.utils.convolution import conv, depthwise_conv
from keras_attention.utils.execution import IMPLEMENTATIONS, execution_mode
from keras_attention.utils.layer_arguments import AttentionOutput, WeightArguments
from keras_attention.utils.layer_inputs import layer_call

VARIANT_DILATION = {"c": 1, "d": 2}


def _misalignment_message(prev, cur):
    return (
        f"Cannot align spatial shapes previous={shape_str(prev)} and current={shape_str(cur)}: expected "
        "equal sizes, previous sizes that are integer multiples of current's (average pooling), or "
        "differences that are even and non-negative (centre crop)."
    )


def spatial_alignment(previous_spatial, current_spatial):
    """Decide how ``previous`` is aligned to ``current`` (SPEC §1.1).

    Returns ``("identity", None)``, ``("pool", factors)`` or ``("crop", offsets)``; raises a ValueError
    naming both shapes otherwise. Unknown (None) sizes align only with an unknown size in the same place;
    the layer itself calls this only with known sizes (see ``build_time_alignment``).
    """
    prev, cur = tuple(previous_spatial), tuple(current_spatial)
    if prev == cur:
        return "identity", None
    if any(p is None or c is None for p, c in zip(prev, cur)):
        raise ValueError(
            f"Cannot align spatial shapes previous={shape_str(prev)} and current={shape_str(cur)}: "
            "sizes that differ must be known when the layer is built."
        )
    if all(c > 0 and p % c == 0 for p, c in zip(prev, cur)):
        return "pool", tuple(p // c for p, c in zip(prev, cur))
    if all(p - c >= 0 and (p - c) % 2 == 0 for p, c in zip(prev, cur)):
        return "crop", tuple((p - c) // 2 for p, c in zip(prev, cur))
    raise ValueError(_misalignment_message(prev, cur))


def build_time_alignment(previous_spatial, current_spatial):
    """The layer's build-time decision: ``spatial_alignment`` when every size is known, else ``("dynamic", None)``.

    With unknown sizes the rule is chosen at call time (``align_at_call_time``); the known sizes must
    still allow one rule (all integer multiples, or all differences even and non-negative), otherwise
    the ValueError of ``spatial_alignment`` naming both shapes is raised now.
    """
    prev, cur = tuple(previous_spatial), tuple(current_spatial)
    if all(s is not None for s in prev + cur):
        return spatial_alignment(prev, cur)
    known = [(p, c) for p, c in zip(prev, cur) if p is not None and c is not None]
    poolable = all(c > 0 and p % c == 0 for p, c in known)
    croppable = all(p - c >= 0 and (p - c) % 2 == 0 for p, c in known)
    if not (poolable or croppable):
        raise ValueError(_misalignment_message(prev, cur))
    return "dynamic", None


def apply_alignment(previous, kind, arg):
    """Apply a ``spatial_alignment`` decision to ``previous`` (static sizes)."""
    if kind == "pool":
        return ops.average_pool(previous, pool_size=arg, strides=arg, padding="valid")
    if kind == "crop":
        sizes = previous.shape[1:-1]
        index = tuple(slice(o, s - o) for o, s in zip(arg, sizes))
        return previous[(slice(None),) + index + (slice(None),)]
    return previous


def _assert_alignable(previous, ok, prev_sizes, cur_sizes, prev_static, cur_static):
    """Runtime check for sizes only known when a TensorFlow graph runs (keras.ops has no assertion).

    Returns ``previous`` made to depend on the check, so the check fails before anything that uses it.
    """
    if keras.backend.backend() != "tensorflow":  # other backends always see integer sizes
        return previous
    import tensorflow as tf

    message = (
        _misalignment_message(prev_static, cur_static)
        + " Sizes unknown when traced; previous and current spatial sizes at call time:"
    )
    check = tf.debugging.Assert(ok, [message, prev_sizes, cur_sizes], summarize=16)
    with tf.control_dependencies([check]):
        return tf.identity(previous)


def _static_sizes(sizes):
    return tuple(s if isinstance(s, numbers.Integral) else None for s in sizes)


def align_at_call_time(previous, current):
    """SPEC §1.1 decided from the call-time shapes of ``previous`` and ``current`` (rank 1 or 2)."""
    prev_shape, cur_shape = ops.shape(previous), ops.shape(current)
    prev, cur = tuple(prev_shape[1:-1]), tuple(cur_shape[1:-1])
    if all(isinstance(s, numbers.Integral) for s in prev + cur):
        prev, cur = tuple(int(s) for s in prev), tuple(int(s) for s in cur)
        return apply_alignment(previous, *spatial_alignment(prev, cur))
    # Symbolic sizes (TensorFlow graph): one slice + reshape + mean covers the three rules.
    rank = len(cur)
    p = ops.stack([ops.convert_to_tensor(s, dtype="int32") for s in prev])
    c = ops.stack([ops.convert_to_tensor(s, dtype="int32") for s in cur])
    c_nonzero = ops.maximum(c, 1)
    poolable = ops.all(ops.logical_and(ops.greater(c, 0), ops.equal(p % c_nonzero, 0)))
    diff = p - c
    croppable = ops.all(ops.logical_and(ops.greater_equal(diff, 0), ops.equal(diff % 2, 0)))
    alignable = ops.logical_or(poolable, croppable)
    previous = _assert_alignable(previous, alignable, p, c, _static_sizes(prev), _static_sizes(cur))
    factors = ops.where(poolable, p // c_nonzero, ops.ones_like(p))
    offsets = ops.where(poolable, ops.zeros_like(p), diff // 2)
    # XLA drops assertions: an impossible pair gets the invalid slice size -2, so the slice fails
    # (at XLA compile time) instead of returning a wrongly aligned tensor.
    window = ops.where(alignable, factors * c, ops.full_like(p, -2))
    begin = [0] + [offsets[i] for i in range(rank)] + [0]
    size = [-1] + [window[i] for i in range(rank)] + [-1]
    window_previous = ops.slice(previous, begin, size)
    blocks = [-1]
    for i in range(rank):
        blocks += [cur[i], factors[i]]
    blocks.append(prev_shape[-1])
    return ops.mean(ops.reshape(window_previous, blocks), axis=tuple(2 + 2 * i for i in range(rank)))


def soft_extrema_weights(d, spatial_rank):
    """``alpha`` of eq. 10: fraction of the zero-padded 3^rank neighbourhood (centre included) <= d."""
    padded = ops.pad(d, [[0, 0]] + [[1, 1]] * spatial_rank + [[0, 0]])
    count = None
    for offsets in itertools.product(range(3), repeat=spatial_rank):
        index = (slice(None),) + tuple(slice(o, o - 2 if o < 2 else None) for o in offsets) + (slice(None),)
        ge = ops.cast(ops.greater_equal(d, padded[index]), d.dtype)
        count = ge if count is None else count + ge
    return count / float(3**spatial_rank)


# ----------------------------------------------------------------------------- fast path (TensorFlow)
# The reference forms above and in ``ScaleSpaceAttention._reference_call`` are the equations as written.
# ``implementation="fast"`` computes the same tensors with a hand-written gradient, as a few fused XLA
# computations around TensorFlow's own convolution kernels (or entirely in XLA under jit_compile); see
# "Fast path" in the class docstring for what is done in which execution mode and why.


@functools.cache
def _fast_path_available():
    """The fast path needs the TensorFlow backend built with XLA; elsewhere ``"fast"`` runs the reference."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.test.is_built_with_xla()


def _same_pads(kernel_size, dilation):
    """Zero padding before/after of a ``same`` stride-1 convolution (TensorFlow's split)."""
    total = (kernel_size - 1) * dilation
    return total // 2, total - total // 2


def _pad_spatial(x, rank, before, after):
    return ops.pad(x, [[0, 0]] + [[before, after]] * rank + [[0, 0]])


def _taps(x_padded, rank, kernel_size, dilation, flip=False):
    """``(tap, window)`` for every kernel tap: the slice of ``x_padded`` that tap multiplies, output-aligned.

    ``x_padded`` is padded by ``(k - 1) * dilation`` per spatial axis; sizes may be unknown (slices end at a
    negative index). ``flip=True`` walks the taps mirrored, for the transposed (input-gradient) sum.
    """
    span = (kernel_size - 1) * dilation
    for tap in itertools.product(range(kernel_size), repeat=rank):
        starts = [((kernel_size - 1 - t) if flip else t) * dilation for t in tap]
        index = tuple(slice(s, s - span if s < span else None) for s in starts)
        yield tap, x_padded[(slice(None),) + index + (slice(None),)]


def depthwise_same_shifted(e, kernel, rank, dilation):
    """Depthwise ``same`` convolution (no bias) as ``k**rank`` shifted multiply-adds; kernel ``(*k, C, 1)``."""
    k = kernel.shape[0]
    before, after = _same_pads(k, dilation)
    z = None
    for tap, window in _taps(_pad_spatial(e, rank, before, after), rank, k, dilation):
        term = window * kernel[tap + (slice(None), 0)]
        z = term if z is None else z + term
    return z


def _depthwise_input_gradient(g, kernel, rank, dilation):
    """Gradient of ``depthwise_same_shifted`` w.r.t. ``e``: the transposed shifted sum of ``g``."""
    k = kernel.shape[0]
    before, after = _same_pads(k, dilation)
    grad = None
    for tap, window in _taps(_pad_spatial(g, rank, after, before), rank, k, dilation, flip=True):
        term = window * kernel[tap + (slice(None), 0)]
        grad = term if grad is None else grad + term
    return grad


def _fold_rows(x):
    """Sum of ``x`` (``(..., N, C)``) over its ``N`` axis, in the form XLA's CPU backend runs fast.

    Inside a larger XLA computation, a reduction over many positions that keeps the channel axis is an
    order of magnitude slower on the CPU than the same reduction alone, while plain additions are not:
    with ``N`` known, the rows are first folded (``N -> N / f`` by adding ``f`` equal slices, ``f`` the
    smallest of 8, 4, 2, 3, 5, 7 that divides ``N``) down to at most 64 rows, then reduced.
    """
    n = x.shape[-2]
    while n is not None and n > 64:
        factor = next((f for f in (8, 4, 2, 3, 5, 7) if n % f == 0), None)
        if factor is None:
            break
        n //= factor
        x = sum(x[..., j * n : (j + 1) * n, :] for j in range(1, factor)) + x[..., :n, :]
    return ops.sum(x, axis=-2)


def _depthwise_parameter_gradients(e, g, rank, kernel_size, dilation):
    """Gradients of ``depthwise_same_shifted(e) + bias`` w.r.t. kernel and bias, given ``g = dloss/dz``.

    The kernel gradient is ``sum over positions of window_t * g`` for every tap ``t``, the bias gradient
    ``sum over positions of g``. Written for XLA's CPU backend, where its grouped-convolution gradient,
    an einsum over the stacked shifted windows and reductions fused with the products are all several
    times slower than this: a loop over the samples adds the products of every tap (and ``g`` itself)
    for one sample into accumulators of one sample's size, which stay in the cache and are reduced
    once at the end.
    """
    import tensorflow as tf

    before, after = _same_pads(kernel_size, dilation)
    e_padded = _pad_spatial(e, rank, before, after)
    taps = kernel_size**rank
    static = all(s is not None for s in g.shape)  # static slice sizes: XLA's dynamic shapes are slow
    e_sample = [1] + (list(e_padded.shape[1:]) if static else [-1] * (rank + 1))
    g_sample = [1] + (list(g.shape[1:]) if static else [-1] * (rank + 1))
    samples = g.shape[0] if static else tf.shape(g)[0]
    zeros = [0] * (rank + 1)

    def body(i, acc):
        e_i = tf.slice(e_padded, [i] + zeros, e_sample)
        g_i = tf.slice(g, [i] + zeros, g_sample)
        products = [w * g_i for _, w in _taps(e_i, rank, kernel_size, dilation)] + [g_i]
        return i + 1, acc + tf.stack(products, axis=0)

    acc_shape = [taps + 1] + g_sample if static else tf.concat([[taps + 1, 1], tf.shape(g)[1:]], axis=0)
    acc = tf.zeros(acc_shape, g.dtype)
    _, acc = tf.while_loop(lambda i, acc: i < samples, body, [tf.constant(0), acc])
    grads = _fold_rows(tf.reshape(acc, [taps + 1, -1, g.shape[-1]]))
    return ops.reshape(grads[:taps], (kernel_size,) * rank + (g.shape[-1], 1)), grads[taps]


def _channel_sum(x):
    """Sum over every axis but the last (the bias gradient), via ``_fold_rows`` when sizes are known."""
    if all(s is not None for s in x.shape):
        return _fold_rows(ops.reshape(x, (-1, x.shape[-1])))
    return ops.sum(x, axis=tuple(range(len(x.shape) - 1)))


def _phase_split(x, rank, rate):
    """``(B, S1, .., C)`` with every ``S`` a multiple of ``rate`` -> ``(rate**rank * B, S1/rate, .., C)``.

    Position ``rate * i + phase`` goes to batch block ``phase``, index ``i``: a ``same`` convolution with
    dilation ``rate`` and an odd kernel is the dilation-1 convolution of every phase block (what
    ``space_to_batch`` does, without its copies when the transposes fuse with their neighbours).
    """
    sizes = x.shape[1:-1]
    blocks = [-1]
    for s in sizes:
        blocks += [s // rate, rate]
    blocks.append(x.shape[-1])
    x = ops.reshape(x, blocks)
    phase_axes = [2 + 2 * i for i in range(rank)]
    index_axes = [1 + 2 * i for i in range(rank)]
    x = ops.transpose(x, phase_axes + [0] + index_axes + [2 * rank + 1])
    return ops.reshape(x, [-1] + [s // rate for s in sizes] + [x.shape[-1]])


def _phase_merge(x, rank, rate):
    """Inverse of ``_phase_split``."""
    sizes = x.shape[1:-1]
    x = ops.reshape(x, [rate] * rank + [-1] + list(sizes) + [x.shape[-1]])
    # axes now: phase_1..phase_r, B, index_1..index_r, C -> B, index_1, phase_1, ..., C
    order = [rank]
    for i in range(rank):
        order += [rank + 1 + i, i]
    order.append(2 * rank + 1)
    x = ops.transpose(x, order)
    return ops.reshape(x, [-1] + [s * rate for s in sizes] + [x.shape[-1]])


def _pad_to_multiple(x, rank, rate):
    pads = [(-s) % rate for s in x.shape[1:-1]]
    if not any(pads):
        return x
    return ops.pad(x, [[0, 0]] + [[0, p] for p in pads] + [[0, 0]])


def _crop_to(x, sizes):
    return x[(slice(None),) + tuple(slice(0, s) for s in sizes) + (slice(None),)]


def _xla_barrier(*tensors):
    """XLA's optimisation barrier: the values pass unchanged; a hint to XLA to materialise them rather
    than fuse their producers into every consumer (e.g. the 3^rank extrema window into every smoothing
    tap). Identity where the op is not available."""
    try:
        from tensorflow.compiler.tf2xla.python import xla
    except ImportError:  # pragma: no cover - private TensorFlow module
        return tensors
    return tuple(xla.optimization_barrier(*tensors))


@functools.cache
def _onednn_enabled():
    """Whether TensorFlow runs its CPU kernels through oneDNN (default on x86; ``TF_ENABLE_ONEDNN_OPTS=0``)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - private TensorFlow module
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def _extrema_count(d, rank):
    """``3**rank * alpha`` (eq. 10) as uint8: ``alpha = count / 3**rank`` is bit-identical to the reference."""
    import tensorflow as tf

    padded = _pad_spatial(d, rank, 1, 1)
    count = None
    for _, window in _taps(padded, rank, 3, 1):
        ge = tf.cast(tf.greater_equal(d, window), tf.uint8)
        count = ge if count is None else count + ge
    return count


class _FastPlan:
    """Static description of one fast-path call: which forms run, in which layout (see the class docstring).

    Args:
        layer: the ScaleSpaceAttention layer (its switches and ``_spatial_rank``).
        p, current: the call's aligned ``p`` and ``current`` (their static shapes choose the forms).
        mode: ``execution_mode()``.
        return_mask: whether the call also returns the mask.
    """

    def __init__(self, layer, p, current, mode, return_mask):
        self.rank = layer._spatial_rank
        self.kernel_size = layer.kernel_size
        self.dilation = layer.dilation_rate
        self.absolute = layer.absolute
        self.extrema = layer.extrema
        self.return_mask = return_mask
        self.reduce_p = p.shape[-1] == 1 and current.shape[-1] != 1
        self.sizes = tuple(current.shape[1:-1])
        self.xla = mode == "xla"
        smoothing = layer.smoothing_mode if layer.smoothing else "none"
        # Depthwise: XLA's grouped convolution is pathological on the CPU, so under XLA it is the shifted
        # sum. TensorFlow's native depthwise kernels are fast, but their CPU gradient kernels ignore the
        # dilation: a dilated one runs as the dilation-1 convolution of the dilation**rank phase blocks
        # (odd kernel, known sizes), else as the shifted sum (one XLA computation).
        # Full: oneDNN's (and XLA's) kernels handle the dilation themselves, faster than the phase split;
        # without oneDNN, TensorFlow's CPU gradient kernels refuse dilations > 1: phase blocks, else the
        # gradient of tf.nn.convolution (space-to-batch), as the reference computes it.
        phase_possible = self.kernel_size % 2 == 1 and all(isinstance(s, int) for s in self.sizes)
        if smoothing == "depthwise" and (self.xla or (self.dilation > 1 and not phase_possible)):
            smoothing = "shifted"
        self.smoothing = smoothing
        self.dilated_kernels = self.xla or _onednn_enabled()
        self.phase = self.dilation > 1 and (
            smoothing == "depthwise" or (smoothing == "full" and phase_possible and not self.dilated_kernels)
        )

    def key(self):
        return tuple(sorted(vars(self).items()))

    # --- the elementwise ends of the module (eq. 8-10 before the smoothing, eq. 4 / 12 after it)
    def _diff(self, p, current):
        diff = current - p
        return diff, (ops.abs(diff) if self.absolute else diff)

    def pre(self, p, current):
        """``e`` (eq. 8-10) and what the backward pass needs to rebuild ``de/d(current - p)``."""
        _, d = self._diff(p, current)
        if not self.extrema:
            return d, None
        count = _extrema_count(d, self.rank)
        if self.xla or self.smoothing == "shifted":
            (count,) = _xla_barrier(count)
        return self.alpha(count, d.dtype) * d, count

    def alpha(self, count, dtype):
        return ops.cast(count, dtype) / float(3**self.rank)

    def pre_grad(self, g_e, p, current, count):
        """``(d loss / d current, d loss / d p)`` through eq. 8-10 (``alpha`` constant)."""
        diff, _ = self._diff(p, current)
        slope = ops.sign(diff) if self.absolute else None
        if self.extrema:
            alpha = self.alpha(count, diff.dtype)
            slope = alpha if slope is None else alpha * slope
        g_diff = g_e if slope is None else g_e * slope
        g_p = -(ops.sum(g_diff, axis=-1, keepdims=True) if self.reduce_p else g_diff)
        return g_diff, g_p

    def mask(self, z, bias):
        return ops.sigmoid(z if bias is None else z + bias)

    def post(self, z, bias, current):
        mask = self.mask(z, bias)
        return (current * mask, mask) if self.return_mask else (current * mask,)

    def post_grad(self, g_out, g_mask, current, mask):
        """``d loss / d z`` (before the bias) and the direct part of ``d loss / d current``."""
        g = g_out * current
        if g_mask is not None:
            g = g + g_mask
        return g * mask * (1 - mask), g_out * mask

    # --- layouts: phase blocks for dilated native depthwise convolutions
    def to_conv_layout(self, x):
        if not self.phase:
            return x
        return _phase_split(_pad_to_multiple(x, self.rank, self.dilation), self.rank, self.dilation)

    def from_conv_layout(self, x):
        if not self.phase:
            return x
        return _crop_to(_phase_merge(x, self.rank, self.dilation), self.sizes)

    # --- native smoothing convolutions (TensorFlow's kernels; XLA's under XLA) and their gradients
    def _native_args(self, e, kernel, g_z=None):
        dilation = 1 if self.phase else self.dilation
        if self.rank == 1:  # as tf.nn.conv1d: a (B, 1, T, C) image
            e, kernel = e[:, None], kernel[None]
            g_z = None if g_z is None else g_z[:, None]
        return e, kernel, g_z, [1, dilation, dilation, 1]

    def conv_forward(self, e, kernel):
        import tensorflow as tf

        if self.smoothing == "full" and self.dilation > 1 and not (self.phase or self.dilated_kernels):
            return tf.nn.convolution(e, kernel, 1, "SAME", dilations=self.dilation)
        e, kernel, _, dilations = self._native_args(e, kernel)
        if self.smoothing == "full":
            z = tf.raw_ops.Conv2D(
                input=e, filter=kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=dilations
            )
        else:
            z = tf.raw_ops.DepthwiseConv2dNative(
                input=e, filter=kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=dilations
            )
        return z[:, 0] if self.rank == 1 else z

    def conv_gradients(self, e, kernel, g_z):
        import tensorflow as tf

        if self.smoothing == "full" and self.dilation > 1 and not (self.phase or self.dilated_kernels):
            with tf.GradientTape() as tape:  # what the reference does: autodiff of tf.nn.convolution
                tape.watch([e, kernel])
                z = tf.nn.convolution(e, kernel, 1, "SAME", dilations=self.dilation)
            return tuple(tape.gradient(z, [e, kernel], output_gradients=g_z))
        e, kernel, g_z, dilations = self._native_args(e, kernel, g_z)
        args = {"strides": [1, 1, 1, 1], "padding": "SAME", "dilations": dilations}
        if self.smoothing == "full":
            g_e = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(e), filter=kernel, out_backprop=g_z, **args)
            g_k = tf.raw_ops.Conv2DBackpropFilter(input=e, filter_sizes=tf.shape(kernel), out_backprop=g_z, **args)
        else:
            g_e = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
                input_sizes=tf.shape(e), filter=kernel, out_backprop=g_z, **args
            )
            g_k = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
                input=e, filter_sizes=tf.shape(kernel), out_backprop=g_z, **args
            )
        if self.rank == 1:
            g_e, g_k = g_e[:, 0], g_k[0]
        return g_e, g_k


_COMPILED = collections.OrderedDict()  # (piece, plan key) -> compiled function, least recently used first
COMPILED_CACHE_SIZE = 64  # plans (switches x shapes x mode) kept compiled; the oldest is dropped beyond it


def _compiled(plan, name, fn):
    """``fn`` as one XLA computation (eager and graph mode), or ``fn`` itself when already under XLA.

    One compiled function per piece and plan: the plan holds the static shapes, so a layer called eagerly on
    images of a new size traces (and compiles) once for that size and reuses it afterwards. The cache keeps
    the :data:`COMPILED_CACHE_SIZE` most recently used; every function is traced for its own shapes by design,
    so TensorFlow's "triggered tf.function retracing" warning (which counts the traces of every function made
    from the same Python code) is turned off for them."""
    if plan.xla:
        return fn
    import tensorflow as tf

    key = (name,) + plan.key()
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = tf.function(fn, jit_compile=True, autograph=False)
        if hasattr(compiled, "_omit_frequent_tracing_warning"):
            compiled._omit_frequent_tracing_warning = True  # private in TensorFlow: without it, only a warning
        _COMPILED[key] = compiled
        while len(_COMPILED) > COMPILED_CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)

    def call(*args):
        # The hand-written gradient covers these calls: a tape watching their inputs (eager mode)
        # must not try to differentiate the compiled function itself.
        return compiled(*(None if a is None else tf.stop_gradient(a) for a in args))

    return call


def _fast_san(plan, p, current, kernel, bias):
    """``output`` (or ``(output, mask)``) of the layer from the aligned ``p``, with a hand-written gradient.

    On the CPU every large intermediate costs a fresh allocation (page faults) besides its memory
    traffic, so the forward pass keeps only what the backward pass cannot rebuild cheaply: the extrema
    count (uint8), the smoothing's input in its layout (native convolutions need it for their kernel
    gradient) and its output ``z``; ``mask`` and ``e`` are recomputed from them in the backward pass.
    """
    import tensorflow as tf

    native = plan.smoothing in ("full", "depthwise")
    shifted = plan.smoothing == "shifted"
    spatial_axes = tuple(range(plan.rank + 1))

    def forward(p, current, kernel, bias):
        if native:
            # pre (XLA) -> TensorFlow's convolution -> post (XLA); e kept in the convolution's layout
            def pre(p, current):
                e, count = plan.pre(p, current)
                return plan.to_conv_layout(e), count

            e, count = _compiled(plan, "pre", pre)(p, current)
            z = plan.conv_forward(e, kernel)
            outputs = _compiled(plan, "post", lambda z, b, c: plan.post(plan.from_conv_layout(z), b, c))(
                z, bias, current
            )
            return outputs, (e, count, z)

        def fused(p, current, kernel, bias):
            e, count = plan.pre(p, current)
            z = e
            if shifted:
                (e,) = _xla_barrier(e)
                (z,) = _xla_barrier(depthwise_same_shifted(e, kernel, plan.rank, plan.dilation))
            return plan.post(z, bias, current) + (e if shifted else None, count, z)

        *outputs, e, count, z = _compiled(plan, "forward", fused)(p, current, kernel, bias)
        return tuple(outputs), (e, count, z)

    def backward(g_out, g_mask, p, current, saved, kernel, bias):
        e, count, z = saved
        if native:

            def post_grad(g_out, g_mask, current, z, bias):
                g_z, _ = plan.post_grad(g_out, g_mask, current, plan.mask(plan.from_conv_layout(z), bias))
                return plan.to_conv_layout(g_z)

            g_z = _compiled(plan, "post_grad", post_grad)(g_out, g_mask, current, z, bias)
            # TensorFlow's reduction in graph mode; under XLA the folded sum (see _fold_rows)
            g_bias = _channel_sum(g_z) if plan.xla else tf.reduce_sum(g_z, axis=spatial_axes)
            g_e, g_kernel = plan.conv_gradients(e, kernel, g_z)

            def pre_grad(g_e, g_out, z, bias, p, current, count):
                g_diff, g_p = plan.pre_grad(plan.from_conv_layout(g_e), p, current, count)
                return g_out * plan.mask(plan.from_conv_layout(z), bias) + g_diff, g_p

            g_current, g_p = _compiled(plan, "pre_grad", pre_grad)(g_e, g_out, z, bias, p, current, count)
            return g_current, g_p, g_kernel, g_bias

        def fused_grad(g_out, g_mask, p, current, e, count, z, kernel, bias):
            g_z, g_current = plan.post_grad(g_out, g_mask, current, plan.mask(z, bias))
            g_kernel = g_bias = None
            g_e = g_z
            if shifted:
                (g_z,) = _xla_barrier(g_z)
                g_kernel, g_bias = _depthwise_parameter_gradients(
                    e, g_z, plan.rank, plan.kernel_size, plan.dilation
                )
                g_e = _depthwise_input_gradient(g_z, kernel, plan.rank, plan.dilation)
            g_diff, g_p = plan.pre_grad(g_e, p, current, count)
            return g_current + g_diff, g_p, g_kernel, g_bias

        return _compiled(plan, "backward", fused_grad)(g_out, g_mask, p, current, e, count, z, kernel, bias)

    def san(p, current, kernel=None, bias=None):
        outputs, saved = forward(p, current, kernel, bias)

        def grad(g_out, g_mask=None):
            g_current, g_p, g_kernel, g_bias = backward(g_out, g_mask, p, current, saved, kernel, bias)
            grads = (g_p, g_current)
            return grads if kernel is None else grads + (g_kernel, g_bias)

        return (outputs if plan.return_mask else outputs[0]), grad

    if plan.smoothing == "none":
        return tf.custom_gradient(lambda p, current: san(p, current))(p, current)
    return tf.custom_gradient(san)(p, current, kernel, bias)


@keras.saving.register_keras_serializable(package="keras_attention")
class ScaleSpaceAttention(AttentionOutput, WeightArguments, keras.layers.Layer):
    """Scale-space attention module (SAN-c / SAN-d) for rank-1 (sequences) and rank-2 (images) features.

    Call: ``layer([previous, current], return_attention=None)`` with ``previous`` of shape ``(B, *S', C')``
    (output of layer l-1, or the network input) and ``current`` of shape ``(B, *S, C)``. Returns
    ``current * mask``, or ``(current * mask, mask)`` when ``return_attention`` (the call's, else the
    constructor's). Spatial sizes may be unknown (``None``) when the layer is built; ``previous`` is then
    aligned at call time (module docstring).

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
            rounding), see "Fast path" below.
        return_attention: also return the mask (default of every call; ``AttentionOutput``).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the smoothing
            convolution; ``WeightArguments``.

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

    Outputs and gradients equal the reference to float rounding (``tests/layers/test_scale_space_attention_fast_paths.py``: 1e-5
    in every mode). ``implementation="reference"`` is the straightforward ``keras.ops`` form of every
    equation (``_reference_call``).
    """

    def __init__(
        self,
        variant="c",
        kernel_size=3,
        dilation_rate=None,
        absolute=True,
        channel_alignment=True,
        extrema=True,
        smoothing=True,
        smoothing_mode="full",
        implementation="fast",
        **kwargs,
    ):
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

    def _check_shapes(self, input_shape):
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

    def build(self, input_shape):
        _, current, self._alignment = self._check_shapes(input_shape)
        self._spatial_rank = len(current) - 2
        channels = int(current[-1])
        if self.smoothing:
            window = (self.kernel_size,) * self._spatial_rank
            out_axis = channels if self.smoothing_mode == "full" else 1
            self.kernel = self.add_kernel("smoothing_kernel", window + (channels, out_axis))
            self.bias = self.add_bias("smoothing_bias", channels)

    def _align(self, previous, current):
        kind, arg = self._alignment
        if kind == "dynamic":
            return align_at_call_time(previous, current)
        return apply_alignment(previous, kind, arg)

    @layer_call
    def call(self, inputs, return_attention=None):
        with_mask = self.returns_attention(return_attention)
        previous, current = inputs
        previous = self._align(previous, current)
        p = ops.mean(previous, axis=-1, keepdims=True) if self.channel_alignment else previous
        if self.implementation == "fast" and _fast_path_available():
            return self._fast_call(p, current, with_mask)
        return self._reference_call(p, current, with_mask)

    def _fast_call(self, p, current, with_mask):
        plan = _FastPlan(self, p, current, execution_mode(), with_mask)
        kernel = bias = None
        if self.smoothing:
            kernel = ops.cast(self.kernel, current.dtype)
            bias = ops.cast(self.bias, current.dtype)
        return _fast_san(plan, p, current, kernel, bias)

    def _reference_call(self, p, current, with_mask):
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

    def output_and_attention_shapes(self, input_shape):
        _, current, _ = self._check_shapes(input_shape)
        return current, current

    def get_config(self):
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
