"""CBAM, BAM and SqueezeExcitation (SPEC §2) against numpy references written from the equations."""

import math

import keras
import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import BN_EPSILON, batch_norm, conv_same, named_weights, randomise, relu, sigmoid
from tolerance import assert_close

from keras_attention.layers.bam import BAM
from keras_attention.layers.cbam import CBAM
from keras_attention.layers.squeeze_excitation import SqueezeExcitation

EPS = BN_EPSILON  # BatchNorm epsilon of both official codes (PyTorch default)


# ============================================================================ references (SPEC §2)
def ref_se(x, w):
    z = x.mean(axis=tuple(range(1, x.ndim - 1)), keepdims=True)
    s = sigmoid(relu(z @ w["squeeze_kernel"] + w["squeeze_bias"]) @ w["excite_kernel"] + w["excite_bias"])
    return x * s, s


def ref_cbam(x, w, training=False):
    spatial = tuple(range(1, x.ndim - 1))

    def mlp(v):
        return relu(v @ w["mlp_1_kernel"] + w["mlp_1_bias"]) @ w["mlp_2_kernel"] + w["mlp_2_bias"]

    channel = sigmoid(mlp(x.mean(axis=spatial, keepdims=True)) + mlp(x.max(axis=spatial, keepdims=True)))
    x = x * channel
    pooled = np.concatenate([x.mean(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)], axis=-1)
    mask = sigmoid(batch_norm(conv_same(pooled, w["spatial_kernel"]), w, "spatial_norm", training))
    return x * mask, mask


def ref_bam(x, w, dilation=4, training=False):
    spatial = tuple(range(1, x.ndim - 1))
    c = x.mean(axis=spatial, keepdims=True) @ w["channel_1_kernel"] + w["channel_1_bias"]
    c = relu(batch_norm(c, w, "channel_norm", training)) @ w["channel_2_kernel"] + w["channel_2_bias"]
    s = relu(batch_norm(x @ w["reduce_kernel"] + w["reduce_bias"], w, "reduce_norm", training))
    for i in range(2):
        s = conv_same(s, w[f"dilated_{i}_kernel"], dilation) + w[f"dilated_{i}_bias"]
        s = relu(batch_norm(s, w, f"dilated_norm_{i}", training))
    s = s @ w["spatial_kernel"] + w["spatial_bias"]
    attention = sigmoid(c + s)
    return x * (1.0 + attention), attention


SHAPES = {1: (2, 11, 6), 2: (2, 9, 10, 6)}
MAKERS = {
    "cbam": (lambda **kw: CBAM(reduction=2, **kw), ref_cbam),
    "bam": (lambda **kw: BAM(reduction=2, **kw), ref_bam),
    "se": (lambda **kw: SqueezeExcitation(reduction=2, **kw), ref_se),
}


# ============================================================================ shapes
@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize(
    "cls, attention_shape",
    [
        (CBAM, lambda s: s[:-1] + (1,)),
        (BAM, lambda s: s),
        (SqueezeExcitation, lambda s: (s[0],) + (1,) * (len(s) - 2) + (s[-1],)),
    ],
)
def test_output_and_attention_shapes(cls, attention_shape, rank, rng):
    shape = (2, 12, 5) if rank == 1 else (2, 6, 7, 20)
    x = rng.normal(size=shape).astype("float32")
    layer = cls(return_attention=True)
    out, att = layer(x)
    assert tuple(out.shape) == shape
    assert tuple(att.shape) == attention_shape(shape)
    symbolic = (None,) + shape[1:]
    assert layer.compute_output_shape(symbolic) == (symbolic, attention_shape(symbolic))
    assert tuple(cls()(x).shape) == shape
    assert cls().compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


@pytest.mark.parametrize(
    "cls, kernel_path",
    [(CBAM, "mlp_1_kernel"), (BAM, "channel_1_kernel"), (BAM, "reduce_kernel"), (SqueezeExcitation, "squeeze_kernel")],
)
@pytest.mark.parametrize("channels, reduction, hidden", [(5, 16, 1), (20, 16, 1), (32, 16, 2), (12, 4, 3)])
def test_hidden_width_is_at_least_one(cls, kernel_path, channels, reduction, hidden):
    layer = cls(reduction=reduction)
    layer.build((None, 8, channels))
    assert named_weights(layer)[kernel_path].shape == (channels, hidden)


def test_weight_shapes_of_the_convolutions():
    cbam = CBAM(spatial_kernel_size=5)
    cbam.build((None, 6, 6, 8))
    assert named_weights(cbam)["spatial_kernel"].shape == (5, 5, 2, 1)  # 2 pooled maps -> 1 filter, no bias
    assert "spatial_bias" not in named_weights(cbam)
    bam = BAM(reduction=4)
    bam.build((None, 10, 8))
    w = named_weights(bam)
    assert w["dilated_0_kernel"].shape == w["dilated_1_kernel"].shape == (3, 2, 2)
    assert w["spatial_kernel"].shape == (2, 1)


# ============================================================================ mask ranges
@pytest.mark.parametrize("rank", [1, 2])
def test_masks_lie_in_unit_interval_and_bam_gain_in_one_two(rank, rng):
    shape = (3, 10, 8) if rank == 1 else (3, 6, 5, 8)
    x = (5.0 * rng.normal(size=shape)).astype("float32")
    x[np.abs(x) < 1e-3] = 1.0  # out / x needs x != 0
    for cls in (CBAM, BAM, SqueezeExcitation):
        layer = cls(reduction=2, return_attention=True)
        layer.build(shape)
        randomise(layer, rng)
        out, att = (to_numpy(t) for t in layer(x, training=False))
        assert np.all((att >= 0.0) & (att <= 1.0)), cls.__name__
        assert att.std() > 0, cls.__name__  # not a constant mask
        if cls is BAM:
            gain = out / x
            assert np.all((gain >= 1.0 - 1e-6) & (gain <= 2.0 + 1e-6))
            assert_close(out, x * (1.0 + att))
        if cls is SqueezeExcitation:
            assert_close(out, x * att)


# ============================================================================ numpy references
@backends
@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", ["cbam", "bam", "se"])
def test_matches_numpy_reference_in_inference(kind, rank, rng):
    make, ref = MAKERS[kind]
    x = rng.normal(size=SHAPES[rank]).astype("float32")
    layer = make(return_attention=True)
    layer.build(x.shape)
    randomise(layer, rng)
    out, att = layer(x, training=False)
    ref_out, ref_att = ref(x.astype("float64"), named_weights(layer))
    assert_close(to_numpy(att), np.broadcast_to(ref_att, att.shape))
    assert_close(to_numpy(out), ref_out)


@backends
@pytest.mark.parametrize("kind", ["cbam", "bam"])
def test_training_uses_batch_statistics_and_updates_moving_ones(kind, rng):
    make, ref = MAKERS[kind]
    x = rng.normal(size=SHAPES[2]).astype("float32")
    layer = make()
    layer.build(x.shape)
    randomise(layer, rng)
    before = named_weights(layer)
    out = to_numpy(layer(x, training=True))
    assert_close(out, ref(x.astype("float64"), before, training=True)[0])
    after = named_weights(layer)
    moving = [k for k in before if k.endswith("moving_mean")]
    assert moving and all(not np.allclose(before[k], after[k]) for k in moving)
    # inference keeps the moving statistics and differs from the batch-statistics output
    inference = to_numpy(layer(x, training=False))
    assert_close(inference, ref(x.astype("float64"), after)[0])
    assert not np.allclose(inference, out, atol=1e-3)


def test_bam_dilation_reaches_four_steps_away():
    """Dilation 4: the second dilated conv with only its right tap reads t + 4, zero padding past the end."""
    layer = BAM(reduction=1, return_attention=True)
    x = np.ones((1, 13, 1), "float32")
    layer.build(x.shape)  # biases 0; BatchNorms at their initial (gamma 1, beta 0, mean 0, variance 1)
    layer.channel_kernel_2.assign(np.zeros((1, 1), "float32"))  # channel branch off
    layer.reduce_kernel.assign(np.ones((1, 1), "float32"))
    layer.spatial_kernel.assign(np.ones((1, 1), "float32"))
    layer.dilated_kernels[0].assign(np.array([0.0, 1.0, 0.0], "float32").reshape(3, 1, 1))  # centre tap
    layer.dilated_kernels[1].assign(np.array([0.0, 0.0, 1.0], "float32").reshape(3, 1, 1))  # reads t + 4
    _, att = layer(x, training=False)
    s = to_numpy(att)[0, :, 0]
    scale = 1.0 / math.sqrt(1.0 + EPS)
    inside = sigmoid(scale**3)  # ones through three BatchNorms (mean 0, variance 1, gamma 1)
    expected = np.where(np.arange(13) + 4 < 13, inside, sigmoid(0.0))  # t + 4 beyond the end is padding
    assert_close(s, expected)


# ============================================================================ hand-set weights
@backends
def test_se_with_hand_set_weights():
    """x (1, 2, 1, 2): GAP = [2, 4]; hidden = relu(2 + 4) = 6; scale = sigmoid([6, -6])."""
    layer = SqueezeExcitation(reduction=2, return_attention=True)
    x = np.array([[[[1.0, 3.0]], [[3.0, 5.0]]]], "float32")
    layer.build(x.shape)
    layer.squeeze_kernel.assign([[1.0], [1.0]])
    layer.excite_kernel.assign([[1.0, -1.0]])
    out, scale = layer(x)
    assert_close(to_numpy(scale).ravel(), [0.9975273768, 0.0024726232])
    expected = np.array([[[[0.9975273768, 0.0074178696]], [[2.9925821304, 0.0123631160]]]])
    assert_close(to_numpy(out), expected)


@backends
def test_cbam_with_hand_set_weights():
    """MLP all zero -> channel gate sigmoid(0) = 0.5, x' = x / 2 = [[0.5, 1.5], [-1, 0]].
    Spatial kernel: centre tap 1 on the mean map, 0 elsewhere; BatchNorm (0, 1, 1, 0) ~ identity.
    mean_c(x') = [1, -0.5] -> mask = sigmoid([1, -0.5] / sqrt(1 + 1e-5))."""
    layer = CBAM(reduction=2, return_attention=True)
    x = np.array([[[1.0, 3.0], [-2.0, 0.0]]], "float32")
    layer.build(x.shape)
    for var in (layer.mlp_kernel_1, layer.mlp_kernel_2):
        var.assign(np.zeros(var.shape, "float32"))
    kernel = np.zeros((7, 2, 1), "float32")
    kernel[3, 0, 0] = 1.0  # centre of the default 7-tap kernel, mean map
    layer.spatial_kernel.assign(kernel)
    out, mask = layer(x, training=False)
    scale = 1.0 / math.sqrt(1.0 + EPS)
    expected_mask = sigmoid(np.array([1.0, -0.5]) * scale)  # ~ [0.7310585786, 0.3775406688]
    assert_close(expected_mask, [0.7310585786, 0.3775406688])
    assert_close(to_numpy(mask)[0, :, 0], expected_mask)
    expected = np.array([[0.5, 1.5], [-1.0, 0.0]]) * expected_mask[:, None]
    assert_close(to_numpy(out)[0], expected)


@backends
def test_bam_with_hand_set_weights():
    """Every kernel zero, so both branches are their final biases: channel [1, -1], spatial 0.5;
    attention = sigmoid([1.5, -0.5]) = [0.8175744762, 0.3775406688] at every position, out = x (1 + it)."""
    layer = BAM(reduction=2, return_attention=True)
    x = np.array([[[[2.0, -4.0], [1.0, 3.0]], [[0.5, 0.0], [-1.0, 10.0]]]], "float32")
    layer.build(x.shape)
    for var in layer.weights:
        if var.path.endswith("_kernel"):
            var.assign(np.zeros(var.shape, "float32"))
    layer.channel_bias_2.assign([1.0, -1.0])
    layer.spatial_bias.assign([0.5])
    out, att = layer(x, training=False)
    assert_close(to_numpy(att), np.broadcast_to([0.8175744762, 0.3775406688], x.shape))
    assert_close(to_numpy(out), x * np.array([1.8175744762, 1.3775406688]))


# ============================================================================ errors
@pytest.mark.parametrize("cls", [CBAM, BAM, SqueezeExcitation])
@pytest.mark.parametrize("reduction", [0, -2, 1.5, True, "16"])
def test_bad_reduction(cls, reduction):
    with pytest.raises(ValueError, match=r"`reduction` must be an integer >= 1; got"):
        cls(reduction=reduction)


def test_bad_other_arguments():
    with pytest.raises(ValueError, match=r"`spatial_kernel_size` must be an integer >= 1; got 0"):
        CBAM(spatial_kernel_size=0)
    with pytest.raises(ValueError, match=r"`dilation_rate` must be an integer >= 1; got 2.0"):
        BAM(dilation_rate=2.0)
    with pytest.raises(ValueError, match=r"`return_attention` must be True or False; got 'yes'"):
        SqueezeExcitation(return_attention="yes")


@pytest.mark.parametrize("cls", [CBAM, BAM, SqueezeExcitation])
def test_bad_inputs(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name} expects an input of rank 3 \(B, T, C\) or 4 \(B, H, W, C\); "
                       r"got shape \(1, 2, 2, 2, 3\)"):
        cls()(np.zeros((1, 2, 2, 2, 3), "float32"))
    with pytest.raises(ValueError, match=rf"{name} expects an input of rank 3 .*got shape \(None, 4\)"):
        cls().compute_output_shape((None, 4))
    with pytest.raises(ValueError, match=rf"{name} needs a known channel count; got input shape \(None, 5, None\)"):
        cls()(keras.Input((5, None)))
    with pytest.raises(ValueError, match=rf"{name} expects a single tensor"):
        cls().compute_output_shape([(None, 5, 3), (None, 5, 3)])
