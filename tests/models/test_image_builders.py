"""Model builders (SPEC §1 placement, §10): structure, attention slots, training, saving, errors.

Real data: a slice of the Fashion-MNIST test images (zero-padded to 32 px for VGG / ResNet) and of
the BasicMotions series bundled with aeon. The heaviest cases (ResNet-50 / VGG-19 with "full"
placement) carry ``pytest.mark.slow`` (still run by default). "full" placement is checked for every
builder and every kind (two builders each), not for every pair (see ``FULL_PLACEMENT``).
"""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from real_data import fashion_floats

from keras_attention.layers.scale_space_attention import ScaleSpaceAttention
from keras_attention.models import (
    ATTENTION_KINDS,
    BUILDERS,
    attention_layers,
    cifar_resnet,
    lenet5,
    lstm4,
    register_attention,
    resnet18,
    resnet50,
    vgg16,
    vgg19,
)
from keras_attention.models._common import scaled

W = 0.125  # width multiplier of the tests

# builder -> (input shape used in the tests, bottleneck modules, full modules)
EXPECTED = {
    "lenet5": ((28, 28, 1), 2, 2),
    "vgg16": ((32, 32, 1), 5, 13),
    "vgg19": ((32, 32, 1), 5, 16),
    "resnet18": ((32, 32, 1), 4, 8),
    "resnet50": ((32, 32, 1), 4, 16),
    "cifar_resnet": ((32, 32, 1), 3, 9),  # depth 20: n = 3 blocks per stage
    "lstm4": ((24, 6), 2, 4),  # the first 24 of BasicMotions' 100 steps: an eager LSTM step is per time step
}
SINGLE_INPUT = {"cbam": ("cbam", "CBAM"), "bam": ("bam", "BAM"), "se": ("squeeze_excitation", "SqueezeExcitation")}
HEAVY = {("resnet50", "full"), ("vgg19", "full")}


def _need(attention):
    """The layer class the builders use for ``attention``."""
    if attention in SINGLE_INPUT:
        module, name = SINGLE_INPUT[attention]
        return getattr(importlib.import_module(f"keras_attention.layers.{module}"), name)
    return ScaleSpaceAttention if attention else None


# "full" placement puts the same slot code after every convolution (LSTM) that "bottleneck" puts after
# some, and the model without attention is the same for both: every kind is placed "full" in two builders
# and every builder gets at least one "full" kind, so each module count of EXPECTED is checked once.
FULL_PLACEMENT = {
    "lenet5": ("san-c", "cbam"),
    "vgg16": ("san-d", "bam"),
    "vgg19": ("se",),
    "resnet18": ("san-c", "se"),
    "resnet50": ("bam",),
    "cifar_resnet": ("san-d", "cbam"),
    "lstm4": ("san-d",),
}


def _cases():
    for builder in EXPECTED:
        for attention in [None, "san-c", "san-d", "cbam", "bam", "se"]:
            for placement in ["bottleneck", "full"]:
                if placement == "full" and attention not in FULL_PLACEMENT[builder]:
                    continue
                marks = [pytest.mark.slow] if (builder, placement) in HEAVY else []
                yield pytest.param(builder, attention, placement, marks=marks, id=f"{builder}-{attention}-{placement}")


def test_full_placement_cases_cover_every_kind_twice_and_every_builder():
    kinds = [kind for chosen in FULL_PLACEMENT.values() for kind in chosen]
    assert set(FULL_PLACEMENT) == set(EXPECTED)
    assert all(kinds.count(kind) >= 2 for kind in ("san-c", "san-d", "cbam", "bam", "se"))


# ----------------------------------------------------------------------------- real data slices
@pytest.fixture(scope="module")
def fashion():
    """16 Fashion-MNIST test images (28, 28, 1) in [0, 1] and their labels (the committed slice)."""
    return fashion_floats(16)


@pytest.fixture(scope="module")
def fashion32(fashion):
    images, labels = fashion
    return np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)]), labels


@pytest.fixture(scope="module")
def motions():
    """8 BasicMotions series as (B, T=100, C=6) and integer labels (4 classes)."""
    from aeon.datasets import load_classification

    x, y = load_classification("BasicMotions")
    pick = np.r_[0:4, 40:44]  # two classes from each half of the training split
    _, labels = np.unique(y, return_inverse=True)
    return np.transpose(x[pick], (0, 2, 1)).astype("float32"), labels[pick].astype("int32")


def _build(builder, attention=None, placement="bottleneck", **kw):
    shape = kw.pop("input_shape", EXPECTED[builder][0])
    return BUILDERS[builder](shape, 4, attention, placement, kw.pop("width", W), **kw)


def _producers(model):
    return {id(layer.output): layer for layer in model.layers if not isinstance(layer.output, (list, tuple))}


def _source_layer(model, tensor):
    """The Conv / LSTM layer that made ``tensor``, looking back through BN and activations."""
    producers = _producers(model)
    layer = producers[id(tensor)]
    while isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Activation)):
        layer = producers[id(layer.input)]
    return layer


# ----------------------------------------------------------------------------- structure
def _tiny_batch(request, builder):
    """Two real samples shaped for ``builder`` and labels in 0..3."""
    if builder == "lstm4":
        x, y = request.getfixturevalue("motions")
        x = x[:, : EXPECTED["lstm4"][0][0]]
    elif builder == "lenet5":
        x, y = request.getfixturevalue("fashion")
    else:
        x, y = request.getfixturevalue("fashion32")
    return x[:2], y[:2] % 4


@pytest.mark.parametrize("builder,attention,placement", list(_cases()))
def test_builds_trains_a_step_and_round_trips(request, tmp_path, builder, attention, placement):
    cls = _need(attention)
    model = _build(builder, attention, placement)
    assert isinstance(model, keras.Model) and not model.compiled
    modules = attention_layers(model)
    _, bottleneck, full = EXPECTED[builder]
    assert len(modules) == (0 if attention is None else bottleneck if placement == "bottleneck" else full)
    for layer in modules:
        assert type(layer) is cls
        assert layer.name.startswith(attention.replace("-", "_") + "_")
        if cls is ScaleSpaceAttention:
            assert layer.variant == attention[-1]
            assert layer.dilation_rate == {"c": 1, "d": 2}[attention[-1]]
    expected_name = builder if attention is None else f"{builder}_{attention.replace('-', '_')}_{placement}"
    if builder == "cifar_resnet":
        expected_name = expected_name.replace("cifar_resnet", "cifar_resnet20")
    assert model.name == expected_name
    assert model.output_shape == (None, 4)

    # one eager SGD step on two real samples (no tracing: the whole matrix stays cheap), then .keras round trip
    x, y = _tiny_batch(request, builder)
    before = [np.array(w) for w in model.trainable_weights]
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    keras.optimizers.SGD(0.1).apply_gradients(zip(grads, model.trainable_weights))
    assert np.isfinite(float(loss))
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(loaded(x, training=False)))


@pytest.mark.parametrize(
    "builder,placement",
    # the heavy pairs share their block code with vgg16 full / resnet50 bottleneck
    [(b, p) for b in EXPECTED for p in ("bottleneck", "full") if (b, p) not in HEAVY],
)
def test_san_gets_the_input_and_output_of_one_layer_and_feeds_on(builder, placement):
    """previous is exactly the input of the conv / LSTM that made current; only SAN reads current."""
    model = _build(builder, "san-c", placement)
    consumers = {}
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        for t in inputs:
            consumers.setdefault(id(t), []).append(layer)
    for san in attention_layers(model):
        previous, current = san.input
        source = _source_layer(model, current)
        assert isinstance(source, (keras.layers.Conv2D, keras.layers.LSTM)), san.name
        assert source.input is previous, san.name
        assert [c.name for c in consumers[id(current)]] == [san.name]
        assert consumers.get(id(san.output)), f"{san.name} output is not used"
        slot = source.name.rsplit("_", 2)[0] if "resnet" in builder else source.name  # stage2_block1_2_conv
        assert san.name == f"san_c_{slot}"


def test_lenet_pairs_and_kernel_size():
    model = lenet5((28, 28, 1), 10, "san-d")
    full = lenet5((28, 28, 1), 10, "san-d", "full")
    assert [l.name for l in attention_layers(model)] == ["san_d_conv1", "san_d_conv2"]
    assert [l.name for l in full.layers] == [l.name for l in model.layers]
    assert model.count_params() == full.count_params()
    first, second = attention_layers(model)
    assert [tuple(t.shape) for t in first.input] == [(None, 28, 28, 1), (None, 28, 28, 6)]
    assert first.input[0] is model.input
    assert [tuple(t.shape) for t in second.input] == [(None, 14, 14, 6), (None, 10, 10, 16)]
    assert second.input[0] is model.get_layer("pool1").output
    assert first.kernel_size == second.kernel_size == 5  # the feature branch's kernel (SPEC §1.5)
    assert second.kernel.shape == (5, 5, 16, 16)
    # the base LeNet-5 of the paper: 6@5x5, 16@5x5, 120, 84
    assert [model.get_layer(n).filters for n in ("conv1", "conv2")] == [6, 16]
    assert [model.get_layer(n).units for n in ("fc1", "fc2", "logits")] == [120, 84, 10]


def test_vgg_and_resnet_pairs():
    vgg = vgg16((32, 32, 3), 10, "san-c", "full", 0.125, batch_norm=True)
    san = vgg.get_layer("san_c_block1_conv2")
    assert san.input[0] is vgg.get_layer("san_c_block1_conv1").output
    assert san.input[1] is vgg.get_layer("block1_relu2").output
    assert vgg.get_layer("san_c_block2_conv1").input[0] is vgg.get_layer("block1_pool").output
    bottleneck = vgg16((32, 32, 3), 10, "san-c", width=0.125)
    assert [l.name for l in attention_layers(bottleneck)] == [f"san_c_block{b}_conv{n}" for b, n in
                                                              zip(range(1, 6), (2, 2, 3, 3, 3))]

    res = resnet18((32, 32, 3), 10, "san-d", "bottleneck", 0.125)
    assert [l.name for l in attention_layers(res)] == [f"san_d_stage{s}_block2" for s in range(1, 5)]
    san = res.get_layer("san_d_stage2_block2")
    assert san.input[0] is res.get_layer("stage2_block2_1_relu").output
    assert san.input[1] is res.get_layer("stage2_block2_2_bn").output
    assert res.get_layer("stage2_block2_add").input[1] is san.output  # attention before the addition

    r50 = resnet50((32, 32, 3), 10, "san-c", "bottleneck", 0.125)
    san = r50.get_layer("san_c_stage3_block6")
    assert san.input[0] is r50.get_layer("stage3_block6_2_relu").output  # 3x3 output (C)
    assert san.input[1] is r50.get_layer("stage3_block6_3_bn").output  # 1x1 expansion output (4C)
    assert san.input[0].shape[-1] * 4 == san.input[1].shape[-1]
    assert r50.get_layer("stage3_block6_add").input[1] is san.output


def test_lstm4_pairs_and_heads():
    model = lstm4((100, 6), 4, "san-c", "full", 0.125)
    assert [l.name for l in attention_layers(model)] == [f"san_c_lstm{i}" for i in range(1, 5)]
    assert model.get_layer("san_c_lstm1").input[0] is model.input
    assert model.get_layer("san_c_lstm3").input[0] is model.get_layer("pool1").output
    assert model.get_layer("pool1").input is model.get_layer("san_c_lstm2").output
    assert tuple(model.get_layer("san_c_lstm3").output.shape) == (None, 50, 8)
    assert model.get_layer("predictions").get_config()["activation"] == "softmax"
    forecast = lstm4((100, 6), 1, "san-d", task="forecasting")
    head = forecast.get_layer("predictions")
    assert isinstance(head, keras.layers.Dense) and head.get_config()["activation"] == "linear"
    assert forecast.output_shape == (None, 1)
    assert [l.name for l in attention_layers(forecast)] == ["san_d_lstm2", "san_d_lstm4"]
    variable = lstm4((None, 6), 3, "san-c", width=W)
    assert variable.output_shape == (None, 3)


def test_width_scaling_and_input_size_switches():
    model = vgg16((64, 64, 3), 10, width=1 / 64)
    assert model.get_layer("block1_conv1").filters == 1
    assert model.get_layer("block5_conv3").filters == 8
    assert model.get_layer("fc1").units == 64  # 4096 / 64 from 64 px on
    assert vgg16((63, 63, 3), 10, width=1 / 64).get_layer("fc1").units == 8  # 512 / 64 below
    assert vgg19((32, 32, 3), 10, width=0.5, dropout=0.0).get_layer("block3_conv4").filters == 128
    assert scaled(6, 0.01) == 1 and scaled(64, 0.125) == 8 and scaled(6, 0.5) == 3
    big = resnet18((64, 64, 3), 10, width=0.125)
    assert big.get_layer("stem_conv").kernel_size == (7, 7) and big.get_layer("stem_conv").strides == (2, 2)
    assert tuple(big.get_layer("stem_pool").output.shape) == (None, 16, 16, 8)
    small = resnet18((32, 32, 3), 10, width=0.125)
    assert small.get_layer("stem_conv").kernel_size == (3, 3) and small.get_layer("stem_conv").strides == (1, 1)
    assert "stem_pool" not in [l.name for l in small.layers]
    assert tuple(small.get_layer("global_pool").input.shape) == (None, 4, 4, 64)
    r50 = resnet50((32, 32, 3), 10, width=0.125)
    assert tuple(r50.get_layer("global_pool").input.shape) == (None, 4, 4, 256)


def test_builder_batch_norms_use_the_papers_momentum():
    # PyTorch's default (0.1 in its convention); Keras' 0.99 lags in short runs (see models/_common.py)
    for model in (vgg16((32, 32, 3), 10, width=1 / 16, batch_norm=True), resnet18((32, 32, 3), 10, width=0.125),
                  resnet50((32, 32, 3), 10, width=0.0625), cifar_resnet((32, 32, 1), 10, depth=20, width=0.25)):
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and {layer.momentum for layer in norms} == {0.9}, model.name


def test_attention_options_reach_the_modules():
    model = vgg16((32, 32, 1), 4, "san-c", width=W, attention_options={"smoothing_mode": "depthwise", "kernel_size": 1})
    for layer in attention_layers(model):
        assert layer.smoothing_mode == "depthwise" and layer.kernel_size == 1
    ablation = dict(absolute=True, channel_alignment=False, extrema=True, smoothing=True)
    with pytest.raises(ValueError, match="incompatible configuration"):
        lenet5((28, 28, 1), 10, "san-c", attention_options=ablation)  # 1 -> 6 channels needs CCA


def test_registry_makes_new_kinds_available():
    calls = []

    def factory(name, **options):
        calls.append((name, options))
        return keras.layers.Identity(name=name)

    register_attention("test-kind", factory, match_kernel=True)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_attention("test-kind", factory, match_kernel=True)
        model = lenet5((28, 28, 1), 10, "test-kind", attention_options={"flag": 1})
        assert [l.name for l in attention_layers(model)] == ["test_kind_conv1", "test_kind_conv2"]
        assert calls == [("test_kind_conv1", {"flag": 1, "kernel_size": 5}),
                         ("test_kind_conv2", {"flag": 1, "kernel_size": 5})]
        with pytest.raises(ValueError, match="'test-kind'"):
            lenet5((28, 28, 1), 10, "unknown")
    finally:
        del ATTENTION_KINDS["test-kind"]
    with pytest.raises(ValueError, match="lower-case"):
        register_attention("Bad Name", factory)


# ----------------------------------------------------------------------------- training and saving
def _fit_step(model, x, y, loss="sparse_categorical_crossentropy", steps=1, lr=1e-3, eager=True):
    """Train ``steps`` steps; every attention module must receive gradients (some weight moves).

    Eager by default: on 2 shared cores tracing a deep graph costs far more than one eager step.
    (Not every weight of a module need move: a dilated kernel's outer taps see only padding on a 2x2 map.)
    """
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, run_eagerly=eager)
    modules = attention_layers(model)
    before = [[np.array(w) for w in layer.trainable_weights] for layer in modules]
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    assert np.all(np.isfinite(losses))
    for layer, old in zip(modules, before):
        assert old, f"{layer.name} has no trainable weights"
        moved = [not np.array_equal(a, np.array(w)) for a, w in zip(old, layer.trainable_weights)]
        assert any(moved), f"{layer.name} did not learn"
    return losses


def test_lenet_learns_on_fashion_mnist(fashion):
    x, y = fashion
    model = lenet5((28, 28, 1), 10, "san-d")
    losses = _fit_step(model, x, y, steps=8, lr=3e-3, eager=False)  # the compiled train step
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize(
    "builder,attention,placement,kw",
    [
        ("vgg16", "san-c", "full", {"batch_norm": True}),
        ("resnet18", "san-d", "bottleneck", {}),
        ("cifar_resnet", "san-c", "full", {"depth": 8}),
        ("resnet18", "cbam", "full", {}),
        ("vgg16", "bam", "bottleneck", {}),
        ("resnet50", "se", "bottleneck", {}),
        pytest.param("resnet50", "san-d", "full", {}, marks=pytest.mark.slow),
    ],
)
def test_one_training_step_on_fashion_mnist(fashion32, builder, attention, placement, kw):
    _need(attention)
    x, y = fashion32
    model = BUILDERS[builder]((32, 32, 1), 10, attention, placement, W, **kw)
    _fit_step(model, x[:8], y[:8])


def test_lstm4_trains_on_basic_motions(motions):
    x, y = motions
    _fit_step(lstm4(x.shape[1:], 4, "san-c", "full", W), x, y)
    forecast = lstm4(x.shape[1:], 2, "san-d", width=W, task="forecasting")
    target = x[:, -1, :2]  # predict the last reading of two channels
    _fit_step(forecast, x, target, loss="mse")


@pytest.mark.parametrize(
    "builder,attention,placement,kw,data",
    [
        ("lenet5", "san-c", "bottleneck", {}, "fashion"),
        ("vgg16", "san-d", "full", {"batch_norm": True}, "fashion32"),
        ("resnet18", "san-c", "full", {}, "fashion32"),
        ("resnet18", "cbam", "bottleneck", {}, "fashion32"),
        ("lstm4", "san-d", "full", {"task": "forecasting"}, "motions"),
    ],
)
def test_keras_save_load_gives_identical_predictions(request, tmp_path, builder, attention, placement, kw, data):
    _need(attention)
    x, y = request.getfixturevalue(data)
    shape = x.shape[1:]
    model = BUILDERS[builder](shape, 2 if kw.get("task") else 10, attention, placement, W, **kw)
    if kw.get("task") == "forecasting":
        model.compile(optimizer="adam", loss="mse", run_eagerly=True)
        model.train_on_batch(x, x[:, -1, :2])
    else:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
        model.train_on_batch(x[:8], y[:8])  # moves BN statistics and weights away from the initialisation
    expected = np.asarray(model(x[:8], training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.name == model.name
    assert [l.name for l in attention_layers(loaded)] == [l.name for l in attention_layers(model)]
    np.testing.assert_array_equal(np.asarray(loaded(x[:8], training=False)), expected)


def test_mixed_precision_builds_with_float32_predictions(fashion):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    model = lenet5((28, 28, 1), 10, "san-c", width=0.5)
    assert model.get_layer("san_c_conv1").compute_dtype == "float16"
    out = np.asarray(model(fashion[0][:4]))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: lenet5((28, 28, 1), 10, "sa-n"),
         r"`attention` must be one of None, .*'bam', .*'cbam', .*'san-c', .*'san-d', .*'se'.*; got 'sa-n'"),
        (lambda: vgg16((32, 32, 3), 10, "san-c", "middle"),
         r"`placement` must be one of \['bottleneck', 'full'\]; got 'middle'"),
        (lambda: lenet5((11, 28, 1), 10), r"lenet5: .*\(11, 28, 1\) is too small.*at least 12"),
        (lambda: vgg16((32, 31, 3), 10), r"vgg16: .*at least 32"),
        (lambda: vgg19((16, 16, 3), 10), r"vgg19: .*at least 32"),
        (lambda: resnet18((7, 7, 3), 10), r"resnet18: .*at least 8"),
        (lambda: resnet50((4, 64, 3), 10), r"resnet50: .*at least 8"),
        (lambda: cifar_resnet((2, 2, 3), 10), r"cifar_resnet: .*at least 4"),
        (lambda: lstm4((1, 3), 2), r"lstm4: .*time steps must be at least 2"),
        (lambda: lenet5((28, 28), 10), r"`input_shape` must have 3 entries \(H, W, C\).*got \(28, 28\)"),
        (lambda: lstm4((10, 3, 1), 2), r"`input_shape` must have 2 entries \(T, C\)"),
        (lambda: vgg16((32, 32, 0), 10), r"positive integers"),
        (lambda: resnet18((None, 32, 3), 10), r"positive integers"),
        (lambda: lenet5((28, 28, 1), 1), r"lenet5: Argument `num_classes` must be an integer >= 2; got 1"),
        (lambda: lstm4((10, 3), 0, task="forecasting"), r"`num_classes` must be an integer >= 1; got 0"),
        (lambda: resnet18((32, 32, 3), 10, width=0), r"`width` must be a number > 0.*got 0"),
        (lambda: lenet5((28, 28, 1), 10, width="wide"), r"`width` must be a number > 0"),
        (lambda: lstm4((10, 3), 2, task="regression"), r"`task` must be one of \['classification', 'forecasting'\]"),
        (lambda: cifar_resnet((32, 32, 3), 10, depth=21), r"`depth` must be 6n \+ 2.*got 21"),
        (lambda: vgg16((32, 32, 3), 10, dropout=1.0), r"`dropout` must be a number in \[0, 1\)"),
        (lambda: vgg16((32, 32, 3), 10, batch_norm="yes"), r"`batch_norm` must be True or False"),
        (lambda: lenet5((28, 28, 1), 10, "san-c", attention_options=[1]), r"`attention_options` must be a dict"),
        (lambda: lenet5((28, 28, 1), 10, "san-c", attention_options={"name": "a"}), r"may not set \['name'\]"),
    ],
)
def test_bad_arguments_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
