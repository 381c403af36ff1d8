"""Attention dispatch for the model builders: which module goes into an attention slot (SPEC §1, §10).

An *attention slot* is a place in a network where a module may weight a feature map. Every slot sees
two tensors: ``previous`` (the input of the layer that made the feature map; the network input for
the first layer) and ``current`` (that layer's output). What a module takes from the pair is part of
its registry entry:

- pair modules (SAN-c, SAN-d) get ``[previous, current]`` (SAN paper eq. 4-12);
- single-input modules (CBAM, BAM, SE) get ``current`` only.

The module's output replaces ``current`` and feeds on. Adding a method later is one call to
:func:`register_attention` (later steps add "fa", "spanet", "nonlocal", "aw").

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


def check_attention(attention):
    """Return ``attention`` when it is None or a registered kind, else raise a ValueError listing them."""
    if attention is None or (isinstance(attention, str) and attention in ATTENTION_KINDS):
        return attention
    valid = ", ".join(["None"] + [repr(k) for k in sorted(ATTENTION_KINDS)])
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
    """``"san-c"`` -> ``"san_c"``: the name prefix of the modules of that kind."""
    return attention.replace("-", "_")


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
    prefixes = tuple(layer_prefix(k) + "_" for k in ATTENTION_KINDS)
    return [layer for layer in model.layers if layer.name.startswith(prefixes)]
