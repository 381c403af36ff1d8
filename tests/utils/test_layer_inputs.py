"""``keras_attention.utils.layer_inputs.layer_call``: integer inputs computed as floats, complex / string inputs
refused with the layer's name, an empty batch answered with empty outputs (every layer's ``call`` has it; the
conventions table checks each layer, this file the decorator's own rules)."""

import keras
import numpy as np
import pytest
from backend import BACKEND, tensorflow_only, to_numpy

from keras_attention.layers import CBAM, SAN, PositionalEncoding, SqueezeExcitation


def test_integer_and_boolean_inputs_are_cast_to_the_compute_dtype():
    x = np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3) % 5
    layer = SqueezeExcitation(reduction=1)
    as_float = to_numpy(layer(x.astype("float32")))
    for dtype in ("int32", "int64", "uint8"):
        out = layer(x.astype(dtype))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        np.testing.assert_array_equal(to_numpy(out), as_float)
    out = layer((x > 2))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_positional_encoding_of_an_integer_series_is_not_truncated():
    """The issue's case: an int32 series gave int32 with the encodings truncated (rows 1-5 all 0)."""
    out = to_numpy(PositionalEncoding(channels=4)(np.zeros((1, 6, 2), "int32")))
    assert out.dtype == np.float32
    assert np.all(np.abs(out[0, 1:6, 2:]).sum(axis=1) > 0.5)  # every step's encoding is there


@pytest.mark.skipif(BACKEND == "torch", reason="torch has no string tensors; complex is checked")
def test_complex_inputs_are_refused_with_the_layer_and_dtype():
    layer = CBAM(reduction=2, name="gate")
    with pytest.raises(TypeError, match=r"CBAM 'gate' takes real-valued inputs; got dtype complex64"):
        layer(np.ones((2, 4, 4, 4), "complex64"))


def test_one_input_of_a_pair_named_when_refused():
    with pytest.raises(TypeError, match=r"ScaleSpaceAttention .* got dtype complex64 \(input 1\)"):
        SAN()([np.ones((1, 4, 4, 2), "float32"), np.ones((1, 4, 4, 2), "complex64")])


def test_empty_batch_gives_empty_outputs_of_the_declared_shapes():
    layer = CBAM(reduction=2, return_attention=True)
    out, mask = layer(np.zeros((0, 5, 6, 4), "float32"))
    assert tuple(out.shape) == (0, 5, 6, 4) and tuple(mask.shape) == (0, 5, 6, 1)
    out = layer(np.zeros((0, 5, 6, 4), "float32"), return_attention=False)  # the call's choice is honoured
    assert tuple(out.shape) == (0, 5, 6, 4)


@tensorflow_only
def test_empty_batch_in_a_graph_of_unknown_batch_size_runs_only_the_empty_branch():
    import tensorflow as tf

    layer = CBAM(reduction=2)
    layer.build((None, 5, 6, 4))
    step = tf.function(lambda x: layer(x, training=True), input_signature=[tf.TensorSpec((None, 5, 6, 4))])
    before = [np.asarray(v) for v in layer.non_trainable_weights]
    assert tuple(step(tf.zeros((0, 5, 6, 4))).shape) == (0, 5, 6, 4)
    for a, b in zip(before, layer.non_trainable_weights):  # no BatchNorm statistics from an empty batch
        np.testing.assert_array_equal(a, np.asarray(b))
    assert tuple(step(tf.ones((3, 5, 6, 4))).shape) == (3, 5, 6, 4)
