"""ResNet-18 / ResNet-50 / CIFAR ResNet (6n+2) with attention slots (SAN paper IV-B.3, Fig. 6c, 7; SPEC §10).

ResNet-18 / -50: a stem, four stages of residual blocks with 64-128-256-512 filters (stride 1, 2, 2, 2
on the first block of each stage), global average pooling and softmax. Every convolution is followed
by BN (convolutions have no bias); ReLU follows BN except on the last convolution of a block, where it
follows the residual addition. Stem: 7x7 stride-2 convolution + 3x3 stride-2 max-pooling for inputs
of at least 64 px (height and width), a 3x3 stride-1 convolution below (SPEC §10). The shortcut is the
identity, or a 1x1 strided convolution + BN where the shape changes.
- ResNet-18: basic blocks (3x3, 3x3), 2-2-2-2 blocks.
- ResNet-50: bottleneck blocks (1x1 -> 3x3 -> 1x1 with 4x expansion), 3-4-6-3 blocks; the stride is on
  the 3x3 convolution (the "v1.5" form).
- ``cifar_resnet(depth)``: He et al.'s CIFAR network, 3x3 16-filter stem and three stages of
  n = (depth - 2) / 6 basic blocks with 16-32-64 filters (strides 1, 2, 2); projection shortcuts.

Attention slots (SAN paper IV-C, SPEC §1 placement): the module sits inside the block, before the
residual addition, on the pair (first conv output, second conv output): ``previous`` is the first
convolution's output after BN + ReLU (the tensor the second convolution reads) and ``current`` the
second convolution's output after BN. For the ResNet-50 bottleneck block the pair is taken on the last
two convolutions: (3x3 output after BN + ReLU, final 1x1 expansion output after BN), so the module
weights what is added to the shortcut, as for the basic block; SAN's channel alignment (eq. 6-7)
bridges the C -> 4C expansion, and its smoothing kernel is 3x3, the block's spatial kernel.
- ``"full"``: in every block (8 for ResNet-18, 16 for ResNet-50, 3n for the CIFAR ResNet);
- ``"bottleneck"``: in the last block of each stage, i.e. right before the next stage's strided
  convolution or the global pooling (4 for ResNet-18 / -50, 3 for the CIFAR ResNet). The stem is
  not attended in either placement.
Modules are named ``<kind>_stage<s>_block<b>``.
"""

import keras

from keras_attention.layers._checks import check_positive_int
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

RESNET_LARGE_INPUT = 64  # from this size on: 7x7 stride-2 stem + max-pooling
RESNET_MIN_SIZE = 8  # total stride of the stages after the small stem
CIFAR_RESNET_MIN_SIZE = 4


def _conv_bn(x, filters, kernel, stride, tag, relu):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{tag}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{tag}_bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{tag}_relu")(x)
    return x


def _shortcut(x, filters, stride, tag):
    if stride == 1 and x.shape[-1] == filters:
        return x
    return _conv_bn(x, filters, 1, stride, f"{tag}_proj", relu=False)


def _basic_block(x, filters, stride, tag, attend, attention, options):
    shortcut = _shortcut(x, filters, stride, tag)
    first = _conv_bn(x, filters, 3, stride, f"{tag}_1", relu=True)
    y = _conv_bn(first, filters, 3, 1, f"{tag}_2", relu=False)
    if attend:
        y = apply_attention(attention, first, y, tag, kernel_size=3, options=options)
    y = keras.layers.Add(name=f"{tag}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{tag}_out")(y)


def _bottleneck_block(x, filters, stride, tag, attend, attention, options):
    shortcut = _shortcut(x, 4 * filters, stride, tag)
    y = _conv_bn(x, filters, 1, 1, f"{tag}_1", relu=True)
    middle = _conv_bn(y, filters, 3, stride, f"{tag}_2", relu=True)
    y = _conv_bn(middle, 4 * filters, 1, 1, f"{tag}_3", relu=False)
    if attend:
        y = apply_attention(attention, middle, y, tag, kernel_size=3, options=options)
    y = keras.layers.Add(name=f"{tag}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{tag}_out")(y)


def _resnet(builder, block, blocks, filters, strides, large_stem, shape, num_classes, attention, placement,
            width, options, name):
    inputs = keras.Input(shape, name="image")
    if large_stem:
        x = _conv_bn(inputs, scaled(64, width), 7, 2, "stem", relu=True)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    else:
        x = _conv_bn(inputs, scaled(filters[0], width), 3, 1, "stem", relu=True)
    for stage, (count, f, stride) in enumerate(zip(blocks, filters, strides), start=1):
        for b in range(1, count + 1):
            attend = placement == "full" or b == count
            x = block(x, scaled(f, width), stride if b == 1 else 1, f"stage{stage}_block{b}", attend, attention,
                      options)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=model_name(builder, attention, placement, name))


def _checked(builder, input_shape, num_classes, width, attention, placement, attention_options, minimum):
    shape = check_input_shape(builder, input_shape, rank=2, minimum=minimum)
    return (
        shape,
        check_num_classes(builder, num_classes),
        check_width(builder, width),
        check_attention(attention),
        check_placement(placement),
        check_attention_options(attention_options),
    )


def resnet18(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    attention_options=None,
    name=None,
):
    """ResNet-18 (``input_shape=(H, W, C)``, H and W >= 8); 8 full / 4 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis; the 7x7 stem is used from 64 px on.
        num_classes: softmax classes (>= 2).
        attention: None or a kind registered in :mod:`keras_attention.models.attention_slots`.
        placement: ``"bottleneck"`` (last block of each stage) or ``"full"`` (every block).
        width: multiplier of every filter count (each at least 1).
        attention_options: extra keyword arguments for every attention layer.
        name: model name (default ``resnet18`` or ``resnet18_<kind>_<placement>``).
    """
    shape, num_classes, width, attention, placement, options = _checked(
        "resnet18", input_shape, num_classes, width, attention, placement, attention_options, RESNET_MIN_SIZE
    )
    large = min(shape[:2]) >= RESNET_LARGE_INPUT
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2), (64, 128, 256, 512), (1, 2, 2, 2), large, shape,
                   num_classes, attention, placement, width, options, name)


def resnet50(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    attention_options=None,
    name=None,
):
    """ResNet-50 (``input_shape=(H, W, C)``, H and W >= 8); 16 full / 4 bottleneck attention slots.

    Arguments as :func:`resnet18`.
    """
    shape, num_classes, width, attention, placement, options = _checked(
        "resnet50", input_shape, num_classes, width, attention, placement, attention_options, RESNET_MIN_SIZE
    )
    large = min(shape[:2]) >= RESNET_LARGE_INPUT
    return _resnet("resnet50", _bottleneck_block, (3, 4, 6, 3), (64, 128, 256, 512), (1, 2, 2, 2), large, shape,
                   num_classes, attention, placement, width, options, name)


def cifar_resnet(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    depth=20,
    attention_options=None,
    name=None,
):
    """CIFAR ResNet of ``depth = 6n + 2`` layers (20, 32, 44, 56, 110, ...); 3n full / 3 bottleneck slots.

    ``input_shape=(H, W, C)`` with H and W >= 4; other arguments as :func:`resnet18`.
    """
    builder = "cifar_resnet"
    check_positive_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"{builder}: argument `depth` must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...); got {depth}.")
    shape, num_classes, width, attention, placement, options = _checked(
        builder, input_shape, num_classes, width, attention, placement, attention_options, CIFAR_RESNET_MIN_SIZE
    )
    n = (depth - 2) // 6
    return _resnet(f"cifar_resnet{depth}", _basic_block, (n, n, n), (16, 32, 64), (1, 2, 2), False, shape,
                   num_classes, attention, placement, width, options, name)
