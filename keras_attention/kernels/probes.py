"""What the backend can do here, found out once and kept: every probe of the fast paths in one place.

A fast path picks the form of its computation that is fastest where it runs, and only among the forms the
backend can run and differentiate there. Whether it can is a property of the machine and the build (oneDNN on
or off, its instruction set, a GPU), so it is found by trying, not by reading flags:

- :func:`execution_mode` / :func:`in_xla_context`: eager, a TensorFlow graph, or code traced for XLA (JAX's
  traced steps count as XLA);
- :func:`custom_gradients_supported`: whether ``keras.ops.custom_gradient`` functions with several outputs run
  (not under torch);
- :func:`tensorflow_fast_paths`: the TensorFlow backend, built with XLA (SAN's fast path compiles pieces of
  itself with XLA);
- :func:`grouped_gradients_probe`: whether TensorFlow differentiates a grouped convolution of a given
  structure (AWConv2D's ``"grouped"`` form), by running its two gradient ops once per structure;
- :func:`dilated_gradients_probe`: whether TensorFlow's native convolution gradients take dilations > 1
  (SAN's dilated smoothing), likewise.

The TensorFlow probes run outside any function being traced (``tf.init_scope``) and call the gradient ops
directly (``tf.init_scope`` pauses every ``GradientTape``).
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import keras

from keras_attention.utils.types import Tensor

#: How code is run or traced (:func:`execution_mode`).
ExecutionMode: TypeAlias = Literal["eager", "graph", "xla"]


def execution_mode() -> ExecutionMode:
    """``"eager"``, ``"graph"`` or ``"xla"``: how the code calling it is run or traced.

    ``"xla"``: traced for XLA: a TensorFlow ``tf.function(jit_compile=True)`` (also Keras' ``jit_compile=True``
    and functions nested in one), or the JAX backend (whose training steps are ``jax.jit``-compiled);
    ``"graph"``: a plain TensorFlow ``tf.function`` graph; ``"eager"``: TensorFlow executing eagerly, or
    PyTorch. TensorFlow has no public test for "inside an XLA-compiled function"; its own control-flow helper
    is used, and if it moves the answer is ``"graph"`` (the generic formulation, still exact)."""
    backend = keras.backend.backend()
    if backend == "jax":
        return "xla"
    if backend != "tensorflow":
        return "eager"
    import tensorflow as tf

    if tf.executing_eagerly():
        return "eager"
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util

        if control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()):
            return "xla"
    except (ImportError, AttributeError):  # private helper moved: the generic formulation is exact
        pass
    return "graph"


def in_xla_context() -> bool:
    """True while the code is traced for XLA (``execution_mode() == "xla"``)."""
    return execution_mode() == "xla"


def tensorflow_eager() -> bool:
    """True under TensorFlow executing eagerly (not tracing a function)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.executing_eagerly()


def custom_gradients_supported() -> bool:
    """Whether the fast paths' ``keras.ops.custom_gradient`` functions run on this backend.

    They return several outputs (``spatial_pool``: the mean, the max and ``x``), and Keras' torch
    ``custom_gradient`` (a ``torch.autograd.Function`` whose ``backward`` takes one upstream gradient) fails on
    those as soon as gradients are taken. Under torch the layers run their reference forms, which compute the
    same values."""
    return keras.backend.backend() != "torch"


@functools.cache
def tensorflow_fast_paths() -> bool:
    """The TensorFlow backend, built with XLA (SAN's fast path compiles pieces of itself with XLA)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.test.is_built_with_xla()


class Probe(tuple[bool, str]):
    """``(works, reason)``: whether a probed operation ran here, and why not (the backend's first error line)."""

    __slots__ = ()

    def __new__(cls, works: object, reason: object = "") -> "Probe":
        """The probe's result: ``works`` and ``reason`` as a bool and a string."""
        return super().__new__(cls, (bool(works), str(reason)))

    @property
    def works(self) -> bool:
        """Whether the probed operation ran."""
        return self[0]

    @property
    def reason(self) -> str:
        """Why it did not (empty when it did)."""
        return self[1]


GroupedProbe = Probe  # the name of 0.2.0


def _first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (at most 300 characters), or its class name."""
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def _run_conv_gradients(x: Tensor, kernel: Tensor, strides: list[int], padding: str, dilations: list[int]) -> Probe:
    """Run ``Conv2DBackpropInput`` and ``Conv2DBackpropFilter`` (the gradient of ``Conv2D``) eagerly and in a
    ``tf.function`` graph (oneDNN rewrites the ops of each separately). Returns a :class:`Probe`."""
    import tensorflow as tf

    def gradients(x: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
        y = tf.nn.conv2d(x, kernel, strides=strides, padding=padding, dilations=dilations)
        dy = tf.ones_like(y)
        args = {"strides": strides, "padding": padding, "dilations": dilations}
        dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, **args)
        dkernel = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, **args)
        return dx, dkernel

    try:
        for run in (gradients, tf.function(gradients, autograph=False)):
            dx, dkernel = run(x, kernel)
            if tuple(dx.shape) != tuple(x.shape) or tuple(dkernel.shape) != tuple(kernel.shape):
                return Probe(False, f"gradients of shapes {dx.shape}, {dkernel.shape}")
    except (tf.errors.OpError, ValueError, TypeError) as error:
        return Probe(False, _first_line(error))
    return Probe(True)


# (what, *structure) -> Probe; one entry per probed structure (a few per model)
_PROBES: dict[tuple[Any, ...], Probe] = {}


def _cached(key: tuple[Any, ...], run: Callable[[], Probe]) -> Probe:
    """The probe of ``key``: ``run()`` outside any traced function the first time, then the kept result."""
    probe = _PROBES.get(key)
    if probe is None:
        import tensorflow as tf

        with tf.init_scope():
            probe = run()
        _PROBES[key] = probe
    return probe


def _try_grouped_gradients(dtype: str, channels: int, filters: int, kernel_size: Sequence[int],
                           strides: Sequence[int], padding: str) -> Probe:
    """Run the gradient ops of a grouped convolution of 2 groups of ``channels`` input and ``filters`` output
    channels (:func:`_run_conv_gradients`). Returns a :class:`Probe`."""
    import tensorflow as tf

    (kh, kw), (sh, sw), groups = kernel_size, strides, 2
    x = tf.ones((1, kh + sh, kw + sw, groups * channels), dtype)
    kernel = tf.ones((kh, kw, channels, groups * filters), dtype)
    return _run_conv_gradients(x, kernel, [1, sh, sw, 1], padding.upper(), [1, 1, 1, 1])


def grouped_gradients_probe(dtype: str, channels: int, filters: int, kernel_size: Sequence[int],
                            strides: Sequence[int], padding: str) -> Probe:
    """Whether TensorFlow can differentiate a grouped convolution with this group structure on the device it
    runs on (a visible GPU, else the CPU): groups of ``channels`` input and ``filters`` output channels, the
    given kernel size, strides and padding, in ``dtype``. Found by running the two gradient ops once, cached
    per structure. TensorFlow's own CPU kernels have no grouped-convolution gradients; oneDNN (TensorFlow's
    default on x86 Linux) has them for the structures and instruction sets it implements, cuDNN on a GPU.
    Returns a :class:`Probe` ``(works, reason)``."""
    key = (str(dtype), int(channels), int(filters), tuple(kernel_size), tuple(strides), str(padding))
    return _cached(("grouped",) + key, lambda: _try_grouped_gradients(*key))


def dilated_gradients_probe(dtype: str = "float32") -> Probe:
    """Whether TensorFlow's native convolution gradients take a dilation > 1 here (oneDNN's do; TensorFlow's
    own CPU kernels refuse them). Found by running them once (a 3x3 kernel, dilation 2). Returns a
    :class:`Probe`."""

    def run() -> Probe:
        import tensorflow as tf

        x = tf.ones((1, 6, 6, 2), dtype)
        kernel = tf.ones((3, 3, 2, 2), dtype)
        return _run_conv_gradients(x, kernel, [1, 1, 1, 1], "SAME", [1, 2, 2, 1])

    return _cached(("dilated", str(dtype)), run)
