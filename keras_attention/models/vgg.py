"""VGG-16 / VGG-19 seed architectures with attention slots (SAN paper IV-B.2, Fig. 6b; SPEC §10).

Five blocks of 3x3 ``same`` convolutions with 64-128-256-512-512 filters (2-2-3-3-3 convolutions for
VGG-16, 2-2-4-4-4 for VGG-19), ReLU, each block closed by a 2x2 max-pooling; then flatten, two dense
ReLU layers (512-512 for inputs below 64 px, 4096-4096 from 64 px on) and softmax.

Attention slots, on the pair (input of the convolution, its output after BN / ReLU):
- ``"full"``: after every convolution (13 modules for VGG-16, 16 for VGG-19);
- ``"bottleneck"``: after the last convolution of each block, right before its max-pooling (5).

Readings where SPEC is silent: all convolutions are 3x3 (SPEC; the paper's text mentions the 1x1
layers of VGG configuration C, SPEC wins); with ``batch_norm=True`` every convolution is
conv (no bias) -> BN -> ReLU; the two hidden dense layers are followed by dropout 0.5 as in the VGG
paper (``dropout`` argument, 0 disables it).
"""

import numbers

import keras

from keras_attention.layers._checks import check_bool
from keras_attention.models._common import (
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    model_name,
    scaled,
)
from keras_attention.models.attention_slots import (
    apply_attention,
    check_attention,
    check_attention_options,
    check_placement,
)

VGG_FILTERS = (64, 128, 256, 512, 512)
VGG_BLOCKS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_MIN_SIZE = 32  # five 2x max-poolings
VGG_LARGE_INPUT = 64  # from this size on the dense layers have 4096 units


def _vgg(depth, input_shape, num_classes, attention, placement, width, batch_norm, dropout, attention_options, name):
    builder = f"vgg{depth}"
    shape = check_input_shape(builder, input_shape, rank=2, minimum=VGG_MIN_SIZE)
    num_classes = check_num_classes(builder, num_classes)
    width = check_width(builder, width)
    attention = check_attention(attention)
    placement = check_placement(placement)
    options = check_attention_options(attention_options)
    batch_norm = check_bool("batch_norm", batch_norm)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"{builder}: argument `dropout` must be a number in [0, 1); got {dropout!r}.")

    inputs = keras.Input(shape, name="image")
    x = inputs
    for block, (convs, filters) in enumerate(zip(VGG_BLOCKS[depth], VGG_FILTERS), start=1):
        for i in range(1, convs + 1):
            tag = f"block{block}_conv{i}"
            previous = x
            if batch_norm:
                x = keras.layers.Conv2D(scaled(filters, width), 3, padding="same", use_bias=False, name=tag)(x)
                x = keras.layers.BatchNormalization(name=f"block{block}_bn{i}")(x)
                x = keras.layers.Activation("relu", name=f"block{block}_relu{i}")(x)
            else:
                x = keras.layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu", name=tag)(x)
            if placement == "full" or i == convs:
                x = apply_attention(attention, previous, x, tag, kernel_size=3, options=options)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    units = 4096 if min(shape[:2]) >= VGG_LARGE_INPUT else 512
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = keras.layers.Dense(scaled(units, width), activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=model_name(builder, attention, placement, name))


def vgg16(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    batch_norm=False,
    dropout=0.5,
    attention_options=None,
    name=None,
):
    """VGG-16 (``input_shape=(H, W, C)``, H and W >= 32); 13 full / 5 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis.
        num_classes: softmax classes (>= 2).
        attention: None or a kind registered in :mod:`keras_attention.models.attention_slots`.
        placement: ``"bottleneck"`` (before each max-pooling) or ``"full"`` (after every convolution).
        width: multiplier of every filter / unit count (each at least 1).
        batch_norm: conv -> BN -> ReLU instead of conv with ReLU (default False, as in the paper).
        dropout: dropout rate after the two hidden dense layers (0 disables it).
        attention_options: extra keyword arguments for every attention layer.
        name: model name (default ``vgg16`` or ``vgg16_<kind>_<placement>``).
    """
    return _vgg(16, input_shape, num_classes, attention, placement, width, batch_norm, dropout, attention_options, name)


def vgg19(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    batch_norm=False,
    dropout=0.5,
    attention_options=None,
    name=None,
):
    """VGG-19 (``input_shape=(H, W, C)``, H and W >= 32); 16 full / 5 bottleneck attention slots.

    Arguments as :func:`vgg16`.
    """
    return _vgg(19, input_shape, num_classes, attention, placement, width, batch_norm, dropout, attention_options, name)
