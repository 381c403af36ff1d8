"""The kernel and bias arguments the layers share (``keras_attention.utils.layer_arguments``): every layer that
takes them keeps them in its config (round trip, also with non-default values), applies them to every kernel
and bias it creates (XM2A and MSMSA included), and loads configs saved without them (their defaults).
"""

import keras
import numpy as np
import pytest

from keras_attention import layers

BIAS_KEYS = ("bias_initializer", "bias_regularizer")
KERNEL_KEYS = ("kernel_initializer", "kernel_regularizer")
IMAGE, SEQUENCE = (2, 6, 6, 4), (2, 5, 3)
CASES = {
    # name: (layer factory, input shapes, has biases)
    "san": (lambda **kw: layers.SAN(**kw), [(2, 6, 6, 3), IMAGE], True),
    "cbam": (lambda **kw: layers.CBAM(reduction=2, **kw), IMAGE, True),
    "bam": (lambda **kw: layers.BAM(reduction=2, **kw), IMAGE, True),
    "se": (lambda **kw: layers.SqueezeExcitation(reduction=2, **kw), IMAGE, True),
    "nonlocal": (lambda **kw: layers.NonLocalBlock(**kw), IMAGE, True),
    "spanet": (lambda **kw: layers.SalientPositionsAttention(k=4, **kw), IMAGE, True),
    "awconv": (lambda **kw: layers.AWConv2D(4, 3, use_bias=True, **kw), IMAGE, True),
    "xm2a": (lambda **kw: layers.XM2A(num_heads=2, key_dim=3, **kw), SEQUENCE, True),
    "msmsa": (lambda **kw: layers.MSMSA(num_heads=2, key_dim=3, **kw), SEQUENCE, True),
    "sdma": (lambda **kw: layers.SDMA(3, **kw), [SEQUENCE, (2, 5, 2)], True),
    "fa": (lambda **kw: layers.FocusAssociation(**kw), [IMAGE, (2, 3, 3, 5), (2, 1)], False),
}


def _arguments(with_bias):
    """Non-default values of the shared arguments (a layer without biases takes only the kernel ones)."""
    arguments = {"kernel_initializer": "he_normal", "kernel_regularizer": keras.regularizers.L2(0.5)}
    if with_bias:
        arguments.update(bias_initializer="ones", bias_regularizer=keras.regularizers.L1(0.25))
    return arguments


def _built(kind, **kwargs):
    """The layer of ``kind`` with ``kwargs``, called once on random inputs (so it is built)."""
    make, shapes, _ = CASES[kind]
    rng = np.random.default_rng(0)
    layer = make(**kwargs)
    if isinstance(shapes, list):
        layer([rng.standard_normal(s).astype("float32") for s in shapes])
    else:
        layer(rng.standard_normal(shapes).astype("float32"))
    return layer


@pytest.mark.parametrize("kind", sorted(CASES))
def test_config_keeps_the_arguments_and_round_trips(kind):
    make, _, with_bias = CASES[kind]
    layer = make(**_arguments(with_bias))
    config = layer.get_config()
    for key in KERNEL_KEYS + (BIAS_KEYS if with_bias else ()):
        assert config[key] is not None, key
    for key in () if with_bias else BIAS_KEYS:
        assert key not in config
    assert type(layer).from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.get_config() == config
    assert isinstance(restored.kernel_regularizer, keras.regularizers.L2)
    assert restored.kernel_regularizer.l2 == pytest.approx(0.5)
    if with_bias:
        assert isinstance(restored.bias_regularizer, keras.regularizers.L1)


@pytest.mark.parametrize("kind", sorted(set(CASES) - {"sdma"}))
def test_every_kernel_and_bias_gets_the_initializers_and_regularizers(kind):
    """Every weight the layer creates itself (not its BatchNorms', nor XM2A's norm gamma/beta) is a kernel
    with the kernel arguments or a bias with the bias arguments; the regularization losses are theirs."""
    _, _, with_bias = CASES[kind]
    layer = _built(kind, **_arguments(with_bias))
    own = [w for w in layer.weights if w.path.count("/") == 1 and not w.name.startswith("norm_")]
    assert own
    expected_loss = 0.0
    for weight in own:
        value = np.asarray(weight)
        if weight.name.endswith("bias"):
            assert isinstance(weight.regularizer, keras.regularizers.L1), weight.path
            np.testing.assert_array_equal(value, np.ones_like(value))  # bias_initializer="ones"
            expected_loss += 0.25 * np.abs(value).sum()
        else:
            assert isinstance(weight.regularizer, keras.regularizers.L2), weight.path
            expected_loss += 0.5 * np.square(value).sum()
    assert len(layer.losses) == len(own)
    np.testing.assert_allclose(float(sum(np.asarray(loss) for loss in layer.losses)), expected_loss, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(set(CASES) - {"sdma"}))
def test_default_arguments_add_no_losses(kind):
    layer = _built(kind)
    assert layer.losses == []
    config = layer.get_config()
    assert config["kernel_regularizer"] is None
    assert keras.initializers.get(config["kernel_initializer"]).__class__ is keras.initializers.GlorotUniform


def test_sdma_passes_the_arguments_to_both_lstms():
    layer = _built("sdma", **_arguments(True))
    for lstm in (layer.series_lstm, layer.saliency_lstm):
        assert isinstance(lstm.cell.kernel_regularizer, keras.regularizers.L2)
        assert isinstance(lstm.cell.bias_regularizer, keras.regularizers.L1)
        assert isinstance(lstm.cell.kernel_initializer, keras.initializers.HeNormal)
    assert len(layer.losses) == 4  # kernel and bias of each LSTM (the recurrent kernels have no regularizer)


@pytest.mark.parametrize("kind", ["xm2a", "msmsa"])
def test_xm2a_and_msmsa_configs_saved_without_the_regularizers_still_load(kind):
    """Configs written before XM2A and MSMSA took regularizers have only the two initializers."""
    layer = _built(kind)
    config = layer.get_config()
    old = {k: v for k, v in config.items() if k not in ("kernel_regularizer", "bias_regularizer")}
    restored = type(layer).from_config(old)
    assert restored.kernel_regularizer is None and restored.bias_regularizer is None
    assert restored.get_config() == config


@pytest.mark.parametrize("kind", sorted(CASES))
def test_configs_without_any_of_the_arguments_load_with_the_defaults(kind):
    layer = _built(kind)
    config = layer.get_config()
    old = {k: v for k, v in config.items() if k not in KERNEL_KEYS + BIAS_KEYS}
    assert type(layer).from_config(old).get_config() == config
