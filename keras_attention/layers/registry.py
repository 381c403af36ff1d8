"""The registry of attention kinds: one table that every model builder and the command line read (SPEC §1, §10).

:data:`ATTENTION_KINDS` maps a kind's name (``"san-c"``, ``"cbam"``, ``"se"``, ``"xm2a"``, ...) to an
:class:`AttentionKind` row that says

- what makes the module: ``factory(name=..., **options)``, a layer class (a :class:`LayerRef`, imported
  on first use) or a function that builds the layer(s) from the options and the builder's context;
- what it takes (``inputs``): ``"one"`` tensor (``layer(current)``), the ``"pair"`` ``[previous, current]``
  (SAN, eq. 4-12; FA's ``[x, u(, s)]``), or ``"self"``, query = value = current (``layer(current, current)``,
  Keras' ``MultiHeadAttention``);
- the ranks it supports (``ranks``): 1 = sequences ``(B, T, C)``, 2 = images ``(B, H, W, C)``;
- how the builders deploy it (``deployments``, the keys of :data:`DEPLOYMENTS`):

  * ``"slot"``: in an attention slot after a convolution / recurrent layer (``lenet5``, ``vgg16``,
    ``vgg19``, the ResNets, ``lstm4``), named ``<prefix>_<slot>``;
  * ``"stage"``: one module after a whole stage (the ResNets, SPANet Table 2), named ``<prefix>_stage<s>``.
    In the ResNets a kind that declares ``"stage"`` always goes there, even if it also declares ``"slot"``;
  * ``"blocks"``: focus-and-association over blocks and stages, laid out by the builder itself (``vgg16``,
    ``vgg19``, the ResNets; FANet Fig. 4), modules named ``<prefix>_<slot>``; only the built-in ``"fa"``
    and ``"fa+se"`` (whose ``companion`` ``"se"`` goes into the slots);
  * ``"mixer"``: the attention sub-block of every :func:`keras_attention.models.attention_encoder` block,
    on the ``(T, d)`` sequence, named ``block<i>_attention``;
  * ``"sequence"``: the self-attention after every LSTM of
    :func:`keras_attention.models.self_attention_lstm`, named ``self_attention<i>``;

- which values of the builder's context it takes (``context``: ``kernel_size`` of the slot's convolution
  for SAN; ``data_format`` of an image builder for every built-in image layer; ``num_heads``, ``key_dim``,
  ``output_dim``, ... of the encoder), passed as keyword arguments unless the options set them, and the
  arguments the kind fixes (``fixed``: SAN-c's ``variant="c"``);
- which builder arguments it takes (``builder_options``: SPANet's ``k``, the number of salient positions, which
  every image builder then accepts for ``attention="spanet"``), each with its default where the kind goes after
  a whole stage (SPANet Table 2: ``k=2``), or None for the layer's own default.

:func:`register_attention` adds a row (a kind of the user's: :func:`unregister_attention` removes it
again); :func:`get_attention` and :func:`check_kind` look kinds up with errors that name the argument,
the value and the names that would do; :func:`create_attention` (also ``keras_attention.create_attention``)
makes any registered kind's module by name, for use outside the builders. This module imports neither Keras nor TensorFlow nor the layer
modules (the layer classes are imported when a module is first built), so the command line reads the
kind names for ``--attention`` without starting TensorFlow.
"""

import importlib
import inspect
import itertools
import math
from dataclasses import dataclass
from typing import Callable

SLOT, STAGE, BLOCKS, MIXER, SEQUENCE = "slot", "stage", "blocks", "mixer", "sequence"
DEPLOYMENTS = {
    SLOT: "in an attention slot after a convolution or recurrent layer (lenet5, vgg16/19, the ResNets, lstm4)",
    STAGE: "as one module after a whole stage (the ResNets)",
    BLOCKS: "over the blocks and stages, laid out by the builder (vgg16/19, the ResNets)",
    MIXER: "as the attention sub-block of every attention_encoder block",
    SEQUENCE: "as the self-attention after every LSTM of self_attention_lstm",
}
INPUTS = {"one": "layer(current)", "pair": "layer([previous, current])", "self": "layer(current, current)"}
RANKS = (1, 2)
# Names no kind may take: "none" means no attention on the command line.
RESERVED_NAMES = ("none",)


def layer_prefix(attention):
    """``"san-c"`` -> ``"san_c"``, ``"fa+se"`` -> ``"fa_se"``: the name part of that kind."""
    return attention.replace("-", "_").replace("+", "_")


@dataclass(frozen=True)
class LayerRef:
    """A layer class named by its module path and class name, imported on first use.

    Calling it builds the layer: ``LayerRef("keras_attention.layers.cbam", "CBAM")(name="cbam_conv1")``.
    """

    module: str
    class_name: str

    def resolve(self):
        """The class itself (imports its module)."""
        cls = getattr(importlib.import_module(self.module), self.class_name, None)
        if cls is None:
            raise ValueError(f"Module {self.module!r} has no class {self.class_name!r} (LayerRef of the registry).")
        return cls

    def __call__(self, **kwargs):
        return self.resolve()(**kwargs)


def _tuple_of(argument, value, allowed, owner):
    """``value`` (one name or an iterable of names) as a tuple without repeats, each one of ``allowed``."""
    values = (value,) if isinstance(value, (str, int)) else tuple(value)
    values = tuple(dict.fromkeys(values))
    bad = [v for v in values if isinstance(v, bool) or v not in allowed]
    if not values or bad:
        raise ValueError(
            f"{owner}: argument `{argument}` must be one or more of {list(allowed)}; got {value!r}."
        )
    return values


@dataclass(frozen=True)
class AttentionKind:
    """One row of :data:`ATTENTION_KINDS` (the fields are described in the module docstring).

    ``name``: the kind's name; ``factory(name=..., **options)`` makes the module (a layer, or a function of
    the input tensor that applies several layers); ``inputs``: a key of :data:`INPUTS`; ``ranks``: the
    supported ranks (1 sequences, 2 images); ``deployments``: keys of :data:`DEPLOYMENTS`; ``context``:
    the builder-context values it takes as keyword arguments; ``fixed``: ``(argument, value)`` pairs it
    always passes (options may not set them); ``builder_options``: ``(argument, default after a stage)``
    pairs of the builder arguments it takes; ``prefix``: the start of its modules' names (default
    :func:`layer_prefix` of the name); ``companion``: the slot kind deployed with it (``"fa+se"``: ``"se"``);
    ``builtin``: a kind of this package (it cannot be unregistered).
    """

    name: str
    factory: Callable
    inputs: str = "one"
    ranks: tuple = RANKS
    deployments: tuple = (SLOT,)
    context: tuple = ()
    fixed: tuple = ()
    builder_options: tuple = ()
    prefix: str = None
    companion: str = None
    builtin: bool = False

    def __post_init__(self):
        owner = f"attention kind {self.name!r}"
        if not callable(self.factory):
            raise ValueError(f"{owner}: argument `factory` must be callable (factory(name=..., **options) -> "
                             f"layer); got {self.factory!r}.")
        if self.inputs not in INPUTS:
            raise ValueError(f"{owner}: argument `inputs` must be one of {list(INPUTS)}; got {self.inputs!r}.")
        object.__setattr__(self, "ranks", tuple(sorted(_tuple_of("ranks", self.ranks, RANKS, owner))))
        object.__setattr__(self, "deployments", _tuple_of("deployments", self.deployments, tuple(DEPLOYMENTS),
                                                          owner))
        if self.inputs == "pair" and set(self.deployments) - {SLOT, BLOCKS}:
            raise ValueError(
                f"{owner}: a kind on the pair [previous, current] can go only into slots (or over blocks), where "
                f"a previous tensor exists; got deployments={list(self.deployments)}."
            )
        if isinstance(self.context, str) or not all(isinstance(key, str) for key in self.context):
            raise ValueError(f"{owner}: argument `context` must be a sequence of argument names; got "
                             f"{self.context!r}.")
        object.__setattr__(self, "context", tuple(self.context))
        object.__setattr__(self, "fixed", tuple((str(key), value) for key, value in dict(self.fixed).items()))
        object.__setattr__(self, "builder_options",
                           tuple((str(key), value) for key, value in dict(self.builder_options).items()))
        if self.prefix is None:
            object.__setattr__(self, "prefix", layer_prefix(self.name))

    @property
    def pair(self):
        """True when the module is called on ``[previous, current]``."""
        return self.inputs == "pair"

    @property
    def match_kernel(self):
        """True when the slot's convolution kernel size is passed as ``kernel_size`` (unless options set it)."""
        return "kernel_size" in self.context

    def module_name(self, place):
        """``<prefix>_<place>``: the name of this kind's module at ``place`` (``san_c_conv1``, ``fa_stage2``)."""
        return f"{self.prefix}_{place}"

    def hosts(self, deployments, rank=None):
        """True when the kind can be deployed in one of ``deployments`` (a name or names) at ``rank`` (any if
        None)."""
        wanted = (deployments,) if isinstance(deployments, str) else tuple(deployments)
        return bool(set(wanted) & set(self.deployments)) and (rank is None or rank in self.ranks)

    def build(self, name, context=None, options=None):
        """The module named ``name``: ``factory(name=name, **fixed, **options)`` plus the ``context`` values
        this kind takes that ``options`` do not set."""
        options = dict(options or {})
        fixed = dict(self.fixed)
        clash = sorted(set(fixed) & set(options))
        if clash:
            raise ValueError(
                f"Argument `attention_options` may not set {clash} for attention={self.name!r}: the kind fixes "
                f"{fixed}; got {options!r}."
            )
        kwargs = {**fixed, **options}
        for key in self.context:
            if context is not None and key in context:
                kwargs.setdefault(key, context[key])
        return self.factory(name=name, **kwargs)

    def call(self, module, current, previous=None):
        """Apply ``module`` (from :meth:`build`) as ``inputs`` says; its output replaces ``current``."""
        if self.inputs == "pair":
            return module([previous, current])
        if self.inputs == "self":
            return module(current, current)
        return module(current)

    def where(self):
        """Where the builders deploy this kind, in words (for error messages)."""
        places = "; ".join(DEPLOYMENTS[d] for d in self.deployments)
        return f"{places}; rank {' or '.join(str(r) for r in self.ranks)}"


ATTENTION_KINDS = {}


def _add(kind, replace=False):
    """Put the row ``kind`` into :data:`ATTENTION_KINDS` (a ValueError if its name is taken, unless ``replace``)."""
    current = ATTENTION_KINDS.get(kind.name)
    if current is not None and BLOCKS in current.deployments:
        raise ValueError(
            f"Attention kind {kind.name!r} is reserved: the builders deploy it over blocks, not through a slot."
        )
    if current is not None and not replace:
        raise ValueError(f"Attention kind {kind.name!r} is already registered; pass replace=True to override it.")
    ATTENTION_KINDS[kind.name] = kind
    return kind


def register_attention(name, factory, *, pair=False, match_kernel=False, replace=False, ranks=RANKS,
                       deployments=(SLOT,), context=()):
    """Register ``factory(name=..., **options) -> keras layer`` (a layer class will do) under ``name``.

    ``pair=True``: the layer is called on ``[previous, current]`` (slots only); otherwise on ``current``.
    ``match_kernel=True``: the slot's convolution kernel size is passed as ``kernel_size`` unless the
    options set it. ``ranks``: 1 (sequences) and/or 2 (images); ``deployments``: any of ``"slot"``,
    ``"stage"``, ``"mixer"``, ``"sequence"`` (``"blocks"`` is the builders' own FA layout); ``context``:
    names of builder-context values passed as keyword arguments (``"num_heads"``, ``"key_dim"``,
    ``"output_dim"`` in the encoder; ``"units"`` after an LSTM). Every builder that hosts one of the
    ``deployments`` at one of the ``ranks`` then takes ``attention=name``, and so does the command line's
    ``train --attention`` for the image builders. Returns the new :class:`AttentionKind`.

    Raises a ValueError when ``name`` is already registered (unless ``replace=True``), is reserved, or is
    not a lower-case identifier-like string (letters, digits, ``-``).
    """
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch == "-" for ch in name) or (
        name != name.lower()
    ):
        raise ValueError(
            f"Argument `name` must be a non-empty lower-case string of letters, digits and '-'; got {name!r}."
        )
    if name in RESERVED_NAMES:
        raise ValueError(f"Attention kind {name!r} is reserved: it means no attention on the command line.")
    deployments = _tuple_of("deployments", deployments, tuple(DEPLOYMENTS), f"register_attention({name!r})")
    if BLOCKS in deployments:
        raise ValueError(
            f"register_attention({name!r}): argument `deployments` may not hold {BLOCKS!r} (the builders lay out "
            f"focus-and-association themselves); got {list(deployments)}."
        )
    context = (context,) if isinstance(context, str) else tuple(context)
    context += ("kernel_size",) if match_kernel and "kernel_size" not in context else ()
    kind = AttentionKind(name=name, factory=factory, inputs="pair" if pair else "one", ranks=ranks,
                         deployments=deployments, context=context)
    return _add(kind, replace=replace)


def unregister_attention(name):
    """Remove the kind ``name`` registered with :func:`register_attention` and return its row.

    Raises a ValueError for a name that is not registered or is one of this package's own kinds.
    """
    kind = get_attention(name, argument="name")
    if kind.builtin:
        raise ValueError(f"Argument `name`: {name!r} is a built-in attention kind and cannot be unregistered; "
                         f"register_attention({name!r}, ..., replace=True) replaces it.")
    return ATTENTION_KINDS.pop(name)


def attention_names(deployments=None, rank=None):
    """Names of the registered kinds (registration order) deployed in one of ``deployments`` (a name or
    names; any if None) at ``rank`` (any if None)."""
    return tuple(name for name, kind in ATTENTION_KINDS.items()
                 if kind.hosts(kind.deployments if deployments is None else deployments, rank))


def check_kind(argument, value, names, *, allow_none=False):
    """Return ``value`` when it is one of ``names`` (or None with ``allow_none``), else raise a ValueError
    naming ``argument``, the value and ``names`` (and, for a registered kind that cannot go here, where
    it can go)."""
    if (value is None and allow_none) or (isinstance(value, str) and value in names):
        return value
    if allow_none:
        valid = ", ".join(["None"] + [repr(name) for name in sorted(set(names))])
    else:
        valid = str(sorted(set(names)))
    kind = ATTENTION_KINDS.get(value) if isinstance(value, str) else None
    note = f" (a registered kind, deployed {kind.where()})" if kind is not None else ""
    raise ValueError(f"Argument `{argument}` must be one of {valid}; got {value!r}{note}.")


def get_attention(value, *, argument="attention"):
    """The :class:`AttentionKind` registered as ``value``; a ValueError naming ``argument``, the value and
    the registered names otherwise."""
    return ATTENTION_KINDS[check_kind(argument, value, tuple(ATTENTION_KINDS))]


# ----------------------------------------------------------------------------- composite kinds
def _scaled_dot_product_self_attention(name, output_dim):
    """``"self"``: ``keras.layers.Attention()([x / sqrt(d), x])`` with ``d = output_dim`` (the encoder width),
    the Rescaling named ``<name>_query_scale``; returns the function of ``x`` that applies both."""
    import keras  # noqa: PLC0415  (this module stays free of Keras until a module is built)

    def apply(x):
        query = keras.layers.Rescaling(1.0 / math.sqrt(output_dim), name=f"{name}_query_scale")(x)
        return keras.layers.Attention(name=name)([query, x])

    return apply


def _additive_self_attention(name, units):
    """``"additive"``: ``q = Dense(units)(h)``, ``k = Dense(units, no bias)(h)`` (``<name>_query`` / ``_key``),
    then ``keras.layers.AdditiveAttention(use_scale=True)([q, h, k])``; returns the function of ``h``."""
    import keras  # noqa: PLC0415

    def apply(h):
        q = keras.layers.Dense(units, name=f"{name}_query")(h)
        k = keras.layers.Dense(units, use_bias=False, name=f"{name}_key")(h)
        return keras.layers.AdditiveAttention(use_scale=True, name=name)([q, h, k])

    return apply


def _builtin(name, factory, **fields):
    _add(AttentionKind(name=name, factory=factory, builtin=True, **fields))


def _layer(module, class_name):
    return LayerRef(f"keras_attention.layers.{module}", class_name)


_SAN = _layer("scale_space_attention", "ScaleSpaceAttention")
_FA = _layer("focus_association", "FocusAssociation")
_GE = _layer("gather_excite", "GatherExcite")
_MHA = LayerRef("keras.layers", "MultiHeadAttention")
_ENCODER_HEADS = ("num_heads", "key_dim")
# The image builders pass their data_format to the kinds whose context names it (every built-in image layer).
_IMAGE = ("data_format",)

# Registration order is the order of the command line's --attention choices.
_builtin("san-c", _SAN, inputs="pair", context=("kernel_size",) + _IMAGE, fixed=(("variant", "c"),))
_builtin("san-d", _SAN, inputs="pair", context=("kernel_size",) + _IMAGE, fixed=(("variant", "d"),))
_builtin("cbam", _layer("cbam", "CBAM"), context=_IMAGE)
_builtin("bam", _layer("bam", "BAM"), deployments=(SLOT, MIXER), context=_IMAGE)
_builtin("se", _layer("squeeze_excitation", "SqueezeExcitation"), deployments=(SLOT, MIXER), context=_IMAGE)
_builtin("fa", _FA, inputs="pair", deployments=(BLOCKS,), prefix="fa", context=_IMAGE)
_builtin("fa+se", _FA, inputs="pair", deployments=(BLOCKS,), prefix="fa", companion="se", context=_IMAGE)
_builtin("spanet", _layer("salient_positions_attention", "SalientPositionsAttention"), deployments=(SLOT, STAGE),
         builder_options=(("k", 2),), context=_IMAGE)
_builtin("nonlocal", _layer("non_local", "NonLocalBlock"), deployments=(SLOT, STAGE), context=_IMAGE)
# the attention modules the field uses (step 18); the 1-D-capable ones also mix the attention encoder's sequence
_builtin("eca", _layer("efficient_channel_attention", "EfficientChannelAttention"), deployments=(SLOT, MIXER),
         context=_IMAGE)
_builtin("coordinate", _layer("coordinate_attention", "CoordinateAttention"), ranks=(2,), context=_IMAGE)
_builtin("global-context", _layer("global_context", "GlobalContext"), deployments=(SLOT, MIXER), context=_IMAGE)
_builtin("ge-theta-minus", _GE, deployments=(SLOT, MIXER), fixed=(("variant", "theta-"),), context=_IMAGE)
_builtin("ge-theta", _GE, deployments=(SLOT, MIXER), fixed=(("variant", "theta"),), context=_IMAGE)
_builtin("ge-theta-plus", _GE, deployments=(SLOT, MIXER), fixed=(("variant", "theta+"),), context=_IMAGE)
_builtin("simam", _layer("simam", "SimAM"), deployments=(SLOT, MIXER), context=_IMAGE)
_builtin("triplet", _layer("triplet_attention", "TripletAttention"), ranks=(2,), context=_IMAGE)
_builtin("scse", _layer("scse", "SCSE"), deployments=(SLOT, MIXER), context=_IMAGE)
_builtin("xm2a", _layer("xm2a", "XM2A"), ranks=(1,), deployments=(MIXER,),
         context=_ENCODER_HEADS + ("variant", "talk", "descriptor", "norm", "output_dim"))
_builtin("msmsa", _layer("multi_scale_self_attention", "MultiScaleSelfAttention"), ranks=(1,), deployments=(MIXER,),
         context=_ENCODER_HEADS + ("output_dim",))
_builtin("transformer", _MHA, inputs="self", ranks=(1,), deployments=(MIXER,), context=_ENCODER_HEADS)
_builtin("self", _scaled_dot_product_self_attention, ranks=(1,), deployments=(MIXER,), context=("output_dim",))
_builtin("additive", _additive_self_attention, ranks=(1,), deployments=(SEQUENCE,), context=("units",))
_builtin("multihead", _MHA, inputs="self", ranks=(1,), deployments=(SEQUENCE,), context=_ENCODER_HEADS)

_NAMES = itertools.count(1)


def create_attention(name, /, **kwargs):
    """The module of the registered attention kind ``name``, made as the builders make it: one call for users.

    ``name`` (positional) is the kind; ``kwargs`` are the layer's arguments (``create_attention("eca",
    kernel_size=5)``), and ``name=`` among them the module's name (default: Keras' own naming for a layer,
    ``<prefix>_<n>`` for a composite kind). A kind's fixed
    arguments (``"san-c"``'s ``variant="c"``, ``"ge-theta"``'s ``variant="theta"``) cannot be set; the builder
    context a kind takes (``kernel_size`` for SAN, ``data_format`` for the image layers, ``num_heads`` /
    ``key_dim`` / ``output_dim`` in the encoder, ``units`` after an LSTM) is an ordinary keyword argument here,
    and the layer's default when left out, except where the kind has none (``"self"`` needs ``output_dim``,
    ``"additive"`` ``units``).

    How the returned module is called (its row's ``inputs``, :data:`INPUTS`):

    - a layer on one tensor, ``module(x)`` with ``x`` of shape ``(B, T, C)`` or ``(B, H, W, C)`` (rank as the
      kind's ``ranks``): ``"cbam"``, ``"bam"``, ``"se"``, ``"spanet"``, ``"nonlocal"``, ``"eca"``,
      ``"coordinate"``, ``"global-context"``, ``"ge-theta-minus"`` / ``"ge-theta"`` / ``"ge-theta-plus"``,
      ``"simam"``, ``"triplet"``, ``"scse"``, and the encoder's ``"xm2a"`` and ``"msmsa"`` (``(B, T, C)``);
    - a layer on the pair, ``module([previous, current])``: ``"san-c"``, ``"san-d"`` (the map a convolution read
      and the one it made); ``"fa"`` and ``"fa+se"`` give a :class:`~keras_attention.layers.FocusAssociation`,
      called on ``[x, u]`` or ``[x, u, s]`` (FANet; ``"fa+se"``'s SE is a separate ``create_attention("se")``);
    - ``keras.layers.MultiHeadAttention`` as self-attention, ``module(x, x)``: ``"transformer"``,
      ``"multihead"`` (pass ``num_heads`` and ``key_dim``);
    - a function of one tensor that makes its Keras layers when called (call it once), ``module(x)``:
      ``"self"`` (scaled dot-product self-attention, ``output_dim`` = the width of ``x``) and ``"additive"``
      (additive self-attention of ``units`` units).

    ``AttentionKind.call(module, current, previous)`` calls any of them the way its row says.

    Raises:
        ValueError: ``name`` is not a registered kind (the error lists them), ``kwargs`` set an argument the kind
            fixes, or a composite kind misses an argument it needs; the layer's own errors for bad arguments.
    """
    kind = get_attention(name, argument="name")
    module_name = kwargs.pop("name", None)
    clash = sorted(set(dict(kind.fixed)) & set(kwargs))
    if clash:
        raise ValueError(f"create_attention({name!r}): the kind fixes {dict(kind.fixed)}; it may not be given "
                         f"{clash}.")
    if not isinstance(kind.factory, LayerRef):
        parameters = inspect.signature(kind.factory).parameters.values()
        missing = [p.name for p in parameters if p.default is inspect.Parameter.empty and p.name != "name"
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kwargs]
        if missing:
            raise ValueError(f"create_attention({name!r}) needs the keyword arguments {missing} (the builders take "
                             f"them from their context: {list(kind.context)}).")
        if module_name is None:
            module_name = f"{kind.prefix}_{next(_NAMES)}"
    return kind.build(module_name, options=kwargs)


__all__ = [
    "ATTENTION_KINDS",
    "AttentionKind",
    "BLOCKS",
    "DEPLOYMENTS",
    "INPUTS",
    "LayerRef",
    "MIXER",
    "RANKS",
    "SEQUENCE",
    "SLOT",
    "STAGE",
    "attention_names",
    "check_kind",
    "create_attention",
    "get_attention",
    "layer_prefix",
    "register_attention",
    "unregister_attention",
]
