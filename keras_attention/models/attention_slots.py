"""Attention dispatch for the model builders: which module goes into an attention slot (SPEC §1, §10).

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

Reading of SPEC where it is silent: SAN's smoothing kernel takes the slot's convolution kernel size
(5 for LeNet-5, 3 for VGG / ResNet, 3 for LSTM slots where there is no kernel); an explicit
``kernel_size`` in ``attention_options`` wins.
"""

from dataclasses import dataclass

from keras_attention.layers.registry import (
    ATTENTION_KINDS,
    BLOCKS,
    SLOT,
    STAGE,
    AttentionKind,
    attention_names,
    check_kind,
    get_attention,
    layer_prefix,
    register_attention,
    unregister_attention,
)

PLACEMENTS = ("bottleneck", "full")
# The built-in kinds that the builders deploy themselves (not through a slot); kind -> layer-name prefix.
DEPLOYED_KINDS = {name: ATTENTION_KINDS[name].prefix for name in attention_names(BLOCKS)}


def check_attention(attention, deployed=(), rank=None):
    """Return ``attention`` when it is None, a registered slot kind of ``rank`` (any if None) or one of the
    ``deployed`` kinds the calling builder supports, else raise a ValueError listing them."""
    return check_kind("attention", attention, attention_names(SLOT, rank) + tuple(deployed), allow_none=True)


def check_placement(placement):
    if placement not in PLACEMENTS:
        raise ValueError(f"Argument `placement` must be one of {list(PLACEMENTS)}; got {placement!r}.")
    return placement


def check_attention_options(attention_options):
    if attention_options is None:
        return {}
    if not isinstance(attention_options, dict):
        raise ValueError(
            f"Argument `attention_options` must be a dict of keyword arguments for the attention layer or "
            f"None; got {attention_options!r}."
        )
    reserved = {"name"} & set(attention_options)
    if reserved:
        raise ValueError(
            f"Argument `attention_options` may not set {sorted(reserved)}: the builders name the modules."
        )
    return dict(attention_options)


def module_name(attention, slot):
    """``<prefix>_<slot>``: the name of the ``attention`` module at ``slot`` (``san_c_conv1``, ``fa_stage2``)."""
    return f"{get_attention(attention).prefix}_{slot}"


def apply_attention(attention, previous, current, slot, *, kernel_size=3, options=None):
    """Apply the ``attention`` module at ``slot`` and return the tensor that feeds on.

    ``attention=None`` returns ``current`` unchanged. The layer is named ``<prefix>_<slot>``;
    ``kernel_size`` is the slot's convolution kernel size, offered to kinds that take it from the
    builder's context (``match_kernel=True``).
    """
    if attention is None:
        return current
    kind = get_attention(check_attention(attention))
    module = kind.build(module_name(attention, slot), context={"kernel_size": kernel_size}, options=options)
    return kind.call(module, current, previous)


def attention_layers(model):
    """The attention modules the builders put into ``model`` (slots, stages, blocks), in network order."""
    prefixes = tuple(dict.fromkeys(ATTENTION_KINDS[name].prefix + "_"
                                   for name in attention_names((SLOT, STAGE, BLOCKS))))
    return [layer for layer in model.layers if layer.name.startswith(prefixes)]


# ----------------------------------------------------------------------------- deployed kinds
FA_KINDS = tuple(DEPLOYED_KINDS)  # the built-in kinds deployed over blocks
FA_SE_OPTION_KEYS = ("fa", "se")


@dataclass(frozen=True)
class Deployment:
    """Where a builder puts which modules, resolved from its arguments by :func:`resolve_deployment`.

    ``slot``: the kind in the attention slots (``"se"`` for ``"fa+se"``, None for ``"fa"`` and the stage
    kinds), placed by ``placement`` with ``slot_options``; ``fa``: focus-and-association over the blocks
    (and stages), with ``fa_options``; ``stage``: the stage after which one ``attention`` module goes
    (``stage_options``), None when there is none.
    """

    attention: object
    slot: object
    placement: str
    slot_options: dict
    fa: bool
    fa_options: dict
    stage: object
    stage_options: dict

    def model_name(self, base):
        """``base`` for no attention, ``base_fa``, ``base_fa_se_<placement>``, ``base_<kind>_stage<s>``,
        else ``base_<kind>_<placement>`` (the slot builders' naming)."""
        if self.attention is None:
            return base
        if self.fa and self.slot is None:
            return f"{base}_{layer_prefix(self.attention)}"
        if self.stage is not None:
            return f"{base}_{layer_prefix(self.attention)}_stage{self.stage}"
        return f"{base}_{layer_prefix(self.attention)}_{self.placement}"


def _options_dict(builder, argument, value):
    if not isinstance(value, dict):
        raise ValueError(f"{builder}: argument `{argument}` must be a dict of keyword arguments; got {value!r}.")
    if "name" in value:
        raise ValueError(f"{builder}: argument `{argument}` may not set ['name']: the builders name the modules.")
    return dict(value)


def resolve_deployment(builder, attention, placement, attention_options, *, fa=False, stage_kinds=(),
                       stage=None, k=None, n_stages=None, rank=2):
    """Check a builder's attention arguments together and return a :class:`Deployment`.

    ``fa=True``: the builder supports the kinds deployed over blocks (``"fa"`` / ``"fa+se"``);
    ``stage_kinds``: kinds the builder puts after one stage (``stage`` in ``1..n_stages``, default 3; ``k``
    only for ``"spanet"``, default 2); ``rank``: the builder's (2, images) for its slot kinds.
    ``placement=None`` means the kind's default: ``"bottleneck"`` for slot modules, ``"full"`` (the
    companion, SE, in every block) for ``"fa+se"``; ``"fa"`` and the stage kinds take no placement. Every
    invalid combination raises a ValueError naming the arguments.
    """
    blocks = attention_names(BLOCKS, rank) if fa else ()
    stage_kinds = tuple(stage_kinds)
    attention = check_attention(attention, deployed=blocks + stage_kinds, rank=rank)
    options = check_attention_options(attention_options)
    if placement is not None:
        placement = check_placement(placement)
    companion = get_attention(attention).companion if attention is not None else None
    over_blocks = attention in blocks
    at_stage = attention in stage_kinds
    if placement is not None and ((over_blocks and companion is None) or at_stage):
        where = ("FA goes over every block and stage, Fig. 4" if over_blocks
                 else "one module after the stage given by `stage`")
        raise ValueError(
            f"{builder}: argument `placement` does not apply to attention={attention!r} ({where}); leave it "
            f"None; got placement={placement!r}."
        )
    if stage is not None and not at_stage:
        kinds = " or ".join(repr(kind) for kind in stage_kinds) or "no kind of this builder"
        raise ValueError(
            f"{builder}: argument `stage` applies only to attention={kinds}; got stage={stage!r} with "
            f"attention={attention!r}."
        )
    if k is not None and attention != "spanet":
        raise ValueError(
            f"{builder}: argument `k` (salient positions) applies only to attention='spanet'; got k={k!r} with "
            f"attention={attention!r}."
        )
    slot, slot_options, fa_options, stage_options = attention, options, {}, {}
    if at_stage:
        stage = 3 if stage is None else stage
        if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= n_stages:
            raise ValueError(
                f"{builder}: argument `stage` must be an integer in 1..{n_stages} (the module goes after that "
                f"stage); got {stage!r}."
            )
        if attention == "spanet":
            if k is not None and "k" in options:
                raise ValueError(
                    f"{builder}: set the number of salient positions once, either argument `k` ({k!r}) or "
                    f"attention_options['k'] ({options['k']!r})."
                )
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise ValueError(f"{builder}: argument `k` must be an integer >= 1; got {k!r}.")
            options.setdefault("k", 2 if k is None else k)
        slot, slot_options, stage_options = None, {}, options
    elif over_blocks and companion is None:
        slot, slot_options, fa_options = None, {}, options
    elif over_blocks:
        keys = (get_attention(attention).prefix, companion)  # ("fa", "se"): one dict per module
        unknown = sorted(set(options) - set(keys))
        if unknown:
            raise ValueError(
                f"{builder}: with attention={attention!r}, argument `attention_options` holds one dict per module, "
                f"under the keys {list(keys)}; got the keys {unknown}."
            )
        fa_options = _options_dict(builder, f"attention_options[{keys[0]!r}]", options.get(keys[0], {}))
        slot, slot_options = companion, _options_dict(builder, f"attention_options[{companion!r}]",
                                                      options.get(companion, {}))
        placement = placement or "full"
    return Deployment(
        attention=attention,
        slot=slot,
        placement=placement or "bottleneck",
        slot_options=slot_options,
        fa=over_blocks,
        fa_options=fa_options,
        stage=stage if at_stage else None,
        stage_options=stage_options,
    )


def apply_focus_association(block_input, block_output, s, name, options, kind="fa"):
    """One FA module (the layer of the blocks kind ``kind``) on a block (FANet eq. 5-9): returns
    ``(x_next, s_next)``; ``s`` is None for the first recalibrated block of a chain."""
    layer = get_attention(kind).build(name, options=options)
    return layer([block_input, block_output] if s is None else [block_input, block_output, s])


def apply_stage_module(attention, x, name, options):
    """The single-input module ``attention`` on ``x`` (after a whole stage), named ``name``."""
    kind = get_attention(attention)
    return kind.call(kind.build(name, options=options), x)


__all__ = [
    "ATTENTION_KINDS",
    "AttentionKind",
    "DEPLOYED_KINDS",
    "Deployment",
    "FA_KINDS",
    "PLACEMENTS",
    "apply_attention",
    "apply_focus_association",
    "apply_stage_module",
    "attention_layers",
    "check_attention",
    "check_attention_options",
    "check_placement",
    "layer_prefix",
    "module_name",
    "register_attention",
    "resolve_deployment",
    "unregister_attention",
]
