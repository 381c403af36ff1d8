"""LeNet-5 seed architecture with attention slots (SAN paper IV-B.1, Fig. 6a; docs/models.md#models-lenet5).

conv 6@5x5 ``same`` tanh -> average-pool 2 -> conv 16@5x5 ``valid`` tanh -> average-pool 2 ->
dense 120 tanh -> dense 84 tanh -> softmax.

Attention slots: after each convolution, on the pair (input of the convolution, its output); for the
first one ``previous`` is the network image. Both placements give the same two modules: every
convolution (full) is also the last one before a pooling (bottleneck). SAN's smoothing kernel is 5x5,
the feature branch's kernel size (docs/methods/san.md#san-smoothing). The second SAN pair is 14x14 -> 10x10
for 28 px images: SAN centre-crops ``previous`` (docs/methods/san.md#san-alignment).

``conv="sk"``: both convolutions are selective kernel units
(:class:`~keras_attention.layers.SelectiveKernel`, SKNet) with the same filters: a 3x3 and a dilated 3x3
branch, whose 5x5 receptive field is the 5x5 kernel's. An SK unit carries its own BatchNorm and ReLU in each
branch (as in SKNet, where it replaces a convolution with its BatchNorm and ReLU), so it replaces the
convolution *and* its tanh; ``conv1`` keeps ``same`` padding and ``conv2`` ``valid`` (the SK unit's ``valid``
keeps the positions the dilated branch covers, so the maps stay 28 -> 14 -> 10 -> 5). The attention slots
follow the SK units as they follow the convolutions. The model is named ``sk_lenet5...``.

``data_format="channels_first"`` builds the network on ``(C, H, W)`` images (``input_shape`` in that order),
every layer and attention module in that layout; the flattening before the dense layers reads the maps in
channels-last order (``Flatten(data_format=...)``), so the weights of a channels-first model are those of the
channels-last one.
"""

from typing import Any

import keras

from keras_attention.layers.registry import AttentionKind
from keras_attention.layers.selective_kernel import SelectiveKernel
from keras_attention.models._common import (
    check_data_format,
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    scaled,
)
from keras_attention.models.attention_slots import apply_attention, resolve_deployment
from keras_attention.utils.checks import check_choice
from keras_attention.utils.types import ShapeLike

LENET_MIN_SIZE = 12  # 5x5 valid conv after one 2x pooling, then one more 2x pooling
CONVS = ("standard", "sk")


def lenet5(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = "bottleneck",
    width: float = 1.0,
    *,
    conv: str = "standard",
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """LeNet-5 (``input_shape=(H, W, C)``, H and W >= 12) with optional attention after both convolutions.

    Args:
        input_shape: image shape without the batch axis.
        num_classes: softmax classes (>= 2).
        attention: None or a kind of :mod:`keras_attention.layers.registry` deployed ``"slot"`` at rank 2.
        placement: ``"bottleneck"`` or ``"full"``; the same model for LeNet-5.
        width: multiplier of every filter / unit count (each at least 1).
        conv: ``"standard"`` or ``"sk"`` (selective kernel units instead of the convolutions and their tanh;
            module docstring).
        attention_options: extra keyword arguments for every attention layer.
        data_format: ``"channels_last"`` or ``"channels_first"`` (``input_shape`` then ``(C, H, W)``); None for
            ``keras.config.image_data_format()``.
        name: model name (default ``lenet5`` or ``lenet5_<kind>_<placement>``, ``sk_`` in front for ``conv="sk"``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid (``input_shape`` of the wrong rank or below 12 px, ``num_classes``
            below 2, ``width`` not > 0, an unknown ``conv`` / ``data_format`` / ``placement``, an ``attention``
            not deployed ``"slot"`` at rank 2, bad ``attention_options``); the message names the builder and
            the argument.

    Example:
        >>> from keras_attention.models import attention_layers, lenet5
        >>> model = lenet5((28, 28, 1), 10, attention="san-c")
        >>> model.name, model.output_shape
        ('lenet5_san_c_bottleneck', (None, 10))
        >>> [layer.name for layer in attention_layers(model)]
        ['san_c_conv1', 'san_c_conv2']
    """
    builder = "lenet5"
    data_format = check_data_format(builder, data_format)
    shape = check_input_shape(builder, input_shape, rank=2, minimum=LENET_MIN_SIZE, data_format=data_format)
    num_classes = check_num_classes(builder, num_classes)
    width = check_width(builder, width)
    try:
        sk = check_choice("conv", conv, set(CONVS)) == "sk"
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None
    deployment = resolve_deployment(builder, attention, placement, attention_options, rank=2, data_format=data_format)
    kind, options = deployment.slot, deployment.slot_options

    def convolution(filters: int, padding: str, tag: str) -> keras.layers.Layer:
        if sk:
            return SelectiveKernel(filters, padding=padding, data_format=data_format, name=tag)
        return keras.layers.Conv2D(filters, 5, padding=padding, activation="tanh", data_format=data_format, name=tag)

    inputs = keras.Input(shape, name="image")
    x = convolution(scaled(6, width), "same", "conv1")(inputs)
    x = apply_attention(kind, inputs, x, "conv1", kernel_size=5, options=options, data_format=data_format)
    pooled = keras.layers.AveragePooling2D(2, data_format=data_format, name="pool1")(x)
    x = convolution(scaled(16, width), "valid", "conv2")(pooled)
    x = apply_attention(kind, pooled, x, "conv2", kernel_size=5, options=options, data_format=data_format)
    x = keras.layers.AveragePooling2D(2, data_format=data_format, name="pool2")(x)
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    x = keras.layers.Dense(scaled(120, width), activation="tanh", name="fc1")(x)
    x = keras.layers.Dense(scaled(84, width), activation="tanh", name="fc2")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=deployment.model_name(f"sk_{builder}" if sk else builder, name))
