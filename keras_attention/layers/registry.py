"""The registry of attention kinds: one table that every model builder and the command line read.

The documentation says where the builders deploy the kinds (docs/models.md#models-attention-slots) and how SAN,
the first kind, is called (docs/methods/san.md#san-call) and placed (docs/methods/san.md#san-placement).

:data:`~keras_attention.layers.registry.ATTENTION_KINDS` maps a kind's name (``"san-c"``, ``"cbam"``, ``"se"``, ``"xm2a"``, ...) to an
:class:`~keras_attention.layers.registry.AttentionKind` row that says

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
the value and the names that would do; :func:`~keras_attention.create_attention` (also ``keras_attention.create_attention``)
makes any registered kind's module by name, for use outside the builders. This module imports neither Keras
nor TensorFlow nor the layer modules (the layer classes are imported when a module is first built), so the
command line reads the kind names for ``--attention`` without starting TensorFlow.
"""

import importlib
import inspect
import itertools
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from keras_attention.utils.types import Tensor

SLOT, STAGE, BLOCKS, MIXER, SEQUENCE = "slot", "stage", "blocks", "mixer", "sequence"
DEPLOYMENTS: dict[str, str] = {
    SLOT: "in an attention slot after a convolution or recurrent layer (lenet5, vgg16/19, the ResNets, lstm4)",
    STAGE: "as one module after a whole stage (the ResNets)",
    BLOCKS: "over the blocks and stages, laid out by the builder (vgg16/19, the ResNets)",
    MIXER: "as the attention sub-block of every attention_encoder block",
    SEQUENCE: "as the self-attention after every LSTM of self_attention_lstm",
}
INPUTS: dict[str, str] = {
    "one": "layer(current)",
    "pair": "layer([previous, current])",
    "self": "layer(current, current)",
}
RANKS: tuple[int, ...] = (1, 2)
# Names no kind may take: "none" means no attention on the command line.
RESERVED_NAMES: tuple[str, ...] = ("none",)

# A registry value checked by `_tuple_of`: a deployment name or a rank.
_Value = TypeVar("_Value", str, int)


def layer_prefix(attention: str) -> str:
    """The name part of the kind ``attention``: its ``-`` and ``+`` replaced by ``_``.

    Args:
        attention: a kind's name.

    Returns:
        The start of the names of the kind's modules (``<prefix>_<slot>``).

    Example:
        >>> from keras_attention.layers.registry import layer_prefix
        >>> layer_prefix("san-c"), layer_prefix("fa+se")
        ('san_c', 'fa_se')
    """
    return attention.replace("-", "_").replace("+", "_")


@dataclass(frozen=True)
class LayerRef:
    """A layer class named by its module path and class name, imported on first use.

    Calling it builds the layer: ``LayerRef("keras_attention.layers.cbam", "CBAM")(name="cbam_conv1")``.

    Args:
        module: the module's import path.
        class_name: the name of the class in that module.

    Example:
        >>> from keras_attention.layers.registry import LayerRef
        >>> ref = LayerRef("keras_attention.layers.cbam", "CBAM")
        >>> ref.resolve().__name__
        'CBAM'
        >>> ref(name="cbam_demo").name
        'cbam_demo'
    """

    module: str
    class_name: str

    def resolve(self) -> type[Any]:
        """The class itself (imports its module).

        Returns:
            The class ``module.class_name``.

        Raises:
            ImportError: the module cannot be imported.
            ValueError: the module has no class of that name.
        """
        cls = getattr(importlib.import_module(self.module), self.class_name, None)
        if cls is None:
            raise ValueError(f"Module {self.module!r} has no class {self.class_name!r} (LayerRef of the registry).")
        return cls

    def __call__(self, **kwargs: Any) -> Any:
        """The layer ``cls(**kwargs)`` of the class :meth:`resolve` imports."""
        return self.resolve()(**kwargs)


def _tuple_of(argument: str, value: _Value | Iterable[_Value], allowed: Collection[_Value],
              owner: str) -> tuple[_Value, ...]:
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
    """One row of :data:`~keras_attention.layers.registry.ATTENTION_KINDS` (the fields are described in the module docstring).

    The constructor normalises the fields: ``ranks`` and ``deployments`` become tuples without repeats
    (``ranks`` sorted), ``fixed`` and ``builder_options`` tuples of ``(str, value)`` pairs, and a ``prefix`` of
    None becomes :func:`layer_prefix` of the name. Rows are made by :func:`register_attention`; a row of its own
    is for :func:`keras_attention.models.resolve_attention` and the like.

    Args:
        name: the kind's name.
        factory: ``factory(name=..., **options)`` makes the module (a layer, or a function of the input tensor
            that applies several layers); a layer class or a :class:`LayerRef` will do.
        inputs: a key of :data:`INPUTS`: ``"one"`` (``module(current)``), ``"pair"``
            (``module([previous, current])``) or ``"self"`` (``module(current, current)``).
        ranks: the supported ranks, 1 (sequences ``(B, T, C)``) and/or 2 (images ``(B, H, W, C)``).
        deployments: keys of :data:`DEPLOYMENTS`, where the builders put the kind.
        context: the builder-context values it takes as keyword arguments (``"kernel_size"``,
            ``"data_format"``, ``"num_heads"``, ...).
        fixed: ``(argument, value)`` pairs it always passes (options may not set them).
        builder_options: ``(argument, default after a stage)`` pairs of the builder arguments it takes (SPANet's
            ``("k", 2)``); a default of None keeps the layer's own.
        prefix: the start of its modules' names; None for :func:`layer_prefix` of the name.
        companion: the slot kind deployed with it (``"fa+se"``: ``"se"``), or None.
        builtin: a kind of this package (it cannot be unregistered).

    Raises:
        ValueError: ``factory`` is not callable, ``inputs``, ``ranks`` or ``deployments`` hold a value not
            listed above, a ``"pair"`` kind is deployed elsewhere than in slots or over blocks, or ``context`` is
            not a sequence of names.

    Example:
        >>> import keras
        >>> from keras_attention.layers.registry import AttentionKind
        >>> kind = AttentionKind(name="my-gate", factory=keras.layers.Identity, ranks=(2,))
        >>> kind.ranks, kind.deployments, kind.prefix, kind.module_name("conv1")
        ((2,), ('slot',), 'my_gate', 'my_gate_conv1')
        >>> tuple(kind.call(kind.build("my_gate_conv1"), keras.ops.ones((1, 4, 4, 3))).shape)
        (1, 4, 4, 3)
    """

    name: str
    factory: Callable[..., Any]
    inputs: str = "one"
    ranks: tuple[int, ...] = RANKS
    deployments: tuple[str, ...] = (SLOT,)
    context: tuple[str, ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    builder_options: tuple[tuple[str, Any], ...] = ()
    prefix: str | None = None
    companion: str | None = None
    builtin: bool = False

    def __post_init__(self) -> None:
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
    def pair(self) -> bool:
        """True when the module is called on ``[previous, current]``."""
        return self.inputs == "pair"

    @property
    def match_kernel(self) -> bool:
        """True when the slot's convolution kernel size is passed as ``kernel_size`` (unless options set it)."""
        return "kernel_size" in self.context

    def module_name(self, place: str) -> str:
        """``<prefix>_<place>``: the name of this kind's module at ``place`` (``san_c_conv1``, ``fa_stage2``)."""
        return f"{self.prefix}_{place}"

    def hosts(self, deployments: str | Iterable[str], rank: int | None = None) -> bool:
        """True when the kind can be deployed in one of ``deployments`` (a name or names) at ``rank`` (any if
        None)."""
        wanted = (deployments,) if isinstance(deployments, str) else tuple(deployments)
        return bool(set(wanted) & set(self.deployments)) and (rank is None or rank in self.ranks)

    def build(self, name: str | None, context: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None) -> Any:
        """The module named ``name``: ``factory(name=name, **fixed, **options)`` plus the ``context`` values
        this kind takes that ``options`` do not set.

        Args:
            name: the module's name (None: the factory's own default).
            context: the builder's context (``kernel_size``, ``data_format``, ...); only the keys of the row's
                ``context`` are passed.
            options: the user's keyword arguments for the factory (``attention_options``).

        Returns:
            What the factory returns: a layer, or a function of the input tensor.

        Raises:
            ValueError: ``options`` set an argument the kind fixes.
        """
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

    def call(self, module: Callable[..., Any], current: Tensor, previous: Tensor | None = None) -> Any:
        """Apply ``module`` (from :meth:`build`) as ``inputs`` says; its output replaces ``current``.

        Args:
            module: the module :meth:`build` made.
            current: the tensor the module re-weights.
            previous: the slot's input, for a ``"pair"`` kind.

        Returns:
            The module's output: ``module([previous, current])``, ``module(current, current)`` or
            ``module(current)``.
        """
        if self.inputs == "pair":
            return module([previous, current])
        if self.inputs == "self":
            return module(current, current)
        return module(current)

    def where(self) -> str:
        """Where the builders deploy this kind, in words (for error messages)."""
        places = "; ".join(DEPLOYMENTS[d] for d in self.deployments)
        return f"{places}; rank {' or '.join(str(r) for r in self.ranks)}"


#: The registered kinds by name, in registration order (the command line's ``--attention`` choices).
ATTENTION_KINDS: dict[str, AttentionKind] = {}


def _add(kind: AttentionKind, replace: bool = False) -> AttentionKind:
    """Put the row ``kind`` into :data:`~keras_attention.layers.registry.ATTENTION_KINDS` (a ValueError if its name is taken, unless ``replace``)."""
    current = ATTENTION_KINDS.get(kind.name)
    if current is not None and BLOCKS in current.deployments:
        raise ValueError(
            f"Attention kind {kind.name!r} is reserved: the builders deploy it over blocks, not through a slot."
        )
    if current is not None and not replace:
        raise ValueError(f"Attention kind {kind.name!r} is already registered; pass replace=True to override it.")
    ATTENTION_KINDS[kind.name] = kind
    return kind


def register_attention(name: str, factory: Callable[..., Any], *, pair: bool = False, match_kernel: bool = False,
                       replace: bool = False, ranks: tuple[int, ...] = RANKS,
                       deployments: str | Iterable[str] = (SLOT,), context: str | Iterable[str] = ()) -> AttentionKind:
    """Register ``factory(name=..., **options) -> keras layer`` (a layer class will do) under ``name``.

    Every builder that hosts one of the ``deployments`` at one of the ``ranks`` then takes ``attention=name``
    (and ``attention_options`` for the factory), and so does the command line's ``train --attention`` for the
    image builders; :func:`~keras_attention.create_attention` makes the kind's module by name. Also exported as
    ``keras_attention.models.register_attention``.

    Args:
        name: the kind's name, a non-empty lower-case string of letters, digits and ``-``.
        factory: ``factory(name=..., **options)`` returns the module (a Keras layer class will do).
        pair: call the layer on ``[previous, current]`` (slots only); otherwise on ``current``.
        match_kernel: pass the slot's convolution kernel size as ``kernel_size`` unless the options set it
            (adds ``"kernel_size"`` to ``context``).
        replace: replace a kind already registered as ``name`` (not one the builders lay out over blocks).
        ranks: 1 (sequences ``(B, T, C)``) and/or 2 (images ``(B, H, W, C)``); one int is accepted too.
        deployments: one or more of ``"slot"``, ``"stage"``, ``"mixer"``, ``"sequence"`` (``"blocks"`` is the
            builders' own focus-and-association layout).
        context: names of builder-context values passed as keyword arguments (``"num_heads"``, ``"key_dim"``,
            ``"output_dim"`` in the encoder; ``"units"`` after an LSTM; ``"data_format"`` in an image builder).

    Returns:
        The new :class:`~keras_attention.layers.registry.AttentionKind`, now in :data:`~keras_attention.layers.registry.ATTENTION_KINDS`.

    Raises:
        ValueError: ``name`` is already registered (unless ``replace=True``), is reserved (``"none"``, or a kind
            deployed over blocks), or is not a lower-case string of letters, digits and ``-``; ``deployments``
            or ``ranks`` hold other values; ``factory`` is not callable; a ``pair`` kind is deployed elsewhere
            than in slots.

    Example:
        >>> import keras
        >>> from keras_attention.models import lenet5, register_attention, unregister_attention
        >>> kind = register_attention("identity-gate", keras.layers.Identity, ranks=(2,))
        >>> kind.inputs, kind.ranks, kind.deployments
        ('one', (2,), ('slot',))
        >>> model = lenet5((28, 28, 1), 10, attention="identity-gate")
        >>> any(layer.name.startswith("identity_gate_") for layer in model.layers)
        True
        >>> unregister_attention("identity-gate").name
        'identity-gate'
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


def unregister_attention(name: str) -> AttentionKind:
    """Remove the kind ``name`` registered with :func:`register_attention` and return its row.

    Also exported as ``keras_attention.models.unregister_attention``.

    Args:
        name: a kind registered with :func:`register_attention`.

    Returns:
        The removed :class:`~keras_attention.layers.registry.AttentionKind`.

    Raises:
        ValueError: ``name`` is not registered (the message lists the registered kinds) or is one of this
            package's own kinds.

    Example:
        >>> import keras
        >>> from keras_attention.models import register_attention, unregister_attention
        >>> from keras_attention.layers.registry import ATTENTION_KINDS
        >>> _ = register_attention("identity-gate", keras.layers.Identity)
        >>> unregister_attention("identity-gate").name, "identity-gate" in ATTENTION_KINDS
        ('identity-gate', False)
        >>> unregister_attention("cbam")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `name`: 'cbam' is a built-in attention kind and cannot be unregistered; ...
    """
    kind = get_attention(name, argument="name")
    if kind.builtin:
        raise ValueError(f"Argument `name`: {name!r} is a built-in attention kind and cannot be unregistered; "
                         f"register_attention({name!r}, ..., replace=True) replaces it.")
    return ATTENTION_KINDS.pop(name)


def attention_names(deployments: str | Iterable[str] | None = None, rank: int | None = None) -> tuple[str, ...]:
    """Names of the registered kinds (registration order) deployed in one of ``deployments`` at ``rank``.

    Args:
        deployments: a key of :data:`DEPLOYMENTS` or several; None for any.
        rank: 1 (sequences) or 2 (images); None for any.

    Returns:
        The names, in registration order.

    Example:
        >>> from keras_attention.layers.registry import attention_names
        >>> attention_names("stage")
        ('spanet', 'nonlocal')
        >>> attention_names("sequence", rank=1)
        ('additive', 'multihead')
    """
    return tuple(name for name, kind in ATTENTION_KINDS.items()
                 if kind.hosts(kind.deployments if deployments is None else deployments, rank))


@overload
def check_kind(argument: str, value: object, names: Collection[str], *, allow_none: Literal[False] = ...) -> str:
    ...


@overload
def check_kind(argument: str, value: object, names: Collection[str], *, allow_none: bool) -> str | None:
    ...


def check_kind(argument: str, value: object, names: Collection[str], *, allow_none: bool = False) -> str | None:
    """Return ``value`` when it is one of ``names`` (or None with ``allow_none``), else raise a ValueError.

    Args:
        argument: the name of the argument being checked, for the message.
        value: the argument's value.
        names: the kind names that would do here.
        allow_none: whether None (no attention) is accepted.

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not one of ``names``; the message names ``argument``, the value and ``names``
            (and, for a registered kind that cannot go here, where it can go).

    Example:
        >>> from keras_attention.layers.registry import check_kind
        >>> check_kind("attention", "se", ("se", "cbam"))
        'se'
        >>> check_kind("attention", None, ("se",), allow_none=True) is None
        True
        >>> check_kind("attention", "xm2a", ("se", "cbam"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `attention` must be one of ['cbam', 'se']; got 'xm2a' (a registered kind, deployed ...).
    """
    if (value is None and allow_none) or (isinstance(value, str) and value in names):
        return value
    if allow_none:
        valid = ", ".join(["None"] + [repr(name) for name in sorted(set(names))])
    else:
        valid = str(sorted(set(names)))
    kind = ATTENTION_KINDS.get(value) if isinstance(value, str) else None
    note = f" (a registered kind, deployed {kind.where()})" if kind is not None else ""
    raise ValueError(f"Argument `{argument}` must be one of {valid}; got {value!r}{note}.")


def get_attention(value: object, *, argument: str = "attention") -> AttentionKind:
    """The :class:`~keras_attention.layers.registry.AttentionKind` registered as ``value``.

    Args:
        value: a kind's name.
        argument: the name of the argument that gave ``value``, for the message.

    Returns:
        The kind's row of :data:`~keras_attention.layers.registry.ATTENTION_KINDS`.

    Raises:
        ValueError: ``value`` is not a registered kind; the message names ``argument``, the value and the
            registered names.

    Example:
        >>> from keras_attention.layers.registry import get_attention
        >>> kind = get_attention("san-c")
        >>> kind.inputs, kind.fixed, kind.context
        ('pair', (('variant', 'c'),), ('kernel_size', 'data_format'))
    """
    return ATTENTION_KINDS[check_kind(argument, value, tuple(ATTENTION_KINDS))]


# ----------------------------------------------------------------------------- composite kinds
def _scaled_dot_product_self_attention(name: str, output_dim: int) -> Callable[[Tensor], Tensor]:
    """``"self"``: ``keras.layers.Attention()([x / sqrt(d), x])`` with ``d = output_dim`` (the encoder width),
    the Rescaling named ``<name>_query_scale``; returns the function of ``x`` that applies both."""
    import keras  # noqa: PLC0415  (this module stays free of Keras until a module is built)

    def apply(x: Tensor) -> Tensor:
        query = keras.layers.Rescaling(1.0 / math.sqrt(output_dim), name=f"{name}_query_scale")(x)
        return keras.layers.Attention(name=name)([query, x])

    return apply


def _additive_self_attention(name: str, units: int) -> Callable[[Tensor], Tensor]:
    """``"additive"``: ``q = Dense(units)(h)``, ``k = Dense(units, no bias)(h)`` (``<name>_query`` / ``_key``),
    then ``keras.layers.AdditiveAttention(use_scale=True)([q, h, k])``; returns the function of ``h``."""
    import keras  # noqa: PLC0415

    def apply(h: Tensor) -> Tensor:
        q = keras.layers.Dense(units, name=f"{name}_query")(h)
        k = keras.layers.Dense(units, use_bias=False, name=f"{name}_key")(h)
        return keras.layers.AdditiveAttention(use_scale=True, name=name)([q, h, k])

    return apply


def _builtin(name: str, factory: Callable[..., Any], **fields: Any) -> None:
    """Register the package's own kind ``name`` (``builtin=True``)."""
    _add(AttentionKind(name=name, factory=factory, builtin=True, **fields))


def _layer(module: str, class_name: str) -> LayerRef:
    """The :class:`LayerRef` of the class ``class_name`` of ``keras_attention.layers.<module>``."""
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


def create_attention(name: str, /, **kwargs: Any) -> Any:
    """The module of the registered attention kind ``name``, made as the builders make it: one call for users.

    Also ``keras_attention.create_attention``. A kind's fixed arguments (``"san-c"``'s ``variant="c"``,
    ``"ge-theta"``'s ``variant="theta"``) cannot be set; the builder context a kind takes (``kernel_size`` for
    SAN, ``data_format`` for the image layers, ``num_heads`` / ``key_dim`` / ``output_dim`` in the encoder,
    ``units`` after an LSTM) is an ordinary keyword argument here, and the layer's default when left out, except
    where the kind has none (``"self"`` needs ``output_dim``, ``"additive"`` ``units``).

    How the returned module is called (its row's ``inputs``, :data:`INPUTS`):

    - a layer on one tensor, ``module(x)`` with ``x`` of shape ``(B, T, C)`` or ``(B, H, W, C)`` (rank as the
      kind's ``ranks``): ``"cbam"``, ``"bam"``, ``"se"``, ``"spanet"``, ``"nonlocal"``, ``"eca"``,
      ``"coordinate"``, ``"global-context"``, ``"ge-theta-minus"`` / ``"ge-theta"`` / ``"ge-theta-plus"``,
      ``"simam"``, ``"triplet"``, ``"scse"``, and the encoder's ``"xm2a"`` and ``"msmsa"`` (``(B, T, C)``);
    - a layer on two inputs, the pair ``module([previous, current])``: ``"san-c"``, ``"san-d"``
      (:class:`~keras_attention.layers.ScaleSpaceAttention`; ``previous`` is the map a convolution read,
      ``current`` the one it made, and the output has the shape of ``current``); ``"fa"`` and ``"fa+se"`` give
      a :class:`~keras_attention.layers.FocusAssociation`, called on ``[x, u]`` or ``[x, u, s]`` (FANet;
      ``"fa+se"``'s SE is a separate ``create_attention("se")``);
    - ``keras.layers.MultiHeadAttention`` as self-attention, ``module(x, x)`` (query and value the same
      ``(B, T, C)`` sequence): ``"transformer"``, ``"multihead"`` (pass ``num_heads`` and ``key_dim``);
    - a function of one tensor that makes its Keras layers when called (call it once), ``module(x)``:
      ``"self"`` (scaled dot-product self-attention, ``output_dim`` = the width of ``x``) and ``"additive"``
      (additive self-attention of ``units`` units).

    ``AttentionKind.call(module, current, previous)`` calls any of them the way its row says.

    Args:
        name: the kind, a key of :data:`~keras_attention.layers.registry.ATTENTION_KINDS` (positional only).
        **kwargs: the layer's (or composite kind's) keyword arguments (``create_attention("eca",
            kernel_size=5)``); ``name=`` among them is the module's name (default: Keras' own naming for a
            layer, ``<prefix>_<n>`` for a composite kind).

    Returns:
        The module: a Keras layer, or for ``"self"`` and ``"additive"`` a function of one tensor (see above).

    Raises:
        ValueError: ``name`` is not a registered kind (the error lists them), ``kwargs`` set an argument the kind
            fixes, or a composite kind misses an argument it needs; the layer's own errors for bad arguments.

    Example:
        >>> import numpy as np
        >>> import keras_attention
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> eca = keras_attention.create_attention("eca", kernel_size=5)         # one input
        >>> tuple(eca(x).shape)
        (2, 8, 8, 16)
        >>> san = keras_attention.create_attention("san-c", kernel_size=3)      # the pair [previous, current]
        >>> previous = np.random.rand(2, 8, 8, 3).astype("float32")
        >>> tuple(san([previous, x]).shape)
        (2, 8, 8, 16)
        >>> mha = keras_attention.create_attention("transformer", num_heads=2, key_dim=4)  # module(x, x)
        >>> sequence = np.random.rand(2, 5, 6).astype("float32")
        >>> tuple(mha(sequence, sequence).shape)
        (2, 5, 6)
        >>> self_attention = keras_attention.create_attention("self", output_dim=6)  # a function of x
        >>> tuple(self_attention(sequence).shape)
        (2, 5, 6)
        >>> keras_attention.create_attention("san-c", variant="d")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: create_attention('san-c'): the kind fixes {'variant': 'c'}; it may not be given ['variant'].
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
