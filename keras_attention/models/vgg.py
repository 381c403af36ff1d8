"""VGG-16 / VGG-19 seed architectures with attention slots (SAN paper IV-B.2, Fig. 6b; docs/models.md#models-vgg).

Five blocks of 3x3 ``same`` convolutions with 64-128-256-512-512 filters (2-2-3-3-3 convolutions for
VGG-16, 2-2-4-4-4 for VGG-19), ReLU, each block closed by a 2x2 max-pooling; then flatten, two dense
ReLU layers (512-512 for inputs below 64 px, 4096-4096 from 64 px on) and softmax.

Attention slots, on the pair (input of the convolution, its output after BN / ReLU):
- ``"full"``: after every convolution (13 modules for VGG-16, 16 for VGG-19);
- ``"bottleneck"``: after the last convolution of each block, right before its max-pooling (5).

Readings where the paper is silent (docs/models.md#models-vgg): all convolutions are 3x3 (the paper's text mentions
the 1x1 layers of VGG configuration C; the documentation's reading, 3x3, wins); with ``batch_norm=True`` every
convolution is conv (no bias) -> BN -> ReLU; the two hidden dense layers are followed by dropout 0.5 as in the VGG
paper (``dropout`` argument, 0 disables it).

FA (FANet Sec. III-C, Fig. 1, Table I; docs/methods/fa.md#fa-deployment), ``attention="fa"``: the FANet paper
deploys FA on VGG "for each block" of its 5 blocks, "the same as the case of n = 4 in Fig. 1". Reading: a block is
one VGG block, its convolutions AND its closing max-pooling; block 1 is the benchmark block (B_0) without FA, and
blocks 2..5 are recalibrated by one FA chain, ``fa_block<b>`` on ``[x, u]`` (block 2) and ``[x, u, s]`` (blocks
3-5, ``s`` of shape ``(B, 1)``, ``(B, 2)``, ``(B, 3)``), ``x`` the block input (the previous block's recalibrated,
pooled output) and ``u`` the block's pooled output. ``x`` and ``u`` differ in size and channels, so FA's strided
1x1 projection (docs/methods/fa.md#fa-projection) matches them. Including the pooling is what reproduces FANet
Table I's overhead for VGG-19 (+0.52 M parameters here at width 1, +0.53 M in the paper: the projections
64->128->256->512->512 plus the focus layers; without the pooling the 512 -> 512 block would need no projection and
the overhead would be about half). The paper's other changes to VGG-19 for CIFAR (BN before every activation, a
single FC classifier) are not forced: ``batch_norm=True`` gives the BN, the dense head stays this builder's.
``"fa+se"`` adds SE in the attention slots (``placement`` default ``"full"``: after every convolution);
``attention_options`` then is ``{"fa": {...}, "se": {...}}``. ``placement`` must stay None for ``"fa"``.
``data_format="channels_first"`` builds the network on ``(C, H, W)`` images (``input_shape`` in that order),
every layer and attention module in that layout; the flattening before the dense layers reads the maps in
channels-last order, so the weights are those of the channels-last model.
"""

import numbers
from typing import Any

import keras

from keras_attention.layers.registry import BLOCKS, SLOT, AttentionKind
from keras_attention.models._common import (
    channel_axis,
    check_data_format,
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    scaled,
)
from keras_attention.models.attention_slots import apply_attention, apply_focus_association, resolve_deployment
from keras_attention.utils.checks import check_bool
from keras_attention.utils.layer_arguments import BN_MOMENTUM  # PyTorch's, as the papers trained with
from keras_attention.utils.types import ShapeLike

VGG_FILTERS = (64, 128, 256, 512, 512)
VGG_BLOCKS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_MIN_SIZE = 32  # five 2x max-poolings
VGG_LARGE_INPUT = 64  # from this size on the dense layers have 4096 units


def _vgg(
    depth: int,
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None,
    placement: str | None,
    width: float,
    batch_norm: bool,
    dropout: float,
    attention_options: dict[str, Any] | None,
    name: str | None,
    k: int | None,
    data_format: str | None,
) -> keras.Model:
    builder = f"vgg{depth}"
    fmt = check_data_format(builder, data_format)
    shape = check_input_shape(builder, input_shape, rank=2, minimum=VGG_MIN_SIZE, data_format=fmt)
    num_classes = check_num_classes(builder, num_classes)
    width = check_width(builder, width)
    deployment = resolve_deployment(builder, attention, placement, attention_options, hosts=(SLOT, BLOCKS), k=k,
                                    data_format=fmt)
    batch_norm = check_bool("batch_norm", batch_norm)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"{builder}: argument `dropout` must be a number in [0, 1); got {dropout!r}.")

    inputs = keras.Input(shape, name="image")
    x = inputs
    d, chain = deployment, None
    for block, (convs, filters) in enumerate(zip(VGG_BLOCKS[depth], VGG_FILTERS), start=1):
        block_input = x
        for i in range(1, convs + 1):
            tag = f"block{block}_conv{i}"
            previous = x
            if batch_norm:
                x = keras.layers.Conv2D(scaled(filters, width), 3, padding="same", use_bias=False, data_format=fmt,
                                        name=tag)(x)
                x = keras.layers.BatchNormalization(axis=channel_axis(fmt), momentum=BN_MOMENTUM,
                                                    name=f"block{block}_bn{i}")(x)
                x = keras.layers.Activation("relu", name=f"block{block}_relu{i}")(x)
            else:
                x = keras.layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu", data_format=fmt,
                                        name=tag)(x)
            if d.slot is not None and (d.placement == "full" or i == convs):
                x = apply_attention(d.slot, previous, x, tag, kernel_size=3, options=d.slot_options, data_format=fmt)
        x = keras.layers.MaxPooling2D(2, data_format=fmt, name=f"block{block}_pool")(x)
        if d.fa and d.kind is not None and block >= 2:  # block 1 is the benchmark block (the paper's B_0)
            x, chain = apply_focus_association(d.kind, block_input, x, chain, d.kind.module_name(f"block{block}"),
                                               d.fa_options, fmt)
    units = 4096 if min(shape[1:] if fmt == "channels_first" else shape[:2]) >= VGG_LARGE_INPUT else 512
    x = keras.layers.Flatten(data_format=fmt, name="flatten")(x)
    for i in (1, 2):
        x = keras.layers.Dense(scaled(units, width), activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=d.model_name(builder, name))


def vgg16(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = None,
    width: float = 1.0,
    *,
    batch_norm: bool = False,
    dropout: float = 0.5,
    k: int | None = None,
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """VGG-16 (``input_shape=(H, W, C)``, H and W >= 32); 13 full / 5 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis.
        num_classes: softmax classes (>= 2).
        attention: None, a kind of :mod:`keras_attention.layers.registry` deployed ``"slot"``, or
            ``"fa"`` / ``"fa+se"`` (FA over the five blocks; see the module docstring).
        placement: ``"bottleneck"`` (before each max-pooling) or ``"full"`` (after every convolution);
            None is the kind's default (``"bottleneck"``; ``"full"`` for the SE of ``"fa+se"``); must stay
            None for ``"fa"``.
        width: multiplier of every filter / unit count (each at least 1).
        batch_norm: conv -> BN -> ReLU instead of conv with ReLU (default False, as in the paper).
        dropout: dropout rate after the two hidden dense layers (0 disables it).
        k: for ``"spanet"``: the number of salient positions kept (default: the layer's, 8). At 32x32 the last
            block's slot sees 2x2 = 4 positions, so SPANet there needs ``k <= 4``.
        attention_options: extra keyword arguments for every attention layer.
        data_format: ``"channels_last"`` or ``"channels_first"`` (``input_shape`` then ``(C, H, W)``); None for
            ``keras.config.image_data_format()``.
        name: model name (default ``vgg16``, ``vgg16_<kind>_<placement>`` or ``vgg16_fa``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid (``input_shape`` of the wrong rank or below 32 px, ``num_classes``
            below 2, ``width`` not > 0, ``dropout`` outside [0, 1), ``batch_norm`` not a bool, an unknown
            ``attention`` / ``placement`` / ``data_format``, a ``placement`` with ``"fa"``, ``k`` with a kind
            that does not take it, bad ``attention_options``); the message names the builder and the argument.

    Example:
        >>> from keras_attention.models import attention_layers, vgg16
        >>> model = vgg16((32, 32, 3), 10, attention="cbam", width=0.125)
        >>> model.name, model.output_shape
        ('vgg16_cbam_bottleneck', (None, 10))
        >>> len(attention_layers(model))  # one module before each of the five max-poolings
        5
        >>> len(attention_layers(vgg16((32, 32, 3), 10, "se", "full", width=0.125)))  # after every convolution
        13
    """
    return _vgg(16, input_shape, num_classes, attention, placement, width, batch_norm, dropout, attention_options, name,
                k, data_format)


def vgg19(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = None,
    width: float = 1.0,
    *,
    batch_norm: bool = False,
    dropout: float = 0.5,
    k: int | None = None,
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """VGG-19 (``input_shape=(H, W, C)``, H and W >= 32); 16 full / 5 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis.
        num_classes: softmax classes (>= 2).
        attention: as :func:`vgg16`: None, a kind deployed ``"slot"``, ``"fa"`` or ``"fa+se"``.
        placement: ``"bottleneck"``, ``"full"`` or None (the kind's default), as :func:`vgg16`.
        width: multiplier of every filter / unit count (each at least 1).
        batch_norm: conv -> BN -> ReLU instead of conv with ReLU.
        dropout: dropout rate after the two hidden dense layers (0 disables it).
        k: for ``"spanet"``: the number of salient positions kept.
        attention_options: extra keyword arguments for every attention layer.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (``keras.config.image_data_format()``).
        name: model name (default ``vgg19``, ``vgg19_<kind>_<placement>`` or ``vgg19_fa``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid, as for :func:`vgg16`; the message names the builder and the argument.

    Example:
        >>> from keras_attention.models import attention_layers, vgg19
        >>> model = vgg19((32, 32, 3), 10, attention="fa", width=0.125)
        >>> model.name, model.output_shape
        ('vgg19_fa', (None, 10))
        >>> [layer.name for layer in attention_layers(model)]  # block 1 is FANet's benchmark block
        ['fa_block2', 'fa_block3', 'fa_block4', 'fa_block5']
    """
    return _vgg(19, input_shape, num_classes, attention, placement, width, batch_norm, dropout, attention_options, name,
                k, data_format)
