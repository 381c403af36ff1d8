"""Argument checks shared by the whole package: every error names the argument, the value and what was expected."""

import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from keras_attention.utils.types import Shape, ShapeLike

_T = TypeVar("_T")


def shape_str(shape: ShapeLike) -> str:
    """Render a (possibly partially unknown) shape as ``(None, 28, 28, 6)``.

    Args:
        shape: the sizes, ``None`` for an unknown one.

    Returns:
        The shape as Python writes a tuple (``(5,)`` for one axis).
    """
    parts = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def is_shape(obj: object) -> bool:
    """Whether ``obj`` is a single shape rather than a list of shapes.

    Args:
        obj: a shape, a list of shapes or anything else.

    Returns:
        True for a tuple / list of ints or None, False otherwise (a list of shapes, a ``tf.TensorShape``).
    """
    return isinstance(obj, (tuple, list)) and all(d is None or isinstance(d, int) for d in obj)


def split_input_shapes(layer_name: str, input_shape: Any, names: Sequence[str]) -> list[Shape]:
    """The shapes of a layer's ``len(names)`` inputs.

    Args:
        layer_name: the layer's name, for the error message.
        input_shape: what Keras passes to the layer's ``build`` (a list or tuple of shapes).
        names: the names of the inputs, in order.

    Returns:
        ``input_shape`` as a list of ``len(names)`` tuples.

    Raises:
        ValueError: ``input_shape`` is a single shape (or not a list / tuple), or holds another number of shapes;
            the message names the layer, the inputs it expects and what it got.
    """
    expected = f"a list of {len(names)} tensors [{', '.join(names)}]"
    if is_shape(input_shape) or not isinstance(input_shape, (tuple, list)):
        got = shape_str(input_shape) if is_shape(input_shape) else repr(input_shape)
        raise ValueError(f"{layer_name} expects inputs={expected}; got a single tensor of shape {got}.")
    shapes = [tuple(s) for s in input_shape]
    if len(shapes) != len(names):
        raise ValueError(
            f"{layer_name} expects inputs={expected}; got {len(shapes)} tensors of shapes "
            f"{[shape_str(s) for s in shapes]}."
        )
    return shapes


def check_choice(argument: str, value: _T, choices: Collection[Any]) -> _T:
    """Check that ``value`` is one of ``choices``.

    Args:
        argument: the argument's name, for the error message.
        value: the value given.
        choices: the accepted values.

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not in ``choices``; the message lists them (sorted).
    """
    if value not in choices:
        raise ValueError(f"Argument `{argument}` must be one of {sorted(choices)}; got {value!r}.")
    return value


def check_positive_int(argument: str, value: object, minimum: int = 1) -> int:
    """Check that ``value`` is an integer ``>= minimum`` (a bool is refused).

    Args:
        argument: the argument's name, for the error message.
        value: the value given.
        minimum: the smallest value accepted.

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not an ``int``, is a bool, or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Argument `{argument}` must be an integer >= {minimum}; got {value!r}.")
    return value


def check_bool(argument: str, value: object) -> bool:
    """Check that ``value`` is True or False (not a number or None).

    Args:
        argument: the argument's name, for the error message.
        value: the value given.

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{argument}` must be True or False; got {value!r}.")
    return value


def check_feature_shape(layer_name: str, input_shape: Any) -> Shape:
    """Return one ``(B, T, C)`` or ``(B, H, W, C)`` shape with a known channel count as a tuple of ints/None.

    Accepts tuples, lists and ``tf.TensorShape``; anything else (a list of shapes, a rank other than 3 or 4,
    unknown channels) raises a ValueError naming the layer and the shape.

    Args:
        layer_name: the layer's name, for the error message.
        input_shape: the shape Keras passes to the layer (a tuple, a list or a ``tf.TensorShape``).

    Returns:
        The shape as a tuple of ints and None.

    Raises:
        ValueError: ``input_shape`` is not one shape, its rank is not 3 or 4, or its channel count is unknown.
    """
    if hasattr(input_shape, "as_list"):  # tf.TensorShape
        input_shape = input_shape.as_list()
    if not isinstance(input_shape, (tuple, list)) or not all(
        d is None or isinstance(d, numbers.Integral) for d in input_shape
    ):
        raise ValueError(
            f"{layer_name} expects a single tensor of shape (B, T, C) or (B, H, W, C); got {input_shape!r}."
        )
    shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{layer_name} expects an input of rank 3 (B, T, C) or 4 (B, H, W, C); got shape {shape_str(shape)}."
        )
    if shape[-1] is None:
        raise ValueError(f"{layer_name} needs a known channel count; got input shape {shape_str(shape)}.")
    return shape


def check_image_shape(layer_name: str, input_shape: Any) -> Shape:
    """Return one ``(B, H, W, C)`` image shape with a known channel count as a tuple of ints/None; a ValueError
    naming the layer and the shape otherwise (the rank-2-only counterpart of :func:`check_feature_shape`).

    Args:
        layer_name: the layer's name, for the error message.
        input_shape: the shape Keras passes to the layer (a tuple, a list or a ``tf.TensorShape``).

    Returns:
        The shape as a tuple of ints and None.

    Raises:
        ValueError: ``input_shape`` is not one shape of rank 4 with a known channel count.
    """
    if hasattr(input_shape, "as_list"):  # tf.TensorShape
        input_shape = input_shape.as_list()
    if is_shape(input_shape) and len(input_shape) != 4:
        raise ValueError(f"{layer_name} expects images of rank 4, (B, H, W, C) (or (B, C, H, W) with "
                         f"data_format='channels_first'); got shape {shape_str(input_shape)}.")
    return check_feature_shape(layer_name, input_shape)


def check_real(argument: str, value: object, *, minimum: float | None = None, exclusive: bool = False) -> float:
    """Return ``value`` as a float when it is a finite real number (not a bool) ``>= minimum`` (``> minimum``
    with ``exclusive``; any when ``minimum`` is None), else raise a ValueError naming the argument.

    Args:
        argument: the argument's name, for the error message.
        value: the value given.
        minimum: the lower bound, or None for none.
        exclusive: whether ``minimum`` itself is refused.

    Returns:
        ``float(value)``.

    Raises:
        ValueError: ``value`` is a bool, not a real number, not finite, or below the bound.
    """
    bound = "" if minimum is None else f" {'>' if exclusive else '>='} {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or (
        minimum is not None and (value <= minimum if exclusive else value < minimum)
    ):
        raise ValueError(f"Argument `{argument}` must be a finite number{bound}; got {value!r}.")
    return float(value)
