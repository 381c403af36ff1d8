"""Time-series competitor networks of the SDMA comparison (dissertation §6.5.1 and §6.5.3, Table 6.2).

Every builder is ``builder(input_shape, num_classes, ..., task="classification"|"forecasting", horizon=1)``
and returns an uncompiled functional ``keras.Model``. ``input_shape = (T, V)`` (``T`` may be None);
builders of methods that use the saliency series take two inputs ``[series, saliency]`` of that shape.

- :func:`lstm_baseline` -- "Base W/O Attention": ``layers`` stacked LSTMs (``units``, default ``2 * V``, as
  §6.5.1: "twice the number of variates"), the data branch every competitor shares.
- :func:`self_attention_lstm` -- "Self [71]": after every LSTM a self-attention over time.
  ``attention="additive"`` (default) is our reading of [71] (an additive self-attention whose scores come
  from ``tanh`` of projected query and key): ``q = Dense(units)(h)``, ``k = Dense(units, no bias)(h)``,
  ``keras.layers.AdditiveAttention(use_scale=True)([q, h, k])``, i.e. ``softmax_t' (w . tanh(q_t + k_t'))``
  weighting the LSTM states ``h_t'``. ``attention="multihead"`` uses ``keras.layers.MultiHeadAttention``
  (``num_heads`` heads of ``key_dim = units``) on ``(h, h)``. The attended sequence replaces ``h`` (no
  residual), as in [71]. Both are kinds of :mod:`keras_attention.layers.registry` deployed ``"sequence"``;
  a single-input kind registered with that deployment (rank 1) works here too, named ``self_attention<i>``
  and given the context values its row names (``units``, ``key_dim`` = ``units``, ``num_heads``).
- :func:`san1d_lstm` -- "SAN [33]": :func:`keras_attention.models.lstm4` with SAN-c / SAN-d (rank 1).
- :func:`fusion_cross_attention` -- "FusAtNet [84]", our two-stream reading: one LSTM per stream
  (``units`` each), each stream attends the other with ``keras.layers.MultiHeadAttention`` (the series'
  states are the queries over the saliency's states, and vice versa), each attended stream is added to
  its own states (residual), and the two are fused by concatenation along the features
  (FusAtNet concatenates its attended modalities), then the head. "FusAtNet (data only)" of Table 6.2 is
  the same network fed ``[series, series]``.

Heads (docs/methods/sdma.md#sdma-networks, shared with :func:`keras_attention.models.sdma_net`):
classification = Dense softmax on the last time step; forecasting = LSTM (``units``) -> Dense linear, reshaped
to ``(horizon, num_classes)`` (``num_classes`` = number of forecast variates, as ``load_forecasting`` returns
``y`` of shape ``(N, horizon, targets)``). ``san1d_lstm`` keeps LSTM-4's own head (global average pool ->
Dense), reshaped the same way for forecasting.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import keras

from keras_attention.layers.registry import SEQUENCE, AttentionKind
from keras_attention.models._common import (
    check_input_shape,
    check_num_classes,
    classifier_head,
)
from keras_attention.models.attention_slots import resolve_deployment
from keras_attention.models.lstm import lstm4
from keras_attention.utils.checks import check_choice, check_positive_int
from keras_attention.utils.types import Shape, ShapeLike, Tensor

TASKS = ("classification", "forecasting")
_Checked = TypeVar("_Checked")


def _prefixed(builder: str, check: Callable[..., _Checked], *args: Any, **kwargs: Any) -> _Checked:
    try:
        return check(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"{builder}: {error}") from None


def check_sequence_args(
    builder: str,
    input_shape: ShapeLike,
    num_classes: int,
    task: str,
    horizon: int,
    units: int | None = None,
    layers: int = 1,
) -> tuple[Shape, int, str, int, int, int]:
    """Validate the common arguments; returns ``(shape, num_classes, task, horizon, units, layers)``.

    ``units`` None becomes ``2 * V`` (§6.5.1).

    Args:
        builder: the builder's name, for the messages.
        input_shape: ``(T, V)`` without the batch axis (``T`` may be None).
        num_classes: classes (>= 2) or forecast variates (>= 1 for forecasting).
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (>= 1).
        units: LSTM units (>= 1) or None for ``2 * V``.
        layers: number of layers (>= 1).

    Returns:
        The checked arguments, ``shape`` as a tuple.

    Raises:
        ValueError: an unknown ``task``, ``input_shape`` not ``(T, V)`` of positive integers, ``num_classes``
            too small for the task, ``horizon`` / ``units`` / ``layers`` not positive integers; the message
            names the builder and the argument.

    Example:
        >>> from keras_attention.models.timeseries_nets import check_sequence_args
        >>> check_sequence_args("demo", (16, 3), 4, "classification", 1)  # units: 2 * V
        ((16, 3), 4, 'classification', 1, 6, 1)
        >>> check_sequence_args("demo", [None, 3], 2, "forecasting", 5, units=8, layers=2)
        ((None, 3), 2, 'forecasting', 5, 8, 2)
    """
    task = _prefixed(builder, check_choice, "task", task, set(TASKS))
    shape = check_input_shape(builder, input_shape, rank=1, minimum=1, allow_unknown=True)
    num_classes = check_num_classes(builder, num_classes, minimum=2 if task == "classification" else 1)
    horizon = _prefixed(builder, check_positive_int, "horizon", horizon)
    layers = _prefixed(builder, check_positive_int, "layers", layers)
    units = 2 * shape[-1] if units is None else _prefixed(builder, check_positive_int, "units", units)
    return shape, num_classes, task, horizon, units, layers


def sequence_head(x: Tensor, num_classes: int, task: str, horizon: int, units: int) -> Tensor:
    """Classification: Dense softmax on the last step. Forecasting: LSTM -> Dense -> ``(horizon, num_classes)``.

    Args:
        x: the ``(B, T, C)`` sequence the head reads.
        num_classes: classes or forecast variates.
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps.
        units: units of the forecasting head's LSTM.

    Returns:
        The ``(B, num_classes)`` probabilities or the ``(B, horizon, num_classes)`` forecasts (float32).

    Example:
        >>> import keras
        >>> from keras_attention.models.timeseries_nets import sequence_head
        >>> h = keras.Input((16, 6))
        >>> tuple(sequence_head(h, 4, "classification", 1, 6).shape)
        (None, 4)
        >>> tuple(sequence_head(h, 2, "forecasting", 3, 6).shape)
        (None, 3, 2)
    """
    if task == "classification":
        return classifier_head(x[:, -1, :], num_classes)
    h = keras.layers.LSTM(units, name="head_lstm")(x)
    y = keras.layers.Dense(horizon * num_classes, dtype="float32", name="forecast")(h)
    return keras.layers.Reshape((horizon, num_classes), dtype="float32", name="predictions")(y)


def _default_name(base: str, task: str, name: str | None) -> str:
    if name is not None:
        return name
    return base if task == "classification" else f"{base}_forecasting"


def lstm_baseline(
    input_shape: ShapeLike,
    num_classes: int,
    layers: int = 1,
    units: int | None = None,
    *,
    task: str = "classification",
    horizon: int = 1,
    name: str | None = None,
) -> keras.Model:
    """``layers`` LSTMs (``units``, default ``2 * V``, full sequences) and the head; no attention.

    "Base W/O Attention" of dissertation Table 6.2.

    Args:
        input_shape: ``(T, V)`` without the batch axis (``T`` may be None).
        num_classes: softmax classes (>= 2), or forecast variates (>= 1) for ``task="forecasting"``.
        layers: stacked LSTMs (>= 1).
        units: units of every LSTM (default ``2 * V``).
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (forecasting output ``(horizon, num_classes)``).
        name: model name (default ``lstm_baseline``, ``_forecasting`` appended for forecasting).

    Returns:
        An uncompiled functional ``keras.Model`` on the ``series`` input: ``(B, num_classes)`` softmax
        probabilities, or ``(B, horizon, num_classes)`` forecasts (float32).

    Raises:
        ValueError: an argument is invalid (see ``check_sequence_args``); the message names the builder and
            the argument.

    Example:
        >>> from keras_attention.models import lstm_baseline
        >>> lstm_baseline((16, 3), 4, layers=2).output_shape
        (None, 4)
        >>> lstm_baseline((16, 3), 3, task="forecasting", horizon=2).output_shape
        (None, 2, 3)
    """
    builder = "lstm_baseline"
    shape, num_classes, task, horizon, units, layers = check_sequence_args(
        builder, input_shape, num_classes, task, horizon, units, layers
    )
    inputs = keras.Input(shape, name="series")
    x = inputs
    for i in range(1, layers + 1):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm{i}")(x)
    outputs = sequence_head(x, num_classes, task, horizon, units)
    return keras.Model(inputs, outputs, name=_default_name(builder, task, name))


def self_attention_lstm(
    input_shape: ShapeLike,
    num_classes: int,
    layers: int = 1,
    units: int | None = None,
    attention: str | AttentionKind = "additive",
    num_heads: int = 2,
    *,
    task: str = "classification",
    horizon: int = 1,
    name: str | None = None,
) -> keras.Model:
    """:func:`lstm_baseline` with a self-attention over time after every LSTM (see the module docstring).

    Args:
        input_shape: ``(T, V)`` without the batch axis (``T`` may be None).
        num_classes: softmax classes (>= 2), or forecast variates (>= 1) for ``task="forecasting"``.
        layers: LSTMs (>= 1), each followed by a self-attention.
        units: units of every LSTM (default ``2 * V``).
        attention: ``"additive"`` (default), ``"multihead"`` or another kind of
            :mod:`keras_attention.layers.registry` deployed ``"sequence"`` at rank 1 (not None).
        num_heads: heads of ``"multihead"`` (>= 1).
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (forecasting output ``(horizon, num_classes)``).
        name: model name (default ``self_attention_lstm_<attention>``, ``_forecasting`` appended for
            forecasting).

    Returns:
        An uncompiled functional ``keras.Model`` on the ``series`` input: ``(B, num_classes)`` softmax
        probabilities, or ``(B, horizon, num_classes)`` forecasts (float32).

    Raises:
        ValueError: an argument is invalid (see ``check_sequence_args``; ``attention`` None or not deployed
            ``"sequence"``; ``num_heads`` not a positive integer); the message names the builder and the
            argument.

    Example:
        >>> from keras_attention.models import self_attention_lstm
        >>> model = self_attention_lstm((16, 3), 4)
        >>> model.name, model.output_shape
        ('self_attention_lstm_additive', (None, 4))
        >>> self_attention_lstm((16, 3), 4, layers=2, attention="multihead").name
        'self_attention_lstm_multihead'
    """
    builder = "self_attention_lstm"
    shape, num_classes, task, horizon, units, layers = check_sequence_args(
        builder, input_shape, num_classes, task, horizon, units, layers
    )
    kind = resolve_deployment(builder, attention, hosts=(SEQUENCE,), rank=1, allow_none=False).slot
    assert kind is not None  # allow_none=False: a sequence kind is its own slot module
    num_heads = _prefixed(builder, check_positive_int, "num_heads", num_heads)
    context = {"units": units, "key_dim": units, "num_heads": num_heads}
    inputs = keras.Input(shape, name="series")
    x = inputs
    for i in range(1, layers + 1):
        h = keras.layers.LSTM(units, return_sequences=True, name=f"lstm{i}")(x)
        x = kind.call(kind.build(f"self_attention{i}", context), h)  # replaces h, no residual ([71])
    outputs = sequence_head(x, num_classes, task, horizon, units)
    return keras.Model(inputs, outputs, name=_default_name(f"{builder}_{kind.name}", task, name))


def san1d_lstm(
    input_shape: ShapeLike,
    num_classes: int,
    variant: str = "c",
    placement: str | None = "bottleneck",
    width: float = 1.0,
    *,
    task: str = "classification",
    horizon: int = 1,
    name: str | None = None,
) -> keras.Model:
    """LSTM-4 with rank-1 SAN (``variant`` ``"c"`` or ``"d"``): :func:`keras_attention.models.lstm4`.

    For forecasting, LSTM-4 predicts ``horizon * num_classes`` values, reshaped to ``(horizon, num_classes)``.

    Args:
        input_shape: ``(T, V)`` without the batch axis (T >= 2, or None).
        num_classes: softmax classes (>= 2), or forecast variates (>= 1) for ``task="forecasting"``.
        variant: ``"c"`` (SAN-c) or ``"d"`` (SAN-d).
        placement: ``"bottleneck"`` (LSTM 2 and 4) or ``"full"`` (every LSTM).
        width: multiplier of LSTM-4's 64 units.
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (forecasting output ``(horizon, num_classes)``).
        name: model name (default LSTM-4's ``lstm4_san_<variant>_<placement>``;
            ``san1d_lstm_<variant>_forecasting`` for forecasting).

    Returns:
        An uncompiled functional ``keras.Model`` on the ``series`` input: ``(B, num_classes)`` softmax
        probabilities, or ``(B, horizon, num_classes)`` forecasts (float32).

    Raises:
        ValueError: an argument is invalid (an unknown ``variant`` / ``task``, ``horizon`` not a positive
            integer, or an argument :func:`~keras_attention.models.lstm4` refuses); the message names it.

    Example:
        >>> from keras_attention.models import san1d_lstm
        >>> san1d_lstm((16, 3), 4, width=0.25).output_shape
        (None, 4)
        >>> model = san1d_lstm((16, 3), 2, "d", task="forecasting", horizon=3, width=0.25)
        >>> model.name, model.output_shape
        ('san1d_lstm_d_forecasting', (None, 3, 2))
    """
    builder = "san1d_lstm"
    variant = _prefixed(builder, check_choice, "variant", variant, {"c", "d"})
    task = _prefixed(builder, check_choice, "task", task, set(TASKS))
    horizon = _prefixed(builder, check_positive_int, "horizon", horizon)
    if task == "classification":
        return lstm4(input_shape, num_classes, f"san-{variant}", placement, width, task=task, name=name)
    num_classes = check_num_classes(builder, num_classes, minimum=1)
    base = lstm4(input_shape, horizon * num_classes, f"san-{variant}", placement, width, task=task)
    outputs = keras.layers.Reshape((horizon, num_classes), dtype="float32", name="forecast")(base.outputs[0])
    return keras.Model(base.inputs[0], outputs, name=name or f"san1d_lstm_{variant}_forecasting")


def fusion_cross_attention(
    input_shape: ShapeLike,
    num_classes: int,
    units: int | None = None,
    num_heads: int = 2,
    *,
    task: str = "classification",
    horizon: int = 1,
    name: str | None = None,
) -> keras.Model:
    """Two-stream cross attention in the spirit of FusAtNet; inputs ``[series, saliency]`` (module docstring).

    Args:
        input_shape: ``(T, V)`` of each input, without the batch axis (``T`` may be None).
        num_classes: softmax classes (>= 2), or forecast variates (>= 1) for ``task="forecasting"``.
        units: units of each stream's LSTM and the attention's key size (default ``2 * V``).
        num_heads: heads of the two cross attentions (>= 1).
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (forecasting output ``(horizon, num_classes)``).
        name: model name (default ``fusion_cross_attention``, ``_forecasting`` appended for forecasting).

    Returns:
        An uncompiled functional ``keras.Model`` on the inputs ``[series, saliency]``: ``(B, num_classes)``
        softmax probabilities, or ``(B, horizon, num_classes)`` forecasts (float32).

    Raises:
        ValueError: an argument is invalid (see ``check_sequence_args``; ``num_heads`` not a positive
            integer); the message names the builder and the argument.

    Example:
        >>> from keras_attention.models import fusion_cross_attention
        >>> model = fusion_cross_attention((16, 3), 4)
        >>> [tuple(x.shape) for x in model.inputs], model.output_shape
        ([(None, 16, 3), (None, 16, 3)], (None, 4))
    """
    builder = "fusion_cross_attention"
    shape, num_classes, task, horizon, units, _ = check_sequence_args(
        builder, input_shape, num_classes, task, horizon, units
    )
    num_heads = _prefixed(builder, check_positive_int, "num_heads", num_heads)
    series = keras.Input(shape, name="series")
    saliency = keras.Input(shape, name="saliency")
    f_t = keras.layers.LSTM(units, return_sequences=True, name="series_lstm")(series)
    f_a = keras.layers.LSTM(units, return_sequences=True, name="saliency_lstm")(saliency)
    c_t = keras.layers.MultiHeadAttention(num_heads, key_dim=units, name="series_attends_saliency")(f_t, f_a)
    c_a = keras.layers.MultiHeadAttention(num_heads, key_dim=units, name="saliency_attends_series")(f_a, f_t)
    a_t = keras.layers.Add(name="series_residual")([f_t, c_t])
    a_a = keras.layers.Add(name="saliency_residual")([f_a, c_a])
    fused = keras.layers.Concatenate(name="fusion")([a_t, a_a])
    outputs = sequence_head(fused, num_classes, task, horizon, units)
    return keras.Model([series, saliency], outputs, name=_default_name(builder, task, name))


__all__ = [
    "check_sequence_args",
    "fusion_cross_attention",
    "lstm_baseline",
    "san1d_lstm",
    "self_attention_lstm",
    "sequence_head",
]
