"""The attention encoder (dissertation §7.6), its positional encoding, and the xm2a experiments on real BasicMotions
slices."""

import dataclasses
import json
import math
import re

import keras
import numpy as np
import pytest
from tolerance import assert_close

from keras_attention.experiments import xm2a_runs
from keras_attention.experiments.catalog import xm2a as xe
from keras_attention.experiments.registry import EXPERIMENTS, RunOptions
from keras_attention.experiments.series import load_splits, spread_slice
from keras_attention.experiments.training import compile_classifier
from keras_attention.layers.xm2a import kernel_lengths
from keras_attention.models.attention_encoder import (
    ENCODER_ATTENTIONS,
    attention_encoder,
    attention_parameter_count,
)

SMALL = {"num_layers": 1, "num_heads": 2, "key_dim": 4}


@pytest.fixture(scope="module")
def basic_motions():
    """8 training series of BasicMotions (4 classes, 100 steps, 6 variates), spread over the classes."""
    data, x, y = load_splits("BasicMotions", quick=True)
    keep = spread_slice(len(y["train"]), 8)
    return x["train"][keep], y["train"][keep], data.n_classes


# ----------------------------------------------------------------------------- the builder
@pytest.mark.parametrize("attention", [*ENCODER_ATTENTIONS, None])
def test_every_attention_trains_and_round_trips(attention, basic_motions, tmp_path):
    x, y, classes = basic_motions
    model = attention_encoder(x.shape[1:], classes, attention, **SMALL)
    assert model.name == f"attention_encoder_{attention or 'none'}"
    compile_classifier(model)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (len(x), classes)
    assert_close(probs.sum(axis=1), 1.0)
    path = tmp_path / "encoder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(probs, np.asarray(loaded(x, training=False)))
    has_attention = any(layer.name == "block1_attention" for layer in model.layers)
    assert has_attention == (attention is not None)


def _xm2a_encoder_params(V, C, L, H, k, ff, variant, norm, encoding=0, table=0):
    """Parameter count of the XM2A encoder written out from the architecture (module docstring);
    ``encoding`` positional channels concatenated to the V variates, ``table`` learned encoding entries."""
    d = H * k
    xm2a = sum(kernel_lengths(variant, H)) * d * k + H * k  # eq. 7.4 kernels and biases (input width d)
    xm2a += (2 if norm == "layer" else 4) * H * k  # gamma, beta (+ moving mean / variance for batch)
    xm2a += H * k * d + d  # W^O back to d (eq. 7.11)
    block = xm2a + 2 * d + (d * ff + ff) + (ff * d + d) + 2 * d
    return table + ((V + encoding) * d + d) + L * block + (d * C + C), L * xm2a


@pytest.mark.parametrize("variant,norm,ff_dim,positional", [("xm2a", "layer", None, "sinusoidal"),
                                                            ("exp", "batch", 24, "none"),
                                                            ("pool", "layer", 8, "learned")])
def test_xm2a_encoder_parameter_count_matches_formula(variant, norm, ff_dim, positional):
    V, C, L, H, k, T = 6, 4, 2, 3, 5, 20
    model = attention_encoder((T, V), C, "xm2a", num_layers=L, num_heads=H, key_dim=k, ff_dim=ff_dim,
                              variant=variant, norm=norm, positional=positional)
    encoding = 0 if positional == "none" else 8
    total, attention = _xm2a_encoder_params(V, C, L, H, k, ff_dim or 4 * H * k, variant, norm, encoding,
                                            table=T * 8 if positional == "learned" else 0)
    assert model.count_params() == total
    assert attention_parameter_count(model) == attention


def test_competitor_attention_parameter_counts():
    H, k = 3, 5
    d = H * k
    mha = attention_encoder((20, 6), 4, "transformer", num_layers=2, num_heads=H, key_dim=k)
    assert attention_parameter_count(mha) == 2 * (3 * (d * H * k + H * k) + H * k * d + d)
    msmsa = attention_encoder((20, 6), 4, "msmsa", num_layers=1, num_heads=H, key_dim=k)
    lengths = sum(2 * h - 1 for h in range(1, H + 1))
    assert attention_parameter_count(msmsa) == 3 * (lengths * d * k + H * k) + H * k * d + d
    assert attention_parameter_count(attention_encoder((20, 6), 4, "self", num_layers=2, num_heads=H, key_dim=k)) == 0


def test_self_attention_is_scaled_dot_product_of_the_features(basic_motions):
    x, _, classes = basic_motions
    model = attention_encoder(x.shape[1:], classes, "self", **SMALL)
    probe = keras.Model(model.inputs[0], [model.get_layer("input_projection").output,
                                       model.get_layer("block1_attention").output])
    h, out = (np.asarray(t, dtype=np.float64) for t in probe(x[:2]))
    d = h.shape[-1]
    scores = np.einsum("btc,bsc->bts", h, h) / math.sqrt(d)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    assert_close(out, np.einsum("bts,bsc->btc", weights, h))


@pytest.mark.parametrize("attention", [None, "self", "se", "transformer"])
def test_time_order_is_seen_only_with_positional_encoding(attention, basic_motions):
    """Without positional encoding these encoders are permutation-invariant in time (every operation before
    the global pool is pointwise or permutation-equivariant); the sinusoidal and learned encodings break that."""
    x, _, classes = basic_motions
    x = x[:4]
    order = np.random.default_rng(0).permutation(x.shape[1])
    for positional in ("none", "sinusoidal", "learned"):
        keras.utils.set_random_seed(7)
        model = attention_encoder(x.shape[1:], classes, attention, positional=positional, **SMALL)
        plain = np.asarray(model(x, training=False))
        shuffled = np.asarray(model(x[:, order], training=False))
        if positional == "none":
            assert_close(shuffled, plain)
            assert not any(layer.name == "positional_encoding" for layer in model.layers)
        else:
            assert np.max(np.abs(shuffled - plain)) > 1e-3, positional
            assert model.get_layer("positional_encoding").mode == positional


def test_positional_encoding_is_concatenated_before_the_projection(basic_motions):
    x, _, classes = basic_motions
    model = attention_encoder(x.shape[1:], classes, None, positional_channels=4, **SMALL)
    assert model.get_layer("input_projection").kernel.shape == (x.shape[2] + 4, 2 * 4)
    assert model.get_layer("positional_encoding").compute_output_shape((None, *x.shape[1:])) == \
        (None, x.shape[1], x.shape[2] + 4)


def test_variable_length_input():
    model = attention_encoder((None, 3), 2, "xm2a", **SMALL)
    for steps in (7, 12):
        assert np.asarray(model(np.ones((2, steps, 3), "float32"))).shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"attention": "lstm"}, r"`attention`.*'lstm'"),
        ({"num_layers": 0}, r"`num_layers`.*>= 1; got 0"),
        ({"num_heads": 2.0}, r"`num_heads`"),
        ({"key_dim": -1}, r"`key_dim`"),
        ({"ff_dim": 0}, r"`ff_dim`"),
        ({"dropout": 1.0}, r"`dropout`.*\[0, 1\); got 1.0"),
        ({"variant": "hybrid"}, r"`variant`.*'hybrid'"),
        ({"talk": "input"}, r"`talk`"),
        ({"descriptor": "median"}, r"`descriptor`"),
        ({"norm": "group"}, r"`norm`"),
        ({"num_classes": 1}, r"`num_classes`.*>= 2"),
        ({"input_shape": (10, 6, 1)}, r"`input_shape`.*\(T, C\).*\(10, 6, 1\)"),
        ({"input_shape": (0, 6)}, r"`input_shape`"),
        ({"positional": "rotary"}, r"`positional`.*'rotary'"),
        ({"positional_channels": 3}, r"`positional_channels`.*even.*3"),
        ({"positional_channels": 0}, r"`positional_channels`.*>= 1; got 0"),
        ({"positional": "learned", "input_shape": (None, 6)}, r"positional='learned' needs a known series length"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"input_shape": (10, 6), "num_classes": 4, **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        attention_encoder(**args)
    assert str(info.value).startswith("attention_encoder")


# ----------------------------------------------------------------------------- experiments
def test_spread_slice_reaches_every_class():
    labels = np.repeat(np.arange(4), 10)  # sorted by class, as aeon's files often are
    keep = spread_slice(len(labels), 8)
    assert len(keep) == 8 and set(labels[keep]) == {0, 1, 2, 3}
    np.testing.assert_array_equal(spread_slice(5, 8), np.arange(5))


def test_experiments_are_registered_with_the_paper_rows():
    assert {"xm2a", "xm2a-variants", "xm2a-ablation"} <= set(EXPERIMENTS)
    labels = [c.label for c in EXPERIMENTS["xm2a"].configs]
    for expected in ("XM2A", "MSMSA", xe.TRANSFORMER, "SENet", "BAM", "Self", "No attention",
                     "XM2A-Pool (P)", "XM2A-Exp-Pool (EP)"):
        assert expected in labels
    assert EXPERIMENTS["xm2a"].paper["AUSLAN"]["XM2A"] == 89.52
    assert len(EXPERIMENTS["xm2a-ablation"].configs) == 8
    assert EXPERIMENTS["xm2a"].settings.depth == {"num_layers": 2, "num_heads": 4, "key_dim": 16, "dropout": 0.1}


def _quick(name, labels, out_dir, resume=False):
    experiment = EXPERIMENTS[name]
    experiment = dataclasses.replace(experiment, configs=[c for c in experiment.configs if c.label in labels])
    assert len(experiment.configs) == len(labels)
    options = RunOptions(out_dir=out_dir, quick=True, batch_size=16, verbose=0, resume=resume)
    return xm2a_runs.run_xm2a_experiment(experiment, options)


def test_xm2a_quick_writes_results_with_step_ratio(tmp_path):
    labels = ["XM2A", xe.TRANSFORMER, "MiniRocket (non-neural reference)"]
    summary = _quick("xm2a", labels, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["datasets"] == ["BasicMotions"] and saved["quick"]
    cells = {row["label"]: row["results"]["BasicMotions"] for row in saved["rows"]}
    for label in labels:
        assert 0.0 <= cells[label]["top1_mean_std"][0] <= 100.0
    assert cells[xe.TRANSFORMER]["step_ratio"] == 1.0
    assert cells["XM2A"]["step_ms"] > 0
    assert cells["XM2A"]["step_ratio"] == pytest.approx(cells["XM2A"]["step_ms"] / cells[xe.TRANSFORMER]["step_ms"])
    assert cells["MiniRocket (non-neural reference)"]["params"] is None
    assert (tmp_path / "BasicMotions" / "xm2a" / "seed0" / "model.keras").exists()
    md = (tmp_path / "results.md").read_text()
    assert re.search(r"^\| XM2A +\| ", md, re.M) and "98.12" in md and "x1.00" in md
    assert summary["depth"] == xe.QUICK_DEPTH

    # resume keeps finished runs; one killed between training and timing is timed from its model.keras
    run = tmp_path / "BasicMotions" / "xm2a" / "seed0"
    saved = json.loads((run / "result.json").read_text())
    del saved["step_ms"]
    (run / "result.json").write_text(json.dumps(saved))
    history = (run / "history.json").read_text()
    again = _quick("xm2a", labels, tmp_path, resume=True)
    cells = {row["label"]: row["results"]["BasicMotions"] for row in again["rows"]}
    assert cells["XM2A"]["step_ms"] > 0 and (run / "history.json").read_text() == history
    assert cells[xe.TRANSFORMER]["top1"] == [100 * json.loads(
        (tmp_path / "BasicMotions" / "transformer__multiheadattention" / "seed0" / "result.json").read_text()
    )["test"]["top1"]]


def test_variants_and_ablation_quick_write_files(tmp_path):
    _quick("xm2a-variants", ["XM2A-Exp (E)", "MSMSA"], tmp_path / "variants")
    png = tmp_path / "variants" / "accuracy_vs_params.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    reference = xe._ablation_label("mean", "layer", "scale")
    summary = _quick("xm2a-ablation", [reference], tmp_path / "ablation")
    cell = summary["rows"][0]["results"]["BasicMotions"]
    assert cell["step_ratio"] == 1.0
    assert "98.12" in (tmp_path / "ablation" / "results.md").read_text()
