"""Argument checks and small pieces shared by the model builders (docs/models.md).

Every check raises a ValueError that names the argument, the value and what was expected, before any
layer is made.
"""

import numbers
from typing import Literal, overload

import keras

from keras_attention.utils.checks import check_choice, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import DATA_FORMATS
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def check_data_format(builder: str, data_format: str | None) -> str:
    """An image builder's ``data_format``: ``"channels_last"`` or ``"channels_first"``; None gives
    ``keras.config.image_data_format()``. A ValueError naming the builder, the argument and the value otherwise.

    Args:
        builder: the builder's name, for the message.
        data_format: ``"channels_last"``, ``"channels_first"`` or None.

    Returns:
        The layout.

    Raises:
        ValueError: any other ``data_format``.

    Example:
        >>> from keras_attention.models._common import check_data_format
        >>> check_data_format("lenet5", "channels_first")
        'channels_first'
        >>> check_data_format("lenet5", None)  # Keras' default
        'channels_last'
    """
    if data_format is None:
        return keras.config.image_data_format()
    try:
        return check_choice("data_format", data_format, set(DATA_FORMATS))
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None


def channel_axis(data_format: str | None) -> int:
    """The channel axis of an image tensor in ``data_format`` (BatchNormalization's ``axis``).

    Args:
        data_format: ``"channels_first"``, or anything else for channels last.

    Returns:
        1 for channels first, -1 otherwise.

    Example:
        >>> from keras_attention.models._common import channel_axis
        >>> channel_axis("channels_first"), channel_axis("channels_last")
        (1, -1)
    """
    return 1 if data_format == "channels_first" else -1


@overload
def check_input_shape(
    builder: str,
    input_shape: ShapeLike,
    *,
    rank: Literal[1],
    minimum: int,
    allow_unknown: bool = False,
    data_format: str = "channels_last",
) -> tuple[int | None, int]: ...
@overload
def check_input_shape(
    builder: str,
    input_shape: ShapeLike,
    *,
    rank: Literal[2],
    minimum: int,
    allow_unknown: Literal[False] = False,
    data_format: str = "channels_last",
) -> tuple[int, int, int]: ...
@overload
def check_input_shape(
    builder: str,
    input_shape: ShapeLike,
    *,
    rank: int,
    minimum: int,
    allow_unknown: bool = False,
    data_format: str = "channels_last",
) -> Shape: ...
def check_input_shape(
    builder: str,
    input_shape: ShapeLike,
    *,
    rank: int,
    minimum: int,
    allow_unknown: bool = False,
    data_format: str = "channels_last",
) -> Shape:
    """``input_shape`` without the batch axis: ``rank`` spatial sizes >= ``minimum``, then channels (channels first,
    ``(C, H, W)``, for images with ``data_format="channels_first"``).

    ``allow_unknown=True`` accepts None spatial sizes (sequence models with variable length).
    Returns the shape as a tuple of ints (or None where allowed), in the order given. (The overloads say what
    the builders rely on: the channels of a sequence, and every size of an image, are ints.)

    Args:
        builder: the builder's name, for the messages.
        input_shape: the shape without the batch axis, a tuple or a list.
        rank: 1 for sequences ``(T, C)``, 2 for images.
        minimum: the smallest time or spatial size the architecture takes.
        allow_unknown: accept None time / spatial sizes.
        data_format: ``"channels_first"`` reads images as ``(C, H, W)``.

    Returns:
        The shape as a tuple.

    Raises:
        ValueError: ``input_shape`` has the wrong number of entries, holds a non-positive or non-integer size
            (None where not allowed), or a time / spatial size below ``minimum``; the message names the builder.

    Example:
        >>> from keras_attention.models._common import check_input_shape
        >>> check_input_shape("lenet5", [28, 28, 1], rank=2, minimum=12)
        (28, 28, 1)
        >>> check_input_shape("lstm4", (None, 3), rank=1, minimum=2, allow_unknown=True)
        (None, 3)
        >>> check_input_shape("lenet5", (8, 8, 1), rank=2, minimum=12)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: lenet5: argument `input_shape` (8, 8, 1) is too small; the spatial size ... at least 12 ...
    """
    first = rank == 2 and data_format == "channels_first"
    axes = "(T, C)" if rank == 1 else "(C, H, W)" if first else "(H, W, C)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != rank + 1:
        got = shape_str(input_shape) if isinstance(input_shape, (tuple, list)) else repr(input_shape)
        raise ValueError(
            f"{builder}: argument `input_shape` must have {rank + 1} entries {axes} (no batch axis); got {got}."
        )
    shape: list[int | None] = []
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


def check_num_classes(builder: str, num_classes: int, minimum: int = 2) -> int:
    """``num_classes`` as an int >= ``minimum``; a ValueError naming the builder and the argument otherwise.

    Args:
        builder: the builder's name, for the message.
        num_classes: the number of classes (or forecast values).
        minimum: the smallest accepted value.

    Returns:
        ``num_classes``.

    Raises:
        ValueError: ``num_classes`` is not an integer >= ``minimum``.

    Example:
        >>> from keras_attention.models._common import check_num_classes
        >>> check_num_classes("lenet5", 10)
        10
        >>> check_num_classes("lenet5", 1)
        Traceback (most recent call last):
        ValueError: lenet5: Argument `num_classes` must be an integer >= 2; got 1.
    """
    try:
        return check_positive_int("num_classes", num_classes, minimum=minimum)
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None


def check_width(builder: str, width: float) -> float:
    """``width`` (the filter / unit multiplier) as a float > 0; a ValueError naming the builder otherwise.

    Args:
        builder: the builder's name, for the message.
        width: the multiplier.

    Returns:
        ``width`` as a float.

    Raises:
        ValueError: ``width`` is not a number > 0 (or is a bool).

    Example:
        >>> from keras_attention.models._common import check_width
        >>> check_width("vgg16", 1)
        1.0
    """
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(
            f"{builder}: argument `width` must be a number > 0 (the filter/unit multiplier); got {width!r}."
        )
    return float(width)


def scaled(count: int, width: float) -> int:
    """``count`` filters or units times the width multiplier, rounded, at least 1.

    Args:
        count: the architecture's filter or unit count.
        width: the multiplier.

    Returns:
        ``max(1, round(count * width))``.

    Example:
        >>> from keras_attention.models._common import scaled
        >>> scaled(64, 0.25), scaled(6, 0.01)
        (16, 1)
    """
    return max(1, int(round(count * width)))


def classifier_head(x: Tensor, num_classes: int) -> Tensor:
    """Dense logits, then a float32 softmax (stable under mixed precision).

    Args:
        x: the ``(B, features)`` tensor the head reads.
        num_classes: the number of classes.

    Returns:
        The ``(B, num_classes)`` float32 probabilities, from the layers ``logits`` and ``predictions``.

    Example:
        >>> import keras
        >>> from keras_attention.models._common import classifier_head
        >>> y = classifier_head(keras.Input((32,)), 10)
        >>> tuple(y.shape), y.dtype, y._keras_history.operation.name
        ((None, 10), 'float32', 'predictions')
    """
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="predictions")(logits)
