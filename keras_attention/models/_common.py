"""Argument checks and small pieces shared by the model builders (SPEC §10).

Every check raises a ValueError that names the argument, the value and what was expected, before any
layer is made.
"""

import numbers

import keras

from keras_attention.utils.checks import check_choice, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import DATA_FORMATS


def check_data_format(builder, data_format):
    """An image builder's ``data_format``: ``"channels_last"`` or ``"channels_first"``; None gives
    ``keras.config.image_data_format()``. A ValueError naming the builder, the argument and the value otherwise."""
    if data_format is None:
        return keras.config.image_data_format()
    try:
        return check_choice("data_format", data_format, set(DATA_FORMATS))
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None


def channel_axis(data_format):
    """The channel axis of an image tensor in ``data_format`` (BatchNormalization's ``axis``)."""
    return 1 if data_format == "channels_first" else -1


def check_input_shape(builder, input_shape, *, rank, minimum, allow_unknown=False, data_format="channels_last"):
    """``input_shape`` without the batch axis: ``rank`` spatial sizes >= ``minimum``, then channels (channels first,
    ``(C, H, W)``, for images with ``data_format="channels_first"``).

    ``allow_unknown=True`` accepts None spatial sizes (sequence models with variable length).
    Returns the shape as a tuple of ints (or None where allowed), in the order given.
    """
    first = rank == 2 and data_format == "channels_first"
    axes = "(T, C)" if rank == 1 else "(C, H, W)" if first else "(H, W, C)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != rank + 1:
        got = shape_str(input_shape) if isinstance(input_shape, (tuple, list)) else repr(input_shape)
        raise ValueError(
            f"{builder}: argument `input_shape` must have {rank + 1} entries {axes} (no batch axis); got {got}."
        )
    shape = []
    for i, size in enumerate(input_shape):
        spatial = i >= 1 if first else i < rank
        if size is None and spatial and allow_unknown:
            shape.append(None)
            continue
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or int(size) < 1:
            raise ValueError(
                f"{builder}: argument `input_shape` must hold positive integers {axes}; got {shape_str(input_shape)}."
            )
        shape.append(int(size))
    too_small = [s for s in (shape[1:] if first else shape[:rank]) if s is not None and s < minimum]
    if too_small:
        what = "time steps" if rank == 1 else "spatial size (height and width)"
        raise ValueError(
            f"{builder}: argument `input_shape` {shape_str(shape)} is too small; the {what} must be at least "
            f"{minimum} for this architecture."
        )
    return tuple(shape)


def check_num_classes(builder, num_classes, minimum=2):
    """``num_classes`` as an int >= ``minimum``; a ValueError naming the builder and the argument otherwise."""
    try:
        return check_positive_int("num_classes", num_classes, minimum=minimum)
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None


def check_width(builder, width):
    """``width`` (the filter / unit multiplier) as a float > 0; a ValueError naming the builder otherwise."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(
            f"{builder}: argument `width` must be a number > 0 (the filter/unit multiplier); got {width!r}."
        )
    return float(width)


def scaled(count, width):
    """``count`` filters or units times the width multiplier, rounded, at least 1."""
    return max(1, int(round(count * width)))


def classifier_head(x, num_classes):
    """Dense logits, then a float32 softmax (stable under mixed precision)."""
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="predictions")(logits)
