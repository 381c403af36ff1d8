"""``return_attention`` as a call argument (Keras' ``MultiHeadAttention`` convention) of the layers that take it
as a constructor argument: SAN, CBAM, BAM and SqueezeExcitation (``keras_attention.utils.layer_arguments``).

A layer of a trained functional model, called with ``return_attention=True`` (eagerly, in a new functional
model, under XLA), returns ``(output, attention)`` equal to a twin constructed with ``return_attention=True``
and the same weights, with the same gradients, in both implementations; the call argument overrides the
constructor's either way, and a model built with it saves and loads.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tolerance import assert_close

from keras_attention.layers import BAM, CBAM, SAN, SqueezeExcitation

IMAGE = (8, 8, 3)


def _conv_features(inputs):
    """The convolution whose output the attention layer weights (named ``features``)."""
    return keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="features")(inputs)


MAKERS = {
    # name: (layer factory, its inputs from the network input and the features)
    "san": (lambda **kw: SAN(variant="d", **kw), lambda inputs, features: [inputs, features]),
    "san-depthwise": (
        lambda **kw: SAN(variant="c", smoothing_mode="depthwise", **kw),
        lambda inputs, features: [inputs, features],
    ),
    "cbam": (lambda **kw: CBAM(reduction=2, spatial_kernel_size=3, **kw), lambda inputs, features: features),
    "bam": (lambda **kw: BAM(reduction=2, dilation_rate=2, **kw), lambda inputs, features: features),
    "se": (lambda **kw: SqueezeExcitation(reduction=2, **kw), lambda inputs, features: features),
}
IMPLEMENTATIONS = ["fast", "reference"]


def _trained_model(kind, implementation, rng):
    """A small classifier with the layer (``return_attention=False``) after one convolution, fitted for one
    epoch (so its weights and BatchNorm statistics are no longer the initial ones); returns
    ``(model, layer, images)``."""
    make, wire = MAKERS[kind]
    inputs = keras.Input(IMAGE)
    layer = make(implementation=implementation, name="attention")
    gated = layer(wire(inputs, _conv_features(inputs)))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(gated))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    images = rng.standard_normal((6,) + IMAGE).astype("float32")
    model.fit(images, rng.integers(0, 3, 6), batch_size=3, epochs=1, verbose=0)
    return model, layer, images


def _twin(layer, layer_inputs, **overrides):
    """A layer constructed from ``layer``'s config with ``overrides`` and built with its weights."""
    twin = type(layer).from_config({**layer.get_config(), "name": layer.name + "_twin", **overrides})
    twin(layer_inputs)
    twin.set_weights(layer.get_weights())
    return twin


def _layer_inputs(kind, model, images):
    """The concrete tensor(s) the attention layer receives inside ``model`` for ``images``."""
    features = keras.Model(model.input, model.get_layer("features").output)(images)
    return MAKERS[kind][1](tf.convert_to_tensor(images), tf.convert_to_tensor(features))


def _assert_pairs_equal(got, expected):
    """``got`` is a pair ``(output, attention)`` equal to ``expected``."""
    assert isinstance(got, (list, tuple)) and len(got) == 2
    for a, b in zip(got, expected):
        assert_close(np.asarray(a), np.asarray(b))


def _call(layer, x, **kwargs):
    """``layer(x, **kwargs)`` in training mode (batch statistics); Keras drops ``training`` for the layers
    whose call does not take it (SAN, SqueezeExcitation)."""
    return layer(x, training=True, **kwargs)


def _gradients(call, x, weights):
    """Gradients of a loss on both outputs of ``call(x)`` w.r.t. the input tensor(s) and ``weights``."""
    inputs = list(x) if isinstance(x, list) else [x]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        output, attention = call(x)
        loss = tf.reduce_sum(output * tf.sin(output)) + tf.reduce_sum(attention * tf.cos(attention))
    return tape.gradient(loss, inputs + list(weights))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_call_argument_on_a_trained_model_equals_a_constructed_twin(kind, implementation, rng):
    model, layer, images = _trained_model(kind, implementation, rng)
    x = _layer_inputs(kind, model, images)
    twin = _twin(layer, x, return_attention=True)
    expected = twin(x)

    # eagerly, and as one XLA computation each
    _assert_pairs_equal(layer(x, return_attention=True), expected)
    jit = tf.function(lambda t: layer(t, return_attention=True), jit_compile=True)
    jit_twin = tf.function(lambda t: twin(t), jit_compile=True)
    _assert_pairs_equal(jit(x), jit_twin(x))

    # from the network input in one tf.function: the trained model's own layers up to the attention layer
    features = keras.Model(model.input, layer.input)
    end_to_end = tf.function(lambda batch: layer(features(batch), return_attention=True))
    _assert_pairs_equal(end_to_end(tf.constant(images)), expected)
    # symbolic calls give both outputs' specs
    output, attention = layer(layer.input, return_attention=True)
    assert output.shape[1:] == tuple(expected[0].shape[1:])
    assert attention.shape[1:] == tuple(expected[1].shape[1:])
    # the layer keeps its constructor's choice: the trained model still returns only its predictions
    assert not isinstance(model(images), (list, tuple))
    assert layer.return_attention is False and layer.get_config()["return_attention"] is False

    # the call argument overrides the constructor either way; None keeps the constructor's choice
    single = twin(x, return_attention=False)
    assert not isinstance(single, (list, tuple))
    assert_close(np.asarray(single), np.asarray(expected[0]))
    assert isinstance(twin(layer.input, return_attention=False), keras.KerasTensor)
    assert isinstance(twin(x, return_attention=None), tuple)
    assert not isinstance(layer(x, return_attention=None), (list, tuple))

    # gradients of a loss on both outputs (training mode), w.r.t. the inputs and every weight
    got = _gradients(lambda t: _call(layer, t, return_attention=True), x, layer.trainable_weights)
    want = _gradients(lambda t: _call(twin, t), x, twin.trainable_weights)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_close(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_model_built_with_the_call_argument_saves_and_loads(kind, rng, tmp_path):
    """The call argument is part of the saved graph (a node's arguments)."""
    make, wire = MAKERS[kind]
    inputs = keras.Input(IMAGE)
    output, attention = make()(wire(inputs, _conv_features(inputs)), return_attention=True)
    masks = keras.Model(inputs, [output, attention])
    images = rng.standard_normal((2,) + IMAGE).astype("float32")
    expected = masks(images)
    path = tmp_path / "masks.keras"
    masks.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    got = loaded(images)
    assert len(got) == 2
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_bad_call_argument_is_rejected(kind, rng):
    make, wire = MAKERS[kind]
    images = rng.standard_normal((2,) + IMAGE).astype("float32")
    features = keras.layers.Conv2D(4, 3, padding="same")(images)
    with pytest.raises(ValueError, match=r"`return_attention` must be True or False; got 'yes'"):
        make()(wire(images, features), return_attention="yes")


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", ["cbam", "bam", "se"])
def test_symbolic_shapes_follow_the_call_argument(kind, rank):
    make, _ = MAKERS[kind]
    shape = (None, 6, 4) if rank == 1 else (None, 6, 6, 4)
    inputs = keras.Input(shape[1:])
    layer = make()
    single = layer(inputs)
    output, attention = layer(inputs, return_attention=True)
    expected = make(return_attention=True).compute_output_shape(shape)
    assert single.shape == output.shape == expected[0]
    assert attention.shape == expected[1]
