"""LSTM-4 seed architecture with attention slots (SAN paper IV-B.4; docs/models.md#models-lstm4).

LSTM 64 -> LSTM 64 -> average-pool 2 -> LSTM 64 -> LSTM 64 -> global average pool -> dense head
(softmax for ``task="classification"``, linear for ``task="forecasting"``).

Readings where the paper is silent (docs/models.md#models-lstm4): the paper has "average pooling following every
two recurrent layers"; every LSTM returns its full sequence, and the pooling after the last two is a global average
over time, which gives the head a vector and leaves every recurrent output a ``(B, T, C)`` map that a rank-1
attention module can weight. Attention slots, on the pair (input of the LSTM, its output
sequence); for the first LSTM ``previous`` is the input series:
- ``"full"``: after every LSTM (4 modules);
- ``"bottleneck"``: after the LSTMs right before a pooling, the 2nd and 4th (2 modules).
SAN here is rank 1 (docs/methods/san.md); an LSTM has no kernel, so SAN's smoothing kernel keeps its default, 3.
For forecasting, ``num_classes`` is the number of predicted values (>= 1).
"""

from typing import Any

import keras

from keras_attention.layers.registry import AttentionKind
from keras_attention.models._common import (
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    scaled,
)
from keras_attention.models.attention_slots import apply_attention, resolve_deployment
from keras_attention.utils.checks import check_choice
from keras_attention.utils.types import ShapeLike

LSTM_MIN_STEPS = 2  # one 2x average pooling
TASKS = ("classification", "forecasting")


def lstm4(
    input_shape: ShapeLike,
    num_classes: int,
    attention: str | AttentionKind | None = None,
    placement: str | None = "bottleneck",
    width: float = 1.0,
    *,
    task: str = "classification",
    attention_options: dict[str, Any] | None = None,
    name: str | None = None,
) -> keras.Model:
    """LSTM-4 for series ``input_shape=(T, C)`` (T >= 2, or None for variable length).

    Args:
        input_shape: series shape without the batch axis.
        num_classes: softmax classes (>= 2) for classification, predicted values (>= 1) for forecasting.
        attention: None or a kind of :mod:`keras_attention.layers.registry` deployed ``"slot"`` at rank 1.
        placement: ``"bottleneck"`` (LSTM 2 and 4) or ``"full"`` (every LSTM).
        width: multiplier of the 64 units (at least 1).
        task: ``"classification"`` (softmax head) or ``"forecasting"`` (linear head).
        attention_options: extra keyword arguments for every attention layer.
        name: model name (default ``lstm4`` or ``lstm4_<kind>_<placement>``).

    Returns:
        An uncompiled functional ``keras.Model`` from the ``series`` input to ``num_classes`` float32 outputs
        (softmax probabilities, or linear predictions for forecasting).

    Raises:
        ValueError: an argument is invalid (an unknown ``task``, ``input_shape`` not ``(T, C)`` with T >= 2,
            ``num_classes`` too small for the task, ``width`` not > 0, an ``attention`` not deployed ``"slot"``
            at rank 1, an unknown ``placement``, bad ``attention_options``); the message names the argument.

    Example:
        >>> from keras_attention.models import attention_layers, lstm4
        >>> model = lstm4((16, 3), 4, attention="san-c", width=0.25)
        >>> model.name, model.output_shape
        ('lstm4_san_c_bottleneck', (None, 4))
        >>> [layer.name for layer in attention_layers(model)]
        ['san_c_lstm2', 'san_c_lstm4']
        >>> lstm4((None, 3), 2, task="forecasting", width=0.25).output_shape  # any series length
        (None, 2)
    """
    builder = "lstm4"
    task = check_choice("task", task, set(TASKS))
    shape = check_input_shape(builder, input_shape, rank=1, minimum=LSTM_MIN_STEPS, allow_unknown=True)
    num_classes = check_num_classes(builder, num_classes, minimum=2 if task == "classification" else 1)
    width = check_width(builder, width)
    deployment = resolve_deployment(builder, attention, placement, attention_options, rank=1)
    kind, options, placement = deployment.slot, deployment.slot_options, deployment.placement

    inputs = keras.Input(shape, name="series")
    x = inputs
    for i in range(1, 5):
        previous = x
        x = keras.layers.LSTM(scaled(64, width), return_sequences=True, name=f"lstm{i}")(x)
        if placement == "full" or i % 2 == 0:
            x = apply_attention(kind, previous, x, f"lstm{i}", kernel_size=3, options=options)
        if i == 2:
            x = keras.layers.AveragePooling1D(2, name="pool1")(x)
    x = keras.layers.GlobalAveragePooling1D(name="global_pool")(x)
    if task == "classification":
        outputs = classifier_head(x, num_classes)
    else:
        outputs = keras.layers.Dense(num_classes, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=deployment.model_name(builder, name))
