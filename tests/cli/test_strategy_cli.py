"""--strategy multiworker: TF_CONFIG checks, the multi-worker limitation of Keras 3, a one-worker run;
and the run-limit helpers of the experiments."""

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from keras_attention.cli import main
from keras_attention.experiments.distributed import check_tf_config
from keras_attention.experiments.results import subset_note
from keras_attention.experiments.runner import run_limits


def _free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{cluster", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no cluster.worker list"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "no cluster.worker list"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', r"index': 0\.\.0"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task must be"),
    ],
)
def test_bad_tf_config_is_named(text, message):
    with pytest.raises(SystemExit, match=message):
        check_tf_config(text)


def test_good_tf_config_parses():
    config = check_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert config["cluster"]["worker"] == ["a:1", "b:2"] and config["task"]["index"] == 1


@pytest.mark.parametrize("extra, message", [
    (["--strategy", "multiworker", "--backup-every", "5"], "--backup-every 5: --strategy multiworker backs up after"),
    (["--distribution", "data-parallel"], "--distribution data-parallel needs the JAX backend"),
    (["--distribution", "data-parallel", "--strategy", "mirrored"],
     "--distribution data-parallel \\(JAX\\) and --strategy mirrored \\(TensorFlow\\) exclude each other"),
])
def test_distributed_options_fail_before_any_directory(extra, message, tmp_path, monkeypatch):
    """Several workers train (tests/experiments/test_multiworker.py); combinations that cannot work are refused first."""
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}))
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=message):
        main(["train", "--model", "lenet5", "--dataset", "digits", "--out", str(out), *extra])
    assert not out.exists()


def test_one_worker_tf_config_trains(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
        {"cluster": {"worker": [f"localhost:{_free_port()}"]}, "task": {"type": "worker", "index": 0}}))
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "keras_attention.cli", "train", "--model", "lenet5", "--dataset", "digits",
         "--epochs", "1", "--limit", "128", "--batch-size", "32", "--strategy", "multiworker", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert 0.0 <= result["test"]["top1"] <= 1.0 and (out / "model.keras").exists()


def test_run_limits_and_subset_note():
    quick = SimpleNamespace(quick=True, train_limit=None, test_limit=None)
    full = SimpleNamespace(quick=False, train_limit=None, test_limit=None)
    explicit = SimpleNamespace(quick=True, train_limit=500, test_limit=None)
    assert run_limits(quick, 512, 256) == (512, 256)
    assert run_limits(full, 512, 256) == (None, None)
    assert run_limits(explicit, 512, 256) == (500, 256)
    assert subset_note({"train_limit": None, "test_limit": None}) == ""
    assert subset_note({"train_limit": 500}) == " (subset: the first 500 training images)"
    assert subset_note({"train_limit": 500, "test_limit": 100}) == (
        " (subset: the first 500 training images and the first 100 test images)")
