"""Step 7 networks (SPEC §3-5, §10): FA / SPANet / non-local / AW-convolution builder options and the
``fa`` / ``spanet`` / ``awconv`` experiments.

Structure is checked against the papers' deployments (module counts, which tensors each FA module reads,
the growth of ``s``, parameter overheads derived from FANet eq. 7-8 by hand), the analytic MAC counts
against formulas written here, training on real Fashion-MNIST images, save/load and the argument errors.
The experiment functions run in quick mode on a tiny slice.
"""

import dataclasses
import json
import re

import keras
import numpy as np
import pytest
from real_data import fashion_floats

from keras_attention.experiments import images
from keras_attention.experiments.configs import ImageConfig
from keras_attention.experiments.costs import attention_map_entries, count_macs
from keras_attention.experiments.registry import RunOptions, get_experiment
from keras_attention.layers import (
    AWConv2D,
    FocusAssociation,
    NonLocalBlock,
    SalientPositionsAttention,
    SqueezeExcitation,
)
from keras_attention.models import (
    attention_layers,
    cifar_resnet,
    resnet18,
    resnet50,
    vgg16,
    vgg19,
)
from keras_attention.models._common import scaled

W = 0.125


def _of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


@pytest.fixture(scope="module")
def fashion32():
    """8 Fashion-MNIST test images zero-padded to (32, 32, 1) in [0, 1] and their labels (the committed slice)."""
    return fashion_floats(8, size=32)


# ----------------------------------------------------------------------------- FA deployment
def _focus(c, r=4):
    hidden = max(1, c // r)
    return c * hidden + hidden  # W1, W2 of eq. 7 (no bias)


def _association(i, e=4):
    return i * e * i + e * i  # W3, W4 of eq. 8


def test_fa_cifar_resnet_multi_stage_chains():
    n = 5  # depth 32
    model = cifar_resnet((32, 32, 1), 10, "fa", depth=32, width=W)
    fa = _of(model, FocusAssociation)
    block_names = [f"fa_stage{s}_block{b}" for s in (1, 2, 3) for b in range(2, n + 1)]
    stage_names = ["fa_stage2", "fa_stage3"]
    assert sorted(l.name for l in fa) == sorted(block_names + stage_names)
    assert [l.name for l in attention_layers(model)] == [l.name for l in fa]
    assert model.name == "cifar_resnet32_fa"
    for s in (1, 2, 3):
        for b in range(2, n + 1):
            layer = model.get_layer(f"fa_stage{s}_block{b}")
            x_in, u_in = layer.input[0], layer.input[1]
            # x: the previous block's recalibrated output (block 1: its plain output); u: this block's output
            previous = model.get_layer(f"fa_stage{s}_block{b - 1}").output[0] if b > 2 else \
                model.get_layer(f"stage{s}_block1_out").output
            assert x_in is previous
            assert u_in is model.get_layer(f"stage{s}_block{b}_out").output
            # s grows (B, 1), (B, 2), ... along the stage and is the previous module's s_next
            assert len(layer.input) == (2 if b == 2 else 3)
            assert tuple(layer.output[1].shape) == (None, b - 1)
            if b > 2:
                assert layer.input[2] is model.get_layer(f"fa_stage{s}_block{b - 1}").output[1]
    # the stage chain: stage input -> stage output, restarted s, projection where the shape changes
    second, third = model.get_layer("fa_stage2"), model.get_layer("fa_stage3")
    assert second.input[0] is model.get_layer(f"fa_stage1_block{n}").output[0]
    assert second.input[1] is model.get_layer(f"fa_stage2_block{n}").output[0]
    assert third.input[0] is second.output[0] and third.input[2] is second.output[1]
    assert tuple(third.output[1].shape) == (None, 2)
    assert "projection_kernel" in [w.path.split("/")[-1] for w in second.weights]


@pytest.mark.parametrize("depth,paper_extra", [(20, 4_000), (56, 16_000)])
def test_fa_parameter_overhead_matches_the_equations_and_table_one(depth, paper_extra):
    n = (depth - 2) // 6
    base = cifar_resnet((32, 32, 3), 10, depth=depth)
    fa = cifar_resnet((32, 32, 3), 10, "fa", depth=depth)
    expected = 0
    for c in (16, 32, 64):  # blocks 2..n of each stage: focus + association from the 2nd FA block on
        expected += (n - 1) * _focus(c) + sum(_association(i) for i in range(2, n))
    expected += _focus(16) + 16 * 32  # stage 2: focus on the 16-channel input + 1x1 projection 16 -> 32
    expected += _focus(32) + _association(2) + 32 * 64  # stage 3
    assert fa.count_params() - base.count_params() == expected
    assert abs(expected - paper_extra) < 2_000  # FANet Table I: +0.004 M (ResNet-20), +0.016 M (ResNet-56)


def test_fa_plus_se_and_vgg19_fa():
    model = cifar_resnet((32, 32, 1), 10, "fa+se", depth=20, width=W,
                         attention_options={"se": {"reduction": 4}, "fa": {"expansion": 2}})
    se, fa = _of(model, SqueezeExcitation), _of(model, FocusAssociation)
    assert len(se) == 9 and all(layer.reduction == 4 for layer in se)  # SE in every block (Fig. 5d)
    assert len(fa) == 8 and all(layer.expansion == 2 for layer in fa)
    assert model.name == "cifar_resnet20_fa_se_full"
    assert len(_of(cifar_resnet((32, 32, 1), 10, "fa+se", "bottleneck", depth=20, width=W), SqueezeExcitation)) == 3

    vgg = vgg19((32, 32, 1), 10, "fa", width=W, batch_norm=True)
    fa = _of(vgg, FocusAssociation)
    assert [l.name for l in fa] == ["fa_block2", "fa_block3", "fa_block4", "fa_block5"]
    for b, layer in enumerate(fa, start=2):
        assert layer.input[1] is vgg.get_layer(f"block{b}_pool").output  # u: the pooled block output
        assert tuple(layer.output[1].shape) == (None, b - 1)
        # x (before pooling) and u (after) always differ: every FA module has the strided projection
        assert layer._strides == (2, 2)
    assert fa[0].input[0] is vgg.get_layer("block1_pool").output
    assert vgg16((32, 32, 1), 10, "fa", width=W).name == "vgg16_fa"


# ----------------------------------------------------------------------------- SPANet / non-local
@pytest.mark.parametrize("kind,cls", [("spanet", SalientPositionsAttention), ("nonlocal", NonLocalBlock)])
def test_one_module_after_the_given_stage(kind, cls):
    for stage in (1, 2, 3, 4):
        model = resnet18((32, 32, 1), 10, kind, width=W, stage=stage)
        modules = _of(model, cls)
        assert [m.name for m in modules] == [f"{kind}_stage{stage}"]
        assert modules[0].input is model.get_layer(f"stage{stage}_block2_out").output
        assert model.name == f"resnet18_{kind}_stage{stage}"
        side = 32 // 2 ** (stage - 1)
        assert tuple(modules[0].output.shape) == (None, side, side, model.get_layer(f"stage{stage}_block2_out").output.shape[-1])
    default = _of(resnet50((32, 32, 1), 10, kind, width=W), cls)[0]
    assert default.name == f"{kind}_stage3"
    if kind == "spanet":
        assert default.k == 2
        assert _of(resnet18((32, 32, 1), 10, "spanet", width=W, stage=1, k=8), cls)[0].k == 8


# ----------------------------------------------------------------------------- AW-convolution
def test_aw_replaces_the_block_three_by_three_convolutions():
    r18 = resnet18((32, 32, 1), 10, width=W, conv="aw")
    assert len(_of(r18, AWConv2D)) == 16 and r18.name == "aw_resnet18"
    plain3x3 = [l for l in r18.layers if type(l) is keras.layers.Conv2D and l.kernel_size == (3, 3)]
    assert [l.name for l in plain3x3] == ["stem_conv"]  # only the stem stays a plain 3x3 convolution
    r50 = resnet50((32, 32, 1), 10, "se", "full", W, conv="aw")
    aw = _of(r50, AWConv2D)
    assert len(aw) == 16 and all(l.name.endswith("_2_conv") for l in aw)  # the bottleneck's middle conv
    assert len(_of(r50, SqueezeExcitation)) == 16 and r50.name == "aw_resnet50_se_full"
    strided = r50.get_layer("stage2_block1_2_conv")
    assert strided.strides == (2, 2) and tuple(strided.output.shape[1:3]) == (16, 16)  # 32 -> 16
    assert len(_of(cifar_resnet((32, 32, 1), 10, "cbam", "full", W, depth=20, conv="aw"), AWConv2D)) == 18


# ----------------------------------------------------------------------------- training and saving
def _fit_step(model, x, y):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True)
    modules = attention_layers(model) + _of(model, AWConv2D)
    before = [[np.array(w) for w in m.trainable_weights] for m in modules]
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss)
    for module, old in zip(modules, before):
        assert any(not np.array_equal(a, np.array(w)) for a, w in zip(old, module.trainable_weights)), module.name


@pytest.mark.parametrize(
    "build",
    [
        lambda: cifar_resnet((32, 32, 1), 10, "fa+se", depth=14, width=W),
        lambda: vgg19((32, 32, 1), 10, "fa", width=W, batch_norm=True),
        lambda: resnet18((32, 32, 1), 10, "spanet", width=W, stage=1),
        lambda: resnet18((32, 32, 1), 10, "cbam", "full", W, conv="aw"),
    ],
    ids=["fa_se_resnet14", "fa_vgg19", "spanet_stage1", "aw_cbam_resnet18"],
)
def test_one_training_step_on_fashion_mnist(fashion32, build):
    x, y = fashion32
    _fit_step(build(), x, y)


@pytest.mark.parametrize(
    "build",
    [
        lambda: cifar_resnet((32, 32, 1), 10, "fa", depth=14, width=W),
        lambda: resnet18((32, 32, 1), 10, "nonlocal", width=W, stage=2),
        lambda: resnet18((32, 32, 1), 10, "se", "full", W, conv="aw"),
    ],
    ids=["fa_resnet14", "nonlocal_stage2", "aw_se_resnet18"],
)
def test_save_load_gives_identical_predictions(tmp_path, fashion32, build):
    x, y = fashion32
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    model.train_on_batch(x, y)  # moves weights and BN statistics away from the initialisation
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.name == model.name
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: cifar_resnet((32, 32, 3), 10, "fa", "full"), r"cifar_resnet: argument `placement` does not apply "
         r"to attention='fa'.*got placement='full'"),
        (lambda: resnet18((32, 32, 3), 10, "spanet", "bottleneck"), r"`placement` does not apply to attention='spanet'"),
        (lambda: resnet18((32, 32, 3), 10, "se", stage=2), r"resnet18: argument `stage` applies only to "
         r"attention='spanet' or 'nonlocal'; got stage=2 with attention='se'"),
        (lambda: resnet18((32, 32, 3), 10, "nonlocal", k=4), r"`k` applies only to attention='spanet'; got k=4"),
        (lambda: resnet18((32, 32, 3), 10, "spanet", stage=5), r"`stage` must be an integer in 1\.\.4.*got 5"),
        (lambda: cifar_resnet((32, 32, 3), 10, "nonlocal", stage=4), r"`stage` must be an integer in 1\.\.3"),
        (lambda: resnet18((32, 32, 3), 10, "spanet", k=0), r"`k` must be an integer >= 1; got 0"),
        (lambda: resnet18((32, 32, 3), 10, "spanet", k=2, attention_options={"k": 4}), r"either argument `k`"),
        (lambda: resnet18((32, 32, 3), 10, conv="deformable"), r"resnet18: Argument `conv` must be one of "
         r"\['aw', 'sk', 'standard'\]; got 'deformable'"),
        (lambda: resnet50((32, 32, 3), 10, "fa+se", attention_options={"reduction": 4}),
         r"attention='fa\+se'.*keys \['fa', 'se'\]; got the keys \['reduction'\]"),
        (lambda: vgg19((32, 32, 3), 10, "fa+se", attention_options={"se": [1]}), r"`attention_options\['se'\]` must "
         r"be a dict"),
        (lambda: vgg19((32, 32, 3), 10, "fa", "bottleneck"), r"vgg19: argument `placement` does not apply"),
        (lambda: vgg19((32, 32, 3), 10, "fa-se"), r"`attention` must be one of .*'fa', 'fa\+se'.*got 'fa-se'"),
        (lambda: resnet18((32, 32, 3), 10, "spanet", stage=4, k=32, width=W), r"`k`=32 of SalientPositionsAttention exceeds the number of positions H\*W=16"),
    ],
)
def test_invalid_combinations_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fa_name_is_reserved_in_the_slot_registry():
    from keras_attention.models import register_attention

    with pytest.raises(ValueError, match="reserved"):
        register_attention("fa", lambda name, **o: keras.layers.Identity(name=name))


# ----------------------------------------------------------------------------- MAC counts
def test_mac_counts_follow_the_formulas():
    # CIFAR ResNet-20 at width 1: 3x3 stem 3 -> 16 on 32x32, three stages of 3 blocks, projections, dense.
    base = count_macs(cifar_resnet((32, 32, 3), 10, depth=20))
    expected = 32 * 32 * 9 * 3 * 16
    for c_in, c, side in ((16, 16, 32), (16, 32, 16), (32, 64, 8)):
        expected += side * side * 9 * (c_in * c + c * c) + 2 * side * side * 9 * c * c * 2  # 3 blocks x 2 convs
        if c_in != c:
            expected += side * side * c_in * c  # 1x1 projection shortcut
    expected += 64 * 10
    assert base["total"] == expected and base["uncounted"] == []

    fa = count_macs(cifar_resnet((32, 32, 3), 10, "fa", depth=20))
    assert fa["layers"]["fa_stage1_block2"] == _focus(16)
    assert fa["layers"]["fa_stage2_block3"] == _focus(32) + _association(2)
    assert fa["layers"]["fa_stage3"] == _focus(32) + _association(2) + 8 * 8 * 32 * 64

    model = resnet18((32, 32, 1), 10, "nonlocal", width=0.25, stage=2)  # 16 x 16 x 32, d = 16
    n, c, d = 256, 32, 16
    assert count_macs(model)["layers"]["nonlocal_stage2"] == 3 * n * c * d + 2 * n * n * d + n * d * c
    assert attention_map_entries(model) == n * n
    model = resnet18((32, 32, 1), 10, "spanet", width=0.25, stage=2, k=4)
    assert count_macs(model)["layers"]["spanet_stage2"] == 2 * n * c * d + 4 * d * d + n * d * d + n * d * c
    assert attention_map_entries(model) == 4 * d + d * d
    aw = count_macs(resnet18((32, 32, 1), 10, width=0.25, conv="aw"))["layers"]["stage2_block1_1_conv"]
    assert aw == 16 * 16 * 9 * 16 * 32 + 9 * (16 * 8 + 8 * 32)  # stride 2, hidden max(8, 16 // 16) = 8


# ----------------------------------------------------------------------------- the experiments
@pytest.fixture
def tiny_quick(monkeypatch):
    monkeypatch.setattr(images, "QUICK_TRAIN", 64)
    monkeypatch.setattr(images, "QUICK_TEST", 32)


def test_registered_configurations():
    fa = get_experiment("fa")
    assert [c.label for c in fa.configs] == [f"{p}ResNet-{d}" for d in (20, 56) for p in ("", "SE-", "FA-")]
    assert {(c.attention, c.placement) for c in fa.configs} == {(None, None), ("se", "full"), ("fa", None)}
    assert fa.settings.width == 0.5 and fa.default_seeds == 3
    spanet = get_experiment("spanet")
    assert len(spanet.configs) == 9 and spanet.settings.memory is True and spanet.settings.width == 0.25
    assert [(c.attention, c.options) for c in spanet.configs[1:5]] == [("spanet", {"stage": s, "k": 2}) for s in range(1, 5)]
    assert [(c.attention, c.options) for c in spanet.configs[5:]] == [("nonlocal", {"stage": s}) for s in range(1, 5)]
    aw = get_experiment("awconv")
    assert [(c.attention, c.options.get("conv")) for c in aw.configs] == [
        (None, None), (None, "aw"), ("se", None), ("se", "aw")]
    for name in ("fa", "spanet", "awconv"):
        assert get_experiment(name).default_dataset == "fashion_mnist"


# Tiny stand-ins for the registered configurations (CIFAR ResNet-8): the runner, not the networks, is tested
# here (the AW network is trained and saved above: tracing AWConv2D's graph costs ~25 s on 2 busy cores).
_TINY = {
    "fa": ImageConfig("FA-ResNet-8", "cifar_resnet", "fa", None, {"depth": 8}),
    "spanet": ImageConfig("ResNet-8 + SPANet stage 2", "cifar_resnet", "spanet", None, {"depth": 8, "stage": 2}),
    "awconv": ImageConfig("SE-ResNet-8", "cifar_resnet", "se", "full", {"depth": 8}),
}


@pytest.mark.parametrize("name", ["fa", "spanet", "awconv"])
def test_quick_experiment_writes_its_table(tmp_path, tiny_quick, name):
    memory = name == "spanet"  # peak memory is measured in a child process on the CPU
    config = _TINY[name]
    experiment = dataclasses.replace(get_experiment(name), configs=[config])
    options = RunOptions(out_dir=tmp_path, seeds=1, epochs=1, quick=True, batch_size=16, verbose=0)
    experiment.run(experiment, options)
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["dataset"] == "fashion_mnist" and summary["timed_steps"] == 3
    (row,) = summary["rows"]
    assert row["label"] == config.label and (tmp_path / config.slug / "seed0" / "model.keras").exists()
    model = keras.saving.load_model(tmp_path / config.slug / "seed0" / "model.keras")
    assert row["macs"] == count_macs(model)["total"] > 0 and row["macs_uncounted"] == []
    assert row["step_seconds"] > 0 and row["params"] == model.count_params()
    assert ("peak_step_memory_bytes" in row) is memory
    if memory:
        assert row["peak_step_memory_bytes"] > 0 and "get_memory_info" in row["memory_method"]
        d = max(1, scaled(32, experiment.settings.quick_width) // 2)  # stage 2 of the CIFAR ResNet: 32 filters
        assert row["attention_map_entries"] == 2 * d + d * d  # K (k x d, k = 2) and A (d x d)
    table = (tmp_path / "results.md").read_text()
    assert re.search(rf"^\| {re.escape(config.label)} +\|", table, re.M) and "MMACs" in table
    assert ("peak step MiB" in table) is memory
    assert ("top-1 error %" in table) is (name == "fa")


def test_vgg_with_spanet_at_32_pixels_takes_k():
    """VGG's last slot sees 2 x 2 = 4 positions at 32 px: SPANet's default k=8 cannot go there, and the builders
    take ``k`` for every kind whose registry row declares it (not only the ResNets)."""
    with pytest.raises(ValueError, match=r"`k`=8 of SalientPositionsAttention exceeds .* H\*W=4"):
        vgg16((32, 32, 3), 10, attention="spanet", width=0.0625)
    model = vgg16((32, 32, 3), 10, attention="spanet", k=2, width=0.0625)
    spanets = [layer for layer in model.layers if layer.name.startswith("spanet_")]
    assert len(spanets) == 5 and all(layer.k == 2 for layer in spanets)
    with pytest.raises(ValueError, match=r"vgg16: argument `k` applies only to attention='spanet'; got k=2"):
        vgg16((32, 32, 3), 10, attention="cbam", k=2)
