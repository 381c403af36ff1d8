"""The selective kernel convolution (keras_attention.layers.selective_kernel) against a numpy reference written
from the SKNet paper's eq. 1-6 and the official Caffe model (symmetric padding, no biases, BN momentum 0.95)."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import batch_norm, conv, named_weights, randomise, relu, softmax
from tolerance import assert_close

from keras_attention.layers import SelectiveKernel


def ref_selective_kernel(x, w, *, filters, dilations, strides, padding, groups, kernel_size=3, training=False):
    extents = [d * (kernel_size - 1) + 1 for d in dilations]
    branches = []
    for m, (d, e) in enumerate(zip(dilations, extents)):
        pad = (e - 1) // 2 - (0 if padding == "same" else (max(extents) - 1) // 2)
        source = x if pad >= 0 else x[:, -pad:pad, -pad:pad]
        u = conv(source, w[f"branch_{m}_kernel"], strides=strides, dilation=d, pads=[(max(pad, 0),) * 2] * 2,
                 groups=groups)
        branches.append(relu(batch_norm(u, w, f"branch_{m}_norm", training)))  # split
    fused = sum(branches)  # eq. 1
    s = fused.mean(axis=(1, 2))  # eq. 2
    z = relu(batch_norm(s @ w["fuse_kernel"], w, "fuse_norm", training))  # eq. 3
    a = softmax((z @ w["select_kernel"]).reshape(len(x), len(dilations), filters), axis=1)  # eq. 5
    return sum(a[:, m, None, None, :] * u for m, u in enumerate(branches)), a  # eq. 6


CASES = [
    dict(filters=6, dilations=(1, 2), strides=1, padding="same", groups=1),
    dict(filters=6, dilations=(1, 2), strides=2, padding="same", groups=2),
    dict(filters=4, dilations=(1, 2, 3), strides=1, padding="valid", groups=1),
    dict(filters=4, dilations=(1, 2), strides=2, padding="valid", groups=4),
]


@backends
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['strides']}-{c['padding']}-g{c['groups']}-m{len(c['dilations'])}")
def test_matches_numpy_reference(case, training, rng):
    x = rng.normal(size=(3, 9, 8, 4)).astype("float32")
    layer = SelectiveKernel(reduction=2, min_units=3, return_attention=True, **case)
    layer.build(x.shape)
    randomise(layer, rng)
    out, a = layer(x, training=training)
    ref_out, ref_a = ref_selective_kernel(x.astype("float64"), named_weights(layer), training=training, **case)
    assert_close(to_numpy(a), ref_a)
    assert_close(to_numpy(out), ref_out)
    assert_close(to_numpy(a).sum(axis=1), 1.0)  # the softmax runs across the branches


@pytest.mark.parametrize("filters, reduction, min_units, units", [(128, 16, 32, 32), (1024, 16, 32, 64), (8, 2, 3, 4)])
def test_fuse_width_is_max_of_c_over_r_and_l(filters, reduction, min_units, units):
    layer = SelectiveKernel(filters, reduction=reduction, min_units=min_units)
    layer.build((None, 8, 8, 8))
    w = named_weights(layer)
    assert w["fuse_kernel"].shape == (filters, units)  # eq. 4
    assert w["select_kernel"].shape == (units, 2 * filters)  # A and B, branch after branch
    assert w["branch_1_kernel"].shape == (3, 3, 8, filters)
    assert not [k for k in w if k.endswith("bias")]  # the Caffe model's convolutions and FC layers have none
    assert all(bn.momentum == 0.95 and bn.epsilon == 1e-5 for bn in layer.branch_norms + [layer.fuse_norm])


def test_strided_same_padding_is_symmetric_like_the_official_code():
    """One channel, both kernels reading only their top-left tap, the selection off (a = 1/2 each): with the
    official symmetric padding (1 for the 3x3, 2 for the dilated branch) the first output row and column read
    padding, every other output reads ones. Keras' "same" would pad 0 before and read input (0, 0) there."""
    x = np.ones((1, 6, 6, 1), "float32")
    layer = SelectiveKernel(1, strides=2, reduction=1, min_units=1)
    layer.build(x.shape)
    tap = np.zeros((3, 3, 1, 1), "float32")
    tap[0, 0] = 1.0
    for kernel in layer.branch_kernels:
        kernel.assign(tap)
    layer.select_kernel.assign(np.zeros(layer.select_kernel.shape, "float32"))
    out = to_numpy(layer(x, training=False))[0, :, :, 0]
    expected = np.full((3, 3), 1.0 / np.sqrt(1.0 + 1e-5))  # BN at its initial state, then relu, averaged
    expected[0, :] = expected[:, 0] = 0.0
    assert_close(out, expected)


@pytest.mark.parametrize("kwargs, shape, match", [
    ({"filters": 4, "kernel_size": 4}, (None, 8, 8, 4), r"`kernel_size` must be odd"),
    ({"filters": 5, "groups": 2}, (None, 8, 8, 4), r"`groups`=2 must divide `filters`=5"),
    ({"filters": 4, "groups": 4}, (None, 8, 8, 6), r"`groups`=4 must divide the input channels"),
    ({"filters": 4, "padding": "valid"}, (None, 4, 8, 4), r"padding='valid'\) needs H and W >= 5"),
    ({"filters": 4, "dilations": (1,)}, (None, 8, 8, 4), r"`dilations` must be a sequence of two or more integers"),
    ({"filters": 4}, (None, 8, 4), r"SelectiveKernel expects images of rank 4"),
])
def test_bad_arguments_and_shapes(kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        SelectiveKernel(**kwargs).build(shape)
