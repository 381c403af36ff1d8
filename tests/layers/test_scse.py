"""scSE (keras_attention.layers.scse) against a numpy reference of cSE, sSE and their combination, ``max`` (the
authors' code) and ``add`` (the MICCAI paper)."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import named_weights, randomise, relu, sigmoid
from tolerance import assert_close

from keras_attention.layers import SCSE


def ref_scse(x, w, mode):
    z = x.mean(axis=tuple(range(1, x.ndim - 1)), keepdims=True)
    s = sigmoid(relu(z @ w["channel_squeeze_kernel"] + w["channel_squeeze_bias"]) @ w["channel_excite_kernel"]
                + w["channel_excite_bias"])
    q = sigmoid(x @ w["spatial_kernel"] + w["spatial_bias"])
    return np.maximum(x * s, x * q) if mode == "max" else x * s + x * q


@backends
@pytest.mark.parametrize("mode", ["max", "add"])
@pytest.mark.parametrize("shape", [(2, 5, 6, 8), (3, 9, 4)])
def test_matches_numpy_reference(shape, mode, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = SCSE(reduction=2, mode=mode)
    layer.build(x.shape)
    randomise(layer, rng)
    assert_close(to_numpy(layer(x)), ref_scse(x.astype("float64"), named_weights(layer), mode))


def test_defaults_follow_the_official_code():
    layer = SCSE()
    assert (layer.mode, layer.reduction) == ("max", 2)
    layer.build((None, 4, 4, 6))
    shapes = {k: v.shape for k, v in named_weights(layer).items()}
    assert shapes == {"channel_squeeze_kernel": (6, 3), "channel_squeeze_bias": (3,), "channel_excite_kernel": (3, 6),
                      "channel_excite_bias": (6,), "spatial_kernel": (6, 1), "spatial_bias": (1,)}
    narrow = SCSE()
    narrow.build((None, 4, 1))
    assert named_weights(narrow)["channel_squeeze_kernel"].shape == (1, 1)


def test_bad_mode():
    with pytest.raises(ValueError, match=r"`mode` must be one of \['add', 'max'\]; got 'mul'"):
        SCSE(mode="mul")
