"""Figures a reader can trust (attention grid, training curves) and the validation split of ``train`` and of
the image experiments: held out of the training images, never trained on, separate from the test set."""

import dataclasses
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_attention.cli import main
from keras_attention.data.images import image_dataset, load_arrays, validation_split_sizes
from keras_attention.experiments import training
from keras_attention.experiments.plots import (
    MASK_LABEL,
    attention_grid_figure,
    plot_attention_grid,
    plot_training_curves,
    training_curves_figure,
)

# ------------------------------------------------------------------------------------------------ figures


def _colorbars(fig):
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _overlaps(a, b):
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def test_attention_grid_has_one_colorbar_and_a_title_on_every_column(rng, tmp_path):
    images = rng.random((2, 28, 28, 1))
    masks = {"SAN-d\n(san)": rng.random((2, 10, 10, 16)), "CBAM\n(cbam)": rng.random((2, 14, 14, 2))}
    fig = attention_grid_figure(images, masks, channels=4, title="first attention module, test images")
    try:
        colorbars = _colorbars(fig)
        assert len(colorbars) == 1
        assert colorbars[0]._colorbar.ax.get_ylabel() == MASK_LABEL == "attention weight"
        grid = [ax for ax in fig.axes if ax not in colorbars]
        assert len(grid) == 4 * 5  # (2 models x 2 images) rows, image + 4 channel columns
        columns = np.array(grid).reshape(4, 5)
        titles = [ax.get_title() for ax in columns[0]]
        assert titles == ["image", "mask channel 0", "mask channel 1", "mask channel 2", "mask channel 3"]
        # CBAM has 2 channels: its rows hide the last two columns, which keep their titles from SAN-d's rows
        assert [ax.get_visible() for ax in columns[2]] == [True, True, True, False, False]
        assert all("SAN-d" in ax.get_ylabel() for ax in columns[:2, 0])
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        suptitle = fig._suptitle.get_window_extent(renderer)
        for ax in columns[0]:
            title = ax.title.get_window_extent(renderer)
            assert not _overlaps(suptitle, title) and suptitle.y0 >= title.y1
            assert not _overlaps(title, ax.get_window_extent(renderer))
    finally:
        plt.close(fig)
    path = plot_attention_grid(images, masks, tmp_path / "grid.png", title="t")
    assert path.stat().st_size > 1000


def test_attention_grid_never_draws_an_empty_column(rng):
    fig = attention_grid_figure(rng.random((1, 8, 8, 1)), {"SE": rng.random((1, 4, 4, 2))}, channels=4)
    try:
        grid = [ax for ax in fig.axes if ax not in _colorbars(fig)]
        assert [ax.get_title() for ax in grid] == ["image", "mask channel 0", "mask channel 1"]
        assert fig._suptitle is None  # no empty title reserving space
    finally:
        plt.close(fig)


@pytest.mark.parametrize("epochs", [1, 3, 40])
def test_training_curves_use_words_and_integer_epochs(epochs, tmp_path):
    series = {"loss": list(np.linspace(2, 1, epochs)), "top1": list(np.linspace(0.3, 0.8, epochs)),
              "top5": [0.9] * epochs, "val_loss": list(np.linspace(2.1, 1.2, epochs)),
              "val_top1": list(np.linspace(0.25, 0.7, epochs)), "seconds": [1.0] * epochs}
    fig = training_curves_figure(series, title="lenet5")
    try:
        fig.canvas.draw()
        assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "top-1 accuracy"]
        for ax in fig.axes:
            assert ax.get_xlabel() == "epoch"
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            assert epochs > 10 or (1 in ticks and epochs in ticks)
            assert [text.get_text() for text in ax.get_legend().get_texts()] == ["training", "validation"]
        words = " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.xaxis.label, ax.yaxis.label])
        assert "val_" not in words and "top1" not in words
    finally:
        plt.close(fig)
    assert plot_training_curves(series, tmp_path / "curves.png").stat().st_size > 1000


def test_training_curves_without_validation_have_only_a_training_line():
    fig = training_curves_figure({"loss": [1.0, 0.5], "top1": [0.5, 0.6]})
    try:
        assert all([t.get_text() for t in ax.get_legend().get_texts()] == ["training"] for ax in fig.axes)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------------ splits


def test_validation_split_sizes():
    assert validation_split_sizes(100, 0.2) == (80, 20)
    assert validation_split_sizes(100, 0.29) == (71, 29)  # 28.999... rounds to 29
    assert validation_split_sizes(1442, 0.1) == (1298, 144)
    assert validation_split_sizes(7, 0) == (7, 0)
    assert validation_split_sizes(5, 0.1) == (4, 1)  # 0.5 rounds up: a validation image
    for total, fraction in ((3, 0.1), (2, 0.9), (1, 0.5)):
        with pytest.raises(ValueError, match="both need at least one"):
            validation_split_sizes(total, fraction)
    for fraction in (1.0, -0.1, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="validation_split"):
            validation_split_sizes(100, fraction)


@pytest.mark.tensorflow_only
def test_image_dataset_subsets_are_the_first_and_the_last_examples():
    x, y = load_arrays("digits", "train", limit=50)
    split = dict(batch_size=64, limit=50, validation_split=0.2)
    val_x, val_y = next(iter(image_dataset("digits", "train", subset="validation", **split)))
    np.testing.assert_allclose(val_x, x[40:] / 255.0, rtol=1e-6)  # in order, not shuffled
    np.testing.assert_array_equal(val_y, y[40:])
    for seed in (0, 1):
        train_x, train_y = next(iter(image_dataset("digits", "train", subset="training", seed=seed, **split)))
        assert len(train_y) == 40
        order = np.lexsort(np.asarray(train_x).reshape(40, -1).T)
        expected = np.lexsort((x[:40] / 255.0).reshape(40, -1).T)
        np.testing.assert_allclose(np.asarray(train_x)[order], x[:40][expected] / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="only for split='train'"):
        image_dataset("digits", "test", subset="validation", validation_split=0.1)
    with pytest.raises(ValueError, match="needs `subset`"):
        image_dataset("digits", "train", validation_split=0.1)
    with pytest.raises(ValueError, match="needs `validation_split` > 0"):
        image_dataset("digits", "train", subset="validation")
    with pytest.raises(ValueError, match="augment"):
        image_dataset("digits", "train", subset="validation", validation_split=0.1, augment=True)


@pytest.mark.tensorflow_only
def test_tfds_subsets_are_the_first_and_the_last_examples(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from keras_attention.data import images as images_module
    from keras_attention.data.images import example_count

    monkeypatch.setattr(images_module, "SYSTEM_DATA_DIRS", (str(tmp_path),))
    monkeypatch.delenv("KERAS_ATTENTION_DATA", raising=False)
    with tfds.testing.mock_data(num_examples=10):
        x, y = load_arrays("cifar10", "train", source="tfds")
        assert example_count("cifar10", "train") == 10 and example_count("cifar10", "train", limit=5) == 5
        split = dict(batch_size=64, validation_split=0.2)
        val_x, val_y = _examples(image_dataset("cifar10", "train", subset="validation", **split))
        train_x, train_y = _examples(image_dataset("cifar10", "train", subset="training", seed=3, **split))
    np.testing.assert_allclose(val_x, x[8:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(val_y, y[8:])
    assert len(train_y) == 8 and sorted(train_y.tolist()) == sorted(y[:8].tolist())
    assert not {image.tobytes() for image in val_x} & {image.tobytes() for image in train_x}


def _examples(dataset):
    images, labels = [], []
    for x, y in dataset:
        images.append(np.asarray(x))
        labels.append(np.asarray(y))
    return np.concatenate(images), np.concatenate(labels)


class _BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.batches[-1] += 1


@pytest.mark.tensorflow_only
def test_train_validates_on_held_out_training_images_and_tests_separately(tmp_path, monkeypatch, capsys):
    seen, counter, real = {}, _BatchCounter(), training.train_run

    def spy(build, train_ds, **kwargs):
        seen.update(train=train_ds, val=kwargs["val_ds"], test=kwargs["test_ds"])
        return real(build, train_ds, **{**kwargs, "callbacks": (counter,)})

    monkeypatch.setattr(training, "train_run", spy)
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "2", "--batch-size", "16",
                 "--limit", "100", "--validation-split", "0.2", "--width", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "80 training images, 20 validation images" in printed and "test (final model, 100 images)" in printed

    x, y = load_arrays("digits", "train", limit=100)
    train_x, train_y = _examples(seen["train"])
    val_x, val_y = _examples(seen["val"])
    assert len(train_y) == 80 and counter.batches == [5, 5]  # 80 images / batch 16, each epoch
    np.testing.assert_array_equal(val_y, y[80:])
    held_out = {image.tobytes() for image in val_x}
    assert not held_out & {image.tobytes() for image in train_x}  # digits' images here are all distinct
    assert sorted(train_y.tolist()) == sorted(y[:80].tolist())
    test_x, test_y = _examples(seen["test"])
    np.testing.assert_array_equal(test_y, load_arrays("digits", "test", limit=100)[1])

    result = json.loads((out / "result.json").read_text())
    history = json.loads((out / "history.json").read_text())["epochs"]
    assert result["examples"] == {"train": 80, "validation": 20, "test": 100}
    assert result["validation_split"] == 0.2
    last = history[str(max(map(int, history)))]
    assert result["validation"] == {"loss": last["val_loss"], "top1": last["val_top1"], "top5": last["val_top5"]}
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    on_val = model.evaluate(val_x, val_y, verbose=0, return_dict=True)
    on_test = model.evaluate(test_x, test_y, verbose=0, return_dict=True)
    assert on_val["loss"] == pytest.approx(last["val_loss"], rel=1e-4, abs=1e-5)
    assert on_val["top1"] == pytest.approx(last["val_top1"], abs=1e-6)
    assert on_test["loss"] == pytest.approx(result["test"]["loss"], rel=1e-4, abs=1e-5)
    assert on_test["top1"] == pytest.approx(result["test"]["top1"], abs=1e-6)
    assert f"{100 * result['test']['top1']:.2f}%" in printed


@pytest.mark.tensorflow_only
def test_train_without_validation_split_has_no_validation_curve(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1", "--batch-size", "32",
                 "--limit", "40", "--validation-split", "0", "--width", "0.5", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["examples"] == {"train": 40, "validation": 0, "test": 40} and result["validation"] == {}
    assert not any(key.startswith("val_") for key in json.loads((out / "history.json").read_text())["epochs"]["0"])
    assert 0.0 <= result["test"]["top1"] <= 1.0


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "abc", "nan"])
def test_bad_validation_split_is_refused_by_the_parser(value, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "lenet5", "--dataset", "digits", "--validation-split", value, "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --validation-split" in err and f"got {value}" in err
    assert not out.exists()


@pytest.mark.tensorflow_only
def test_a_split_too_small_for_the_data_is_refused_before_any_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--dataset", "digits", "--limit", "3", "--validation-split", "0.1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--validation-split 0.1" in err and "3 training examples" in err
    assert not out.exists()


@pytest.mark.tensorflow_only
def test_image_experiments_validate_on_held_out_training_images(tmp_path):
    from keras_attention.experiments.configs import ImageConfig
    from keras_attention.experiments.images import run_image_experiment
    from keras_attention.experiments.registry import RunOptions, get_experiment

    experiment = dataclasses.replace(get_experiment("san-lenet"), configs=[ImageConfig("SAN-d", "lenet5", "san-d")])
    options = RunOptions(out_dir=tmp_path, dataset="digits", seeds=1, epochs=1, quick=True, train_limit=50,
                         test_limit=30, width=0.5, batch_size=32, verbose=0)
    summary = run_image_experiment(experiment, options)
    assert summary["examples"] == {"train": 45, "validation": 5, "test": 30}
    run = json.loads((tmp_path / "san_d" / "seed0" / "result.json").read_text())
    assert run["examples"] == summary["examples"]
    assert set(run["validation"]) == {"loss", "top1", "top5"}
    assert summary["rows"][0]["top1"] == [100 * run["test"]["top1"]]  # the table: test accuracy, final model
    text = (tmp_path / "results.md").read_text()
    assert "45 training images, 5 validation images (the last 10% of the training images" in text
    assert "Test accuracy of the final model" in text
    assert (tmp_path / "attention_masks.png").exists()
