"""The Keras conventions of every layer of the package, one row per layer set-up.

Each row of :data:`CASES` names a layer factory and the shapes of the inputs it is called on;
``tests/layer_conventions.check_layer_conventions`` then asserts, for that row: the ``get_config`` round
trip, ``.keras`` save / ``load_model(safe_mode=True)`` with bit-identical outputs, XLA (``jit_compile``)
predictions equal to eager and one compiled training step, float16 / bfloat16 mixed precision with
finite outputs and gradients, and use inside ``keras.Sequential`` for single-input layers. On top of that
every row checks ``compute_output_shape`` against the shape the layer really returns.

A new layer is covered by adding one row. Rows marked ``every_backend`` also run under JAX and torch
(``tests/test_backends.py``): one per layer family keeps that matrix short.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from backend import as_list, backends
from layer_conventions import check_layer_conventions

from keras_attention.layers import (
    BAM,
    CBAM,
    ECA,
    SAN,
    SCSE,
    SDCA,
    SDMA,
    XM2A,
    AWConv2D,
    CoordinateAttention,
    FocusAssociation,
    GatherExcite,
    GlobalContext,
    MultiScaleSelfAttention,
    NonLocalBlock,
    PositionalEncoding,
    SalientPositionsAttention,
    SelectiveKernel,
    SimAM,
    SPANet,
    SqueezeExcitation,
    TripletAttention,
)


@dataclass(frozen=True)
class Case:
    """One layer set-up: ``make()`` returns a fresh layer; ``shapes`` is the input's shape, or a list of
    shapes for a layer called on a list; inputs are standard normal except the indices in ``uniform``
    (drawn from [0, 1), e.g. FA's saliency)."""

    id: str
    make: Callable
    shapes: object
    uniform: tuple = ()
    every_backend: bool = False


SAN_PAIR_1D = [(2, 7, 2), (2, 7, 4)]  # [previous, current]: SAN aligns the previous map to the current one
SAN_PAIR_2D = [(2, 5, 6, 2), (2, 5, 6, 4)]
XM2A_SERIES = (4, 8, 3)

CASES = [
    # scale-space attention (SAN-c / SAN-d, full and depthwise smoothing, 1-D and 2-D)
    Case("san-c-full-1d", lambda: SAN(variant="c", smoothing_mode="full", bias_initializer="random_normal"),
         SAN_PAIR_1D),
    Case("san-d-depthwise-1d", lambda: SAN(variant="d", smoothing_mode="depthwise", bias_initializer="random_normal"),
         SAN_PAIR_1D),
    Case("san-c-full-2d", lambda: SAN(variant="c", smoothing_mode="full", bias_initializer="random_normal"),
         SAN_PAIR_2D, every_backend=True),
    Case("san-d-depthwise-2d", lambda: SAN(variant="d", smoothing_mode="depthwise", bias_initializer="random_normal"),
         SAN_PAIR_2D, every_backend=True),
    Case("san-attention-output-pooled", lambda: SAN(return_attention=True), [(2, 10, 12, 2), (2, 5, 6, 4)]),
    # competitors: CBAM, BAM, SE with their attention maps as a second output
    Case("cbam-1d", lambda: CBAM(reduction=4, return_attention=False), (4, 10, 8)),
    Case("bam-1d", lambda: BAM(reduction=4, return_attention=False), (4, 10, 8)),
    Case("se-1d", lambda: SqueezeExcitation(reduction=4, return_attention=False), (4, 10, 8)),
    Case("cbam-2d-attention", lambda: CBAM(reduction=4, return_attention=True), (4, 6, 6, 8), every_backend=True),
    Case("bam-2d-attention", lambda: BAM(reduction=4, return_attention=True), (4, 6, 6, 8)),
    Case("se-2d-attention", lambda: SqueezeExcitation(reduction=4, return_attention=True), (4, 6, 6, 8)),
    # SPANet and the Non-local block
    Case("spanet-2d", lambda: SalientPositionsAttention(k=3), (2, 4, 5, 6), every_backend=True),
    Case("spanet-1d-adaptive", lambda: SPANet(adaptive=True, reduction=4, inter_channels=2, normalize=False),
         (2, 8, 4)),
    Case("nonlocal-2d", lambda: NonLocalBlock(), (2, 4, 5, 6)),
    Case("nonlocal-1d-subsample", lambda: NonLocalBlock(inter_channels=2, sub_sample=True), (2, 8, 4)),
    # SDMA / SDCA: [series, saliency]
    Case("sdma-branches", lambda: SDMA(4, return_branches=True), [(2, 4, 3), (2, 4, 2)], every_backend=True),
    Case("sdca", lambda: SDCA(3), [(2, 4, 3), (2, 4, 3)]),
    # XM2A and MSMSA
    Case("xm2a", lambda: XM2A(num_heads=3, key_dim=4, variant="xm2a"), XM2A_SERIES),
    Case("xm2a-exp-pool-self-max-batch", lambda: XM2A(num_heads=3, key_dim=4, variant="exp_pool", talk="self",
                                                      descriptor="max", norm="batch", output_dim=2),
         XM2A_SERIES, every_backend=True),
    Case("msmsa", lambda: MultiScaleSelfAttention(num_heads=2, key_dim=4), XM2A_SERIES),
    # FA: [x, u] in the first block, [x, u, s] with a projection in later ones
    Case("fa-projection", lambda: FocusAssociation(reduction=2, expansion=2), [(2, 6, 6, 3), (2, 3, 3, 4), (2, 2)],
         uniform=(2,)),
    Case("fa-first-block", lambda: FocusAssociation(), [(2, 5, 4), (2, 5, 4)], every_backend=True),
    # AW-convolution
    Case("awconv", lambda: AWConv2D(4, (3, 2), strides=2, use_bias=True), (2, 6, 5, 3), every_backend=True),
    # the attention modules the field uses (step 18): one row per layer under every backend, 1-D rows where the
    # method is defined on any spatial rank
    Case("eca-2d-attention", lambda: ECA(return_attention=True), (4, 5, 6, 8), every_backend=True),
    Case("eca-1d-fixed-kernel", lambda: ECA(kernel_size=5), (3, 9, 6)),
    Case("coordinate-2d-attention", lambda: CoordinateAttention(reduction=4, min_channels=2, return_attention=True),
         (4, 5, 6, 8), every_backend=True),
    Case("global-context-2d-add-mul", lambda: GlobalContext(reduction=2, fusion=("add", "mul"), return_attention=True,
                                                             bias_initializer="random_normal"),
         (2, 5, 6, 8), every_backend=True),
    Case("global-context-1d-average", lambda: GlobalContext(reduction=2, fusion="mul", pooling="average"), (3, 9, 6)),
    Case("selective-kernel-strided-groups", lambda: SelectiveKernel(6, strides=2, groups=2, reduction=2, min_units=4,
                                                                    return_attention=True),
         (4, 7, 6, 4), every_backend=True),
    Case("selective-kernel-valid", lambda: SelectiveKernel(3, padding="valid", dilations=(1, 2, 3)), (2, 8, 9, 2)),
    Case("gather-excite-theta-plus-global", lambda: GatherExcite(0, "theta+", reduction=2, return_attention=True),
         (4, 5, 6, 8), every_backend=True),
    Case("gather-excite-theta-extent-1d", lambda: GatherExcite(2, "theta"), (3, 9, 6)),
    Case("gather-excite-theta-minus-extent", lambda: GatherExcite(4, "theta-", return_attention=True), (2, 9, 7, 3)),
    Case("simam-2d-attention", lambda: SimAM(return_attention=True), (2, 5, 6, 4), every_backend=True),
    Case("simam-1d", lambda: SimAM(), (3, 9, 6)),
    Case("triplet-2d-attention", lambda: TripletAttention(return_attention=True), (4, 5, 6, 3), every_backend=True),
    Case("scse-2d-max", lambda: SCSE(), (2, 5, 6, 8), every_backend=True),
    Case("scse-1d-add", lambda: SCSE(mode="add", reduction=3), (3, 9, 6)),
    # channels-first images (the layer transposes to channels-last and back)
    Case("cbam-2d-channels-first", lambda: CBAM(reduction=4, return_attention=True, data_format="channels_first"),
         (4, 8, 6, 6), every_backend=True),
    Case("selective-kernel-channels-first", lambda: SelectiveKernel(4, strides=2, reduction=2, min_units=2,
                                                                    data_format="channels_first"),
         (2, 3, 7, 6)),
    # positional encoding of the attention encoder (fixed and learned)
    Case("positional-sinusoidal", lambda: PositionalEncoding(), (2, 6, 3)),
    Case("positional-learned", lambda: PositionalEncoding("learned", channels=4), (2, 6, 3), every_backend=True),
]


def _inputs(case, rng):
    shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
    arrays = [
        (rng.uniform(size=shape) if i in case.uniform else rng.normal(size=shape)).astype("float32")
        for i, shape in enumerate(shapes)
    ]
    return arrays if isinstance(case.shapes, list) else arrays[0]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[backends] if c.every_backend else []) for c in CASES]
)
def test_layer_conventions(case, rng, tmp_path):
    inputs = _inputs(case, rng)
    model = check_layer_conventions(case.make, inputs, tmp_path)

    # compute_output_shape agrees with what the layer returns
    layer = case.make()
    symbolic = [(None,) + a.shape[1:] for a in as_list(inputs)]
    declared = as_list(layer.compute_output_shape(symbolic if isinstance(inputs, list) else symbolic[0]))
    if declared and not isinstance(declared[0], (tuple, list)):  # one output: a single shape tuple
        declared = [tuple(declared)]
    returned = [tuple(o.shape) for o in as_list(model.outputs)]
    assert [tuple(d) for d in declared] == returned


def test_every_public_layer_has_a_row():
    """A layer added to ``keras_attention.layers`` without a row here fails this test."""
    import keras

    import keras_attention.layers as layers

    public = {getattr(layers, name) for name in layers.__all__}
    public = {cls for cls in public if isinstance(cls, type) and issubclass(cls, keras.layers.Layer)}
    covered = {type(case.make()) for case in CASES}
    missing = sorted(cls.__name__ for cls in public - covered)
    assert not missing, f"no conventions row for {missing}"


def test_inputs_follow_the_row(rng):
    """The row's shapes and distributions are what the check receives (FA's saliency in [0, 1))."""
    fa = next(c for c in CASES if c.id == "fa-projection")
    x, u, s = _inputs(fa, rng)
    assert (x.shape, u.shape, s.shape) == ((2, 6, 6, 3), (2, 3, 3, 4), (2, 2))
    assert 0 <= s.min() and s.max() < 1 and x.min() < 0
    assert np.asarray(_inputs(CASES[0], rng)[0]).dtype == np.float32
