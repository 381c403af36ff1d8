"""One training run with the artefacts a user expects: backups to resume from, history, curves, model.

``train_run`` builds and compiles the model inside the distribution strategy's scope, trains it with a
:class:`~keras_attention.experiments.backup.TrainingBackup` (crash-safe backups at every epoch end, and every
``backup_freq`` batches; a killed run resumes from its last whole backup and ends with the weights and
metrics of an uninterrupted run: the backup holds the weights, the optimizer, the random state and the data
order), appends every finished epoch to ``history.json`` (kept across resumes), draws
``training_curves.png``, saves ``model.keras``, evaluates top-1 / top-5 on the test set and writes
``result.json``; the backups are deleted only then. A run killed after its last epoch resumes from that
epoch's backup without training.

The validation data (``val_ds``: held out of the training data by the caller, never the test set) gives the
per-epoch ``val_`` numbers of the history and the curves; the test set (``test_ds``) is evaluated once, on
the final model, into ``result.json``'s ``"test"`` (the last epoch's validation numbers are its
``"validation"``). ``optimizer_steps`` is the optimizer's own step counter at the end (restored with a
backup, so a resumed run counts every step once).

Checkpoint selection (``select_best="val_top1"``, the time-series experiments): the weights of the epoch
with the highest validation top-1 (the first such epoch on ties) are kept in ``best_val.weights.bin``, and
the test set is evaluated twice: on the final model (``"test"``) and on those weights
(``"test_best_val"``, with ``"best_val_epoch"``, 1-based, and ``"best_val_top1"``). The selection reads
the validation split only; the test set is never looked at before training ends. ``evaluate_train``
adds the final model's loss and accuracy on the training split (``"train_final"``, inference mode, no
dropout), which shows underfitting.
"""

import time
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_attention.experiments.artifacts import (
    BACKUP_DIR,
    BEST_RECORD,
    BEST_WEIGHTS,
    CURVES,
    HISTORY,
    MODEL,
    RESULT,
    EpochHistory,
    RunResult,
)
from keras_attention.experiments.backup import DataPasses, TrainingBackup, Unusable, read_variables, write_variables
from keras_attention.experiments.optimizers import make_optimizer
from keras_attention.experiments.plots import plot_training_curves
from keras_attention.utils.files import read_json, save_model, write_json


class BestValidationCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best ``monitor`` (a validation metric, higher is better) in
    ``out_dir/best_val.weights.bin`` and its 0-based epoch, value and the weights' record (size, SHA-256,
    shapes) in ``out_dir/best_val.json``.

    Only a strictly better epoch replaces the kept one, so ties keep the earliest. Both files are written
    atomically, the weights first (raw, :func:`~keras_attention.experiments.backup.write_variables`: no HDF5,
    which crashes the process on a full disk); a resumed run reads the record back and compares against it.
    A kill between the two writes leaves the weights one improvement ahead of the record; the resumed run
    trains that epoch again, exactly, and writes both again.
    """

    def __init__(self, out_dir: str | PathLike[str], monitor: str = "val_top1") -> None:
        super().__init__()
        self.weights_path = Path(out_dir) / BEST_WEIGHTS
        self.record_path = Path(out_dir) / BEST_RECORD
        self.monitor = monitor
        # {"epoch": 0-based, monitor: value, "weights": the weights' record}
        self.best: dict[str, Any] | None = None
        if self.record_path.exists() and self.weights_path.exists():
            self.best = read_json(self.record_path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keep this epoch's weights when its ``monitor`` value is the best so far (strictly)."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self.best is None or value > self.best[self.monitor]:
            weights = write_variables(self.weights_path, self.model.weights)
            self.best = {"epoch": int(epoch), self.monitor: value, "weights": weights}
            write_json(self.record_path, self.best)

    def best_weights(self) -> list[Any]:
        """The kept weights (:func:`best_validation_weights`)."""
        return best_validation_weights(self.model, self.weights_path.parent)


def best_validation_weights(model: Any, out_dir: str | PathLike[str]) -> list[Any]:
    """The weights :class:`BestValidationCheckpoint` kept in ``out_dir`` for ``model``, checked against their
    record and the model.

    Args:
        model: the ``keras.Model`` whose weights were kept.
        out_dir: the run directory.

    Returns:
        A list of arrays for ``model.set_weights``.

    Raises:
        ValueError: naming the file, when the weights are missing, damaged or another model's.
    """
    weights_path, record_path = Path(out_dir) / BEST_WEIGHTS, Path(out_dir) / BEST_RECORD
    try:
        return read_variables(weights_path, read_json(record_path)["weights"], model.weights)
    except (KeyError, TypeError, OSError, Unusable) as why:
        raise ValueError(f"The best-validation weights {str(weights_path)!r} cannot be used: {why}.") from None


def compile_classifier(model: Any, *, learning_rate: float = 1e-3, optimizer: Any = "adam",
                       jit_compile: bool | str = "auto") -> Any:
    """Compile ``model`` as every run of the package trains: sparse categorical cross-entropy, top-1 and top-5.

    Args:
        model: a ``keras.Model`` that outputs class probabilities.
        learning_rate: the optimizer's learning rate.
        optimizer: a name or an optimizer (:func:`~keras_attention.experiments.optimizers.make_optimizer`).
        jit_compile: Keras' ``jit_compile`` (True, False or ``"auto"``).

    Returns:
        ``model``, compiled.
    """
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
    build_model: Callable[[], Any],
    train_ds: Any,
    *,
    epochs: int,
    out_dir: str | PathLike[str],
    val_ds: Any = None,
    test_ds: Any = None,
    strategy: Any = None,
    jit_compile: bool | str = "auto",
    learning_rate: float = 1e-3,
    optimizer: Any = "adam",
    backup_freq: str | int = "epoch",
    backup_interval: float = 0.0,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] = (),
    extra: dict[str, Any] | None = None,
    select_best: str | None = None,
    evaluate_train: bool = False,
) -> RunResult:
    """Train ``build_model()`` on ``train_ds`` for ``epochs`` epochs, writing artefacts to ``out_dir``.

    ``backup_freq`` is ``"epoch"`` or a number of batches between backups (besides every epoch end);
    ``backup_interval`` (seconds) leaves out epoch-end backups sooner than that after the last one
    (:class:`~keras_attention.experiments.backup.TrainingBackup`). Re-running with the same ``out_dir`` resumes
    from the newest whole backup there, exactly where it was taken when ``train_ds`` is a ``tf.data`` pipeline
    (the same batches in the same order); an ``OSError`` while backing up raises
    :class:`~keras_attention.experiments.backup.BackupWriteError` and keeps the last good backup. ``extra`` (a
    dict) is added to ``result.json``. ``select_best`` (e.g. ``"val_top1"``; needs ``val_ds``) keeps the best-validation
    weights and evaluates the test set on them too; ``evaluate_train`` evaluates the final model on
    ``train_ds`` (module docstring). Returns a :class:`RunResult`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    passes = data_passes(train_ds)  # outside any strategy scope
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model()
        compile_classifier(model, learning_rate=learning_rate, optimizer=optimizer, jit_compile=jit_compile)
    history = EpochHistory(out_dir / HISTORY)
    backup = TrainingBackup(out_dir / BACKUP_DIR, save_freq=backup_freq, min_interval=backup_interval,
                            configuration=backup_configuration(model, learning_rate), data_passes=passes)
    best = BestValidationCheckpoint(out_dir, select_best) if select_best and val_ds is not None else None
    start = time.perf_counter()
    try:
        model.fit(
            passes.wrapped if passes is not None else train_ds,
            validation_data=val_ds,
            epochs=epochs,
            # history first: an epoch on disk is never lost to a kill; the best weights before the backup, so a
            # backed-up epoch has had its chance to be selected
            callbacks=[history.callback(), *([best] if best else []), backup, *callbacks],
            verbose=verbose,
            shuffle=False,  # the tf.data pipelines shuffle (seeded) themselves
        )
    finally:
        backup.detach()
    train_seconds = sum(rec["seconds"] for rec in history.epochs.values()) or (time.perf_counter() - start)
    series = history.as_series()
    plot_training_curves(series, out_dir / CURVES, title=model.name)
    save_model(model, out_dir / MODEL)
    test_metrics = {} if test_ds is None else evaluate_metrics(model, test_ds)
    validation = {k[len("val_"):]: v[-1] for k, v in series.items() if k.startswith("val_") and v}
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    summary: dict[str, Any] = {"test": test_metrics, "validation": validation, "train_seconds": train_seconds,
               "params": int(model.count_params()), "optimizer_steps": steps}
    if evaluate_train:
        summary["train_final"] = evaluate_metrics(model, train_ds)
    if select_best:
        summary.update(best_validation_metrics(model, best, test_ds, select_best))
    summary.update(extra or {})
    write_json(out_dir / RESULT, summary)
    backup.delete()  # only now: a run killed before this resumes from its last epoch without training
    return RunResult(out_dir, series, test_metrics, train_seconds, int(model.count_params()), model, validation)


def data_passes(train_ds: Any) -> DataPasses | None:
    """The :class:`~keras_attention.experiments.backup.DataPasses` of a ``tf.data`` pipeline, whose order a resumed
    run restores; None for other data, and under a ``keras.distribution`` (JAX data-parallel: Keras shards the
    pipeline by the batch size it reads from it, which the counting wrapper hides), where a resumed run's
    batches come in the order of a fresh pipeline."""
    if not isinstance(train_ds, tf.data.Dataset) or keras.distribution.distribution() is not None:
        return None
    return DataPasses(train_ds)


def backup_configuration(model: Any, learning_rate: float) -> dict[str, Any]:
    """What a backup of ``model``'s training records and a resume must match (besides its variables): the
    optimizer's class and learning rate, the loss."""
    return {"optimizer": type(model.optimizer).__name__, "learning_rate": float(learning_rate),
            "loss": str(getattr(model, "loss", None))}


def evaluate_metrics(model: Any, dataset: Any) -> dict[str, float]:
    """``model.evaluate(dataset)`` as ``{metric: float}`` (the form ``result.json`` keeps)."""
    return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


def best_validation_metrics(model: Any, best: BestValidationCheckpoint | None, test_ds: Any,
                            monitor: str) -> dict[str, Any]:
    """The ``result.json`` entries of checkpoint selection: the test metrics of the kept best-validation
    weights (``test_best_val``), their 1-based epoch and validation value; the model keeps its final weights.
    Without a kept checkpoint (no validation data) the entries are None."""
    if best is None or best.best is None:
        return {"test_best_val": None, "best_val_epoch": None, f"best_{monitor}": None}
    final = model.get_weights()
    model.set_weights(best.best_weights())
    metrics = {} if test_ds is None else evaluate_metrics(model, test_ds)
    model.set_weights(final)
    return {"test_best_val": metrics, "best_val_epoch": best.best["epoch"] + 1,
            f"best_{monitor}": best.best[monitor]}
