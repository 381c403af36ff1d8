"""Gather-excite (keras_attention.layers.gather_excite) against a numpy reference written from the paper's gather
and excite operators, the official Caffe models (global extent: GE-θ⁻ ``RN50-GEPF``, GE-θ ``RN50-GEP``, GE-θ⁺
``RN50-GEPP``) and timm's extents."""

import itertools

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import batch_norm, conv, named_weights, randomise, relu, sigmoid
from tolerance import assert_close

from keras_attention.layers import GatherExcite


def average_pool(x, extent):
    """GE-θ⁻'s gather: windows of 2e - 1 positions, stride e, e - 1 positions of padding per side, the mean of the
    positions inside the input (count_include_pad=False); rank 1 or 2."""
    spatial = x.shape[1:-1]
    sizes = [-(-n // extent) for n in spatial]  # ceil(n / e)
    out = np.zeros((x.shape[0], *sizes, x.shape[-1]))
    for index in itertools.product(*[range(s) for s in sizes]):
        window = tuple(slice(max(i * extent - (extent - 1), 0), min(i * extent + extent, n))
                       for i, n in zip(index, spatial))
        out[(slice(None),) + index] = x[(slice(None),) + window].mean(axis=tuple(range(1, x.ndim - 1)))
    return out


def nearest(g, spatial):
    """Nearest-neighbour resize (PyTorch's default): output i of n reads floor(i * m / n) of m."""
    for axis, n in enumerate(spatial, start=1):
        m = g.shape[axis]
        g = np.take(g, [i * m // n for i in range(n)], axis=axis)
    return g


def depthwise(x, kernel):
    """Depthwise 3x3 (or 3) convolution, stride 2, one position of zero padding per side."""
    rank = x.ndim - 2
    grouped = np.swapaxes(kernel, -1, -2)  # (*window, C, 1) -> (*window, 1, C): one group per channel
    return conv(x, grouped, strides=2, pads=[(1, 1)] * rank, groups=x.shape[-1])


def ref_gather_excite(x, w, extent, variant, training=False):
    spatial_axes = tuple(range(1, x.ndim - 1))
    if variant == "theta-":
        g = x.mean(axis=spatial_axes, keepdims=True) if not extent else average_pool(x, extent)
    elif not extent:  # the Caffe gather: a depthwise convolution as large as the input, then BN
        g = batch_norm((x * w["gather_0_kernel"][..., 0]).sum(axis=spatial_axes, keepdims=True), w, "gather_norm_0",
                       training)
    else:  # timm: log2(e) stride-2 depthwise 3x3 convolutions, BN after each, ReLU between
        g = x
        for i in range(int(np.log2(extent))):
            g = relu(g) if i else g
            g = batch_norm(depthwise(g, w[f"gather_{i}_kernel"]), w, f"gather_norm_{i}", training)
    if variant == "theta+":  # RN50-GEPP: ReLU, 1x1 down, ReLU, 1x1 up
        g = relu(relu(g) @ w["excite_down_kernel"] + w["excite_down_bias"]) @ w["excite_up_kernel"] + w["excite_up_bias"]
    if extent:
        g = nearest(g, x.shape[1:-1])
    gate = sigmoid(g)
    return x * gate, gate


CASES = [("theta-", 0), ("theta", 0), ("theta+", 0), ("theta-", 2), ("theta-", 4), ("theta", 2), ("theta", 4),
         ("theta+", 4)]


@backends
@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("variant, extent", CASES)
def test_matches_numpy_reference(variant, extent, rank, rng):
    shape = (2, 9, 7, 6) if rank == 2 else (3, 11, 6)
    x = rng.normal(size=shape).astype("float32")
    layer = GatherExcite(extent, variant, reduction=2, return_attention=True)
    layer.build(x.shape)
    randomise(layer, rng)
    for training in (False, True):
        out, gate = layer(x, training=training)
        ref_out, ref_gate = ref_gather_excite(x.astype("float64"), named_weights(layer), extent, variant, training)
        assert_close(to_numpy(gate), np.broadcast_to(ref_gate, gate.shape))
        assert_close(to_numpy(out), ref_out)


def test_weights_of_each_variant():
    def weights(**kwargs):
        layer = GatherExcite(reduction=4, **kwargs)
        layer.build((None, 8, 6, 16))
        return {k: v.shape for k, v in named_weights(layer).items()}

    assert weights(variant="theta-") == {} and weights(variant="theta-", extent=8) == {}
    theta = weights(variant="theta")
    assert theta["gather_0_kernel"] == (8, 6, 16, 1) and "excite_down_kernel" not in theta  # the whole map
    plus = weights(variant="theta+", extent=8)
    assert [k for k in plus if k.endswith("_kernel") and k.startswith("gather")] == [
        "gather_0_kernel", "gather_1_kernel", "gather_2_kernel"]  # log2(8) stride-2 convolutions
    assert plus["gather_0_kernel"] == (3, 3, 16, 1) and plus["excite_down_kernel"] == (16, 4)
    assert not [k for k in plus if k.startswith("gather") and k.endswith("bias")]
    assert GatherExcite().gather_norms[0].momentum == 0.95


def test_parameter_free_global_extent_is_sigmoid_of_the_mean():
    x = np.arange(24, dtype="float32").reshape(1, 2, 3, 4) / 10.0
    _, gate = GatherExcite(variant="theta-", return_attention=True)(x)
    assert_close(to_numpy(gate)[0, 0, 0], sigmoid(x.astype("float64").mean(axis=(1, 2))[0]))


def test_nearest_interpolation_follows_pytorch(rng):
    """extent 4 on 6 positions: 2 gathered cells; PyTorch's nearest reads cell floor(i * 2 / 6) = 0,0,0,1,1,1."""
    x = rng.normal(size=(1, 6, 1)).astype("float32")
    _, gate = GatherExcite(4, "theta-", return_attention=True)(x)
    cells = average_pool(x.astype("float64"), 4)[0, :, 0]
    assert_close(to_numpy(gate)[0, :, 0], sigmoid(cells[[0, 0, 0, 1, 1, 1]]))


@pytest.mark.parametrize("kwargs, shape, match", [
    ({"extent": 3}, None, r"`extent` must be 0 \(global\) or a power of two >= 2; got 3"),
    ({"extent": -1}, None, r"`extent` must be an integer >= 0"),
    ({"variant": "theta++"}, None, r"`variant` must be one of"),
    ({"variant": "theta"}, (None, None, 8, 4), r"needs known spatial sizes"),
])
def test_bad_arguments(kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        GatherExcite(**kwargs).build(shape or (None, 8, 8, 4))
