"""The one registry of attention kinds (keras_attention.layers.registry): the command line's choices follow it,
every registered kind builds in the builders of its deployments and through create_attention, and unknown or
misplaced kinds are clear errors (a kind registered in Python trains through the command line:
tests/test_adding_a_method.py)."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_attention.cli import attention_choices, build_parser, main
from keras_attention.layers.registry import (
    ATTENTION_KINDS,
    BLOCKS,
    MIXER,
    SEQUENCE,
    SLOT,
    STAGE,
    AttentionKind,
    LayerRef,
    get_attention,
    unregister_attention,
)
from keras_attention.models import (
    attention_encoder,
    attention_layers,
    cifar_resnet,
    lenet5,
    lstm4,
    register_attention,
    self_attention_lstm,
    vgg16,
)

ROOT = Path(__file__).resolve().parents[2]
TOY = "toy"
TOY_DEPLOYMENTS = (SLOT, STAGE, MIXER, SEQUENCE)  # every deployment a kind of the user's may take


@keras.saving.register_keras_serializable(package="test_attention_registry")
class ChannelGate(keras.layers.Layer):
    """The toy kind: ``x * sigmoid(w)``, one learned weight per channel (starting at 0, a gate of 1/2)."""

    def build(self, input_shape):
        self.gate = self.add_weight(name="gate", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x * keras.ops.cast(keras.ops.sigmoid(self.gate), x.dtype)


@pytest.fixture
def toy():
    """``ChannelGate`` registered as the kind ``"toy"`` for one test, and removed again after it."""
    kind = register_attention(TOY, ChannelGate, deployments=TOY_DEPLOYMENTS)
    try:
        yield kind
    finally:
        if TOY in ATTENTION_KINDS:
            unregister_attention(TOY)


# ----------------------------------------------------------------------------- the command line
def test_the_choices_follow_the_registry(capsys):
    assert TOY not in attention_choices()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "lenet5", "--dataset", "digits", "--attention", TOY])
    assert f"invalid choice: '{TOY}'" in capsys.readouterr().err
    register_attention(TOY, ChannelGate)
    try:
        args = build_parser().parse_args(["train", "--model", "lenet5", "--dataset", "digits", "--attention", TOY])
        assert args.attention == TOY
    finally:
        unregister_attention(TOY)
    assert TOY not in attention_choices()
    # a kind no image builder can host is no choice of the image command
    register_attention(TOY, ChannelGate, deployments=(MIXER,), ranks=(1,))
    try:
        assert TOY not in attention_choices()
    finally:
        unregister_attention(TOY)


def test_the_command_reads_the_same_choices_without_tensorflow():
    result = subprocess.run([sys.executable, "-m", "keras_attention.cli", "train", "--help"], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    choices = attention_choices()
    assert choices[:4] == ("none", "san-c", "san-d", "cbam")
    assert "{" + ",".join(choices) + "}" in result.stdout


# ----------------------------------------------------------------------------- every kind in its builders
def _cifar_resnet(attention, **kwargs):
    return cifar_resnet((16, 16, 1), 4, attention, width=0.5, depth=8, **kwargs)


# (deployment, rank) -> [(builder label, build(attention) -> model, input shape)]; a kind that declares "stage"
# goes after a stage in the ResNets (not into their slots), so they host it there only.
HOSTS = {
    (SLOT, 2): [("lenet5", lambda a: lenet5((28, 28, 1), 4, a), (28, 28, 1)),
                ("cifar_resnet", _cifar_resnet, (16, 16, 1))],
    (SLOT, 1): [("lstm4", lambda a: lstm4((24, 3), 4, a, width=0.125), (24, 3))],  # SPANet: k = 8 <= T/2
    (STAGE, 2): [("cifar_resnet", lambda a: _cifar_resnet(a, stage=2), (16, 16, 1))],
    (BLOCKS, 2): [("cifar_resnet", _cifar_resnet, (16, 16, 1)),
                  ("vgg16", lambda a: vgg16((32, 32, 1), 4, a, width=1 / 16), (32, 32, 1))],
    (MIXER, 1): [("attention_encoder", lambda a: attention_encoder((12, 3), 4, a, num_layers=1, num_heads=2,
                                                                   key_dim=4), (12, 3))],
    (SEQUENCE, 1): [("self_attention_lstm", lambda a: self_attention_lstm((12, 3), 4, units=4, attention=a),
                     (12, 3))],
}


def _cases():
    kinds = {name: (kind.deployments, kind.ranks) for name, kind in ATTENTION_KINDS.items()}
    kinds[TOY] = (TOY_DEPLOYMENTS, (1, 2))
    for name, (deployments, ranks) in kinds.items():
        for deployment in deployments:
            for rank in ranks:
                for label, build, shape in HOSTS.get((deployment, rank), []):
                    if deployment == SLOT and label == "cifar_resnet" and STAGE in deployments:
                        continue
                    yield pytest.param(name, deployment, build, shape, id=f"{name}-{deployment}-{label}")


@pytest.mark.parametrize("name,deployment,build,shape", list(_cases()))
def test_every_registered_kind_builds_in_the_builders_that_host_it(toy, name, deployment, build, shape):
    model = build(name)
    kind = get_attention(name)
    if deployment in (SLOT, STAGE, BLOCKS):
        modules = attention_layers(model)
        prefixes = tuple(get_attention(k).prefix + "_" for k in (name, kind.companion) if k is not None)
        assert modules and all(layer.name.startswith(prefixes) for layer in modules)
        assert any(layer.name.startswith(kind.prefix + "_") for layer in modules)
        if deployment == STAGE:
            assert [layer.name for layer in modules] == [f"{kind.prefix}_stage2"]
    else:
        module = "block1_attention" if deployment == MIXER else "self_attention1"
        assert model.get_layer(module) is not None
    probs = np.asarray(model(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")))
    assert probs.shape == (2, 4) and np.all(np.isfinite(probs))
    if name == TOY:
        assert any(isinstance(layer, ChannelGate) for layer in model.layers)


def test_the_builtin_rows():
    san = get_attention("san-c")
    assert (san.pair, san.match_kernel, san.ranks, san.deployments) == (True, True, (1, 2), (SLOT,))
    assert dict(san.fixed) == {"variant": "c"} and isinstance(san.factory, LayerRef)
    assert get_attention("fa+se").companion == "se" and get_attention("fa+se").prefix == "fa"
    assert set(get_attention("spanet").deployments) == {SLOT, STAGE}
    assert get_attention("transformer").inputs == "self" and get_attention("xm2a").ranks == (1,)
    assert all(kind.builtin for kind in ATTENTION_KINDS.values() if kind.name != TOY)
    # the modules the field uses: 1-D-capable ones also mix the encoder; every image kind takes data_format
    for name in ("eca", "global-context", "ge-theta-minus", "ge-theta", "ge-theta-plus", "simam", "scse"):
        assert get_attention(name).ranks == (1, 2) and set(get_attention(name).deployments) == {SLOT, MIXER}, name
    for name in ("coordinate", "triplet"):
        assert get_attention(name).ranks == (2,) and get_attention(name).deployments == (SLOT,), name
    assert [dict(get_attention(f"ge-{v}").fixed)["variant"] for v in ("theta-minus", "theta", "theta-plus")] == [
        "theta-", "theta", "theta+"]
    assert all("data_format" in kind.context for kind in ATTENTION_KINDS.values() if 2 in kind.ranks
               and isinstance(kind.factory, LayerRef) and kind.name != TOY)


# ----------------------------------------------------------------------------- errors
def test_an_unknown_kind_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match=r"Argument `attention` must be one of None, .*'cbam'.*'san-c'.*; got 'nope'"):
        lenet5((28, 28, 1), 4, "nope")
    with pytest.raises(ValueError, match=r"attention_encoder: Argument `attention` must be one of None, .*'xm2a'.*"
                                         r"got 'nope'"):
        attention_encoder((12, 3), 4, "nope")
    with pytest.raises(ValueError, match=r"Argument `attention` must be one of \[.*'transformer'.*\]; got 'nope'"):
        get_attention("nope")
    with pytest.raises(ValueError, match=r"Argument `name` must be one of \[.*'cbam'.*\]; got 'nope'"):
        unregister_attention("nope")
    # a registered kind that a builder cannot host: the error says where the kind goes
    with pytest.raises(ValueError, match=r"got 'xm2a' \(a registered kind, deployed as the attention sub-block of "
                                         r"every attention_encoder block; rank 1\)"):
        lenet5((28, 28, 1), 4, "xm2a")
    with pytest.raises(ValueError, match=r"self_attention_lstm: Argument `attention` must be one of "
                                         r"\['additive', 'multihead'\]; got 'cbam' \(a registered kind"):
        self_attention_lstm((12, 3), 4, attention="cbam")
    with pytest.raises(SystemExit):
        main(["train", "--model", "lenet5", "--attention", "nope", "--dataset", "digits"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and "nope" in err and "san-c" in err


def test_registration_errors_name_the_argument_and_the_value():
    with pytest.raises(ValueError, match="already registered"):
        register_attention("cbam", ChannelGate)
    with pytest.raises(ValueError, match="reserved"):
        register_attention("fa", ChannelGate, replace=True)
    with pytest.raises(ValueError, match="'none' is reserved"):
        register_attention("none", ChannelGate)
    with pytest.raises(ValueError, match=r"`deployments` may not hold 'blocks'"):
        register_attention(TOY, ChannelGate, deployments=(BLOCKS,))
    with pytest.raises(ValueError, match=r"`deployments` must be one or more of .*; got \('slots',\)"):
        register_attention(TOY, ChannelGate, deployments=("slots",))
    with pytest.raises(ValueError, match=r"`ranks` must be one or more of \[1, 2\]; got 3"):
        register_attention(TOY, ChannelGate, ranks=3)
    with pytest.raises(ValueError, match=r"pair \[previous, current\] can go only into slots"):
        register_attention(TOY, ChannelGate, pair=True, deployments=(SLOT, MIXER))
    with pytest.raises(ValueError, match=r"`factory` must be callable"):
        register_attention(TOY, "ChannelGate")
    with pytest.raises(ValueError, match=r"'cbam' is a built-in attention kind and cannot be unregistered"):
        unregister_attention("cbam")
    assert TOY not in ATTENTION_KINDS
    with pytest.raises(ValueError, match=r"may not set \['variant'\] for attention='san-c'"):
        lenet5((28, 28, 1), 4, "san-c", attention_options={"variant": "d"})


def test_replace_keeps_one_row_and_context_reaches_the_factory(toy):
    calls = []

    def factory(name, **options):
        calls.append(options)
        return ChannelGate(name=name)

    kind = register_attention(TOY, factory, replace=True, match_kernel=True, context=("num_heads",),
                              deployments=(SLOT, MIXER))
    assert ATTENTION_KINDS[TOY] is kind and isinstance(kind, AttentionKind)
    lenet5((28, 28, 1), 4, TOY)
    attention_encoder((12, 3), 4, TOY, num_layers=1, num_heads=2, key_dim=4)
    assert calls == [{"kernel_size": 5}, {"kernel_size": 5}, {"num_heads": 2}]


# ----------------------------------------------------------------------------- create_attention
CONTEXT = {"num_heads": 2, "key_dim": 4, "output_dim": 6, "units": 6}  # what builders give, for kinds that need it


def _call_as_documented(kind, module, rank, rng):
    """Call ``module`` as create_attention's docstring says for ``kind.inputs``; the output of the current tensor."""
    shape = (2, 9, 6) if rank == 1 else (2, 8, 8, 6)
    current = rng.normal(size=shape).astype("float32")
    if kind.inputs == "pair":  # SAN's [previous, current], FA's [x, u]
        return current, module([rng.normal(size=shape[:-1] + (3,)).astype("float32"), current])
    if kind.inputs == "self":
        return current, module(current, current)
    return current, module(current)


@pytest.mark.parametrize("name", [n for n in ATTENTION_KINDS if n != TOY])
def test_every_registered_kind_builds_through_create_attention(name, rng):
    """``keras_attention.create_attention(name, **kwargs)`` makes the kind's module, callable as documented."""
    import keras_attention

    kind = get_attention(name)
    kwargs = {key: CONTEXT[key] for key in kind.context if key in CONTEXT}
    module = keras_attention.create_attention(name, **kwargs)
    assert callable(module)
    if isinstance(module, keras.layers.Layer) and isinstance(kind.factory, LayerRef):
        assert type(module) is kind.factory.resolve()
        assert all(getattr(module, key) == value for key, value in kind.fixed)
    for rank in kind.ranks:
        module = keras_attention.create_attention(name, **kwargs)
        current, output = _call_as_documented(kind, module, rank, rng)
        first = np.asarray(output[0] if isinstance(output, (list, tuple)) else output)
        assert first.shape[:-1] == current.shape[:-1] and np.all(np.isfinite(first))


def test_create_attention_errors_name_the_kind_and_the_argument():
    from keras_attention import create_attention

    with pytest.raises(ValueError, match=r"Argument `name` must be one of \[.*'eca'.*\]; got 'nope'"):
        create_attention("nope")
    with pytest.raises(ValueError, match=r"create_attention\('san-c'\): the kind fixes \{'variant': 'c'\}"):
        create_attention("san-c", variant="d")
    with pytest.raises(ValueError, match=r"create_attention\('self'\) needs the keyword arguments \['output_dim'\]"):
        create_attention("self")
    with pytest.raises(ValueError, match=r"`kernel_size` must be odd"):
        create_attention("eca", kernel_size=4)
    layer = create_attention("ge-theta", extent=2, name="gather")
    assert (layer.name, layer.variant, layer.extent) == ("gather", "theta", 2)
