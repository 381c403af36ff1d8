"""Attention encoder for ``(T, V)`` series classification: the network of dissertation §7.6.1-7.6.3
(docs/methods/xm2a.md#xm2a-encoder).

``attention_encoder(input_shape, num_classes, attention="xm2a", ...)`` returns an uncompiled functional
``keras.Model``::

    x = PositionalEncoding(positional)(series)                 # concat 8 encoding channels (unless "none")
    x = Dense(d)(x)                                            # input projection, d = num_heads * key_dim
    repeat num_layers times:
        x = LayerNorm(x + Dropout(Attention(x)))               # skipped when attention is None
        x = LayerNorm(x + Dropout(Dense(d)(relu(Dense(ff_dim)(x)))))
    softmax(Dense(num_classes)(GlobalAveragePooling1D(x)))

The paper follows the Transformer [114] ("8 attention heads, 64 hidden neurons in each attention head, and
6 layers", §7.6.3), so the model width is the Transformer's ``d = num_heads * key_dim`` (512 in the
paper's setting) and ``ff_dim`` defaults to the Transformer's ``4 * d``. ``attention`` picks the module
in every block (the rows of Table 7.3):

- ``"xm2a"``: :class:`keras_attention.layers.XM2A` (eq. 7.4-7.11) with ``variant``, ``talk``,
  ``descriptor`` and ``norm``; its output projection W^O maps back to ``d``;
- ``"msmsa"``: :class:`keras_attention.layers.MultiScaleSelfAttention` (kernels 2h-1), output ``d``;
- ``"transformer"``: ``keras.layers.MultiHeadAttention(num_heads, key_dim)`` as self-attention (query =
  key = value = x), output ``d``;
- ``"self"``: single-head dot-product self-attention without learned projections ("Self [79]": q, k and
  v are the features themselves): ``softmax_s(x_t . x_s / sqrt(d)) x_s``, i.e.
  ``keras.layers.Attention()([x / sqrt(d), x])``. The ``1 / sqrt(d)`` is our addition (no parameters):
  without it the layer-normalised features give dot products of order ``d`` and a one-hot softmax;
- ``"se"`` / ``"bam"``: :class:`keras_attention.layers.SqueezeExcitation` / :class:`keras_attention.layers.BAM`
  (rank 1) on the ``(T, d)`` sequence, in the same residual + LayerNorm slot (default reductions 16);
- ``None``: no attention, the feed-forward sub-blocks only.

These are the kinds of :mod:`keras_attention.layers.registry` deployed ``"mixer"``; a single-input kind
registered with ``deployments=("mixer",)`` and rank 1 works here too (it gets the encoder context values its
row names: ``num_heads``, ``key_dim``, ``output_dim`` = d, ``variant``, ``talk``, ``descriptor``, ``norm``).

Positional encoding (``positional``): the dissertation describes none, but follows the Transformer [114],
which adds one. Without it every operation before the global average pool is pointwise in time or
permutation-equivariant (dot-product attention, SE, the feed-forward blocks), so the no-attention, Self,
SE and Transformer encoders give the same output for a series and its time-shuffled copy: they cannot
see time order, while XM2A, MSMSA (and BAM's dilated convolutions) see their neighbourhoods only.
``positional="sinusoidal"`` (the default) concatenates ``positional_channels`` (8) fixed sin / cos
channels (:class:`keras_attention.layers.PositionalEncoding`, Vaswani et al.'s frequencies) to the series
before the input projection, i.e. adds a learned linear map of the encoding to the projected features
(the layer's docstring says why concatenation); ``"learned"`` concatenates a trainable table (fixed
length T); ``"none"`` (or None) keeps the encoder without it, the ablation. The layer is named
``positional_encoding``.

Readings where the dissertation is silent (docs/methods/xm2a.md#xm2a-encoder): post-norm blocks as in [114]
(residual, then LayerNormalization with Keras' epsilon 1e-3); ``dropout`` on each sub-block's output before the
residual; ReLU in the feed-forward block; the softmax head is float32 (mixed precision). The attention layer of
block i is named ``block{i}_attention`` (:func:`attention_parameter_count` sums those).
"""

import numbers
from collections.abc import Callable
from typing import Any, TypeVar

import keras

from keras_attention.layers.positional_encoding import PositionalEncoding
from keras_attention.layers.registry import MIXER, AttentionKind, attention_names
from keras_attention.layers.xm2a import VARIANTS
from keras_attention.models._common import (
    check_input_shape,
    check_num_classes,
    classifier_head,
)
from keras_attention.models.attention_slots import resolve_deployment
from keras_attention.utils.checks import check_choice, check_positive_int
from keras_attention.utils.types import ShapeLike, Tensor

BUILDER = "attention_encoder"
# The built-in kinds deployed as the mixer (and None); attention_encoder reads the registry when called, so a
# kind registered later with deployments including "mixer" (rank 1) is accepted too.
ENCODER_ATTENTIONS = attention_names(MIXER, rank=1)
TALKS = ("scale", "self")
DESCRIPTORS = ("mean", "max")
NORMS = ("layer", "batch")
POSITIONAL = ("sinusoidal", "learned", "none")
_Checked = TypeVar("_Checked")


def _prefixed(check: Callable[..., _Checked], *args: Any, **kwargs: Any) -> _Checked:
    try:
        return check(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"{BUILDER}: {error}") from None


def model_width(num_heads: int, key_dim: int) -> int:
    """The encoder's width ``d = num_heads * key_dim`` (the Transformer's d_model).

    Args:
        num_heads: attention heads.
        key_dim: width of each head.

    Returns:
        ``num_heads * key_dim``.

    Example:
        >>> from keras_attention.models.attention_encoder import model_width
        >>> model_width(8, 64)  # the paper's setting
        512
    """
    return num_heads * key_dim


def _apply_attention(x: Tensor, kind: AttentionKind, i: int, context: dict[str, Any]) -> Tensor:
    """The registry's module of ``kind`` (an ``AttentionKind``) on ``x``, named ``block<i>_attention``;
    ``context`` holds the encoder's ``num_heads``, ``key_dim``, ``output_dim`` (the width d) and XM2A's options,
    of which each kind takes those its row names."""
    return kind.call(kind.build(f"block{i}_attention", context), x)


def attention_encoder(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = "xm2a",
    num_layers: int = 6,
    num_heads: int = 8,
    key_dim: int = 64,
    ff_dim: int | None = None,
    dropout: float = 0.1,
    variant: str = "xm2a",
    talk: str = "scale",
    descriptor: str = "mean",
    norm: str = "layer",
    positional: str | None = "sinusoidal",
    positional_channels: int = 8,
    name: str | None = None,
) -> keras.Model:
    """Encoder classifier of ``(T, V)`` series with ``attention`` in every block (module docstring).

    Args:
        input_shape: ``(T, V)`` without the batch axis; ``T`` may be None.
        num_classes: number of classes (>= 2).
        attention: ``"xm2a"``, ``"msmsa"``, ``"transformer"``, ``"se"``, ``"bam"``, ``"self"``, another kind
            deployed ``"mixer"`` (module docstring) or None.
        num_layers: encoder blocks (the paper: 6).
        num_heads, key_dim: heads and per-head width of XM2A / MSMSA / MultiHeadAttention (paper: 8, 64);
            they also set the model width ``d = num_heads * key_dim`` for every ``attention``.
        ff_dim: hidden units of the feed-forward block (default ``4 * d``).
        dropout: rate on each sub-block's output, in [0, 1).
        variant, talk, descriptor, norm: XM2A's options (Table 7.1, Table 7.4); checked for every
            ``attention``, used by ``"xm2a"`` only.
        positional: ``"sinusoidal"`` (default), ``"learned"`` or ``"none"`` / None: the positional encoding
            concatenated to the series before the input projection (module docstring).
        positional_channels: channels of that encoding (even for ``"sinusoidal"``).
        name: model name (default ``attention_encoder_<attention or none>``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``series`` input to ``num_classes`` softmax
        probabilities (float32).

    Raises:
        ValueError: an argument is invalid (``input_shape`` not ``(T, V)``, ``num_classes`` below 2, an
            ``attention`` not deployed ``"mixer"`` at rank 1, ``num_layers`` / ``num_heads`` / ``key_dim`` /
            ``ff_dim`` / ``positional_channels`` not positive integers, ``dropout`` outside [0, 1), an unknown
            ``variant`` / ``talk`` / ``descriptor`` / ``norm`` / ``positional``, odd ``positional_channels``
            for ``"sinusoidal"``, ``"learned"`` with an unknown length); the message names the argument.

    Example:
        >>> from keras_attention.models import attention_encoder, attention_parameter_count
        >>> model = attention_encoder((16, 3), 4, num_layers=1, num_heads=2, key_dim=4)
        >>> model.name, model.output_shape
        ('attention_encoder_xm2a', (None, 4))
        >>> attention_parameter_count(model)  # XM2A's, in block 1
        192
    """
    shape = check_input_shape(BUILDER, input_shape, rank=1, minimum=1, allow_unknown=True)
    num_classes = check_num_classes(BUILDER, num_classes)
    kind = resolve_deployment(BUILDER, attention, hosts=(MIXER,), rank=1).slot
    num_layers = _prefixed(check_positive_int, "num_layers", num_layers)
    num_heads = _prefixed(check_positive_int, "num_heads", num_heads)
    key_dim = _prefixed(check_positive_int, "key_dim", key_dim)
    width = model_width(num_heads, key_dim)
    ff_dim = 4 * width if ff_dim is None else _prefixed(check_positive_int, "ff_dim", ff_dim)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{BUILDER}: argument `dropout` must be a number in [0, 1); got {dropout!r}.")
    variant = _prefixed(check_choice, "variant", variant, set(VARIANTS))
    talk = _prefixed(check_choice, "talk", talk, set(TALKS))
    descriptor = _prefixed(check_choice, "descriptor", descriptor, set(DESCRIPTORS))
    norm = _prefixed(check_choice, "norm", norm, set(NORMS))
    positional = _prefixed(check_choice, "positional", "none" if positional is None else positional,
                           set(POSITIONAL))
    positional_channels = _prefixed(check_positive_int, "positional_channels", positional_channels)
    if positional == "sinusoidal" and positional_channels % 2:
        raise ValueError(f"{BUILDER}: argument `positional_channels` must be even for positional='sinusoidal' "
                         f"(sin / cos pairs); got {positional_channels!r}.")
    if positional == "learned" and shape[0] is None:
        raise ValueError(f"{BUILDER}: positional='learned' needs a known series length; got input_shape "
                         f"{tuple(input_shape)!r} (use positional='sinusoidal' for variable lengths).")
    context = dict(num_heads=num_heads, key_dim=key_dim, output_dim=width, variant=variant, talk=talk,
                   descriptor=descriptor, norm=norm)

    inputs = keras.Input(shape, name="series")
    x = inputs
    if positional != "none":
        x = PositionalEncoding(positional, positional_channels, name="positional_encoding")(x)
    x = keras.layers.Dense(width, name="input_projection")(x)
    for i in range(1, num_layers + 1):
        if kind is not None:
            a = _apply_attention(x, kind, i, context)
            a = keras.layers.Dropout(dropout, name=f"block{i}_attention_dropout")(a)
            x = keras.layers.Add(name=f"block{i}_attention_residual")([x, a])
            x = keras.layers.LayerNormalization(name=f"block{i}_attention_norm")(x)
        f = keras.layers.Dense(ff_dim, activation="relu", name=f"block{i}_ff_hidden")(x)
        f = keras.layers.Dense(width, name=f"block{i}_ff_output")(f)
        f = keras.layers.Dropout(dropout, name=f"block{i}_ff_dropout")(f)
        x = keras.layers.Add(name=f"block{i}_ff_residual")([x, f])
        x = keras.layers.LayerNormalization(name=f"block{i}_ff_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name or f"{BUILDER}_{kind.name if kind is not None else 'none'}")


def attention_parameter_count(model: keras.Model) -> int:
    """Parameters of the attention layers (``block{i}_attention``) of an :func:`attention_encoder` model.

    Args:
        model: a model built by :func:`attention_encoder`.

    Returns:
        The number of parameters of its layers whose names end with ``_attention``.

    Example:
        >>> from keras_attention.models import attention_encoder, attention_parameter_count
        >>> model = attention_encoder((16, 3), 4, "se", num_layers=2, num_heads=2, key_dim=16)
        >>> attention_parameter_count(model)  # two SE modules, each 32 -> 2 -> 32 with biases
        324
        >>> attention_parameter_count(attention_encoder((16, 3), 4, None, num_layers=1, num_heads=2, key_dim=4))
        0
    """
    return int(sum(layer.count_params() for layer in model.layers if layer.name.endswith("_attention")))


__all__ = ["ENCODER_ATTENTIONS", "POSITIONAL", "attention_encoder", "attention_parameter_count", "model_width"]
