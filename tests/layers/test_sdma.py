"""SDMA / SDCA blocks (eq. 6.12), SDMA networks (Fig. 6.10), the Table 6.2 competitors and the sdma experiment.

References are numpy implementations written here from the equations; the networks train one step on a real
BasicMotions slice (aeon-bundled) with its saliency series, and save / load with ``safe_mode=True``.
"""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import backends, tensorflow_only, to_numpy
from layer_conventions import check_layer_conventions

from keras_attention.data import load_timeseries
from keras_attention.layers.sdma import SDCA, SDMA
from keras_attention.models.sdma_net import sdma_net
from keras_attention.models.timeseries_nets import (
    fusion_cross_attention,
    lstm_baseline,
    san1d_lstm,
    self_attention_lstm,
)
from keras_attention.saliency import saliency_series

T_SLICE = 24  # time steps of the BasicMotions slice (the full series has 100): keeps the LSTMs fast


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_lstm(x, kernel, recurrent_kernel, bias):
    """Keras' LSTM (gates i, f, c, o; tanh / sigmoid; zero initial state), full output sequence."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    out = []
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


@pytest.fixture(scope="module")
def motions():
    """8 BasicMotions training series (first T_SLICE steps, 6 variates), labels, and their saliency series."""
    data = load_timeseries("BasicMotions")
    x = data.x_train[:8, :T_SLICE]
    y = data.y_train[:8]
    s = saliency_series(x)
    assert np.abs(s).max() > 0  # real events were found
    return x, s, y, data.n_classes


# ----------------------------------------------------------------------------- the blocks
@backends
def test_sdma_equals_eq_6_12(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    s = rng.normal(size=(2, 5, 2)).astype("float32")
    layer = SDMA(4, return_branches=True)
    out, g_t, g_a = (to_numpy(v) for v in layer([x, s]))
    y_t, y_a = (to_numpy(v, dtype=np.float64) for v in layer.branch_features([x, s]))
    np.testing.assert_allclose(g_t, y_t * sigmoid(y_a), atol=1e-6)  # eq. 6.12e
    np.testing.assert_allclose(g_a, y_a * sigmoid(y_t), atol=1e-6)  # eq. 6.12f
    np.testing.assert_allclose(out, g_t + g_a, atol=1e-6)  # eq. 6.12g
    assert out.shape == (2, 5, 4)
    # without branches: the same output
    plain = SDMA(4)
    plain([x, s])
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(plain([x, s])), out, atol=1e-6)


@backends
def test_sdma_branches_are_two_separate_lstms(rng):
    """eq. 6.12a-b: Y_T and Y_A are LSTMs with their own weights, checked against a numpy LSTM."""
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    s = rng.normal(size=(2, 6, 3)).astype("float32")
    layer = SDMA(5)
    out = to_numpy(layer([x, s]))
    assert layer.series_lstm is not layer.saliency_lstm
    assert len(layer.trainable_weights) == 6
    kt, ka = layer.series_lstm.get_weights(), layer.saliency_lstm.get_weights()
    assert not np.allclose(kt[0], ka[0])
    y_t = numpy_lstm(x.astype(np.float64), *kt)
    y_a = numpy_lstm(s.astype(np.float64), *ka)
    np.testing.assert_allclose(out, y_t * sigmoid(y_a) + y_a * sigmoid(y_t), atol=1e-5)


@backends
def test_sdca_is_one_way(rng):
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    s = rng.normal(size=(3, 4, 2)).astype("float32")
    layer = SDCA(3, return_branches=True)
    out, g_t, g_a = (to_numpy(v) for v in layer([x, s]))
    y_t, y_a = (to_numpy(v, dtype=np.float64) for v in layer.branch_features([x, s]))
    np.testing.assert_allclose(out, y_t * sigmoid(y_a), atol=1e-6)
    np.testing.assert_allclose(g_t, out, atol=0)
    np.testing.assert_allclose(g_a, y_a, atol=1e-6)  # the saliency branch is not attended
    assert not np.allclose(out, y_t * sigmoid(y_a) + y_a * sigmoid(y_t), atol=1e-3)


def test_compute_output_shape_and_config():
    layer = SDMA(7, return_branches=True, dropout=0.1)
    assert layer.compute_output_shape([(None, 9, 3), (None, 9, 5)]) == ((None, 9, 7),) * 3
    assert SDCA(2).compute_output_shape([(4, None, 3), (4, None, 1)]) == (4, None, 2)
    config = layer.get_config()
    assert config["units"] == 7 and config["return_branches"] and config["dropout"] == 0.1
    assert SDMA.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "make, inputs, match",
    [
        (lambda: SDMA(4), [(None, 5, 3), (None, 6, 3)],
         r"same time size.*series_features \(None, 5, 3\) and saliency_features \(None, 6, 3\)"),
        (lambda: SDCA(4), [(2, 5, 3), (3, 5, 3)],
         r"same batch size.*series_features \(2, 5, 3\) and saliency_features \(3, 5, 3\)"),
        (lambda: SDMA(4), (None, 5, 3), r"expects inputs=a list of 2 tensors \[series_features, saliency_features\]"),
        (lambda: SDMA(4), [(None, 5, 3)] * 3, r"got 3 tensors"),
        (lambda: SDMA(4), [(None, 5), (None, 5, 3)], r"series_features of shape \(B, T, features\).*\(None, 5\)"),
        (lambda: SDMA(4), [(None, 5, 3), (None, 5, None)], r"saliency_features of shape \(B, T, features\)"),
    ],
)
def test_block_shape_errors(make, inputs, match):
    with pytest.raises(ValueError, match=match):
        make().build(inputs)


def test_block_shape_error_on_call(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    s = rng.normal(size=(2, 4, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"series_features \(2, 5, 3\) and saliency_features \(2, 4, 3\)"):
        SDMA(2)([x, s])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, r"`units` must be an integer >= 1; got 0"),
        ({"units": 2.5}, r"`units` must be an integer >= 1; got 2.5"),
        ({"units": 2, "return_branches": "yes"}, r"`return_branches` must be True or False; got 'yes'"),
        ({"units": 2, "dropout": 1.0}, r"`dropout` must be a number in \[0, 1\); got 1.0"),
        ({"units": 2, "recurrent_dropout": -0.1}, r"`recurrent_dropout` must be a number in \[0, 1\)"),
    ],
)
def test_block_argument_errors(kwargs, match):
    for cls in (SDMA, SDCA):
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)


@backends
def test_sdma_layer_conventions(rng, tmp_path):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    s = rng.normal(size=(2, 4, 2)).astype("float32")
    check_layer_conventions(lambda: SDMA(4, return_branches=True), [x, s], tmp_path)


def test_sdca_layer_conventions(rng, tmp_path):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    s = rng.normal(size=(2, 4, 3)).astype("float32")
    check_layer_conventions(lambda: SDCA(3), [x, s], tmp_path)


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
    np.testing.assert_allclose(to_numpy(last([x, s])), expected, atol=1e-5)
    kernel, bias = type1.get_layer("logits").get_weights()
    logits = expected[:, -1, :] @ kernel + bias
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(to_numpy(type1([x, s])), probs, atol=1e-5)

    type2 = sdma_net(shape, n_classes, layers=3, architecture="type2", block="sdca")
    b = [type2.get_layer(f"sdca_{n}") for n in (1, 2, 3)]
    assert not any(blk.return_branches for blk in b)
    expected = to_numpy(b[2]([b[1]([b[0]([x, s]), s]), s]))
    last = keras.Model(type2.inputs, b[2].output)
    np.testing.assert_allclose(to_numpy(last([x, s])), expected, atol=1e-5)
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
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
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


# ----------------------------------------------------------------------------- the experiments
def test_registry_entries():
    from keras_attention.experiments.catalog import sdma  # noqa: F401  (registers on import)
    from keras_attention.experiments.registry import EXPERIMENTS

    table = EXPERIMENTS["sdma"]
    labels = [c.label for c in table.configs]
    assert len(set(labels)) == len(labels) == 10
    assert {c.kind for c in table.configs} == {"lstm", "self_attention", "san1d", "fusion", "sdma", "minirocket"}
    assert table.default_datasets[:2] == ("JapaneseVowels", "BasicMotions")
    assert all(label in labels for label in table.paper["MOCAP"])
    ablation = EXPERIMENTS["sdma-ablation"]
    grid = {(c.options.get("architecture", "single"), c.options["layers"], c.amplitude, c.cut)
            for c in ablation.configs if c.kind == "sdma"}
    assert len(grid) == 3 * 4 * 2
    assert {g[2] for g in grid} == {"mean", "center", "unit", "dog"}
    ablation_labels = [c.label for c in ablation.configs]
    assert all(label in ablation_labels for label in ablation.paper["AUSLAN"])


def test_sdma_experiment_quick_run_writes_its_files(tmp_path):
    from keras_attention.experiments.registry import EXPERIMENTS, RunOptions
    from keras_attention.experiments.catalog.sdma import run_sdma_experiment

    full = EXPERIMENTS["sdma"]
    keep = ("Base LSTM (no attention)", "SDMA single layer", "MiniRocket (non-neural reference)")
    experiment = dataclasses.replace(full, configs=[c for c in full.configs if c.label in keep])
    options = RunOptions(out_dir=tmp_path, dataset="BasicMotions", seeds=1, epochs=1, quick=True, verbose=0)
    summary = run_sdma_experiment(experiment, options)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["datasets"] == ["BasicMotions"] and saved["seeds"] == 1 and saved["epochs"] == 1
    assert [row["label"] for row in saved["rows"]] == list(keep)
    for row in summary["rows"]:
        top1 = row["results"]["BasicMotions"]["top1"]
        assert len(top1) == 1 and 0 <= top1[0] <= 100
    table = (tmp_path / "results.md").read_text()
    assert "SDMA single layer" in table and "±" in table and "paper MOCAP" in table and "88.23" in table
    assert (tmp_path / "saliency_BasicMotions.png").stat().st_size > 5000
    run = tmp_path / "BasicMotions" / "sdma_single_layer" / "seed0"
    assert (run / "training_curves.png").exists() and (run / "history.json").exists()
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in model.layers].count("SDMA") == 1
    assert (tmp_path / "BasicMotions" / "minirocket__non_neural_reference" / "seed0" / "result.json").exists()
