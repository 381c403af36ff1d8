"""``data_format`` of the 2-D image layers (``keras_attention.utils.layer_arguments.DataFormat``): a channels-first
layer computes what the channels-last one computes on the transposed images, with the same weights, outputs and
attention maps in the caller's layout; configs keep the value, and a config saved before the argument existed
loads as channels-last whatever the global default."""

import keras
import numpy as np
import pytest
from backend import as_list, backends, to_numpy
from numpy_reference import randomise
from tolerance import assert_close

from keras_attention.layers import (
    BAM,
    CBAM,
    ECA,
    SAN,
    SCSE,
    AWConv2D,
    CoordinateAttention,
    FocusAssociation,
    GatherExcite,
    GlobalContext,
    NonLocalBlock,
    SalientPositionsAttention,
    SelectiveKernel,
    SimAM,
    SqueezeExcitation,
    TripletAttention,
)
from keras_attention.utils.layer_arguments import DataFormat

# layer name: (factory of keyword arguments -> layer, input shapes channels-last (a list for a list input))
IMAGE = (2, 6, 7, 4)
LAYERS = {
    "ScaleSpaceAttention": (lambda **kw: SAN(return_attention=True, bias_initializer="random_normal", **kw),
                            [(2, 12, 14, 2), IMAGE]),
    "CBAM": (lambda **kw: CBAM(reduction=2, return_attention=True, **kw), IMAGE),
    "BAM": (lambda **kw: BAM(reduction=2, return_attention=True, **kw), IMAGE),
    "SqueezeExcitation": (lambda **kw: SqueezeExcitation(reduction=2, return_attention=True, **kw), IMAGE),
    "FocusAssociation": (lambda **kw: FocusAssociation(**kw), [(2, 12, 14, 3), IMAGE, (2, 2)]),
    "SalientPositionsAttention": (lambda **kw: SalientPositionsAttention(k=3, **kw), IMAGE),
    "NonLocalBlock": (lambda **kw: NonLocalBlock(sub_sample=True, **kw), IMAGE),
    "AWConv2D": (lambda **kw: AWConv2D(3, 3, strides=2, use_bias=True, **kw), IMAGE),
    "EfficientChannelAttention": (lambda **kw: ECA(return_attention=True, **kw), IMAGE),
    "CoordinateAttention": (lambda **kw: CoordinateAttention(reduction=2, min_channels=2, return_attention=True,
                                                             **kw), IMAGE),
    "GlobalContext": (lambda **kw: GlobalContext(reduction=2, fusion=("add", "mul"), return_attention=True, **kw),
                      IMAGE),
    "SelectiveKernel": (lambda **kw: SelectiveKernel(6, strides=2, groups=2, reduction=2, min_units=3,
                                                     return_attention=True, **kw), IMAGE),
    "GatherExcite": (lambda **kw: GatherExcite(2, "theta+", reduction=2, return_attention=True, **kw), IMAGE),
    "SimAM": (lambda **kw: SimAM(return_attention=True, **kw), IMAGE),
    "TripletAttention": (lambda **kw: TripletAttention(return_attention=True, **kw), IMAGE),
    "SCSE": (lambda **kw: SCSE(**kw), IMAGE),
}


def _to_first(a):
    return np.transpose(a, (0, 3, 1, 2)) if a.ndim == 4 else a


def _to_last(a):
    return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a


def _listed(shapes):
    return shapes if isinstance(shapes, list) else [shapes]


def _inputs(shapes, rng):
    arrays = [(rng.uniform(size=s) if len(s) == 2 else rng.normal(size=s)).astype("float32") for s in _listed(shapes)]
    return arrays if isinstance(shapes, list) else arrays[0]


def _feed(arrays, convert):
    return [convert(a) for a in arrays] if isinstance(arrays, list) else convert(arrays)


def _shapes(arrays):
    return [a.shape for a in arrays] if isinstance(arrays, list) else arrays.shape


def test_every_image_layer_is_covered():
    """Every public layer that takes ``data_format`` has a row here (a new image layer without one fails)."""
    import keras_attention.layers as layers

    public = {getattr(layers, name) for name in layers.__all__}
    assert {cls.__name__ for cls in public if isinstance(cls, type) and issubclass(cls, DataFormat)} == set(LAYERS)


@backends
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", list(LAYERS))
def test_channels_first_is_channels_last_transposed(name, training, rng):
    make, shapes = LAYERS[name]
    x = _inputs(shapes, rng)
    last = make(data_format="channels_last")
    last.build(_shapes(x))
    randomise(last, rng)
    first = make(data_format="channels_first")
    x_first = _feed(x, _to_first)
    first.build(_shapes(x_first))
    assert [w.path.split("/", 1)[1] for w in first.weights] == [w.path.split("/", 1)[1] for w in last.weights]
    first.set_weights(last.get_weights())  # the same weights: no weight depends on the layout
    expected = [to_numpy(o) for o in as_list(last(x, training=training))]
    got = [to_numpy(o) for o in as_list(first(x_first, training=training))]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == _to_first(e).shape  # outputs and attention maps in the caller's layout
        assert_close(_to_last(g), e)
    symbolic = [(None,) + tuple(s[1:]) for s in _listed(_shapes(x_first))]
    declared = first.compute_output_shape(symbolic if isinstance(x, list) else symbolic[0])
    declared = [declared] if not isinstance(declared[0], (tuple, list)) else list(declared)
    assert [tuple(d[1:]) for d in declared] == [g.shape[1:] for g in got]
    if training:  # the BatchNorms' statistics moved alike
        for a, b in zip(first.non_trainable_weights, last.non_trainable_weights):
            assert_close(to_numpy(a), to_numpy(b))


def test_the_default_is_the_global_image_data_format_when_made():
    keras.config.set_image_data_format("channels_first")
    try:
        layer = CBAM()
        assert layer.data_format == "channels_first"
    finally:
        keras.config.set_image_data_format("channels_last")
    assert layer.get_config()["data_format"] == "channels_first"  # resolved, kept in the config
    assert CBAM().data_format == "channels_last"


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_config_without_data_format_loads_as_channels_last(name):
    """Models saved by 0.2.0 have no data_format in their layers' configs; they were channels-last, and load so
    even where the global default is channels-first."""
    make, _ = LAYERS[name]
    config = make(data_format="channels_first").get_config()
    assert config.pop("data_format") == "channels_first"
    keras.config.set_image_data_format("channels_first")
    try:
        restored = type(make()).from_config(config)
        assert restored.data_format == "channels_last"
        assert type(make()).from_config({**config, "data_format": "channels_first"}).data_format == "channels_first"
    finally:
        keras.config.set_image_data_format("channels_last")


def test_sequences_are_channels_last_whatever_the_data_format(rng):
    x = rng.normal(size=(2, 9, 5)).astype("float32")
    for make in (lambda **kw: CBAM(reduction=2, **kw), lambda **kw: ECA(**kw), lambda **kw: SimAM(**kw)):
        last, first = make(data_format="channels_last"), make(data_format="channels_first")
        out = to_numpy(last(x))
        first.build(x.shape)
        first.set_weights(last.get_weights())
        np.testing.assert_array_equal(to_numpy(first(x)), out)
        assert first.compute_output_shape((None, 9, 5)) == (None, 9, 5)


@pytest.mark.parametrize("value", ["NCHW", "channels-first", None])
def test_bad_data_format(value):
    if value is None:
        assert CBAM(data_format=None).data_format == keras.config.image_data_format()
        return
    with pytest.raises(ValueError, match=rf"Argument `data_format` must be one of \['channels_first', "
                                         rf"'channels_last'\]; got '{value}'"):
        CBAM(data_format=value)


def test_a_channels_first_model_saves_and_loads(rng, tmp_path):
    image = keras.Input((4, 6, 7))
    x = SelectiveKernel(4, data_format="channels_first")(image)
    x = TripletAttention(data_format="channels_first")(x)
    model = keras.Model(image, GatherExcite(data_format="channels_first")(x))
    feed = rng.normal(size=(2, 4, 6, 7)).astype("float32")
    expected = to_numpy(model(feed))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert [layer.data_format for layer in loaded.layers[1:]] == ["channels_first"] * 3
    np.testing.assert_array_equal(to_numpy(loaded(feed)), expected)
