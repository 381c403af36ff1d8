"""What every layer of the package does with integer inputs, an empty batch and channels-first images:
``@layer_call`` (and ``@channels_last_shapes`` on the shape methods).

Keras casts floating-point inputs to a layer's compute dtype, but passes integer and boolean tensors through,
so a layer computing ``x * sigmoid(...)`` on an int32 image either fails inside the backend (TensorFlow:
"cannot compute Mul as input #1 was expected to be a int32 tensor") or truncates in silence. And a batch of
zero samples (``predict`` on a filtered dataset) reaches reshapes, whole-map poolings and grouped
convolutions that cannot take it. Decorating a layer's ``call`` with :func:`layer_call` gives it one policy:

- integer and boolean inputs are cast to the layer's compute dtype (the values are exact up to 2**24 in
  float32); complex and string inputs are refused with a ``TypeError`` naming the layer and the dtype;
- an input whose batch size is 0 gives outputs of batch size 0 (zeros of the output shapes the layer declares,
  in its compute dtype) without running the layer's computation: when the size is known (eager execution,
  JAX's traced shapes, a graph traced for that size) by Python, and in a TensorFlow graph traced for an
  unknown batch size by a ``tf.cond`` on the batch size (both branches are traced; the layer's computation
  runs only for a non-empty batch, so an empty training batch leaves BatchNormalization's moving statistics
  alone instead of making them NaN; a training step with it measured within 5 % of one without, the spread of
  the measurement). The ``tf.cond`` is left out of a distribution strategy's replica functions
  (``MirroredStrategy``: BatchNormalization's cross-replica updates may not run inside it);
- a layer whose ``data_format`` is ``"channels_first"`` (:class:`keras_attention.utils.layer_arguments.DataFormat`)
  computes on its rank-4 inputs transposed to channels-last ``(B, H, W, C)``, and its rank-4 outputs are
  transposed back to ``(B, C, H, W)``; :func:`channels_last_shapes` gives the layer's ``build``,
  ``compute_output_shape`` and ``output_and_attention_shapes`` the same view of the shapes. Tensors and shapes
  of other ranks (sequences, FA's ``(B, i)`` attentions, SK's ``(B, M, C)`` selection weights) pass unchanged.
"""

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import keras
from keras import ops

from keras_attention.utils.types import Tensor

_REFUSED_KINDS = ("complex", "string", "str")

_Layer = TypeVar("_Layer")  # the decorated method's class
_Params = ParamSpec("_Params")  # the method's parameters after ``self`` and the inputs (or input shape)
_Result = TypeVar("_Result")


def _tensors(inputs: Any) -> list[Tensor]:
    """``inputs`` (a tensor or a list / tuple of tensors) as a list of tensors."""
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _rebuild(inputs: Any, tensors: Sequence[Tensor]) -> Any:
    """``tensors`` in the structure of ``inputs``: a tuple, a list or the single tensor."""
    if isinstance(inputs, tuple):
        return tuple(tensors)
    if isinstance(inputs, list):
        return list(tensors)
    return tensors[0]


def cast_inputs(layer: keras.layers.Layer, inputs: Any) -> Any:
    """``inputs`` (a tensor or a list / tuple of tensors) with integer and boolean tensors cast to ``layer``'s
    compute dtype; a ``TypeError`` naming the layer and the dtype for complex or string tensors.

    Args:
        layer: the layer called (its name and compute dtype).
        inputs: a tensor, or a list / tuple of tensors (or None).

    Returns:
        ``inputs`` in the same structure, integer and boolean tensors cast.

    Raises:
        TypeError: a tensor is complex or of strings.
    """
    tensors = _tensors(inputs)
    cast = []
    for i, x in enumerate(tensors):
        if x is None or not hasattr(x, "dtype"):
            cast.append(x)
            continue
        dtype = keras.backend.standardize_dtype(x.dtype)
        if any(kind in dtype for kind in _REFUSED_KINDS):
            where = f" (input {i})" if len(tensors) > 1 else ""
            raise TypeError(
                f"{type(layer).__name__} {layer.name!r} takes real-valued inputs; got dtype {dtype}{where}."
            )
        if dtype == "bool" or "int" in dtype:
            x = ops.cast(x, layer.compute_dtype)
        cast.append(x)
    return _rebuild(inputs, cast)


def _static_batch(tensors: Sequence[Tensor]) -> int | None:
    """The batch size of ``tensors`` when Python knows it: 0 if one is empty, None if one is unknown."""
    sizes = {t.shape[0] for t in tensors if t is not None and hasattr(t, "shape") and len(t.shape)}
    return 0 if 0 in sizes else (None if None in sizes or not sizes else sizes.pop())


def _output_shapes(layer: keras.layers.Layer, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """The layer's declared output shape(s) for ``inputs`` (a shape, or a tuple / list of shapes); None where
    the layer cannot tell them from the static shapes (e.g. an unknown channel count in a traced graph)."""
    shapes = [tuple(t.shape) for t in _tensors(inputs)]
    input_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
    try:
        if hasattr(layer, "output_and_attention_shapes"):  # AttentionOutput: the call may override the default
            output, attention = layer.output_and_attention_shapes(input_shape)
            return (output, attention) if layer.returns_attention(kwargs.get("return_attention")) else output
        return layer.compute_output_shape(input_shape)
    except ValueError:
        return None


def _is_shape(value: object) -> bool:
    """Whether ``value`` is one shape (a tuple / list of ints and None)."""
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


def _zeros_like_shapes(layer: keras.layers.Layer, shapes: Any, batch: int) -> Any:
    """Zeros of ``shapes`` (a shape or a nested tuple / list of shapes) with batch size ``batch``; None when a
    dimension other than the batch is unknown."""
    if shapes is None:
        return None
    if _is_shape(shapes):
        if any(d is None for d in shapes[1:]):
            return None
        return ops.zeros((batch,) + tuple(shapes[1:]), dtype=layer.compute_dtype)
    parts = [_zeros_like_shapes(layer, s, batch) for s in shapes]
    if any(p is None for p in parts):
        return None
    return type(shapes)(parts) if isinstance(shapes, list) else tuple(parts)


_TO_LAST = (0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
_TO_FIRST = (0, 3, 1, 2)


def _channels_first(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` takes channels-first images (its ``data_format``)."""
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _transpose_images(values: Any, perm: Sequence[int]) -> Any:
    """``values`` (a tensor, None or a list / tuple of them) with every rank-4 tensor transposed by ``perm``."""
    if isinstance(values, (list, tuple)):
        return type(values)(_transpose_images(v, perm) for v in values)
    if values is not None and hasattr(values, "shape") and len(values.shape) == 4:
        return ops.transpose(values, perm)
    return values


def _permute_shapes(shapes: Any, perm: Sequence[int]) -> Any:
    """``shapes`` (one shape, or nested lists / tuples of shapes) with every rank-4 shape permuted by ``perm``."""
    if hasattr(shapes, "as_list"):  # tf.TensorShape
        shapes = shapes.as_list()
    if isinstance(shapes, (list, tuple)) and all(d is None or isinstance(d, numbers.Integral) for d in shapes):
        return tuple(shapes[i] for i in perm) if len(shapes) == 4 else shapes
    if isinstance(shapes, (list, tuple)):
        return type(shapes)(_permute_shapes(s, perm) for s in shapes)
    return shapes


def channels_last_shapes(
    method: Callable[Concatenate[_Layer, Any, _Params], _Result],
) -> Callable[Concatenate[_Layer, Any, _Params], _Result]:
    """Decorator of a layer's ``build(self, input_shape)``, ``compute_output_shape`` or
    ``output_and_attention_shapes``: for a ``"channels_first"`` layer the method sees its rank-4 input shapes in
    channels-last order, and the rank-4 shapes it returns are put back in channels-first order (module
    docstring). Other layers are unchanged.

    Args:
        method: the method, ``method(self, input_shape, *args, **kwargs)``.

    Returns:
        The decorated method (same signature).
    """

    @functools.wraps(method)
    def wrapper(self: _Layer, input_shape: Any, *args: _Params.args, **kwargs: _Params.kwargs) -> Any:
        if not _channels_first(self):
            return method(self, input_shape, *args, **kwargs)
        result = method(self, _permute_shapes(input_shape, _TO_LAST), *args, **kwargs)
        return None if result is None else _permute_shapes(result, _TO_FIRST)

    return wrapper


def _tensorflow_graph() -> bool:
    """Whether the code runs on the TensorFlow backend inside a ``tf.function`` being traced."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.executing_eagerly()


def _replica_context() -> bool:
    """Inside a ``tf.distribute`` strategy's replica function (``MirroredStrategy``): BatchNormalization's
    cross-replica updates (``merge_call``) may not run inside a ``tf.cond`` there."""
    import tensorflow as tf

    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


def layer_call(
    call: Callable[Concatenate[_Layer, Any, _Params], _Result],
) -> Callable[Concatenate[_Layer, Any, _Params], _Result]:
    """Decorator of a layer's ``call(self, inputs, ...)``: integer inputs cast, complex / string inputs
    refused, an empty batch answered with empty outputs, channels-first images computed channels-last (module
    docstring).

    Args:
        call: the layer's ``call(self, inputs, *args, **kwargs)``.

    Returns:
        The decorated ``call`` (same signature). It raises a ``TypeError`` for complex or string inputs.
    """

    def run(self: _Layer, inputs: Any, *args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        if not _channels_first(self):
            return call(self, inputs, *args, **kwargs)
        outputs = call(self, _transpose_images(inputs, _TO_LAST), *args, **kwargs)
        return _transpose_images(outputs, _TO_FIRST)

    @functools.wraps(call)
    def wrapper(self: _Layer, inputs: Any, *args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        inputs = cast_inputs(self, inputs)
        tensors = _tensors(inputs)
        batch = _static_batch(tensors)
        if batch == 0:
            zeros = _zeros_like_shapes(self, _output_shapes(self, inputs, kwargs), 0)
            if zeros is not None:
                return zeros
        elif batch is None and _tensorflow_graph() and not _replica_context():
            zeros = _zeros_like_shapes(self, _output_shapes(self, inputs, kwargs), 0)
            if zeros is not None:
                import tensorflow as tf

                def compute() -> _Result:
                    # the inputs re-made inside the branch: a custom gradient there must see tensors of the
                    # branch's graph only
                    local = [None if t is None else tf.identity(t) for t in tensors]
                    return run(self, _rebuild(inputs, local), *args, **kwargs)

                first = next(t for t in tensors if t is not None)
                return tf.cond(tf.shape(first)[0] > 0, compute, lambda: zeros)
        return run(self, inputs, *args, **kwargs)

    return wrapper
