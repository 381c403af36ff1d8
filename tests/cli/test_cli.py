"""The keras-attention CLI: list, a quick reproduce on the default data of a bare machine (the Fashion-MNIST slice
shipped with the package), output-directory safety, kill + resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_attention.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_list_names_the_san_experiments(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("san-lenet", "san-vgg", "san-resnet", "san-ablation"):
        assert name in out


def test_unknown_experiment_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "no-such-thing", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "argument EXPERIMENT: invalid choice: 'no-such-thing'" in err and "san-lenet" in err


def bare_machine(monkeypatch, tmp_path):
    """No Fashion-MNIST anywhere (no KERAS_ATTENTION_DATA, no system copy, tfds has prepared nothing) and
    no network: what a fresh install on a machine without data has, except the package's own slice."""
    import socket

    from keras_attention.data import images

    monkeypatch.delenv("KERAS_ATTENTION_DATA", raising=False)
    monkeypatch.setattr(images, "SYSTEM_DATA_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tensorflow_datasets"))
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)

    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)


def test_reproduce_san_lenet_quick_on_a_bare_machine_uses_the_shipped_slice(tmp_path, monkeypatch, capsys):
    # the main job's command without --dataset, on a machine with no data and no network: real Fashion-MNIST
    # from the slice shipped with the package, said so; digits only when asked for
    bare_machine(monkeypatch, tmp_path)
    out = tmp_path / "run"
    code = main(["reproduce", "san-lenet", "--quick", "--seeds", "2", "--first-seed", "1",
                 "--train-limit", "100", "--test-limit", "60", "--width", "0.5", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "data: fashion_mnist_slice (no local Fashion-MNIST IDX files in " in printed
    assert "; using fashion_mnist, the 2,000 + 1,000-image slice shipped with the package)" in printed
    summary = json.loads((out / "results.json").read_text())
    assert summary["dataset"] == "fashion_mnist_slice"
    assert summary["paper"]["Base Model"] == [89.43, 99.87]  # the paper's Fashion-MNIST numbers alongside
    assert (summary["train_limit"], summary["test_limit"], summary["width"]) == (100, 60, 0.5)
    assert "first 100 training images and the first 60 test images" in (out / "results.md").read_text()
    assert "Table IV on fashion_mnist_slice" in (out / "results.md").read_text()
    labels = [row["label"] for row in summary["rows"]]
    assert labels == ["Base Model", "CBAM", "BAM", "SAN-c", "SAN-d"]
    for row in summary["rows"]:
        assert len(row["top1"]) == 2 and all(0 <= v <= 100 for v in row["top1"])
        assert row["top5"][0] >= row["top1"][0]
    table = (out / "results.md").read_text()
    assert "SAN-d" in table and "±" in table
    assert (out / "attention_masks.png").stat().st_size > 1000
    assert summary["seed_list"] == [1, 2]
    assert (out / "san_d" / "seed2" / "training_curves.png").exists() and not (out / "san_d" / "seed0").exists()
    model = keras.saving.load_model(out / "san_d" / "seed1" / "model.keras", safe_mode=True)
    assert any(layer.__class__.__name__ == "ScaleSpaceAttention" for layer in model.layers)
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert first_conv.filters == 3  # LeNet-5's 6 filters x width 0.5


def test_existing_output_directory_is_never_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    keep = out / "precious.txt"
    keep.write_text("user data")
    args = ["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert keep.read_text() == "user data"


def test_bad_arguments_fail_before_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "0", "--out", str(tmp_path / "a")])
    assert "expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "lenet5", "--dataset", "nope", "--out", str(tmp_path / "b")])
    assert "argument --dataset: invalid choice: 'nope' (choose from " in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_invalid_builder_combinations_fail_before_any_directory(tmp_path, capsys):
    out = tmp_path / "never"
    base = ["train", "--dataset", "digits", "--epochs", "1", "--out", str(out)]
    assert main(base + ["--model", "lenet5", "--stage", "2"]) == 2
    assert "--stage does not apply to --model lenet5" in capsys.readouterr().err
    assert main(base + ["--model", "resnet18", "--attention", "fa", "--placement", "full", "--width", "0.125"]) == 2
    assert "placement" in capsys.readouterr().err
    assert not out.exists()


def _history(out):
    path = out / "history.json"
    if not path.exists():
        return {}
    try:
        return {int(k): v for k, v in json.loads(path.read_text())["epochs"].items()}
    except (json.JSONDecodeError, KeyError):
        return {}


def test_train_resumes_after_a_real_kill(tmp_path):
    out = tmp_path / "resumable"
    epochs = 6
    cmd = [sys.executable, "-m", "keras_attention.cli", "train", "--model", "lenet5", "--dataset", "digits",
           "--epochs", str(epochs), "--batch-size", "8", "--backup-every", "25", "--out", str(out)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while len(_history(out)) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.3)  # into the next epoch, past at least one mid-epoch backup is not required
        assert proc.poll() is None, "training finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = time.time()
    before = _history(out)
    assert 2 <= len(before) < epochs
    assert (out / "backup").exists()
    assert not (out / "model.keras").exists()

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _history(out)
    assert sorted(after) == list(range(epochs))
    # epochs finished before the kill were not trained again
    for epoch, record in before.items():
        assert after[epoch]["finished_at"] == record["finished_at"] < killed_at
    assert (out / "model.keras").exists() and (out / "training_curves.png").exists()
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    x = np.zeros((1,) + model.input_shape[1:], "float32")
    assert model.predict(x, verbose=0).shape == (1, 10)
