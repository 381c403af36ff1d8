"""`keras-attention sparsify` and the `isparse-lenet` experiment (issue Step 3), on real sklearn digits."""

import hashlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention import models
from keras_attention.cli import main
from keras_attention.data import image_dataset
from keras_attention.experiments.evaluation import topk_accuracy
from keras_attention.experiments.isparse_runs import lenet5_dropout, lenet5_l1, near_zero_fraction
from keras_attention.experiments.training import compile_classifier
from keras_attention.sparsity import kept_count


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def saved_lenet(tmp_path_factory):
    """LeNet-5 (28 px) trained one epoch on the digits training split, saved as .keras."""
    keras.utils.set_random_seed(0)
    model = compile_classifier(models.lenet5(input_shape=(28, 28, 1), num_classes=10))
    model.fit(image_dataset("digits", "train", batch_size=64, seed=0, image_size=28), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "lenet.keras"
    model.save(path)
    return path


def _kernels(path):
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    return {layer.name: np.asarray(layer.kernel.numpy()) for layer in model.layers if hasattr(layer, "kernel")}


@pytest.mark.parametrize("strategy, sparsity", [("isparse", 0.3), ("magnitude", 0.75), ("random", 0.5)])
def test_sparsify_keeps_the_fraction_per_layer_and_leaves_the_model_alone(saved_lenet, tmp_path, capsys, strategy,
                                                                          sparsity):
    digest = _digest(saved_lenet)
    out = tmp_path / "sub" / "sparse.keras"
    args = [str(saved_lenet), "--sparsity", str(sparsity), "--dataset", "digits", "--strategy", strategy,
            "--samples", "32", "--out", str(out)]
    assert main(["sparsify", *args]) == 0
    printed = capsys.readouterr().out
    assert _digest(saved_lenet) == digest  # the input file is untouched

    dense, sparse = _kernels(saved_lenet), _kernels(out)
    assert set(sparse) == {"conv1", "conv2", "fc1", "fc2", "logits"}
    for name, w in sparse.items():
        kept = np.count_nonzero(w)
        assert kept == kept_count(w.size, sparsity), name
        assert np.count_nonzero(dense[name]) == w.size  # the original is dense
        # kept entries are the original weights, unchanged
        np.testing.assert_array_equal(w[w != 0], dense[name][w != 0])
    total = sum(w.size for w in sparse.values())
    kept_total = sum(np.count_nonzero(w) for w in sparse.values())
    assert f"{'total':<8}" in printed and str(kept_total) in printed and str(total) in printed

    # the printed accuracies are the ones of the two models on the 355 digits test images
    test_ds = image_dataset("digits", "test", shuffle=False, image_size=28)
    before = topk_accuracy(keras.saving.load_model(saved_lenet, compile=False), test_ds)
    after = topk_accuracy(keras.saving.load_model(out, compile=False), test_ds)
    assert (f"test top-1 {100 * before['top1']:.2f}% -> {100 * after['top1']:.2f}%" in printed
            and "(355 test images)" in printed)


def test_sparsify_refuses_to_overwrite(saved_lenet, tmp_path, capsys):
    out = tmp_path / "taken.keras"
    out.write_bytes(b"precious")
    args = ["sparsify", str(saved_lenet), "--sparsity", "0.5", "--dataset", "digits", "--strategy", "magnitude",
            "--out", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    # never the input model, even with --overwrite
    digest = _digest(saved_lenet)
    assert main(["sparsify", str(saved_lenet), "--sparsity", "0.5", "--dataset", "digits", "--out",
                 str(saved_lenet), "--overwrite"]) == 2
    assert "is the input model" in capsys.readouterr().err
    assert _digest(saved_lenet) == digest
    # with --overwrite the file is replaced by a loadable sparsified model
    assert main(args + ["--overwrite"]) == 0
    model = keras.saving.load_model(out, safe_mode=True)
    assert np.count_nonzero(model.get_layer("fc1").kernel.numpy()) == kept_count(400 * 120, 0.5)


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "nan", "half"])
def test_bad_sparsity_fails_before_any_work(saved_lenet, tmp_path, capsys, value):
    out = tmp_path / "never.keras"
    with pytest.raises(SystemExit):
        main(["sparsify", str(saved_lenet), "--sparsity", value, "--dataset", "digits", "--out", str(out)])
    assert "expected a fraction in [0, 1)" in capsys.readouterr().err
    assert not out.exists()


def test_other_bad_arguments_fail_before_any_work(saved_lenet, tmp_path, capsys):
    out = tmp_path / "never.keras"
    base = ["sparsify", str(saved_lenet), "--sparsity", "0.5", "--dataset", "digits"]
    with pytest.raises(SystemExit):
        main(base + ["--samples", "1", "--out", str(out)])
    assert "expected an integer >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(base + ["--strategy", "lottery", "--out", str(out)])
    assert "invalid choice" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "never.h5")]) == 2
    assert "must end in .keras" in capsys.readouterr().err
    assert main(["sparsify", str(tmp_path / "missing.keras"), "--sparsity", "0.5", "--dataset", "digits",
                 "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sparsify", str(saved_lenet), "--sparsity", "0.5", "--dataset", "nope", "--out", str(out)])
    assert "argument --dataset: invalid choice: 'nope'" in capsys.readouterr().err
    assert not out.exists()


def test_baseline_models_keep_the_lenet_weights():
    keras.utils.set_random_seed(3)
    base = models.lenet5(input_shape=(28, 28, 1), num_classes=10)
    keras.utils.set_random_seed(3)
    dropout = lenet5_dropout((28, 28, 1), 10, 0.25)
    keras.utils.set_random_seed(3)
    l1 = lenet5_l1((28, 28, 1), 10, strength=0.01)
    for other in (dropout, l1):
        for a, b in zip(base.get_weights(), other.get_weights()):
            np.testing.assert_array_equal(a, b)
    drops = [layer for layer in dropout.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in drops] == [0.25] * 3
    following = [dropout.layers[dropout.layers.index(d) + 1].name for d in drops]
    assert following == ["fc1", "fc2", "logits"]
    # L1 penalty = strength * sum |kernel| over the Conv2D / Dense layers (biases excluded)
    x = np.zeros((1, 28, 28, 1), "float32")
    l1(x)
    expected = 0.01 * sum(np.abs(layer.kernel.numpy()).sum() for layer in l1.layers if hasattr(layer, "kernel"))
    np.testing.assert_allclose(float(sum(l1.losses)), expected, rtol=1e-5)
    # near_zero_fraction counts |w| < threshold over the kernels
    w = l1.get_layer("logits").kernel
    w.assign(np.where(np.arange(w.shape[1]) < 4, 1e-4, 1.0) * np.ones(w.shape, "float32"))
    kernels = [np.abs(layer.kernel.numpy()) for layer in l1.layers if hasattr(layer, "kernel")]
    expected = sum(int((k < 1e-3).sum()) for k in kernels) / sum(k.size for k in kernels)
    assert near_zero_fraction(l1) == expected and expected >= 84 * 4 / sum(k.size for k in kernels)


def test_topk_accuracy_counts_hits():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Activation("linear")])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]], "float32")
    ds = tf.data.Dataset.from_tensor_slices((probs, np.array([0, 2, 0, 1]))).batch(2)
    acc = topk_accuracy(model, ds, ks=(1, 2))
    # hits: row 0 top-1; row 1 label 2 is 2nd; row 2 label 0 is 3rd; row 3 label 1 is 2nd
    assert acc == {"top1": 0.25, "top2": 0.75}


def test_isparse_lenet_quick_on_digits_writes_its_files(tmp_path):
    out = tmp_path / "run"
    assert main(["reproduce", "isparse-lenet", "--quick", "--dataset", "digits", "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["dataset"] == "digits" and summary["quick"] and summary["seeds"] == 1
    for strategy in ("isparse", "magnitude", "random"):
        curve = summary["sparsify_with"][strategy]
        assert sorted(curve) == ["0.1", "0.5", "0.9"]
        assert all(0 <= v <= 100 for lv in curve.values() for v in lv["top1"] + lv["top5"])
        assert all(lv["top5"][0] >= lv["top1"][0] for lv in curve.values())
    for method in ("dropout", "random", "magnitude", "isparse"):
        cell = summary["train_with"][method]["0.5"]
        assert len(cell["top1"]) == 1
        # ISparse strategies reach the target on every prunable layer; dropout prunes no weight
        assert cell["achieved_sparsity"][0] == pytest.approx(0.0 if method == "dropout" else 50.0, abs=0.01)
    assert 0 <= summary["train_with"]["l1"]["achieved_sparsity"][0] <= 100
    cost = summary["update_cost"]
    assert set(cost) == {"isparse", "magnitude", "random"}
    assert all(c["update_seconds_median"] > 0 and c["fraction_of_epoch"] > 0 for c in cost.values())
    table = (out / "results.md").read_text()
    assert "sparsify-with" in table and "train-with" in table and "fraction of an epoch" in table
    for png in ("sparsify_with.png", "train_with.png"):
        assert (out / png).stat().st_size > 5000
    model = keras.saving.load_model(out / "train_with" / "isparse_0.5" / "seed0" / "model.keras", safe_mode=True)
    fc1 = model.get_layer("fc1").kernel.numpy()
    assert np.count_nonzero(fc1) == kept_count(fc1.size, 0.5)
