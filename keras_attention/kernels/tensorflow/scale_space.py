"""SAN's fast path on TensorFlow (``ScaleSpaceAttention(implementation="fast")``): the module from the aligned
``p`` to its output as one ``tf.custom_gradient`` function whose forward and backward passes are written out, the
elementwise work compiled with XLA around TensorFlow's own convolution kernels (or all of it under XLA).
:func:`scale_space_attention` is the entry point; the layer's class docstring says which forms run in which
execution mode and why, and ``tests/layers/test_scale_space_attention_fast_paths.py`` checks every form against
the layer's reference path. Imported by the layer only under the TensorFlow backend.
"""

import collections
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import tensorflow as tf
from keras import ops

from keras_attention.kernels.probes import ExecutionMode, dilated_gradients_probe, execution_mode
from keras_attention.utils.types import Tensor

_Result = TypeVar("_Result")


class _SanLayer(Protocol):
    """What the fast path reads of the ``ScaleSpaceAttention`` layer it computes for (its switches, set in
    ``__init__``, and its spatial rank and smoothing weights, set in ``build``)."""

    @property
    def _spatial_rank(self) -> int: ...

    @property
    def kernel_size(self) -> int: ...

    @property
    def dilation_rate(self) -> int: ...

    @property
    def absolute(self) -> bool: ...

    @property
    def extrema(self) -> bool: ...

    @property
    def smoothing(self) -> bool: ...

    @property
    def smoothing_mode(self) -> str: ...  # "full" or "depthwise"

    @property
    def kernel(self) -> Tensor: ...  # the smoothing kernel (when ``smoothing``)

    @property
    def bias(self) -> Tensor: ...  # its bias

# The reference forms above and in ``ScaleSpaceAttention._reference_call`` are the equations as written.
# ``implementation="fast"`` computes the same tensors with a hand-written gradient, as a few fused XLA
# computations around TensorFlow's own convolution kernels (or entirely in XLA under jit_compile); see
# "Fast path" in the class docstring for what is done in which execution mode and why.


def _same_pads(kernel_size: int, dilation: int) -> tuple[int, int]:
    """Zero padding before/after of a ``same`` stride-1 convolution (TensorFlow's split)."""
    total = (kernel_size - 1) * dilation
    return total // 2, total - total // 2


def _pad_spatial(x: Tensor, rank: int, before: int, after: int) -> Tensor:
    """``x`` (``(B, *S, C)``) with ``before`` / ``after`` zeros on each of its ``rank`` spatial axes."""
    return ops.pad(x, [[0, 0]] + [[before, after]] * rank + [[0, 0]])


def _taps(x_padded: Tensor, rank: int, kernel_size: int, dilation: int,
          flip: bool = False) -> Iterator[tuple[tuple[int, ...], Tensor]]:
    """``(tap, window)`` for every kernel tap: the slice of ``x_padded`` that tap multiplies, output-aligned.

    ``x_padded`` is padded by ``(k - 1) * dilation`` per spatial axis; sizes may be unknown (slices end at a
    negative index). ``flip=True`` walks the taps mirrored, for the transposed (input-gradient) sum.
    """
    span = (kernel_size - 1) * dilation
    for tap in itertools.product(range(kernel_size), repeat=rank):
        starts = [((kernel_size - 1 - t) if flip else t) * dilation for t in tap]
        index = tuple(slice(s, s - span if s < span else None) for s in starts)
        yield tap, x_padded[(slice(None),) + index + (slice(None),)]


def depthwise_same_shifted(e: Tensor, kernel: Tensor, rank: int, dilation: int) -> Tensor:
    """Depthwise ``same`` convolution (no bias) as ``k**rank`` shifted multiply-adds; kernel ``(*k, C, 1)``
    (the depthwise smoothing ``conv(e)`` of SAN eq. 11-12)."""
    k = kernel.shape[0]
    before, after = _same_pads(k, dilation)
    z: Tensor | None = None
    for tap, window in _taps(_pad_spatial(e, rank, before, after), rank, k, dilation):
        term = window * kernel[tap + (slice(None), 0)]
        z = term if z is None else z + term
    return z


def _depthwise_input_gradient(g: Tensor, kernel: Tensor, rank: int, dilation: int) -> Tensor:
    """Gradient of ``depthwise_same_shifted`` w.r.t. ``e``: the transposed shifted sum of ``g``."""
    k = kernel.shape[0]
    before, after = _same_pads(k, dilation)
    grad: Tensor | None = None
    for tap, window in _taps(_pad_spatial(g, rank, after, before), rank, k, dilation, flip=True):
        term = window * kernel[tap + (slice(None), 0)]
        grad = term if grad is None else grad + term
    return grad


def _fold_rows(x: Tensor) -> Tensor:
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


def _depthwise_parameter_gradients(e: Tensor, g: Tensor, rank: int, kernel_size: int,
                                   dilation: int) -> tuple[Tensor, Tensor]:
    """Gradients of ``depthwise_same_shifted(e) + bias`` w.r.t. kernel and bias, given ``g = dloss/dz``.

    The kernel gradient is ``sum over positions of window_t * g`` for every tap ``t``, the bias gradient
    ``sum over positions of g``. Written for XLA's CPU backend, where its grouped-convolution gradient,
    an einsum over the stacked shifted windows and reductions fused with the products are all several
    times slower than this: a loop over the samples adds the products of every tap (and ``g`` itself)
    for one sample into accumulators of one sample's size, which stay in the cache and are reduced
    once at the end.
    """
    before, after = _same_pads(kernel_size, dilation)
    e_padded = _pad_spatial(e, rank, before, after)
    taps = kernel_size**rank
    static = all(s is not None for s in g.shape)  # static slice sizes: XLA's dynamic shapes are slow
    e_sample = [1] + (list(e_padded.shape[1:]) if static else [-1] * (rank + 1))
    g_sample = [1] + (list(g.shape[1:]) if static else [-1] * (rank + 1))
    samples = g.shape[0] if static else tf.shape(g)[0]
    zeros = [0] * (rank + 1)

    def body(i: Tensor, acc: Tensor) -> tuple[Tensor, Tensor]:
        """Add sample ``i``'s products of every tap (and its ``g``) to ``acc``."""
        e_i = tf.slice(e_padded, [i] + zeros, e_sample)
        g_i = tf.slice(g, [i] + zeros, g_sample)
        products = [w * g_i for _, w in _taps(e_i, rank, kernel_size, dilation)] + [g_i]
        return i + 1, acc + tf.stack(products, axis=0)

    acc_shape = [taps + 1] + g_sample if static else tf.concat([[taps + 1, 1], tf.shape(g)[1:]], axis=0)
    acc = tf.zeros(acc_shape, g.dtype)
    _, acc = tf.while_loop(lambda i, acc: i < samples, body, [tf.constant(0), acc])
    grads = _fold_rows(tf.reshape(acc, [taps + 1, -1, g.shape[-1]]))
    return ops.reshape(grads[:taps], (kernel_size,) * rank + (g.shape[-1], 1)), grads[taps]


def _channel_sum(x: Tensor) -> Tensor:
    """Sum over every axis but the last (the bias gradient), via ``_fold_rows`` when sizes are known."""
    if all(s is not None for s in x.shape):
        return _fold_rows(ops.reshape(x, (-1, x.shape[-1])))
    return ops.sum(x, axis=tuple(range(len(x.shape) - 1)))


def _phase_split(x: Tensor, rank: int, rate: int) -> Tensor:
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


def _phase_merge(x: Tensor, rank: int, rate: int) -> Tensor:
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


def _pad_to_multiple(x: Tensor, rank: int, rate: int) -> Tensor:
    """``x`` zero-padded at the end of each spatial axis to a multiple of ``rate`` (for ``_phase_split``)."""
    pads = [(-s) % rate for s in x.shape[1:-1]]
    if not any(pads):
        return x
    return ops.pad(x, [[0, 0]] + [[0, p] for p in pads] + [[0, 0]])


def _crop_to(x: Tensor, sizes: Sequence[int]) -> Tensor:
    """The first ``sizes`` positions of each spatial axis of ``x`` (undoes ``_pad_to_multiple``)."""
    return x[(slice(None),) + tuple(slice(0, s) for s in sizes) + (slice(None),)]


def _xla_barrier(*tensors: Tensor) -> tuple[Tensor, ...]:
    """XLA's optimisation barrier: the values pass unchanged; a hint to XLA to materialise them rather
    than fuse their producers into every consumer (e.g. the 3^rank extrema window into every smoothing
    tap). Identity where the op is not available."""
    try:
        from tensorflow.compiler.tf2xla.python import xla
    except ImportError:  # pragma: no cover - private TensorFlow module
        return tensors
    return tuple(xla.optimization_barrier(*tensors))


def _extrema_count(d: Tensor, rank: int) -> Tensor:
    """``3**rank * alpha`` (eq. 10) as uint8: ``alpha = count / 3**rank`` is bit-identical to the reference."""
    padded = _pad_spatial(d, rank, 1, 1)
    count: Tensor | None = None
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

    def __init__(self, layer: _SanLayer, p: Tensor, current: Tensor, mode: ExecutionMode, return_mask: bool) -> None:
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
        self.dilated_kernels = self.xla or dilated_gradients_probe().works
        self.phase = self.dilation > 1 and (
            smoothing == "depthwise" or (smoothing == "full" and phase_possible and not self.dilated_kernels)
        )

    def key(self) -> tuple[tuple[str, Any], ...]:
        """The plan's settings, sorted by name: the compiled functions' cache key."""
        return tuple(sorted(vars(self).items()))

    # --- the elementwise ends of the module (eq. 8-10 before the smoothing, eq. 4 / 12 after it)
    def _diff(self, p: Tensor, current: Tensor) -> tuple[Tensor, Tensor]:
        """``(current - p, d)``: the difference and the DoC ``d`` (eq. 8; ``|current - p|`` when ``absolute``)."""
        diff = current - p
        return diff, (ops.abs(diff) if self.absolute else diff)

    def pre(self, p: Tensor, current: Tensor) -> tuple[Tensor, Tensor | None]:
        """``e`` (eq. 8-10) and what the backward pass needs to rebuild ``de/d(current - p)``."""
        _, d = self._diff(p, current)
        if not self.extrema:
            return d, None
        count = _extrema_count(d, self.rank)
        if self.xla or self.smoothing == "shifted":
            (count,) = _xla_barrier(count)
        return self.alpha(count, d.dtype) * d, count

    def alpha(self, count: Tensor, dtype: Any) -> Tensor:
        """The soft extrema ``alpha = count / 3**rank`` (eq. 10) in ``dtype``."""
        return ops.cast(count, dtype) / float(3**self.rank)

    def pre_grad(self, g_e: Tensor, p: Tensor, current: Tensor, count: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(d loss / d current, d loss / d p)`` through eq. 8-10 (``alpha`` constant)."""
        diff, _ = self._diff(p, current)
        slope = ops.sign(diff) if self.absolute else None
        if self.extrema:
            alpha = self.alpha(count, diff.dtype)
            slope = alpha if slope is None else alpha * slope
        g_diff = g_e if slope is None else g_e * slope
        g_p = -(ops.sum(g_diff, axis=-1, keepdims=True) if self.reduce_p else g_diff)
        return g_diff, g_p

    def mask(self, z: Tensor, bias: Tensor | None) -> Tensor:
        """``mask = sigmoid(z + b)`` (eq. 12), ``z`` the smoothed ``e``."""
        return ops.sigmoid(z if bias is None else z + bias)

    def post(self, z: Tensor, bias: Tensor | None, current: Tensor) -> tuple[Tensor, ...]:
        """``(current * mask,)`` (eq. 4), with ``mask`` when the call returns it."""
        mask = self.mask(z, bias)
        return (current * mask, mask) if self.return_mask else (current * mask,)

    def post_grad(self, g_out: Tensor, g_mask: Tensor | None, current: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``d loss / d z`` (before the bias) and the direct part of ``d loss / d current``."""
        g = g_out * current
        if g_mask is not None:
            g = g + g_mask
        return g * mask * (1 - mask), g_out * mask

    # --- layouts: phase blocks for dilated native depthwise convolutions
    def to_conv_layout(self, x: Tensor) -> Tensor:
        """``x`` in the smoothing convolution's layout: the phase blocks when ``phase``, else unchanged."""
        if not self.phase:
            return x
        return _phase_split(_pad_to_multiple(x, self.rank, self.dilation), self.rank, self.dilation)

    def from_conv_layout(self, x: Tensor) -> Tensor:
        """Inverse of ``to_conv_layout``."""
        if not self.phase:
            return x
        return _crop_to(_phase_merge(x, self.rank, self.dilation), self.sizes)

    # --- native smoothing convolutions (TensorFlow's kernels; XLA's under XLA) and their gradients
    def _native_args(self, e: Tensor, kernel: Tensor,
                     g_z: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None, list[int]]:
        """``(e, kernel, g_z, dilations)`` as TensorFlow's rank-2 convolution ops take them (a sequence as a
        ``(B, 1, T, C)`` image; dilation 1 on the phase blocks)."""
        dilation = 1 if self.phase else self.dilation
        if self.rank == 1:  # as tf.nn.conv1d: a (B, 1, T, C) image
            e, kernel = e[:, None], kernel[None]
            g_z = None if g_z is None else g_z[:, None]
        return e, kernel, g_z, [1, dilation, dilation, 1]

    def conv_forward(self, e: Tensor, kernel: Tensor) -> Tensor:
        """``conv(e)`` of eq. 11-12 (no bias) with TensorFlow's native kernels (XLA's under XLA)."""
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

    def conv_gradients(self, e: Tensor, kernel: Tensor, g_z: Tensor) -> tuple[Tensor, Tensor]:
        """``(d loss / d e, d loss / d kernel)`` of ``conv_forward`` given ``g_z = d loss / d z``."""
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


# (piece, plan key) -> compiled function, least recently used first
_COMPILED: collections.OrderedDict[tuple[Any, ...], Callable[..., Any]] = collections.OrderedDict()
COMPILED_CACHE_SIZE = 64  # plans (switches x shapes x mode) kept compiled; the oldest is dropped beyond it


def _compiled(plan: _FastPlan, name: str, fn: Callable[..., _Result]) -> Callable[..., _Result]:
    """``fn`` as one XLA computation (eager and graph mode), or ``fn`` itself when already under XLA.

    One compiled function per piece and plan: the plan holds the static shapes, so a layer called eagerly on
    images of a new size traces (and compiles) once for that size and reuses it afterwards. The cache keeps
    the :data:`COMPILED_CACHE_SIZE` most recently used; every function is traced for its own shapes by design,
    so TensorFlow's "triggered tf.function retracing" warning (which counts the traces of every function made
    from the same Python code) is turned off for them."""
    if plan.xla:
        return fn
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

    def call(*args: Tensor | None) -> _Result:
        # The hand-written gradient covers these calls: a tape watching their inputs (eager mode)
        # must not try to differentiate the compiled function itself.
        return compiled(*(None if a is None else tf.stop_gradient(a) for a in args))

    return call


def _fast_san(plan: _FastPlan, p: Tensor, current: Tensor, kernel: Tensor | None,
              bias: Tensor | None) -> Tensor | tuple[Tensor, Tensor]:
    """``output`` (or ``(output, mask)``) of the layer from the aligned ``p``, with a hand-written gradient.

    On the CPU every large intermediate costs a fresh allocation (page faults) besides its memory
    traffic, so the forward pass keeps only what the backward pass cannot rebuild cheaply: the extrema
    count (uint8), the smoothing's input in its layout (native convolutions need it for their kernel
    gradient) and its output ``z``; ``mask`` and ``e`` are recomputed from them in the backward pass.
    """
    native = plan.smoothing in ("full", "depthwise")
    shifted = plan.smoothing == "shifted"
    spatial_axes = tuple(range(plan.rank + 1))

    def forward(p: Tensor, current: Tensor, kernel: Tensor | None,
                bias: Tensor | None) -> tuple[Sequence[Tensor], tuple[Tensor | None, Tensor | None, Tensor]]:
        """The outputs (eq. 4, 8-12) and what the backward pass keeps: ``(e, count, z)``."""
        if native:
            # pre (XLA) -> TensorFlow's convolution -> post (XLA); e kept in the convolution's layout
            def pre(p: Tensor, current: Tensor) -> tuple[Tensor, Tensor | None]:
                e, count = plan.pre(p, current)
                return plan.to_conv_layout(e), count

            e, count = _compiled(plan, "pre", pre)(p, current)
            z = plan.conv_forward(e, kernel)
            outputs: Sequence[Tensor] = _compiled(
                plan, "post", lambda z, b, c: plan.post(plan.from_conv_layout(z), b, c)
            )(z, bias, current)
            return outputs, (e, count, z)

        def fused(p: Tensor, current: Tensor, kernel: Tensor | None, bias: Tensor | None) -> tuple[Tensor, ...]:
            e, count = plan.pre(p, current)
            z = e
            if shifted:
                (e,) = _xla_barrier(e)
                (z,) = _xla_barrier(depthwise_same_shifted(e, kernel, plan.rank, plan.dilation))
            return plan.post(z, bias, current) + (e if shifted else None, count, z)

        *outputs, e, count, z = _compiled(plan, "forward", fused)(p, current, kernel, bias)
        return tuple(outputs), (e, count, z)

    def backward(g_out: Tensor, g_mask: Tensor | None, p: Tensor, current: Tensor,
                 saved: tuple[Tensor | None, Tensor | None, Tensor], kernel: Tensor | None,
                 bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """``(d current, d p, d kernel, d bias)`` from the outputs' gradients and what ``forward`` kept."""
        e, count, z = saved
        if native:

            def post_grad(g_out: Tensor, g_mask: Tensor | None, current: Tensor, z: Tensor,
                          bias: Tensor | None) -> Tensor:
                g_z, _ = plan.post_grad(g_out, g_mask, current, plan.mask(plan.from_conv_layout(z), bias))
                return plan.to_conv_layout(g_z)

            g_z = _compiled(plan, "post_grad", post_grad)(g_out, g_mask, current, z, bias)
            # TensorFlow's reduction in graph mode; under XLA the folded sum (see _fold_rows)
            g_bias = _channel_sum(g_z) if plan.xla else tf.reduce_sum(g_z, axis=spatial_axes)
            g_e, g_kernel = plan.conv_gradients(e, kernel, g_z)

            def pre_grad(g_e: Tensor, g_out: Tensor, z: Tensor, bias: Tensor | None, p: Tensor, current: Tensor,
                         count: Tensor | None) -> tuple[Tensor, Tensor]:
                g_diff, g_p = plan.pre_grad(plan.from_conv_layout(g_e), p, current, count)
                return g_out * plan.mask(plan.from_conv_layout(z), bias) + g_diff, g_p

            g_current, g_p = _compiled(plan, "pre_grad", pre_grad)(g_e, g_out, z, bias, p, current, count)
            return g_current, g_p, g_kernel, g_bias

        def fused_grad(g_out: Tensor, g_mask: Tensor | None, p: Tensor, current: Tensor, e: Tensor | None,
                       count: Tensor | None, z: Tensor, kernel: Tensor | None,
                       bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
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

    def san(p: Tensor, current: Tensor, kernel: Tensor | None = None,
            bias: Tensor | None = None) -> tuple[Tensor | tuple[Tensor, ...], Callable[..., tuple[Tensor, ...]]]:
        """The ``tf.custom_gradient`` function: the outputs and their gradient function."""
        outputs, saved = forward(p, current, kernel, bias)

        def grad(g_out: Tensor, g_mask: Tensor | None = None) -> tuple[Tensor, ...]:
            g_current, g_p, g_kernel, g_bias = backward(g_out, g_mask, p, current, saved, kernel, bias)
            grads = (g_p, g_current)
            return grads if kernel is None else grads + (g_kernel, g_bias)

        return (outputs if plan.return_mask else outputs[0]), grad

    if plan.smoothing == "none":
        return tf.custom_gradient(lambda p, current: san(p, current))(p, current)
    return tf.custom_gradient(san)(p, current, kernel, bias)


def scale_space_attention(layer: _SanLayer, p: Tensor, current: Tensor,
                          with_mask: bool) -> Tensor | tuple[Tensor, Tensor]:
    """``current * mask`` (and ``mask`` when ``with_mask``) of ``layer`` (a ``ScaleSpaceAttention``) from the
    aligned ``p``, by the fast path chosen for the current execution mode."""
    plan = _FastPlan(layer, p, current, execution_mode(), with_mask)
    kernel = bias = None
    if layer.smoothing:
        kernel = ops.cast(layer.kernel, current.dtype)
        bias = ops.cast(layer.bias, current.dtype)
    return _fast_san(plan, p, current, kernel, bias)
