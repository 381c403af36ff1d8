"""ResNet-18 / ResNet-50 / CIFAR ResNet (6n+2) with attention slots (SAN paper IV-B.3, Fig. 6c, 7;
docs/models.md#models-resnet).

ResNet-18 / -50: a stem, four stages of residual blocks with 64-128-256-512 filters (stride 1, 2, 2, 2
on the first block of each stage), global average pooling and softmax. Every convolution is followed
by BN (convolutions have no bias); ReLU follows BN except on the last convolution of a block, where it
follows the residual addition. Stem: 7x7 stride-2 convolution + 3x3 stride-2 max-pooling for inputs
of at least 64 px (height and width), a 3x3 stride-1 convolution below (docs/models.md#models-resnet). The
shortcut is the identity, or a 1x1 strided convolution + BN where the shape changes.
- ResNet-18: basic blocks (3x3, 3x3), 2-2-2-2 blocks.
- ResNet-50: bottleneck blocks (1x1 -> 3x3 -> 1x1 with 4x expansion), 3-4-6-3 blocks; the stride is on
  the 3x3 convolution (the "v1.5" form).
- ``cifar_resnet(depth)``: He et al.'s CIFAR network, 3x3 16-filter stem and three stages of
  n = (depth - 2) / 6 basic blocks with 16-32-64 filters (strides 1, 2, 2); projection shortcuts.

Attention slots (SAN paper IV-C, docs/methods/san.md#san-placement): the module sits inside the block, before the
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

Further options (docs/methods/fa.md#fa-deployment, docs/methods/spanet.md, docs/methods/awconv.md,
docs/models.md#models-resnet):
- ``attention="fa"`` (FANet eq. 5-9, Fig. 1, 4): the multi-stage deployment. Inside every stage, the
  blocks form one FA chain: block 1 of the stage (the paper's B_0) is the benchmark block without FA;
  block ``b >= 2`` is recalibrated by ``fa_stage<s>_block<b>`` on ``[x, u]`` (b = 2) or ``[x, u, s]``
  (b > 2), where ``x`` is the block input (the previous block's recalibrated output), ``u`` the block
  output (after the residual addition and ReLU: the block is the whole transformation X_i -> U_i of
  eq. 1), and ``s`` grows ``(B, 1), (B, 2), ...`` along the stage. Then the stages form a second chain:
  stage 1 is the benchmark stage, stage ``t >= 2`` is recalibrated by ``fa_stage<t>`` on (stage input,
  stage output after its block chain), whose shapes differ, so the FA layer's strided 1x1 projection
  matches them (docs/methods/fa.md#fa-projection). This reading reproduces the parameter overheads of
  FANet Table I (e.g. ResNet-56: +16.7 k here, +16 k in the paper). With ``"fa+se"`` every block also
  carries SE on its residual branch (Fig. 5d; ``placement`` default ``"full"``). ``attention_options`` go
  to the FA modules (``"fa"``) or are ``{"fa": {...}, "se": {...}}`` (``"fa+se"``).
- ``attention="spanet"`` / ``"nonlocal"`` (SPANet Table 2): ONE module after the last block of stage
  ``stage`` (1..number of stages, default 3, the "*" setting of SPANet Table 1), named
  ``<kind>_stage<s>``; ``k`` salient positions for SPANet (default 2, the k of Table 1 / Table 2 for
  ResNet-18). ``placement`` does not apply.
- ``conv="aw"`` (AW paper Fig. 2): every 3x3 convolution inside the residual blocks is an ``AWConv2D``
  (same filters, stride, ``same`` padding, no bias, still followed by BN), i.e. both convolutions of a
  basic block and the middle one of a bottleneck block; the stem and the 1x1 convolutions stay plain
  (the paper replaces "its 3x3 convolution" of each bottleneck). It combines with any slot attention,
  e.g. ``attention="se"`` / ``"cbam"`` with ``placement="full"`` is AW-SE- / AW-CBAM-ResNet; the model
  is named ``aw_<builder>...``.
- ``conv="sk"`` (SKNet): the 3x3 convolutions followed by BN and ReLU inside the blocks become selective kernel
  units (:class:`~keras_attention.layers.SelectiveKernel`: a 3x3 and a dilated 3x3 branch, same filters and
  stride), which carry their own BN and ReLU per branch and so replace the convolution *with* its BN and ReLU:
  the first convolution of a basic block and the middle one of a bottleneck block. The second convolution of a
  basic block (BN, no ReLU, before the residual addition) stays a plain convolution: that is SKNet's layout as
  timm builds its SK-ResNets (``SelectiveKernelBasic``: ``conv1`` is the SK unit, ``conv2`` a convolution and
  BN; ``SelectiveKernelBottleneck``: ``conv2`` is the SK unit), and the official SKNet-50 (a ResNeXt bottleneck
  whose grouped 3x3 is the SK unit). The stem, the 1x1 convolutions and the shortcuts stay plain. It combines
  with any slot attention; the model is named ``sk_<builder>...``.

``data_format="channels_first"`` builds any of these networks on ``(C, H, W)`` images (``input_shape`` in that
order): convolutions, BatchNormalizations (``axis=1``), poolings and every attention module in that layout.
"""

from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_attention.layers.aw_conv import AWConv2D
from keras_attention.layers.registry import BLOCKS, SLOT, STAGE, AttentionKind
from keras_attention.layers.selective_kernel import SelectiveKernel
from keras_attention.models._common import (
    channel_axis,
    check_data_format,
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    scaled,
)
from keras_attention.models.attention_slots import (
    Deployment,
    apply_attention,
    apply_focus_association,
    apply_stage_module,
    resolve_deployment,
)
from keras_attention.utils.checks import check_choice, check_positive_int
from keras_attention.utils.layer_arguments import BN_MOMENTUM  # PyTorch's, as the papers trained with
from keras_attention.utils.types import ShapeLike, Tensor

RESNET_LARGE_INPUT = 64  # from this size on: 7x7 stride-2 stem + max-pooling
RESNET_MIN_SIZE = 8  # total stride of the stages after the small stem
CIFAR_RESNET_MIN_SIZE = 4
CONVS = ("standard", "aw", "sk")
#: A residual block: ``block(x, filters, stride, tag, attend, deployment, conv)`` -> the block's output.
Block = Callable[[Tensor, int, int, str, bool, Deployment, str], Tensor]


def _conv_bn(
    x: Tensor, filters: int, kernel: int, stride: int, tag: str, relu: bool, conv: str, data_format: str | None
) -> Tensor:
    """A convolution, BN and (``relu``) ReLU named ``<tag>_conv`` / ``_bn`` / ``_relu``. ``conv="aw"``: an
    AWConv2D for the convolution; ``conv="sk"`` where ``relu``: one selective kernel unit ``<tag>_conv`` for all
    three (module docstring)."""
    if conv == "sk" and relu:
        return SelectiveKernel(filters, strides=stride, data_format=data_format, name=f"{tag}_conv")(x)
    if conv == "aw":
        x = AWConv2D(filters, kernel, strides=stride, padding="same", data_format=data_format, name=f"{tag}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                                data_format=data_format, name=f"{tag}_conv")(x)
    x = keras.layers.BatchNormalization(axis=channel_axis(data_format), momentum=BN_MOMENTUM, name=f"{tag}_bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{tag}_relu")(x)
    return x


def _shortcut(x: Tensor, filters: int, stride: int, tag: str, data_format: str | None) -> Tensor:
    if stride == 1 and x.shape[channel_axis(data_format)] == filters:
        return x
    return _conv_bn(x, filters, 1, stride, f"{tag}_proj", False, "standard", data_format)


def _basic_block(x: Tensor, filters: int, stride: int, tag: str, attend: bool, d: Deployment, conv: str) -> Tensor:
    fmt = d.data_format
    shortcut = _shortcut(x, filters, stride, tag, fmt)
    first = _conv_bn(x, filters, 3, stride, f"{tag}_1", True, conv, fmt)
    y = _conv_bn(first, filters, 3, 1, f"{tag}_2", False, conv, fmt)
    if attend:
        y = apply_attention(d.slot, first, y, tag, kernel_size=3, options=d.slot_options, data_format=fmt)
    y = keras.layers.Add(name=f"{tag}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{tag}_out")(y)


def _bottleneck_block(
    x: Tensor, filters: int, stride: int, tag: str, attend: bool, d: Deployment, conv: str
) -> Tensor:
    fmt = d.data_format
    shortcut = _shortcut(x, 4 * filters, stride, tag, fmt)
    y = _conv_bn(x, filters, 1, 1, f"{tag}_1", True, "standard", fmt)
    middle = _conv_bn(y, filters, 3, stride, f"{tag}_2", True, conv, fmt)
    y = _conv_bn(middle, 4 * filters, 1, 1, f"{tag}_3", False, "standard", fmt)
    if attend:
        y = apply_attention(d.slot, middle, y, tag, kernel_size=3, options=d.slot_options, data_format=fmt)
    y = keras.layers.Add(name=f"{tag}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{tag}_out")(y)


def _resnet(
    builder: str,
    block: Block,
    blocks: Sequence[int],
    filters: Sequence[int],
    strides: Sequence[int],
    large_stem: bool,
    shape: tuple[int, int, int],
    num_classes: int,
    deployment: Deployment,
    conv: str,
    width: float,
    name: str | None,
) -> keras.Model:
    d = deployment
    kind = d.kind  # None: no attention (FA and the stage modules need a kind)
    fmt = d.data_format
    inputs = keras.Input(shape, name="image")
    if large_stem:
        x = _conv_bn(inputs, scaled(64, width), 7, 2, "stem", True, "standard", fmt)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", data_format=fmt, name="stem_pool")(x)
    else:
        x = _conv_bn(inputs, scaled(filters[0], width), 3, 1, "stem", True, "standard", fmt)
    stage_chain = None  # FA over the stages: [k_1 .. k_{t-1}]
    for stage, (count, f, stride) in enumerate(zip(blocks, filters, strides), start=1):
        stage_input, block_chain = x, None  # FA over the blocks of this stage
        for b in range(1, count + 1):
            tag = f"stage{stage}_block{b}"
            attend = d.slot is not None and (d.placement == "full" or b == count)
            block_input = x
            x = block(x, scaled(f, width), stride if b == 1 else 1, tag, attend, d, conv)
            if d.fa and kind is not None and b >= 2:  # block 1 is the benchmark block (the paper's B_0)
                x, block_chain = apply_focus_association(kind, block_input, x, block_chain, kind.module_name(tag),
                                                         d.fa_options, fmt)
        if kind is None:
            continue
        stage_module = kind.module_name(f"stage{stage}")
        if d.fa and stage >= 2:  # stage 1 is the benchmark stage
            x, stage_chain = apply_focus_association(kind, stage_input, x, stage_chain, stage_module, d.fa_options,
                                                     fmt)
        if d.stage == stage:
            x = apply_stage_module(kind, x, stage_module, d.stage_options, fmt)
    x = keras.layers.GlobalAveragePooling2D(data_format=fmt, name="global_pool")(x)
    outputs = classifier_head(x, num_classes)
    base = f"{conv}_{builder}" if conv != "standard" else builder
    return keras.Model(inputs, outputs, name=deployment.model_name(base, name))


def _spatial(shape: tuple[int, int, int], deployment: Deployment) -> tuple[int, ...]:
    """``(H, W)`` of ``shape`` (without the batch axis) in the deployment's data format."""
    return shape[1:] if deployment.data_format == "channels_first" else shape[:2]


def _checked(
    builder: str,
    input_shape: ShapeLike,
    num_classes: int,
    width: float,
    attention: str | AttentionKind | None,
    placement: str | None,
    attention_options: dict[str, Any] | None,
    minimum: int,
    conv: str,
    stage: int | None,
    k: int | None,
    n_stages: int,
    data_format: str | None,
) -> tuple[tuple[int, int, int], int, float, Deployment, str]:
    data_format = check_data_format(builder, data_format)
    shape = check_input_shape(builder, input_shape, rank=2, minimum=minimum, data_format=data_format)
    num_classes = check_num_classes(builder, num_classes)
    width = check_width(builder, width)
    try:
        conv = check_choice("conv", conv, set(CONVS))
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None
    deployment = resolve_deployment(builder, attention, placement, attention_options, hosts=(SLOT, BLOCKS, STAGE),
                                    stage=stage, n_stages=n_stages, data_format=data_format, k=k)
    return shape, num_classes, width, deployment, conv


def resnet18(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = None,
    width: float = 1.0,
    *,
    conv: str = "standard",
    stage: int | None = None,
    k: int | None = None,
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """ResNet-18 (``input_shape=(H, W, C)``, H and W >= 8); 8 full / 4 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis; the 7x7 stem is used from 64 px on.
        num_classes: softmax classes (>= 2).
        attention: None, a kind of :mod:`keras_attention.layers.registry` deployed ``"slot"`` (in the
            slots given by ``placement``), ``"fa"`` / ``"fa+se"`` (FA over blocks and stages) or a kind
            deployed ``"stage"``, ``"spanet"`` / ``"nonlocal"`` (one module after stage ``stage``); see the
            module docstring.
        placement: ``"bottleneck"`` (last block of each stage) or ``"full"`` (every block); None is the
            kind's default (``"bottleneck"``; ``"full"`` for the SE of ``"fa+se"``); must stay None for
            ``"fa"``, ``"spanet"`` and ``"nonlocal"``.
        width: multiplier of every filter count (each at least 1).
        conv: ``"standard"``, ``"aw"`` (AW-convolution for the blocks' 3x3 convolutions) or ``"sk"`` (selective
            kernel units for the blocks' 3x3 convolutions followed by ReLU; module docstring).
        stage: for ``"spanet"`` / ``"nonlocal"``: the stage after which the module goes (default 3).
        k: for ``"spanet"``: the number of salient positions (default 2).
        attention_options: extra keyword arguments for every attention layer (for ``"fa+se"``:
            ``{"fa": {...}, "se": {...}}``).
        data_format: ``"channels_last"`` or ``"channels_first"`` (``input_shape`` then ``(C, H, W)``); None for
            ``keras.config.image_data_format()``.
        name: model name (default ``<builder>``, ``<builder>_<kind>_<placement>``, ``<builder>_fa``,
            ``<builder>_<kind>_stage<s>``, with ``aw_`` / ``sk_`` in front for ``conv="aw"`` / ``"sk"``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid (``input_shape`` of the wrong rank or below 8 px, ``num_classes``
            below 2, ``width`` not > 0, an unknown ``conv`` / ``attention`` / ``placement`` / ``data_format``,
            a ``placement`` with ``"fa"`` or a stage kind, ``stage`` outside 1..4 or without a stage kind, ``k``
            with a kind that does not take it, bad ``attention_options``); the message names the builder and
            the argument.

    Example:
        >>> from keras_attention.models import attention_layers, resnet18
        >>> model = resnet18((32, 32, 3), 10, attention="se", width=0.125)
        >>> model.name, model.output_shape
        ('resnet18_se_bottleneck', (None, 10))
        >>> [layer.name for layer in attention_layers(model)]  # the last block of each stage
        ['se_stage1_block2', 'se_stage2_block2', 'se_stage3_block2', 'se_stage4_block2']
        >>> [layer.name for layer in attention_layers(resnet18((32, 32, 3), 10, "spanet", width=0.125))]
        ['spanet_stage3']
    """
    shape, num_classes, width, deployment, conv = _checked(
        "resnet18", input_shape, num_classes, width, attention, placement, attention_options, RESNET_MIN_SIZE,
        conv, stage, k, 4, data_format,
    )
    large = min(_spatial(shape, deployment)) >= RESNET_LARGE_INPUT
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2), (64, 128, 256, 512), (1, 2, 2, 2), large, shape,
                   num_classes, deployment, conv, width, name)


def resnet50(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = None,
    width: float = 1.0,
    *,
    conv: str = "standard",
    stage: int | None = None,
    k: int | None = None,
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """ResNet-50 (``input_shape=(H, W, C)``, H and W >= 8); 16 full / 4 bottleneck attention slots.

    Args:
        input_shape: image shape without the batch axis; the 7x7 stem is used from 64 px on.
        num_classes: softmax classes (>= 2).
        attention: None, a kind deployed ``"slot"``, ``"fa"`` / ``"fa+se"`` or a kind deployed ``"stage"``, as
            :func:`resnet18`.
        placement: ``"bottleneck"``, ``"full"`` or None (the kind's default), as :func:`resnet18`.
        width: multiplier of every filter count (each at least 1; the bottleneck expands 4x).
        conv: ``"standard"``, ``"aw"`` (the middle 3x3 convolution of each block) or ``"sk"``.
        stage: for ``"spanet"`` / ``"nonlocal"``: the stage after which the module goes (default 3).
        k: for ``"spanet"``: the number of salient positions (default 2).
        attention_options: extra keyword arguments for every attention layer.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (``keras.config.image_data_format()``).
        name: model name (defaults as :func:`resnet18`, with ``resnet50``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid, as for :func:`resnet18`; the message names the builder and the
            argument.

    Example:
        >>> from keras_attention.models import resnet50
        >>> model = resnet50((32, 32, 3), 10, width=0.125)
        >>> model.name, model.output_shape
        ('resnet50', (None, 10))
        >>> len(model.layers)
        175
    """
    shape, num_classes, width, deployment, conv = _checked(
        "resnet50", input_shape, num_classes, width, attention, placement, attention_options, RESNET_MIN_SIZE,
        conv, stage, k, 4, data_format,
    )
    large = min(_spatial(shape, deployment)) >= RESNET_LARGE_INPUT
    return _resnet("resnet50", _bottleneck_block, (3, 4, 6, 3), (64, 128, 256, 512), (1, 2, 2, 2), large, shape,
                   num_classes, deployment, conv, width, name)


def cifar_resnet(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = None,
    width: float = 1.0,
    *,
    depth: int = 20,
    conv: str = "standard",
    stage: int | None = None,
    k: int | None = None,
    attention_options: dict[str, Any] | None = None,
    data_format: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """CIFAR ResNet of ``depth = 6n + 2`` layers (20, 32, 44, 56, 110, ...); 3n full / 3 bottleneck slots.

    Args:
        input_shape: image shape without the batch axis, H and W >= 4.
        num_classes: softmax classes (>= 2).
        attention: None, a kind deployed ``"slot"``, ``"fa"`` / ``"fa+se"`` or a kind deployed ``"stage"``, as
            :func:`resnet18`.
        placement: ``"bottleneck"``, ``"full"`` or None (the kind's default), as :func:`resnet18`.
        width: multiplier of the 16-32-64 filters (each at least 1).
        depth: ``6n + 2`` (at least 8): ``n`` basic blocks per stage.
        conv: ``"standard"``, ``"aw"`` or ``"sk"``, as :func:`resnet18`.
        stage: for ``"spanet"`` / ``"nonlocal"``: the stage (1..3) after which the module goes (default 3).
        k: for ``"spanet"``: the number of salient positions (default 2).
        attention_options: extra keyword arguments for every attention layer.
        data_format: ``"channels_last"``, ``"channels_first"`` or None (``keras.config.image_data_format()``).
        name: model name (defaults as :func:`resnet18`, with ``cifar_resnet<depth>``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``image`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: ``depth`` is not ``6n + 2`` >= 8, or another argument is invalid as for :func:`resnet18`; the
            message names the argument.

    Example:
        >>> from keras_attention.models import attention_layers, cifar_resnet
        >>> model = cifar_resnet((32, 32, 3), 10, "cbam", "full", depth=8, width=0.5)
        >>> model.name, model.output_shape
        ('cifar_resnet8_cbam_full', (None, 10))
        >>> [layer.name for layer in attention_layers(model)]
        ['cbam_stage1_block1', 'cbam_stage2_block1', 'cbam_stage3_block1']
    """
    builder = "cifar_resnet"
    check_positive_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"{builder}: argument `depth` must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...); got {depth}.")
    shape, num_classes, width, deployment, conv = _checked(
        builder, input_shape, num_classes, width, attention, placement, attention_options, CIFAR_RESNET_MIN_SIZE,
        conv, stage, k, 3, data_format,
    )
    n = (depth - 2) // 6
    return _resnet(f"cifar_resnet{depth}", _basic_block, (n, n, n), (16, 32, 64), (1, 2, 2), False, shape,
                   num_classes, deployment, conv, width, name)
