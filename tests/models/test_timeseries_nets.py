"""SDMA networks (Fig. 6.10, models/sdma_net.py) and the Table 6.2 competitors (models/timeseries_nets.py).

The networks train one step on a real BasicMotions slice (aeon-bundled) with its saliency series, and save /
load with ``safe_mode=True``.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import tensorflow_only, to_numpy
from tolerance import assert_close

from keras_attention.data import load_timeseries
from keras_attention.models.sdma_net import sdma_net
from keras_attention.models.timeseries_nets import (
    fusion_cross_attention,
    lstm_baseline,
    san1d_lstm,
    self_attention_lstm,
)
from keras_attention.saliency import saliency_series

T_SLICE = 24  # time steps of the BasicMotions slice (the full series has 100): keeps the LSTMs fast


@pytest.fixture(scope="module")
def motions():
    """8 BasicMotions training series (first T_SLICE steps, 6 variates), labels, and their saliency series."""
    data = load_timeseries("BasicMotions")
    x = data.x_train[:8, :T_SLICE]
    y = data.y_train[:8]
    s = saliency_series(x)
    assert np.abs(s).max() > 0  # real events were found
    return x, s, y, data.n_classes


# ----------------------------------------------------------------------------- the networks
def test_type1_and_type2_wiring(motions):
    """Fig. 6.10: Type 1 feeds (G_T, G_A) on, Type 2 feeds (out, saliency); head = softmax(Dense(last step))."""
    x, s, _, n_classes = motions
    shape = x.shape[1:]
    type1 = sdma_net(shape, n_classes, layers=3, architecture="type1")
    b = [type1.get_layer(f"sdma_{n}") for n in (1, 2, 3)]
    assert [blk.return_branches for blk in b] == [True, True, False]
    _, g_t, g_a = b[0]([x, s])
    _, g_t, g_a = b[1]([g_t, g_a])
    expected = to_numpy(b[2]([g_t, g_a]))
    last = keras.Model(type1.inputs, b[2].output)
    assert_close(to_numpy(last([x, s])), expected)
    kernel, bias = type1.get_layer("logits").get_weights()
    logits = expected[:, -1, :] @ kernel + bias
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    assert_close(to_numpy(type1([x, s])), probs)

    type2 = sdma_net(shape, n_classes, layers=3, architecture="type2", block="sdca")
    b = [type2.get_layer(f"sdca_{n}") for n in (1, 2, 3)]
    assert not any(blk.return_branches for blk in b)
    expected = to_numpy(b[2]([b[1]([b[0]([x, s]), s]), s]))
    last = keras.Model(type2.inputs, b[2].output)
    assert_close(to_numpy(last([x, s])), expected)
    assert b[0].units == 2 * shape[-1]  # units default: 2 * variates
    assert b[1].series_lstm.get_weights()[0].shape == (2 * shape[-1], 4 * 2 * shape[-1])  # takes out_1
    assert b[1].saliency_lstm.get_weights()[0].shape == (shape[-1], 4 * 2 * shape[-1])  # takes the saliency again


NETWORKS = {
    "sdma single": (lambda sh, k: sdma_net(sh, k), True),
    "sdma type1": (lambda sh, k: sdma_net(sh, k, 2, "type1"), True),
    "sdma type2": (lambda sh, k: sdma_net(sh, k, 2, "type2", units=5), True),
    "sdca type1": (lambda sh, k: sdma_net(sh, k, 2, "type1", "sdca"), True),
    "lstm baseline": (lambda sh, k: lstm_baseline(sh, k, layers=2), False),
    "self-attention additive": (lambda sh, k: self_attention_lstm(sh, k), False),
    "self-attention multihead": (lambda sh, k: self_attention_lstm(sh, k, attention="multihead"), False),
    "san1d": (lambda sh, k: san1d_lstm(sh, k, "d", width=0.125), False),
    "fusion": (lambda sh, k: fusion_cross_attention(sh, k), True),
}


def train_one_step(model, feed, target, loss_fn):
    """One eager RMSProp step (no tf.function tracing: fast); returns the loss."""
    optimizer = keras.optimizers.RMSprop(1e-3)
    with tf.GradientTape() as tape:
        loss = loss_fn(target, model(feed, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    optimizer.apply(grads, model.trainable_variables)
    return float(loss)


@tensorflow_only
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_network_trains_and_reloads(kind, motions, tmp_path):
    x, s, y, n_classes = motions
    make, pair = NETWORKS[kind]
    model = make(x.shape[1:], n_classes)
    feed = [x, s] if pair else x
    assert len(model.inputs) == (2 if pair else 1)
    before = [w.copy() for w in model.get_weights()]
    loss = train_one_step(model, feed, y, keras.losses.SparseCategoricalCrossentropy())
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    probs = to_numpy(model(feed, training=False))
    assert probs.shape == (len(x), n_classes)
    assert_close(probs.sum(-1), 1.0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(loaded(feed, training=False)), probs)


@tensorflow_only
@pytest.mark.parametrize(
    "make, pair",
    [
        (lambda sh: sdma_net(sh, 2, 2, task="forecasting", horizon=3), True),
        (lambda sh: fusion_cross_attention(sh, 2, task="forecasting", horizon=3), True),
        (lambda sh: lstm_baseline(sh, 2, task="forecasting", horizon=3), False),
        (lambda sh: san1d_lstm(sh, 2, width=0.125, task="forecasting", horizon=3), False),
    ],
)
def test_forecasting_heads(make, pair, motions):
    """Forecasting: output (horizon, num_classes), linear; the head is LSTM -> Dense (LSTM-4: its own)."""
    x, s, _, _ = motions
    model = make(x.shape[1:])
    feed = [x, s] if pair else x
    target = x[:, -3:, :2]  # the last values of two variates (a shape-correct MAE target)
    assert np.isfinite(train_one_step(model, feed, target, keras.losses.MeanAbsoluteError()))
    out = to_numpy(model(feed))
    assert out.shape == (len(x), 3, 2)
    if not model.name.startswith("san1d"):
        assert isinstance(model.get_layer("head_lstm"), keras.layers.LSTM)
        assert model.get_layer("forecast").get_config()["activation"] == "linear"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sdma_net((10, 3), 2, architecture="type3"), r"`architecture` must be one of \['type1', 'type2'\]"),
        (lambda: sdma_net((10, 3), 2, block="mha"), r"`block` must be one of \['sdca', 'sdma'\]; got 'mha'"),
        (lambda: sdma_net((10, 3), 2, layers=0), r"sdma_net: .*`layers` must be an integer >= 1; got 0"),
        (lambda: sdma_net((10, 3), 2, units=0), r"`units` must be an integer >= 1; got 0"),
        (lambda: sdma_net((10, 3), 2, task="regression"), r"`task` must be one of \['classification', 'forecasting'\]"),
        (lambda: sdma_net((10,), 2), r"`input_shape` must have 2 entries \(T, C\)"),
        (lambda: sdma_net((10, 3), 1), r"`num_classes` must be an integer >= 2; got 1"),
        (lambda: sdma_net((10, 3), 1, task="forecasting", horizon=0), r"`horizon` must be an integer >= 1; got 0"),
        (lambda: sdma_net((10, 3), 2, block_options={"units": 3}), r"`block_options` may not set \['units'\]"),
        (lambda: self_attention_lstm((10, 3), 2, attention="dot"), r"`attention` must be one of \['additive', 'multihead'\]"),
        (lambda: san1d_lstm((10, 3), 2, variant="x"), r"`variant` must be one of \['c', 'd'\]"),
        (lambda: fusion_cross_attention((10, 3), 2, num_heads=0), r"`num_heads` must be an integer >= 1; got 0"),
        (lambda: lstm_baseline((10, 0), 2), r"`input_shape` must hold positive integers"),
    ],
)
def test_builder_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
