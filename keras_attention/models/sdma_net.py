"""SDMA networks: single-layer and multi-layer Type 1 / Type 2 (dissertation §6.4.4.2, Fig. 6.10;
docs/methods/sdma.md#sdma-networks).

``sdma_net(input_shape, num_classes, layers, architecture, block)`` takes two inputs ``[series, saliency]``,
both ``(T, V)`` (the saliency series from :func:`keras_attention.saliency.saliency_series`), and stacks
``layers`` attention blocks (:class:`~keras_attention.layers.sdma.SDMA` or the one-way
:class:`~keras_attention.layers.sdma.SDCA`), each with ``units`` units (default ``2 * V``, §6.5.1):

- ``layers=1``: the single-layer SDMA of Fig. 6.4 (``architecture`` plays no part);
- Type 1 (Fig. 6.10a, sequential): block ``n + 1`` takes ``(G_T, G_A)`` of block ``n`` -- the attended data
  and saliency branches -- so the saliency features are abstracted along with the data features;
- Type 2 (Fig. 6.10b, semi-parallel): block ``n + 1`` takes ``(out_n, saliency)``, i.e. it learns its
  saliency features from the input saliency series again.

The network's output is the last block's ``out`` through the head shared with the competitors
(:func:`keras_attention.models.timeseries_nets.sequence_head`): classification = Dense softmax on the last
step; forecasting = LSTM (``units``) -> Dense linear, reshaped to ``(horizon, num_classes)``.
Reading for SDCA in a Type 1 network: the saliency branch it passes on is its un-attended ``Y_A`` (SDCA
attends only the data branch).
"""

from typing import Any

import keras

from keras_attention.layers.sdma import SDCA, SDMA
from keras_attention.models.timeseries_nets import (
    _prefixed,
    check_sequence_args,
    sequence_head,
)
from keras_attention.utils.checks import check_choice
from keras_attention.utils.types import ShapeLike

ARCHITECTURES = ("type1", "type2")
BLOCKS = {"sdma": SDMA, "sdca": SDCA}


def sdma_net(
    input_shape: ShapeLike,
    num_classes: int,
    layers: int = 1,
    architecture: str = "type2",
    block: str = "sdma",
    units: int | None = None,
    *,
    task: str = "classification",
    horizon: int = 1,
    block_options: dict[str, Any] | None = None,
    name: str | None = None,
) -> keras.Model:
    """SDMA / SDCA network on inputs ``[series, saliency]`` of shape ``input_shape = (T, V)`` each.

    Args:
        input_shape: ``(T, V)`` without the batch axis (``T`` may be None).
        num_classes: softmax classes (>= 2), or forecast variates (>= 1) for ``task="forecasting"``.
        layers: number of attention blocks (>= 1).
        architecture: ``"type1"`` (block n+1 on ``(G_T, G_A)``) or ``"type2"`` (on ``(out_n, saliency)``).
        block: ``"sdma"`` (mutual, eq. 6.12) or ``"sdca"`` (one-way).
        units: LSTM units of every block (default ``2 * V``).
        task: ``"classification"`` or ``"forecasting"``.
        horizon: forecast steps (forecasting output ``(horizon, num_classes)``).
        block_options: extra keyword arguments for every block (dropout, initialisers, ...).
        name: model name (default ``sdma_net_<block>_<single|type1|type2>``, ``_forecasting`` appended for
            forecasting).

    Returns:
        An uncompiled functional ``keras.Model`` on the inputs ``[series, saliency]``: ``(B, num_classes)``
        softmax probabilities, or ``(B, horizon, num_classes)`` forecasts (float32).

    Raises:
        ValueError: an argument is invalid (an unknown ``task`` / ``architecture`` / ``block``,
            ``input_shape`` not ``(T, V)``, ``num_classes`` too small for the task, ``layers`` / ``units`` /
            ``horizon`` not positive integers, ``block_options`` setting ``units``, ``return_branches`` or
            ``name``); the message names the builder and the argument.

    Example:
        >>> from keras_attention.models import sdma_net
        >>> model = sdma_net((16, 3), 4, layers=2, architecture="type1")
        >>> model.name, model.output_shape
        ('sdma_net_sdma_type1', (None, 4))
        >>> [layer.name for layer in model.layers if layer.name.startswith("sdma")]
        ['sdma_1', 'sdma_2']
        >>> sdma_net((16, 3), 2, block="sdca", task="forecasting", horizon=5).output_shape
        (None, 5, 2)
    """
    builder = "sdma_net"
    shape, num_classes, task, horizon, units, layers = check_sequence_args(
        builder, input_shape, num_classes, task, horizon, units, layers
    )
    architecture = _prefixed(builder, check_choice, "architecture", architecture, set(ARCHITECTURES))
    block = _prefixed(builder, check_choice, "block", block, set(BLOCKS))
    options = dict(block_options or {})
    clash = sorted({"units", "return_branches", "name"} & set(options))
    if clash:
        raise ValueError(f"{builder}: argument `block_options` may not set {clash}; they are set by the builder.")
    cls = BLOCKS[block]

    series = keras.Input(shape, name="series")
    saliency = keras.Input(shape, name="saliency")
    data, attention = series, saliency
    for n in range(1, layers + 1):
        branches = architecture == "type1" and n < layers
        result = cls(units, return_branches=branches, name=f"{block}_{n}", **options)([data, attention])
        if branches:
            out, data, attention = result
        else:
            out = result
            data, attention = out, saliency
    outputs = sequence_head(out, num_classes, task, horizon, units)
    kind = "single" if layers == 1 else architecture
    default = f"{builder}_{block}_{kind}" + ("" if task == "classification" else "_forecasting")
    return keras.Model([series, saliency], outputs, name=name or default)


__all__ = ["ARCHITECTURES", "BLOCKS", "sdma_net"]
