"""Triplet attention (keras_attention.layers.triplet_attention) against a numpy reference that rotates the image
as the official code does (``permute(0, 2, 1, 3)``, ``permute(0, 3, 2, 1)``) in the NCHW layout."""

import keras
import numpy as np
import pytest
from backend import backends, gradients, to_numpy
from numpy_reference import batch_norm, conv, named_weights, randomise, sigmoid
from tolerance import assert_close

from keras_attention.layers import TripletAttention


def gate_nchw(v, kernel, w, prefix, training):
    """The code's AttentionGate on an NCHW tensor: Z-pool [max, mean] over dim 1, 7x7 conv (same), BN, sigmoid,
    times ``v``."""
    pooled = np.stack([v.max(axis=1), v.mean(axis=1)], axis=-1)  # (B, P1, P2, 2), channels last for conv()
    scale = sigmoid(batch_norm(conv(pooled, kernel), w, prefix, training))  # (B, P1, P2, 1)
    return v * np.moveaxis(scale, -1, 1), np.moveaxis(scale, -1, 1)


def ref_triplet(x_nhwc, w, training=False):
    x = np.transpose(x_nhwc, (0, 3, 1, 2))  # NCHW, as the code
    out1, _ = gate_nchw(x.transpose(0, 2, 1, 3), w["cw_kernel"], w, "cw_norm", training)
    out11 = out1.transpose(0, 2, 1, 3)
    out2, _ = gate_nchw(x.transpose(0, 3, 2, 1), w["hc_kernel"], w, "hc_norm", training)
    out21 = out2.transpose(0, 3, 2, 1)
    out, _ = gate_nchw(x, w["hw_kernel"], w, "hw_norm", training)
    y = 1 / 3 * (out + out11 + out21)
    return np.transpose(y, (0, 2, 3, 1))


@backends
@pytest.mark.parametrize("implementation", ["fast", "reference"])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape, kernel_size", [((2, 5, 6, 4), 7), ((3, 8, 3, 9), 3)])
def test_matches_numpy_reference(shape, kernel_size, training, implementation, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = TripletAttention(kernel_size=kernel_size, implementation=implementation, return_attention=True)
    layer.build(x.shape)
    randomise(layer, rng)
    out, mask = layer(x, training=training)
    ref = ref_triplet(x.astype("float64"), named_weights(layer), training)
    assert_close(to_numpy(out), ref)
    nonzero = np.abs(x) > 1e-3
    assert_close(to_numpy(mask)[nonzero], (ref / x.astype("float64"))[nonzero],
                 magnitude=np.abs(ref / x)[nonzero].max() / np.abs(x[nonzero]))  # y = x * mask


def test_weights_and_batch_norms_follow_the_code():
    layer = TripletAttention()
    layer.build((None, 6, 5, 4))
    shapes = {k: v.shape for k, v in named_weights(layer).items()}
    assert shapes["cw_kernel"] == shapes["hc_kernel"] == shapes["hw_kernel"] == (7, 7, 2, 1)
    assert not [k for k in shapes if k.endswith("bias")]
    assert all(bn.momentum == 0.99 and bn.epsilon == 1e-5 for bn in layer.norms)  # BasicConv: PyTorch 0.01


def test_fast_and_reference_give_the_same_outputs_and_gradients(rng):
    x = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    results = []
    for implementation in ("fast", "reference"):
        keras.utils.set_random_seed(3)
        inputs = keras.Input(x.shape[1:])
        model = keras.Model(inputs, TripletAttention(kernel_size=3, implementation=implementation)(inputs))
        weights = np.random.default_rng(1).normal(size=x.shape).astype("float32")
        results.append(gradients(model, x, loss_fn=lambda o: keras.ops.sum(o[0] * weights)))
    (out_fast, grads_fast), (out_ref, grads_ref) = results
    assert_close(to_numpy(out_fast[0]), to_numpy(out_ref[0]))
    for fast, ref in zip(grads_fast, grads_ref):
        assert_close(to_numpy(fast), to_numpy(ref))


def test_implementation_is_checked_and_kept_in_the_config():
    with pytest.raises(ValueError, match="implementation"):
        TripletAttention(implementation="fused")
    config = TripletAttention(implementation="reference").get_config()
    assert TripletAttention.from_config(config).implementation == "reference"


def test_needs_images():
    with pytest.raises(ValueError, match=r"TripletAttention expects images of rank 4"):
        TripletAttention()(np.zeros((2, 5, 3), "float32"))
