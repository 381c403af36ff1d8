"""What the notebooks of this folder share: their output folder, the smoke switch, how they train, and how they
show and save figures and tables. The experiments themselves are the package's (``keras_attention.experiments``).

A notebook imports this module from its own folder (Jupyter starts a notebook's kernel there):

    nb = Notebook("san", SMOKE, OUT)
    run = nb.train("SAN-c", build, train_ds, val_ds, test_ds, epochs=EPOCHS)  # keras_attention's train_run
    nb.show(fig, "mask_histogram")  # figures/san_mask_histogram.png, shown inline
    nb.table(rows, "table_iv", "Table IV")  # san_table_iv.csv, shown
"""

import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import pandas as pd
import tensorflow as tf
from IPython.display import Image, display

from keras_attention.data import dataset_info, image_dataset
from keras_attention.experiments.configs import ImageSettings
from keras_attention.experiments.plots import close_figure
from keras_attention.experiments.results import slug
from keras_attention.experiments.runner import default_dataset
from keras_attention.experiments.training import train_run


class Notebook:
    """One notebook's outputs: ``OUT/figures/<name>_<stem>.png``, ``OUT/<name>_<stem>.csv`` and the training
    runs in ``OUT/runs/<name>/<smoke|full>/<label>``."""

    def __init__(self, name, smoke, out):
        self.name, self.smoke, self.out = name, bool(smoke), Path(out)
        (self.out / "figures").mkdir(parents=True, exist_ok=True)
        # smoke runs train two batches: tracing a graph would cost more than the training
        tf.config.run_functions_eagerly(self.smoke)
        warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run_functions_eagerly`")
        print(f"{name}: smoke={self.smoke}, outputs in {self.out.resolve()}, Keras {keras.__version__} "
              f"({keras.backend.backend()})")

    def figure_path(self, stem):
        return self.out / "figures" / f"{self.name}_{stem}.png"

    def show(self, figure, stem=None):
        """Show a saved PNG (a path), or save a matplotlib figure as ``figures/<name>_<stem>.png`` and show it.

        Shown from the PNG file: some package modules select matplotlib's Agg backend on import."""
        path = close_figure(figure, self.figure_path(stem)) if stem else figure
        display(Image(filename=str(path)))
        return path

    def table(self, rows, stem, title):
        """``rows`` (dicts) as a DataFrame, saved as ``<name>_<stem>.csv`` and printed under ``title``."""
        frame = pd.DataFrame(rows)
        frame.to_csv(self.out / f"{self.name}_{stem}.csv", index=False)
        print(title, frame.to_string(index=False, float_format="{:.4g}".format), sep="\n")
        return frame

    def curves(self, runs, stem, title, ylabel="validation top-1"):
        """The validation top-1 of every run (``{label: RunResult}``) per epoch, one line each."""
        frame = pd.DataFrame({label: run.history["val_top1"] for label, run in runs.items()})
        frame.index += 1
        return self.show(frame.plot(marker="o", xlabel="epoch", ylabel=ylabel, title=title).figure, stem)

    def train(self, label, build, train_ds, val_ds, test_ds, *, epochs, **options):
        """``build()`` trained by :func:`keras_attention.experiments.training.train_run` (what ``reproduce``
        runs) with seed 0: validation curves on ``val_ds``, and ``test_ds`` evaluated on the final model."""
        keras.utils.set_random_seed(0)
        run_dir = self.out / "runs" / self.name / ("smoke" if self.smoke else "full") / slug(label)
        return train_run(build, train_ds, epochs=epochs, out_dir=run_dir, val_ds=val_ds, test_ds=test_ds, verbose=0,
                         **options)


def image_data(smoke, batch_size=128):
    """The image notebooks' data, split as ``reproduce`` splits it: the default data set (local Fashion-MNIST,
    else tensorflow-datasets', else the 2,000 + 1,000-image slice the package ships), training images minus the
    last 10 % (validation curves), the test set.

    Smoke mode: the first 256 training and 128 test images, batches of 64."""
    dataset = default_dataset()
    size = None if dataset_info(dataset)["input_shape"][0] >= 28 else (28, 28)
    info = dataset_info(dataset, image_size=size)
    limit_train, limit_test = (256, 128) if smoke else (None, None)
    common = {"batch_size": 64 if smoke else batch_size, "image_size": size}
    split = {"limit": limit_train, "validation_split": ImageSettings().validation_split, **common}
    data = SimpleNamespace(
        name=dataset, image_size=size, input_shape=info["input_shape"], num_classes=info["num_classes"],
        train=image_dataset(dataset, "train", shuffle=True, seed=0, subset="training", **split),
        val=image_dataset(dataset, "train", subset="validation", **split),
        test=image_dataset(dataset, "test", shuffle=False, limit=limit_test, **common),
    )
    print(f"{dataset}: input {data.input_shape}, {data.num_classes} classes, training images "
          f"{limit_train or 'all'} (the last {ImageSettings().validation_split:.0%} for validation), "
          f"test images {limit_test or 'all'}")
    return data
