"""Attention dispatch for the model builders: which module goes into an attention slot (docs/models.md).

An *attention slot* is a place in a network where a module may weight a feature map. Every slot sees
two tensors: ``previous`` (the input of the layer that made the feature map; the network input for
the first layer) and ``current`` (that layer's output). What a module takes from the pair is part of
its row in the registry of attention kinds, :mod:`keras_attention.layers.registry`:

- pair modules (SAN-c, SAN-d) get ``[previous, current]`` (SAN paper eq. 4-12);
- single-input modules (CBAM, BAM, SE, SPANet, non-local) get ``current`` only.

The module's output replaces ``current`` and feeds on. Adding a method later is one call to
:func:`register_attention`; every builder here reads the registry when it is called, so a kind
registered later is accepted by each builder that hosts its deployment and rank.

Not every method is a slot module. The kinds deployed ``"blocks"`` (:data:`DEPLOYED_KINDS`) change a
network's structure and are laid out by the builders that support them (see their docstrings), never
through a slot:

- ``"fa"`` / ``"fa+se"``: focus-and-association over blocks and stages (FANet Fig. 4; ResNets, VGG);
  their modules are named ``fa_<slot>``;
- in the ResNet builders, the kinds deployed ``"stage"`` (``"spanet"`` / ``"nonlocal"``) mean one module
  after a given stage (SPANet Table 2); elsewhere they are ordinary single-input slot modules;
- AW-convolution is not an attention kind but a convolution: the ResNet builders' ``conv="aw"``.

The builders name every module ``<kind>_<slot>`` with ``<kind>`` the attention name with ``-`` turned
into ``_`` (``san_c_block1_conv2``, ``cbam_stage2_block2``), so ``model.summary()`` shows them and
:func:`attention_layers` finds them again.

Reading where the papers are silent (docs/models.md#models-attention-slots, docs/methods/san.md#san-placement):
SAN's smoothing kernel takes the slot's convolution kernel size
(5 for LeNet-5, 3 for VGG / ResNet, 3 for LSTM slots where there is no kernel); an explicit
``kernel_size`` in ``attention_options`` wins.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from keras_attention.layers.registry import (
    ATTENTION_KINDS,
    BLOCKS,
    MIXER,
    SEQUENCE,
    SLOT,
    STAGE,
    AttentionKind,
    attention_names,
    check_kind,
    layer_prefix,
    register_attention,
    unregister_attention,
)
from keras_attention.utils.types import Tensor

PLACEMENTS = ("bottleneck", "full")
# The built-in kinds that the builders deploy themselves (not through a slot); kind -> layer-name prefix.
DEPLOYED_KINDS = {name: ATTENTION_KINDS[name].prefix for name in attention_names(BLOCKS)}


def check_placement(placement: str) -> str:
    """``placement`` if it is one of :data:`PLACEMENTS`.

    Args:
        placement: ``"bottleneck"`` or ``"full"``.

    Returns:
        ``placement``.

    Raises:
        ValueError: ``placement`` is not one of :data:`PLACEMENTS`; the message names the argument.

    Example:
        >>> from keras_attention.models.attention_slots import check_placement
        >>> check_placement("full")
        'full'
        >>> check_placement("everywhere")
        Traceback (most recent call last):
        ValueError: Argument `placement` must be one of ['bottleneck', 'full']; got 'everywhere'.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"Argument `placement` must be one of {list(PLACEMENTS)}; got {placement!r}.")
    return placement


def check_attention_options(attention_options: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a builder's ``attention_options`` (``{}`` for None).

    Args:
        attention_options: a dict of keyword arguments for the attention layers, or None.

    Returns:
        A new dict.

    Raises:
        ValueError: ``attention_options`` is not a dict or sets ``name`` / ``data_format`` (the builders set
            those); the message names the argument.

    Example:
        >>> from keras_attention.models.attention_slots import check_attention_options
        >>> check_attention_options(None), check_attention_options({"reduction": 8})
        ({}, {'reduction': 8})
        >>> check_attention_options({"name": "mine"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `attention_options` may not set ['name']: the builders name the modules ...
    """
    if attention_options is None:
        return {}
    if not isinstance(attention_options, dict):
        raise ValueError(
            f"Argument `attention_options` must be a dict of keyword arguments for the attention layer or "
            f"None; got {attention_options!r}."
        )
    reserved = {"name", "data_format"} & set(attention_options)
    if reserved:
        raise ValueError(
            f"Argument `attention_options` may not set {sorted(reserved)}: the builders name the modules and give "
            f"them their own data_format."
        )
    return dict(attention_options)


def resolve_attention(
    attention: str | AttentionKind | None,
    hosts: Sequence[str] = (SLOT,),
    rank: int | None = None,
    *,
    allow_none: bool = True,
) -> AttentionKind | None:
    """The :class:`AttentionKind` of ``attention`` (a registered name, a kind itself, or None for none where
    ``allow_none``), checked once: it must be deployed in one of ``hosts`` at ``rank`` (any if None), else a
    ValueError naming the argument, the value and the kinds that would do.

    Args:
        attention: a registered kind's name, an :class:`AttentionKind`, or None.
        hosts: the deployments that may host it (``"slot"``, ``"stage"``, ``"blocks"``, ``"mixer"``,
            ``"sequence"``).
        rank: the builder's rank (2 images, 1 sequences), None for any.
        allow_none: whether None (no attention) is accepted.

    Returns:
        The kind's :class:`AttentionKind`, or None for ``attention=None``.

    Raises:
        ValueError: ``attention`` is unknown, not deployed in ``hosts`` at ``rank``, or None where
            ``allow_none`` is False; the message names the argument and lists the kinds that would do.

    Example:
        >>> from keras_attention.models import resolve_attention
        >>> kind = resolve_attention("cbam")
        >>> kind.name, kind.inputs, kind.ranks
        ('cbam', 'one', (1, 2))
        >>> resolve_attention(None) is None
        True
        >>> resolve_attention("xm2a")  # a mixer kind, not a slot kind  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `attention` must be one of None, 'bam', 'cbam', ...; got 'xm2a' (a registered kind, ...).
    """
    names = attention_names(hosts, rank)
    if isinstance(attention, AttentionKind):
        if not attention.hosts(hosts, rank):
            check_kind("attention", attention.name, names, allow_none=allow_none)
        return attention
    name = check_kind("attention", attention, names, allow_none=allow_none)
    return None if name is None else ATTENTION_KINDS[name]


def _image_context(data_format: str | None, **context: Any) -> dict[str, Any]:
    """The builder context a module gets: ``context`` and, in an image builder, its ``data_format``."""
    return {**context, "data_format": data_format} if data_format is not None else context


def apply_attention(
    kind: AttentionKind | None,
    previous: Tensor,
    current: Tensor,
    slot: str,
    *,
    kernel_size: int = 3,
    options: dict[str, Any] | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Apply the module of ``kind`` (an :class:`AttentionKind` resolved by the builder, or None) at ``slot`` and
    return the tensor that feeds on. ``None`` returns ``current`` unchanged. The layer is named
    ``<prefix>_<slot>``; ``kernel_size`` is the slot's convolution kernel size and ``data_format`` the image
    builder's layout (None in a sequence builder), offered to kinds that take them from the builder's context.

    Args:
        kind: the :class:`AttentionKind` (from :func:`resolve_attention`), or None.
        previous: the slot's input (the tensor the convolution read), for kinds on the ``[previous, current]``
            pair.
        current: the slot's output (the convolution's), the tensor the module re-weights.
        slot: the slot's name, e.g. ``"block1_conv2"``.
        kernel_size: the slot convolution's kernel size.
        options: extra keyword arguments for the layer.
        data_format: the image builder's layout, None in a sequence builder.

    Returns:
        The module's output (``current`` itself for ``kind=None``).

    Example:
        >>> import keras
        >>> from keras_attention.models import apply_attention, resolve_attention
        >>> x = keras.Input((8, 8, 16))
        >>> y = apply_attention(resolve_attention("se"), x, x, "demo")
        >>> tuple(y.shape), y._keras_history.operation.name
        ((None, 8, 8, 16), 'se_demo')
        >>> apply_attention(None, x, x, "demo") is x
        True
    """
    if kind is None:
        return current
    context = _image_context(data_format, kernel_size=kernel_size)
    module = kind.build(kind.module_name(slot), context=context, options=options)
    return kind.call(module, current, previous)


def attention_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The attention modules the builders put into ``model`` (slots, stages, blocks), in network order.

    Args:
        model: a model built by the package's builders (any ``keras.Model`` is read by its layer names).

    Returns:
        The layers whose names start with a registered kind's prefix and ``_``.

    Example:
        >>> from keras_attention.models import attention_layers, lenet5
        >>> [layer.name for layer in attention_layers(lenet5((28, 28, 1), 10, "cbam"))]
        ['cbam_conv1', 'cbam_conv2']
        >>> attention_layers(lenet5((28, 28, 1), 10))
        []
    """
    prefixes = tuple(dict.fromkeys(f"{ATTENTION_KINDS[name].prefix}_"
                                   for name in attention_names((SLOT, STAGE, BLOCKS))))
    return [layer for layer in model.layers if layer.name.startswith(prefixes)]


# ----------------------------------------------------------------------------- one resolver for every builder
@dataclass(frozen=True)
class Deployment:
    """Where a builder puts which modules, resolved once from its arguments by :func:`resolve_deployment`.

    ``kind``: the :class:`AttentionKind` asked for (None: no attention); ``slot``: the kind in the attention
    slots (the kind itself, ``"se"`` for ``"fa+se"``, None for ``"fa"`` and the stage kinds; the module of a
    ``"mixer"`` or ``"sequence"`` builder), placed by ``placement`` with ``slot_options``; ``fa``:
    focus-and-association over the blocks (and stages), with ``fa_options``; ``stage``: the stage after which
    one ``kind`` module goes (``stage_options``), None when there is none.

    Args:
        kind: the :class:`AttentionKind` asked for, None for no attention.
        slot: the kind in the attention slots, or None.
        placement: ``"bottleneck"`` or ``"full"``.
        slot_options: keyword arguments of the slot modules.
        fa: focus-and-association over the blocks (and stages).
        fa_options: keyword arguments of the FA modules.
        stage: the stage after which one ``kind`` module goes, or None.
        stage_options: keyword arguments of that module.
        data_format: the image builder's layout (None in a sequence builder).

    Example:
        >>> from keras_attention.models import resolve_deployment
        >>> d = resolve_deployment("demo", "cbam", "full", {"reduction": 8})
        >>> d.attention, d.slot.name, d.placement, d.slot_options, d.fa, d.stage
        ('cbam', 'cbam', 'full', {'reduction': 8}, False, None)
        >>> d.model_name("vgg16"), d.model_name("vgg16", "mine")
        ('vgg16_cbam_full', 'mine')
    """

    kind: AttentionKind | None
    slot: AttentionKind | None
    placement: str
    slot_options: dict[str, Any]
    fa: bool
    fa_options: dict[str, Any]
    stage: int | None
    stage_options: dict[str, Any]
    data_format: str | None = None

    @property
    def attention(self) -> str | None:
        """The kind's name (None: no attention)."""
        return None if self.kind is None else self.kind.name

    def model_name(self, base: str, name: str | None = None) -> str:
        """``name`` if given, else ``base`` for no attention, ``base_fa``, ``base_fa_se_<placement>``,
        ``base_<kind>_stage<s>``, else ``base_<kind>_<placement>`` (the slot builders' naming)."""
        if name is not None:
            return name
        if self.kind is None:
            return base
        prefix = layer_prefix(self.kind.name)
        if self.fa and self.slot is None:
            return f"{base}_{prefix}"
        if self.stage is not None:
            return f"{base}_{prefix}_stage{self.stage}"
        return f"{base}_{prefix}_{self.placement}"


def _options_dict(builder: str, argument: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{builder}: argument `{argument}` must be a dict of keyword arguments; got {value!r}.")
    reserved = sorted({"name", "data_format"} & set(value))
    if reserved:
        raise ValueError(f"{builder}: argument `{argument}` may not set {reserved}: the builders name the modules "
                         f"and give them their own data_format.")
    return dict(value)


def _builder_options(
    builder: str,
    kind: AttentionKind | None,
    options: dict[str, Any],
    builder_options: dict[str, Any],
    at_stage: bool,
) -> dict[str, Any]:
    """Fold the builder arguments a kind declares (``AttentionKind.builder_options``: SPANet's ``k``) into its
    layer ``options``: each given one must be declared by the kind and not also set in ``attention_options``; at
    a stage the row's default applies when it is not given."""
    declared = dict(kind.builder_options) if kind is not None else {}
    for argument, value in builder_options.items():
        if value is None:
            continue
        if argument not in declared:
            kinds = [n for n, k in ATTENTION_KINDS.items() if argument in dict(k.builder_options)]
            takers = " or ".join(repr(n) for n in kinds) or "no kind"
            raise ValueError(
                f"{builder}: argument `{argument}` applies only to attention={takers}; got {argument}={value!r} "
                f"with attention={None if kind is None else kind.name!r}."
            )
        if argument in options:
            raise ValueError(
                f"{builder}: set {argument!r} once, either argument `{argument}` ({value!r}) or "
                f"attention_options[{argument!r}] ({options[argument]!r})."
            )
        options[argument] = value
    if at_stage:
        for argument, default in declared.items():
            if default is not None:
                options.setdefault(argument, default)
    return options


def _check_layout(builder: str, kinds: Iterable[AttentionKind | None], data_format: str | None) -> None:
    """In a channels-first image builder every module must take the builder's ``data_format`` (its row's
    ``context`` names it), else it would read ``(B, C, H, W)`` as ``(B, H, W, C)``: a ValueError naming it."""
    if data_format != "channels_first":
        return
    for kind in kinds:
        if kind is not None and "data_format" not in kind.context:
            raise ValueError(
                f"{builder}: attention={kind.name!r} does not take the builder's data_format (its registry row's "
                f"context is {list(kind.context)}), so it cannot go into a data_format='channels_first' model; "
                f"register it with context=('data_format', ...) and a layer that takes data_format."
            )


def resolve_deployment(
    builder: str,
    attention: str | AttentionKind | None,
    placement: str | None = None,
    attention_options: dict[str, Any] | None = None,
    *,
    hosts: str | Sequence[str] = (SLOT,),
    rank: int = 2,
    stage: int | None = None,
    n_stages: int | None = None,
    allow_none: bool = True,
    data_format: str | None = None,
    **builder_options: Any,
) -> Deployment:
    """Check a builder's attention arguments together, resolve the kind once, and return a :class:`Deployment`.

    Every builder calls it first. ``hosts``: the deployments the builder has (``"slot"``; ``"blocks"`` for VGG
    and the ResNets, FA over blocks and stages; ``"stage"`` for the ResNets, one module after stage ``stage``
    in ``1..n_stages``, default 3; ``"mixer"`` for the attention encoder, ``"sequence"`` for the self-attention
    LSTM); ``rank``: the builder's (2 images, 1 sequences); ``data_format``: an image builder's layout, already
    resolved (a channels-first builder refuses kinds that do not take it). ``placement=None`` means the kind's default:
    ``"bottleneck"`` for slot modules, ``"full"`` (the companion, SE, in every block) for ``"fa+se"``;
    ``"fa"``, the stage kinds and the mixer / sequence builders take no placement. ``builder_options``: the
    builder arguments some kinds declare (``k`` for ``"spanet"``), None when not given. Every invalid
    combination raises a ValueError naming the arguments; ``allow_none=False``: a builder that needs a kind.

    Args:
        builder: the builder's name, for the messages and ``Deployment.model_name``.
        attention: the builder's ``attention`` (a name, an :class:`AttentionKind` or None).
        placement: ``"bottleneck"``, ``"full"`` or None (the kind's default).
        attention_options: the builder's ``attention_options`` (a dict or None).
        hosts: the deployments the builder has.
        rank: the builder's rank.
        stage: the builder's ``stage`` (stage kinds only).
        n_stages: the builder's number of stages.
        allow_none: whether ``attention=None`` is accepted.
        data_format: the image builder's layout, already resolved (None: a sequence builder).
        **builder_options: builder arguments that some kinds declare (``k``), None when not given.

    Returns:
        The :class:`Deployment`.

    Raises:
        ValueError: an invalid argument or combination (an unknown kind or placement, a ``placement`` or
            ``stage`` the kind does not take, a builder option of another kind or set twice, a kind that does
            not take the channels-first layout, bad ``attention_options``); the message names the builder and
            the argument.

    Example:
        >>> from keras_attention.models import resolve_deployment
        >>> d = resolve_deployment("demo", "fa+se", hosts=("slot", "blocks"))
        >>> d.attention, d.slot.name, d.placement, d.fa, d.model_name("demo")
        ('fa+se', 'se', 'full', True, 'demo_fa_se_full')
        >>> d = resolve_deployment("demo", "spanet", hosts=("slot", "stage"), n_stages=4, k=4)
        >>> d.stage, d.stage_options, d.model_name("demo")
        (3, {'k': 4}, 'demo_spanet_stage3')
    """
    hosts = (hosts,) if isinstance(hosts, str) else tuple(hosts)
    try:
        kind = resolve_attention(attention, hosts, rank, allow_none=allow_none)
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None
    options = check_attention_options(attention_options)
    if placement is not None:
        placement = check_placement(placement)
    over_blocks = kind is not None and BLOCKS in hosts and kind.hosts(BLOCKS, rank)
    at_stage = kind is not None and STAGE in hosts and kind.hosts(STAGE, rank)
    whole = kind is not None and not over_blocks and not at_stage and not kind.hosts(SLOT, rank)  # mixer, sequence
    companion = ATTENTION_KINDS[kind.companion] if kind is not None and kind.companion else None
    # over_blocks, at_stage and whole each imply a kind; `kind is not None` says so to the type checker
    if placement is not None and kind is not None and ((over_blocks and companion is None) or at_stage or whole):
        where = ("FA goes over every block and stage, Fig. 4" if over_blocks
                 else "one module after the stage given by `stage`" if at_stage
                 else "one module in every block")
        raise ValueError(
            f"{builder}: argument `placement` does not apply to attention={kind.name!r} ({where}); leave it "
            f"None; got placement={placement!r}."
        )
    if stage is not None and not at_stage:
        kinds = " or ".join(repr(n) for n in attention_names(STAGE, rank)) if STAGE in hosts else ""
        raise ValueError(
            f"{builder}: argument `stage` applies only to attention={kinds or 'no kind of this builder'}; got "
            f"stage={stage!r} with attention={attention if kind is None else kind.name!r}."
        )
    options = _builder_options(builder, kind, options, builder_options, at_stage)
    slot, slot_options, fa_options, stage_options = kind, options, {}, {}
    if at_stage:
        stage = 3 if stage is None else stage
        assert n_stages is not None, f"{builder}: a builder that hosts stage kinds gives n_stages"
        if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= n_stages:
            raise ValueError(
                f"{builder}: argument `stage` must be an integer in 1..{n_stages} (the module goes after that "
                f"stage); got {stage!r}."
            )
        slot, slot_options, stage_options = None, {}, options
    elif over_blocks and companion is None:
        slot, slot_options, fa_options = None, {}, options
    elif over_blocks and kind is not None and companion is not None:  # FA with its companion ("fa+se")
        keys = (str(kind.prefix), companion.name)  # ("fa", "se"): one dict per module (prefix: a str once made)
        unknown = sorted(set(options) - set(keys))
        if unknown:
            raise ValueError(
                f"{builder}: with attention={kind.name!r}, argument `attention_options` holds one dict per module, "
                f"under the keys {list(keys)}; got the keys {unknown}."
            )
        fa_options = _options_dict(builder, f"attention_options[{keys[0]!r}]", options.get(keys[0], {}))
        slot, slot_options = companion, _options_dict(builder, f"attention_options[{companion.name!r}]",
                                                      options.get(companion.name, {}))
        placement = placement or "full"
    _check_layout(builder, (kind, companion), data_format)
    return Deployment(
        kind=kind,
        slot=slot,
        placement=placement or "bottleneck",
        slot_options=slot_options,
        fa=over_blocks,
        fa_options=fa_options,
        stage=stage if at_stage else None,
        stage_options=stage_options,
        data_format=data_format,
    )


def apply_focus_association(
    kind: AttentionKind,
    block_input: Tensor,
    block_output: Tensor,
    s: Tensor | None,
    name: str,
    options: dict[str, Any],
    data_format: str | None = None,
) -> tuple[Tensor, Tensor]:
    """One FA module (the layer of the blocks kind ``kind``) on a block (FANet eq. 5-9): returns
    ``(x_next, s_next)``; ``s`` is None for the first recalibrated block of a chain.

    Args:
        kind: the blocks kind (``"fa"`` / ``"fa+se"``).
        block_input: the block's input ``x``.
        block_output: the block's output ``u``.
        s: the chain's focus scores so far, None for its first recalibrated block.
        name: the module's name.
        options: extra keyword arguments for the layer.
        data_format: the image builder's layout.

    Returns:
        ``(x_next, s_next)``: the recalibrated block output and the chain's scores, ``(B, n)`` after the
        ``n``-th recalibrated block.

    Example:
        >>> import keras
        >>> from keras_attention.models import resolve_attention
        >>> from keras_attention.models.attention_slots import apply_focus_association
        >>> x = keras.Input((8, 8, 16))
        >>> u = keras.layers.Conv2D(32, 3, strides=2, padding="same")(x)  # the block: other size and channels
        >>> x_next, s = apply_focus_association(resolve_attention("fa", ("blocks",)), x, u, None, "fa_block2", {})
        >>> tuple(x_next.shape), tuple(s.shape)
        ((None, 4, 4, 32), (None, 1))
    """
    layer = kind.build(name, context=_image_context(data_format), options=options)
    return layer([block_input, block_output] if s is None else [block_input, block_output, s])


def apply_stage_module(
    kind: AttentionKind, x: Tensor, name: str, options: dict[str, Any], data_format: str | None = None
) -> Tensor:
    """The single-input module of ``kind`` on ``x`` (after a whole stage), named ``name``.

    Args:
        kind: the stage kind (``"spanet"`` / ``"nonlocal"``).
        x: the stage's output.
        name: the module's name.
        options: extra keyword arguments for the layer.
        data_format: the image builder's layout.

    Returns:
        The module's output.

    Example:
        >>> import keras
        >>> from keras_attention.models import resolve_attention
        >>> from keras_attention.models.attention_slots import apply_stage_module
        >>> y = apply_stage_module(resolve_attention("spanet", ("stage",)), keras.Input((8, 8, 16)), "spanet_stage3",
        ...                        {"k": 2})
        >>> tuple(y.shape), y._keras_history.operation.name
        ((None, 8, 8, 16), 'spanet_stage3')
    """
    return kind.call(kind.build(name, context=_image_context(data_format), options=options), x)


__all__ = [
    "ATTENTION_KINDS",
    "AttentionKind",
    "DEPLOYED_KINDS",
    "Deployment",
    "MIXER",
    "PLACEMENTS",
    "SEQUENCE",
    "apply_attention",
    "apply_focus_association",
    "apply_stage_module",
    "attention_layers",
    "check_attention_options",
    "check_placement",
    "layer_prefix",
    "register_attention",
    "resolve_attention",
    "resolve_deployment",
    "unregister_attention",
]
