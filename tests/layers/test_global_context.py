"""The GCNet global context block (keras_attention.layers.global_context) against a numpy reference written from
the paper's GC block (eq. 4 of arXiv:1904.11492) and the official ContextBlock's fusions and initialisation."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import named_weights, randomise, relu, sigmoid, softmax
from tolerance import assert_close

from keras_attention.layers import GlobalContext


def layer_norm(v, gamma, beta, eps=1e-5):
    return (v - v.mean(axis=-1, keepdims=True)) / np.sqrt(v.var(axis=-1, keepdims=True) + eps) * gamma + beta


def ref_global_context(x, w, fusion=("add",), pooling="attention"):
    batch, channels = x.shape[0], x.shape[-1]
    flat = x.reshape(batch, -1, channels)
    if pooling == "attention":
        alpha = softmax(flat @ w["mask_kernel"] + w["mask_bias"], axis=1)  # (B, N, 1)
    else:
        alpha = np.full(flat.shape[:2] + (1,), 1.0 / flat.shape[1])
    context = (alpha * flat).sum(axis=1)  # (B, C)

    def transform(f):
        hidden = relu(layer_norm(context @ w[f"{f}_1_kernel"] + w[f"{f}_1_bias"], w[f"{f}_norm/gamma"],
                                 w[f"{f}_norm/beta"]))
        return (hidden @ w[f"{f}_2_kernel"] + w[f"{f}_2_bias"]).reshape((batch,) + (1,) * (x.ndim - 2) + (channels,))

    out = x
    if "mul" in fusion:
        out = out * sigmoid(transform("mul"))
    if "add" in fusion:
        out = out + transform("add")
    return out, alpha.reshape(x.shape[:-1] + (1,))


CASES = [((2, 5, 6, 8), "add", "attention"), ((3, 9, 8), "mul", "attention"),
         ((2, 4, 5, 8), ("add", "mul"), "attention"), ((2, 4, 5, 8), "add", "average")]


@backends
@pytest.mark.parametrize("shape, fusion, pooling", CASES)
def test_matches_numpy_reference(shape, fusion, pooling, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = GlobalContext(reduction=2, fusion=fusion, pooling=pooling, return_attention=True)
    layer.build(x.shape)
    randomise(layer, rng)
    out, alpha = layer(x)
    fusions = (fusion,) if isinstance(fusion, str) else fusion
    ref_out, ref_alpha = ref_global_context(x.astype("float64"), named_weights(layer), fusions, pooling)
    assert_close(to_numpy(alpha), ref_alpha)
    assert_close(to_numpy(out), ref_out)


def test_a_new_block_is_the_identity_for_add_and_halves_for_mul(rng):
    """The official last_zero_init: the last convolution of each transform starts at zero, whatever the
    kernel initializer, so a new "add" block returns x and a new "mul" block x * sigmoid(0)."""
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    add = GlobalContext(reduction=2, kernel_initializer="ones")
    np.testing.assert_array_equal(to_numpy(add(x)), x)
    assert_close(to_numpy(GlobalContext(reduction=2, fusion="mul")(x)), x / 2.0)
    w = named_weights(add)
    assert not np.any(w["add_2_kernel"]) and not np.any(w["add_2_bias"])
    assert np.all(w["add_1_kernel"] == 1.0) and np.all(w["mask_kernel"] == 1.0)


def test_weights_of_each_fusion_and_pooling():
    layer = GlobalContext(reduction=4, fusion=["mul", "add"])
    layer.build((None, 6, 6, 16))
    shapes = {k: v.shape for k, v in named_weights(layer).items()}
    assert shapes["mask_kernel"] == (16, 1) and shapes["add_1_kernel"] == (16, 4) and shapes["mul_2_kernel"] == (4, 16)
    assert shapes["add_norm/gamma"] == (4,) and layer.norms["add"].epsilon == 1e-5
    assert layer.get_config()["fusion"] == ["add", "mul"]
    average = GlobalContext(pooling="average")
    average.build((None, 6, 6, 16))
    assert "mask_kernel" not in named_weights(average)
    assert named_weights(average)["add_1_kernel"].shape == (16, 1)  # 16 // 16


@pytest.mark.parametrize("fusion", ["sum", (), ("add", "add"), 3])
def test_bad_fusion(fusion):
    with pytest.raises(ValueError, match=r"Argument `fusion` must be 'add', 'mul' or \('add', 'mul'\)"):
        GlobalContext(fusion=fusion)
