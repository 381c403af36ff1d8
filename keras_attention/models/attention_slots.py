"""Attention dispatch for the model builders: which module goes into an attention slot (SPEC §1, §10).

An *attention slot* is a place in a network where a module may weight a feature map. Every slot sees
two tensors: ``previous`` (the input of the layer that made the feature map; the network input for
the first layer) and ``current`` (that layer's output). What a module takes from the pair is part of
its registry entry:

- pair modules (SAN-c, SAN-d) get ``[previous, current]`` (SAN paper eq. 4-12);
- single-input modules (CBAM, BAM, SE, SPANet, non-local) get ``current`` only.

The module's output replaces ``current`` and feeds on. Adding a method later is one call to
:func:`register_attention`.

Not every method is a slot module. The *deployed* kinds in :data:`DEPLOYED_KINDS` change a network's
structure and are built by the builders that support them (see their docstrings), never through a slot:

- ``"fa"`` / ``"fa+se"``: focus-and-association over blocks and stages (FANet Fig. 4; ResNets, VGG);
  their modules are named ``fa_<slot>``;
- in the ResNet builders, ``"spanet"`` / ``"nonlocal"`` mean one module after a given stage (SPANet
  Table 2); elsewhere they are ordinary single-input slot modules;
- AW-convolution is not an attention kind but a convolution: the ResNet builders' ``conv="aw"``.

The builders name every module ``<kind>_<slot>`` with ``<kind>`` the attention name with ``-`` turned
into ``_`` (``san_c_block1_conv2``, ``cbam_stage2_block2``), so ``model.summary()`` shows them and
:func:`attention_layers` finds them again.

Reading of SPEC where it is silent: SAN's smoothing kernel takes the slot's convolution kernel size
(5 for LeNet-5, 3 for VGG / ResNet, 3 for LSTM slots where there is no kernel); an explicit
``kernel_size`` in ``attention_options`` wins.
"""

from dataclasses import dataclass
from typing import Callable

PLACEMENTS = ("bottleneck", "full")
# Kinds that the builders deploy themselves (not through a slot); kind -> layer-name prefix.
DEPLOYED_KINDS = {"fa": "fa", "fa+se": "fa"}


@dataclass(frozen=True)
class AttentionKind:
    """One registry entry: ``factory(name=..., **options)`` returns a layer.

    ``pair=True``: the layer is called on ``[previous, current]``; otherwise on ``current``.
    ``match_kernel=True``: the slot's convolution kernel size is passed as ``kernel_size`` unless the
    options set it.
    """

    factory: Callable
    pair: bool
    match_kernel: bool


ATTENTION_KINDS = {}


def register_attention(name, factory, *, pair=False, match_kernel=False, replace=False):
    """Register ``factory(name=..., **options) -> keras layer`` under ``name``.

    Raises a ValueError when ``name`` is already registered (unless ``replace=True``) or is not a
    lower-case identifier-like string (letters, digits, ``-``).
    """
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch == "-" for ch in name) or (
        name != name.lower()
    ):
        raise ValueError(
            f"Argument `name` must be a non-empty lower-case string of letters, digits and '-'; got {name!r}."
        )
    if name in DEPLOYED_KINDS:
        raise ValueError(
            f"Attention kind {name!r} is reserved: the builders deploy it over blocks, not through a slot."
        )
    if name in ATTENTION_KINDS and not replace:
        raise ValueError(f"Attention kind {name!r} is already registered; pass replace=True to override it.")
    ATTENTION_KINDS[name] = AttentionKind(factory=factory, pair=bool(pair), match_kernel=bool(match_kernel))
    return ATTENTION_KINDS[name]


def _san(variant):
    def factory(name, **options):
        from keras_attention.layers.scale_space_attention import ScaleSpaceAttention

        return ScaleSpaceAttention(variant=variant, name=name, **options)

    return factory


def _single(module, class_name):
    def factory(name, **options):
        import importlib

        cls = getattr(importlib.import_module(f"keras_attention.layers.{module}"), class_name)
        return cls(name=name, **options)

    return factory


register_attention("san-c", _san("c"), pair=True, match_kernel=True)
register_attention("san-d", _san("d"), pair=True, match_kernel=True)
register_attention("cbam", _single("cbam", "CBAM"))
register_attention("bam", _single("bam", "BAM"))
register_attention("se", _single("squeeze_excitation", "SqueezeExcitation"))
register_attention("spanet", _single("salient_positions_attention", "SalientPositionsAttention"))
register_attention("nonlocal", _single("non_local", "NonLocalBlock"))


def check_attention(attention, deployed=()):
    """Return ``attention`` when it is None, a registered kind or one of the ``deployed`` kinds the
    calling builder supports, else raise a ValueError listing them."""
    valid_kinds = set(ATTENTION_KINDS) | set(deployed)
    if attention is None or (isinstance(attention, str) and attention in valid_kinds):
        return attention
    valid = ", ".join(["None"] + [repr(k) for k in sorted(valid_kinds)])
    raise ValueError(f"Argument `attention` must be one of {valid}; got {attention!r}.")


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


def layer_prefix(attention):
    """``"san-c"`` -> ``"san_c"``, ``"fa+se"`` -> ``"fa_se"``: the name part of that kind."""
    return attention.replace("-", "_").replace("+", "_")


def apply_attention(attention, previous, current, slot, *, kernel_size=3, options=None):
    """Apply the ``attention`` module at ``slot`` and return the tensor that feeds on.

    ``attention=None`` returns ``current`` unchanged. The layer is named ``<prefix>_<slot>``;
    ``kernel_size`` is the slot's convolution kernel size, offered to kinds registered with
    ``match_kernel=True``.
    """
    if attention is None:
        return current
    kind = ATTENTION_KINDS[check_attention(attention)]
    options = dict(options or {})
    if kind.match_kernel:
        options.setdefault("kernel_size", kernel_size)
    layer = kind.factory(name=f"{layer_prefix(attention)}_{slot}", **options)
    return layer([previous, current]) if kind.pair else layer(current)


def attention_layers(model):
    """The attention modules the builders put into ``model``, in network order."""
    prefixes = tuple(layer_prefix(k) + "_" for k in ATTENTION_KINDS) + tuple(
        prefix + "_" for prefix in sorted(set(DEPLOYED_KINDS.values()))
    )
    return [layer for layer in model.layers if layer.name.startswith(prefixes)]


# ----------------------------------------------------------------------------- deployed kinds
FA_KINDS = ("fa", "fa+se")
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
        if self.attention == "fa":
            return f"{base}_fa"
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
                       stage=None, k=None, n_stages=None):
    """Check a builder's attention arguments together and return a :class:`Deployment`.

    ``fa=True``: the builder supports ``"fa"`` / ``"fa+se"``; ``stage_kinds``: kinds the builder puts
    after one stage (``stage`` in ``1..n_stages``, default 3; ``k`` only for ``"spanet"``, default 2).
    ``placement=None`` means the kind's default: ``"bottleneck"`` for slot modules, ``"full"`` (SE in
    every block) for ``"fa+se"``; ``"fa"`` and the stage kinds take no placement. Every invalid
    combination raises a ValueError naming the arguments.
    """
    attention = check_attention(attention, deployed=FA_KINDS if fa else ())
    options = check_attention_options(attention_options)
    if placement is not None:
        placement = check_placement(placement)
    at_stage = attention in stage_kinds
    if placement is not None and (attention == "fa" or at_stage):
        where = ("FA goes over every block and stage, Fig. 4" if attention == "fa"
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
    elif attention == "fa":
        slot, slot_options, fa_options = None, {}, options
    elif attention == "fa+se":
        unknown = sorted(set(options) - set(FA_SE_OPTION_KEYS))
        if unknown:
            raise ValueError(
                f"{builder}: with attention='fa+se', argument `attention_options` holds one dict per module, "
                f"under the keys {list(FA_SE_OPTION_KEYS)}; got the keys {unknown}."
            )
        fa_options = _options_dict(builder, "attention_options['fa']", options.get("fa", {}))
        slot, slot_options = "se", _options_dict(builder, "attention_options['se']", options.get("se", {}))
        placement = placement or "full"
    return Deployment(
        attention=attention,
        slot=slot,
        placement=placement or "bottleneck",
        slot_options=slot_options,
        fa=attention in FA_KINDS,
        fa_options=fa_options,
        stage=stage if at_stage else None,
        stage_options=stage_options,
    )


def apply_focus_association(block_input, block_output, s, name, options):
    """One FA module on a block (FANet eq. 5-9): returns ``(x_next, s_next)``; ``s`` is None for the
    first recalibrated block of a chain."""
    from keras_attention.layers.focus_association import FocusAssociation

    layer = FocusAssociation(name=name, **options)
    return layer([block_input, block_output] if s is None else [block_input, block_output, s])


def apply_stage_module(attention, x, name, options):
    """The single-input module ``attention`` on ``x`` (after a whole stage), named ``name``."""
    return ATTENTION_KINDS[attention].factory(name=name, **options)(x)
