"""Every attention layer trains the same under MirroredStrategy (2 logical CPUs) as on one device.

Logical devices must be configured before TensorFlow initialises, which the pytest process has already
done, so one subprocess (``tests/distributed_check.py``, see its docstring) does all the training and
writes JSON that the tests below read. Per layer: a tiny classifier on real data (digits images or
BasicMotions series), identical initial weights, a few plain-SGD steps on a global batch of 16 (8 per
replica); the per-step losses and the final weights must agree to float rounding.

BatchNormalization: under MirroredStrategy it normalises with per-replica batch statistics unless
``synchronized=True``. The main comparison switches every BatchNormalization in the model to
``synchronized`` (global statistics, exactly what one device computes). For a few layers the default,
per-replica behaviour is checked against a one-device "ghost batch" reference (the model applied to each
half of the batch separately), and shown to differ from the one-device full-batch run by far more than
the tolerance: the comparison can fail.

Also a smoke run of ``keras-attention train --strategy mirrored`` (``cli.main``, unpatched) that must
train on 2 replicas; the layer comparisons reuse the strategy object it created.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "distributed_check.py"

# case name (as known to distributed_check.CASES) -> (module under keras_attention.layers, class, has BN)
LAYER_CASES = {
    "SqueezeExcitation": ("squeeze_excitation", "SqueezeExcitation", False),
    "CBAM": ("cbam", "CBAM", True),
    "BAM": ("bam", "BAM", True),
    "ScaleSpaceAttention-c": ("scale_space_attention", "ScaleSpaceAttention", False),
    "ScaleSpaceAttention-d": ("scale_space_attention", "ScaleSpaceAttention", False),
    "FocusAssociation": ("focus_association", "FocusAssociation", False),
    "AWConv2D": ("aw_conv", "AWConv2D", True),
    "SalientPositionsAttention": ("salient_positions_attention", "SalientPositionsAttention", True),
    "NonLocalBlock": ("non_local", "NonLocalBlock", True),
    "XM2A": ("xm2a", "XM2A", False),
    "XM2A-batchnorm": ("xm2a", "XM2A", True),
    "MultiScaleSelfAttention": ("multi_scale_self_attention", "MultiScaleSelfAttention", False),
    "SDMA": ("sdma", "SDMA", False),
    "SDCA": ("sdma", "SDCA", False),
    "PositionalEncoding": ("positional_encoding", "PositionalEncoding", False),
    "EfficientChannelAttention": ("efficient_channel_attention", "EfficientChannelAttention", False),
    "CoordinateAttention": ("coordinate_attention", "CoordinateAttention", True),
    "GlobalContext": ("global_context", "GlobalContext", False),
    "SelectiveKernel": ("selective_kernel", "SelectiveKernel", True),
    "GatherExcite": ("gather_excite", "GatherExcite", True),
    "SimAM": ("simam", "SimAM", False),
    "TripletAttention": ("triplet_attention", "TripletAttention", True),
    "SCSE": ("scse", "SCSE", False),
}
# cases that also get the per-replica (unsynchronised) BatchNormalization runs: one image, one sequence layer
LOCAL_BN_CASES = ("AWConv2D", "XM2A-batchnorm")

LOSS_ATOL = 1e-5  # float32 losses ~2.3; observed 2-replica differences are <= 1e-6
WEIGHT_ATOL = 2e-5  # largest weight difference after training; observed <= 6e-6


def _missing_reason(case):
    module, name, _ = LAYER_CASES[case]
    try:
        found = getattr(importlib.import_module(f"keras_attention.layers.{module}"), name, None)
    except ImportError as error:
        return f"keras_attention.layers.{module} is not importable yet ({error})"
    if found is None:
        return f"keras_attention.layers.{module} has no {name} yet"
    return None


AVAILABLE = [case for case in LAYER_CASES if _missing_reason(case) is None]


def _skip_if_missing(case):
    reason = _missing_reason(case)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distributed")
    out = tmp / "result.json"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    command = [
        sys.executable, str(SCRIPT), "--out", str(out), "--layers", ",".join(AVAILABLE),
        "--local-bn", ",".join(c for c in LOCAL_BN_CASES if c in AVAILABLE), "--cli", str(tmp / "cli-run"),
    ]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0 and out.exists(), f"distributed_check failed:\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())
    data["cli_dir"] = str(tmp / "cli-run")
    return data


def _case(result, case):
    _skip_if_missing(case)
    report = result["cases"][case]
    assert "error" not in report, report.get("error")
    return report


def _assert_two_replicas(run):
    assert run["replicas"] == 2
    devices = sorted(d.rsplit("/", 1)[-1] for d in run["variable_devices"])
    assert devices == ["device:CPU:0", "device:CPU:1"], run["variable_devices"]


def test_registry_covers_every_exported_layer():
    from keras import layers as keras_layers

    import keras_attention.layers as package

    covered = {LAYER_CASES[c][1] for c in LAYER_CASES}
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, type) and issubclass(obj, keras_layers.Layer):
            assert obj.__name__ in covered, f"{obj.__name__} has no case in tests/experiments/test_distributed.py"


def test_two_logical_cpu_devices(result):
    assert result["logical_cpus"] == ["/device:CPU:0", "/device:CPU:1"]


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_mirrored_loss_equals_single_device(result, case):
    report = _case(result, case)
    single, mirrored = report["single"], report["mirrored"]
    assert single["replicas"] == 1
    _assert_two_replicas(mirrored)
    assert mirrored["same_start_as_single"]
    # BatchNormalization inside the model was found (and synchronised) exactly when the layer has one
    assert (single["batch_norms"] > 0) == LAYER_CASES[case][2]
    assert len(single["losses"]) >= 2 and len(mirrored["losses"]) == len(single["losses"])
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=0, atol=LOSS_ATOL)
    # training moved the weights far beyond the tolerance, and both runs moved them the same way
    assert report["weights_moved"] > 100 * WEIGHT_ATOL
    assert mirrored["weights_vs_single"] <= WEIGHT_ATOL


@pytest.mark.parametrize("case", LOCAL_BN_CASES)
def test_per_replica_batchnorm_equals_ghost_batch_and_differs_from_single(result, case):
    report = _case(result, case)
    local, ghost = report["mirrored_local_bn"], report["ghost"]
    _assert_two_replicas(local)
    assert ghost["replicas"] == 1 and local["batch_norms"] > 0
    # each replica normalises its own 8 samples: the same as one device normalising each half on its own
    np.testing.assert_allclose(local["losses"], ghost["losses"], rtol=0, atol=LOSS_ATOL)
    assert local["trainable_vs_ghost"] <= WEIGHT_ATOL
    # ... which is NOT the one-device full-batch run: the comparison above can fail
    assert local["trainable_vs_single"] > 10 * WEIGHT_ATOL


def test_cli_train_with_mirrored_strategy(result):
    cli = result["cli"]
    assert "error" not in cli, cli.get("error")
    assert cli["exit_code"] == 0
    # the CLI's own tf.distribute.MirroredStrategy() picked up both logical CPUs
    assert cli["replicas"] == [2]
    assert sorted(d.rsplit("/", 1)[-1] for d in cli["devices"][0]) == ["device:CPU:0", "device:CPU:1"]
    out = Path(result["cli_dir"])
    history = json.loads((out / "history.json").read_text())["epochs"]
    assert list(history) == ["0"] and np.isfinite(history["0"]["loss"])
    test = json.loads((out / "result.json").read_text())["test"]
    assert 0.0 <= test["top1"] <= test["top5"] <= 1.0
    assert (out / "model.keras").stat().st_size > 1000
