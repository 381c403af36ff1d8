"""The image builders in ``data_format="channels_first"`` and with selective kernel units (``conv="sk"``).

Channels-first: one builder per family (LeNet-5, VGG, the ResNets) builds on ``(C, H, W)`` images, takes the
weights of its channels-last twin (no weight depends on the layout: Keras kernels are ``(*window, in, out)``
either way, and the flattening reads channels-last order) and gives the same predictions on the transposed
images, and one training step runs (two of the builders also under JAX and torch). TensorFlow runs an NCHW ``Conv2D`` on the CPU only through oneDNN (its default
on x86 Linux): its own CPU kernels refuse the convolution ("The Conv2D op currently only supports the NHWC tensor
format on the CPU") and its filter gradient ("Conv2DCustomBackpropFilterOp only supports NHWC"); where that is
so, the TensorFlow cases are skipped (:func:`nchw_convolution` says why), and the ones marked ``backends`` run
under JAX and torch (``tests/test_backends.py``).
"""

import functools

import keras
import numpy as np
import pytest
from backend import BACKEND, backends, to_numpy
from tolerance import assert_close

from keras_attention.layers import CBAM, SelectiveKernel
from keras_attention.models import (
    cifar_resnet,
    lenet5,
    register_attention,
    resnet18,
    resnet50,
    unregister_attention,
    vgg16,
)

W = 0.125


@functools.lru_cache(maxsize=None)
def nchw_convolution():
    """``(works, reason)``: whether this backend runs a channels-first ``Conv2D``, forward and filter gradient, on
    this machine (TensorFlow's own CPU kernels do not; oneDNN does)."""
    if BACKEND != "tensorflow":
        return True, ""
    import tensorflow as tf

    x, kernel = tf.ones((1, 2, 4, 4)), tf.ones((3, 3, 2, 1))
    try:
        with tf.GradientTape() as tape:
            tape.watch(kernel)
            y = tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "SAME", data_format="NCHW"))
        tape.gradient(y, kernel).numpy()
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as error:
        return False, error.message.splitlines()[0]
    return True, ""


def _need_nchw():
    works, reason = nchw_convolution()
    if not works:
        pytest.skip(f"TensorFlow cannot run a channels-first Conv2D on this CPU: {reason}")


BUILDERS = {  # family: (build(input_shape, data_format) -> model, channels-last input shape)
    "lenet5-cbam": (lambda s, f: lenet5(s, 4, "cbam", width=0.5, data_format=f), (28, 28, 1)),
    "lenet5-sk-san": (lambda s, f: lenet5(s, 4, "san-d", width=0.5, conv="sk", data_format=f), (28, 28, 1)),
    "vgg16-fa-se": (lambda s, f: vgg16(s, 4, "fa+se", width=1 / 16, batch_norm=True, data_format=f), (32, 32, 1)),
    "cifar-resnet-coordinate": (lambda s, f: cifar_resnet(s, 4, "coordinate", "full", W, depth=8, data_format=f),
                                (16, 16, 2)),
    "resnet18-sk-spanet": (lambda s, f: resnet18(s, 4, "spanet", width=W, stage=2, conv="sk", data_format=f),
                           (64, 64, 3)),
    "resnet50-aw-eca": (lambda s, f: resnet50(s, 4, "eca", width=1 / 16, conv="aw", data_format=f), (32, 32, 3)),
}
EVERY_BACKEND = ("lenet5-sk-san", "cifar-resnet-coordinate")  # the matrix's share: short, and both conv kinds


@pytest.mark.parametrize("name", [pytest.param(n, marks=[backends] if n in EVERY_BACKEND else []) for n in BUILDERS])
def test_a_channels_first_builder_is_its_channels_last_twin(name, rng):
    _need_nchw()
    build, shape = BUILDERS[name]
    last = build(shape, "channels_last")
    first = build((shape[-1],) + shape[:-1], "channels_first")
    assert [w.path for w in first.weights] == [w.path for w in last.weights]
    first.set_weights(last.get_weights())
    x = rng.normal(size=(2,) + shape).astype("float32")
    x_first = np.transpose(x, (0, 3, 1, 2))
    assert_close(to_numpy(first(x_first, training=False)), to_numpy(last(x, training=False)))
    modules = [layer for layer in first.layers if hasattr(layer, "data_format")]
    assert modules and all(layer.data_format == "channels_first" for layer in modules)
    first.compile("sgd", "sparse_categorical_crossentropy")
    history = first.fit(x_first, np.array([0, 1]), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_channels_first_takes_c_h_w_shapes_and_checks_them():
    model = cifar_resnet((3, 8, 10), 4, width=W, depth=8, data_format="channels_first")
    assert tuple(model.input.shape) == (None, 3, 8, 10)
    with pytest.raises(ValueError, match=r"lenet5: argument `input_shape` \(1, 28, 10\) is too small; the spatial "
                                         r"size \(height and width\) must be at least 12"):
        lenet5((1, 28, 10), 4, data_format="channels_first")
    with pytest.raises(ValueError, match=r"vgg16: Argument `data_format` must be one of \['channels_first', "
                                         r"'channels_last'\]; got 'NCHW'"):
        vgg16((32, 32, 3), 4, data_format="NCHW")
    keras.config.set_image_data_format("channels_first")
    try:
        default = lenet5((1, 28, 28), 4, "cbam", width=0.5)
    finally:
        keras.config.set_image_data_format("channels_last")
    assert default.get_layer("cbam_conv1").data_format == "channels_first"


@keras.saving.register_keras_serializable(package="test_channels_first")
class ChannelsLastGate(keras.layers.Layer):
    def call(self, x):
        return x


def test_a_kind_without_data_format_cannot_go_into_a_channels_first_model():
    register_attention("layout-blind", ChannelsLastGate)
    try:
        lenet5((28, 28, 1), 4, "layout-blind")  # channels-last: fine
        with pytest.raises(ValueError, match=r"lenet5: attention='layout-blind' does not take the builder's "
                                             r"data_format"):
            lenet5((1, 28, 28), 4, "layout-blind", data_format="channels_first")
    finally:
        unregister_attention("layout-blind")
    with pytest.raises(ValueError, match=r"`attention_options` may not set \['data_format'\]"):
        lenet5((28, 28, 1), 4, "cbam", attention_options={"data_format": "channels_first"})
    with pytest.raises(ValueError, match=r"`attention_options\['se'\]` may not set \['data_format'\]"):
        vgg16((32, 32, 1), 4, "fa+se", attention_options={"se": {"data_format": "channels_last"}})


# ----------------------------------------------------------------------------- conv="sk"
def _of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def test_sk_replaces_the_resnet_convolutions_followed_by_relu():
    r18 = resnet18((32, 32, 1), 10, "cbam", "full", W, conv="sk")
    sk = _of(r18, SelectiveKernel)
    assert r18.name == "sk_resnet18_cbam_full" and len(sk) == 8 and len(_of(r18, CBAM)) == 8
    assert all(layer.name.endswith("_1_conv") for layer in sk)  # the first convolution of each basic block
    for layer in sk:  # the SK unit is the convolution, its BN and its ReLU: nothing of those follows it
        tag = layer.name[: -len("_conv")]
        assert f"{tag}_bn" not in [lay.name for lay in r18.layers] and f"{tag}_relu" not in [lay.name for lay in
                                                                                            r18.layers]
    seconds = [lay for lay in r18.layers if lay.name.endswith("_2_conv")]
    assert len(seconds) == 8 and all(type(lay) is keras.layers.Conv2D for lay in seconds)
    strided = r18.get_layer("stage2_block1_1_conv")
    assert strided.strides == 2 and tuple(strided.output.shape[1:3]) == (16, 16)
    r50 = resnet50((32, 32, 1), 10, width=W, conv="sk")
    assert len(_of(r50, SelectiveKernel)) == 16 and all(lay.name.endswith("_2_conv") for lay in _of(r50, SelectiveKernel))
    assert r50.name == "sk_resnet50"


def test_sk_in_lenet_keeps_its_geometry():
    model = lenet5((28, 28, 1), 4, "se", conv="sk")
    first, second = model.get_layer("conv1"), model.get_layer("conv2")
    assert isinstance(first, SelectiveKernel) and isinstance(second, SelectiveKernel)
    assert (first.padding, second.padding, first.filters, second.filters) == ("same", "valid", 6, 16)
    assert tuple(first.output.shape) == (None, 28, 28, 6) and tuple(second.output.shape) == (None, 10, 10, 16)
    assert model.get_layer("se_conv2").input is second.output and model.name == "sk_lenet5_se_bottleneck"
    with pytest.raises(ValueError, match=r"lenet5: Argument `conv` must be one of \['sk', 'standard'\]; got 'aw'"):
        lenet5((28, 28, 1), 4, conv="aw")


@pytest.mark.parametrize("build", [
    lambda: lenet5((28, 28, 1), 4, "eca", conv="sk", width=0.5),
    lambda: cifar_resnet((16, 16, 1), 4, "triplet", width=W, depth=8, conv="sk"),
], ids=["lenet5", "cifar_resnet"])
def test_sk_builders_train_a_step_and_round_trip(build, rng, tmp_path):
    model = build()
    x = rng.normal(size=(4,) + tuple(model.input.shape[1:])).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy")
    sk = _of(model, SelectiveKernel)
    before = [to_numpy(layer.select_kernel) for layer in sk]
    assert np.isfinite(model.fit(x, np.arange(4) % 4, batch_size=4, verbose=0).history["loss"][0])
    assert all(np.any(b != to_numpy(layer.select_kernel)) for b, layer in zip(before, sk))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(to_numpy(loaded(x, training=False)), to_numpy(model(x, training=False)))
