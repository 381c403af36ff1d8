"""Argument checks shared by the whole package: every error names the argument, the value and what was expected."""

import math
import numbers


def shape_str(shape):
    """Render a (possibly partially unknown) shape as ``(None, 28, 28, 6)``."""
    parts = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def is_shape(obj):
    """True for a single shape (a tuple/list of ints or None), False for a list of shapes."""
    return isinstance(obj, (tuple, list)) and all(d is None or isinstance(d, int) for d in obj)


def split_input_shapes(layer_name, input_shape, names):
    """Return ``input_shape`` as a list of ``len(names)`` shapes, or raise a ValueError that says why."""
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


def check_choice(argument, value, choices):
    if value not in choices:
        raise ValueError(f"Argument `{argument}` must be one of {sorted(choices)}; got {value!r}.")
    return value


def check_positive_int(argument, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Argument `{argument}` must be an integer >= {minimum}; got {value!r}.")
    return value


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{argument}` must be True or False; got {value!r}.")
    return value


def check_feature_shape(layer_name, input_shape):
    """Return one ``(B, T, C)`` or ``(B, H, W, C)`` shape with a known channel count as a tuple of ints/None.

    Accepts tuples, lists and ``tf.TensorShape``; anything else (a list of shapes, a rank other than 3 or 4,
    unknown channels) raises a ValueError naming the layer and the shape.
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


def check_image_shape(layer_name, input_shape):
    """Return one ``(B, H, W, C)`` image shape with a known channel count as a tuple of ints/None; a ValueError
    naming the layer and the shape otherwise (the rank-2-only counterpart of :func:`check_feature_shape`)."""
    if hasattr(input_shape, "as_list"):  # tf.TensorShape
        input_shape = input_shape.as_list()
    if is_shape(input_shape) and len(input_shape) != 4:
        raise ValueError(f"{layer_name} expects images of rank 4, (B, H, W, C) (or (B, C, H, W) with "
                         f"data_format='channels_first'); got shape {shape_str(input_shape)}.")
    return check_feature_shape(layer_name, input_shape)


def check_real(argument, value, *, minimum=None, exclusive=False):
    """Return ``value`` as a float when it is a finite real number (not a bool) ``>= minimum`` (``> minimum``
    with ``exclusive``; any when ``minimum`` is None), else raise a ValueError naming the argument."""
    bound = "" if minimum is None else f" {'>' if exclusive else '>='} {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or (
        minimum is not None and (value <= minimum if exclusive else value < minimum)
    ):
        raise ValueError(f"Argument `{argument}` must be a finite number{bound}; got {value!r}.")
    return float(value)
