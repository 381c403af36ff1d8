"""One training run with the artefacts a user expects: backups to resume from, history, curves, model.

``train_run`` builds and compiles the model inside the distribution strategy's scope, trains it with
``keras.callbacks.BackupAndRestore`` (so a killed run resumes from its last backup: the weights and
optimizer state of that backup, restarting the interrupted epoch from its first batch, which is what Keras'
callback does), appends every finished epoch to ``history.json`` (kept across resumes), draws
``training_curves.png``, saves ``model.keras`` and evaluates top-1 / top-5 on the test set.

The validation data (``val_ds``: held out of the training data by the caller, never the test set) gives the
per-epoch ``val_`` numbers of the history and the curves; the test set (``test_ds``) is evaluated once, on
the final model, into ``result.json``'s ``"test"`` (the last epoch's validation numbers are its
``"validation"``).
"""

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from keras_attention.experiments.optimizers import make_optimizer
from keras_attention.experiments.plots import plot_training_curves
from keras_attention.utils.files import read_json, save_model, write_json

HISTORY_FILE = "history.json"
MODEL_FILE = "model.keras"
CURVES_FILE = "training_curves.png"
BACKUP_DIR = "backup"


@dataclass
class RunResult:
    out_dir: Path
    history: dict
    test_metrics: dict
    train_seconds: float
    params: int
    model: keras.Model = field(repr=False, default=None)
    validation_metrics: dict = field(default_factory=dict)  # the last epoch's val_ numbers, without the prefix


class EpochHistory(keras.callbacks.Callback):
    """Writes every finished epoch's logs (and its wall time) to ``history.json`` at once.

    The file survives a kill: a resumed run reads it back and keeps the epochs it already has.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.epochs = {}
        if self.path.exists():
            saved = read_json(self.path)
            self.epochs = {int(k): v for k, v in saved.get("epochs", {}).items()}
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {k: float(v) for k, v in (logs or {}).items()}
        record["seconds"] = time.perf_counter() - self._start
        record["finished_at"] = time.time()
        self.epochs[epoch] = record
        write_json(self.path, {"epochs": self.epochs})

    def as_series(self):
        """``{metric: [value per epoch]}`` in epoch order."""
        keys = sorted({k for rec in self.epochs.values() for k in rec} - {"finished_at"})
        ordered = [self.epochs[e] for e in sorted(self.epochs)]
        return {k: [rec.get(k) for rec in ordered] for k in keys}


class EpochBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that also backs up at the end of every epoch when ``save_freq`` counts batches.

    Keras' callback, with a batch ``save_freq``, records a finished epoch only at the next batch backup, so a
    kill just after an epoch ends would train that epoch again. Backing up at every epoch end closes that gap.
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()


def median_step_seconds(model, x, y, steps, warmup):
    """Median wall time (seconds) of ``model.train_on_batch(x, y)`` over ``steps`` calls after ``warmup`` untimed
    ones. ``model`` must be compiled; its weights and optimizer state change."""
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compile_classifier(model, *, learning_rate=1e-3, optimizer="adam", jit_compile="auto"):
    opt = make_optimizer(optimizer, learning_rate)
    model.compile(
        optimizer=opt,
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
        jit_compile=jit_compile,
    )
    return model


def train_run(
    build_model,
    train_ds,
    *,
    epochs,
    out_dir,
    val_ds=None,
    test_ds=None,
    strategy=None,
    jit_compile="auto",
    learning_rate=1e-3,
    optimizer="adam",
    backup_freq="epoch",
    verbose="auto",
    callbacks=(),
    extra=None,
):
    """Train ``build_model()`` on ``train_ds`` for ``epochs`` epochs, writing artefacts to ``out_dir``.

    ``backup_freq`` is ``"epoch"`` or a number of batches between backups. Re-running with the same
    ``out_dir`` resumes from the backup if one is there. ``extra`` (a dict) is added to ``result.json``.
    Returns a :class:`RunResult`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model()
        compile_classifier(model, learning_rate=learning_rate, optimizer=optimizer, jit_compile=jit_compile)
    history = EpochHistory(out_dir / HISTORY_FILE)
    backup = EpochBackupAndRestore(str(out_dir / BACKUP_DIR), save_freq=backup_freq, double_checkpoint=True)
    start = time.perf_counter()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        callbacks=[history, backup, *callbacks],  # history first: an epoch on disk is never lost to a kill
        verbose=verbose,
        shuffle=False,  # the tf.data pipelines shuffle (seeded) themselves
    )
    train_seconds = sum(rec["seconds"] for rec in history.epochs.values()) or (time.perf_counter() - start)
    series = history.as_series()
    plot_training_curves(series, out_dir / CURVES_FILE, title=model.name)
    save_model(model, out_dir / MODEL_FILE)
    test_metrics = {}
    if test_ds is not None:
        test_metrics = model.evaluate(test_ds, verbose=0, return_dict=True)
        test_metrics = {k: float(v) for k, v in test_metrics.items()}
    validation = {k[len("val_"):]: v[-1] for k, v in series.items() if k.startswith("val_") and v}
    summary = {"test": test_metrics, "validation": validation, "train_seconds": train_seconds,
               "params": int(model.count_params()), **(extra or {})}
    write_json(out_dir / "result.json", summary)
    return RunResult(out_dir, series, test_metrics, train_seconds, int(model.count_params()), model, validation)


def train_experiment_run(experiment, options, build_model, train_ds, *, epochs, out_dir, val_ds=None, test_ds=None,
                         extra=None):
    """:func:`train_run` with the settings a registered experiment and its run options fix: the strategy, XLA
    and verbosity of ``options`` (a ``RunOptions``), learning rate and optimizer from ``experiment.settings``.
    Under ``MultiWorkerMirroredStrategy`` it is :func:`keras_attention.experiments.distributed.train_multiworker`
    (Keras' ``fit`` cannot train across workers, keras-team/keras#20585), which has no validation curve."""
    if type(options.strategy).__name__ == "MultiWorkerMirroredStrategy":
        from keras_attention.experiments.distributed import train_multiworker

        return train_multiworker(build_model, train_ds, epochs=epochs, out_dir=out_dir, test_ds=test_ds,
                                 strategy=options.strategy, learning_rate=experiment.settings.learning_rate,
                                 optimizer=experiment.settings.optimizer, extra=extra)
    return train_run(
        build_model,
        train_ds,
        epochs=epochs,
        out_dir=out_dir,
        val_ds=val_ds,
        test_ds=test_ds,
        strategy=options.strategy,
        jit_compile=options.jit_compile,
        learning_rate=experiment.settings.learning_rate,
        optimizer=experiment.settings.optimizer,
        verbose=options.verbose,
        extra=extra,
    )
