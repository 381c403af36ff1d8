"""The one record of a run's files: what each is called, where a seed's run writes, where each worker writes;
and the two objects a training run keeps (:class:`EpochHistory`, on disk as it goes) and hands back
(:class:`RunResult`).

A run directory (``--out``, claimed by :mod:`keras_attention.experiments.run_directory`) holds its manifest
(:data:`MANIFEST`) and lock (:data:`LOCK`); an experiment's table (:data:`RESULTS_JSON`, :data:`RESULTS_MD`);
and one folder per configuration and seed (:func:`seed_dir`) with what :func:`~keras_attention.experiments.
training.train_run` writes there: :data:`HISTORY`, :data:`BACKUP_DIR`, :data:`CURVES`, :data:`MODEL`,
:data:`RESULT` and, with checkpoint selection, :data:`BEST_WEIGHTS` and :data:`BEST_RECORD`.

Several processes training one run (TensorFlow's ``MultiWorkerMirroredStrategy``, JAX's data parallelism):
the chief (the multi-worker chief, JAX process 0, or the only process) writes the run directory; every other
process writes its own copies (history, backups, model) into :func:`worker_dir`, a directory of its own beside
the run's, so that no two processes write one file or claim one directory.

Every file name of a run is written here once; the other modules take it from here. The module imports
neither Keras nor TensorFlow: the command line reads it before it starts them.
"""

import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from keras_attention.utils.files import read_json, write_json

MANIFEST = "run.json"  # what made the run: package version, command line, configuration
LOCK = ".lock"  # held by the process writing the run
RESULTS_JSON = "results.json"  # an experiment's table (mean and std over seeds, per configuration)
RESULTS_MD = "results.md"
RESULT = "result.json"  # one seed's run: test / validation metrics, time, parameters, steps
MODEL = "model.keras"
HISTORY = "history.json"  # every finished epoch's logs
CURVES = "training_curves.png"
BACKUP_DIR = "backup"
BEST_WEIGHTS = "best_val.weights.bin"  # the best-validation epoch's weights (checkpoint selection)
BEST_RECORD = "best_val.json"
ATTENTION_MASKS = "attention_masks.png"
ENTROPY_HISTOGRAM = "entropy_histogram.png"  # RACKNet: the plan's keypoint entropies and its mixtures
STRATEGY_ACCURACY = "strategy_accuracy.png"  # RACKNet: top-1 of every kernel-allocation strategy
PLAN = "plan.json"  # RACKNet: the plan of the experiment's training images
SPARSIFY_WITH = "sparsify_with.png"  # iSparse: accuracy against the sparsification factor
TRAIN_WITH = "train_with.png"  # iSparse: accuracy against the target sparsity


def seed_dir(work_dir: str | PathLike[str], configuration: str | PathLike[str], seed: int) -> Path:
    """The folder of one configuration's run with one seed: ``<work_dir>/<configuration>/seed<seed>``.

    Args:
        work_dir: the run directory (``--out``).
        configuration: a folder name, e.g. ``results.slug`` of the row's label, or a path of several.
        seed: the seed.

    Returns:
        The folder's path (nothing is created).

    Example:
        >>> from keras_attention.experiments.artifacts import seed_dir
        >>> seed_dir("runs/san-lenet", "san_d", 3).as_posix()
        'runs/san-lenet/san_d/seed3'
    """
    return Path(work_dir) / configuration / f"seed{seed}"


def entropy_histogram_path(plan_path: str | PathLike[str]) -> Path:
    """Where ``racknet analyze`` draws the entropy histogram of the plan it writes to ``plan_path``.

    Args:
        plan_path: the plan's JSON file.

    Returns:
        ``<plan>_entropy.png`` beside it.

    Example:
        >>> from keras_attention.experiments.artifacts import entropy_histogram_path
        >>> entropy_histogram_path("plans/digits.json").as_posix()
        'plans/digits_entropy.png'
    """
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_path.stem + "_entropy.png")


def worker_dir(out_dir: str | PathLike[str], index: int) -> Path:
    """Where the process ``index`` (not the chief) of a run on several processes writes its copies.

    Args:
        out_dir: the run directory.
        index: the process' index (task id, JAX process index).

    Returns:
        ``<out_dir>.worker<index>``, beside the run directory.

    Example:
        >>> from keras_attention.experiments.artifacts import worker_dir
        >>> worker_dir("runs/a", 2).as_posix()
        'runs/a.worker2'
    """
    out_dir = Path(out_dir)
    return out_dir.with_name(f"{out_dir.name}.worker{index}")


@dataclass
class RunResult:
    """What a training run hands back: its directory, the history (``{metric: [value per epoch]}``), the test
    metrics, the training time, the parameter count, the trained model and the last epoch's validation
    numbers (without the ``val_`` prefix)."""

    out_dir: Path
    history: dict[str, list[Any]]
    test_metrics: dict[str, float]
    train_seconds: float
    params: int
    model: Any = field(repr=False, default=None)  # the keras.Model
    validation_metrics: dict[str, float | None] = field(default_factory=dict)


class EpochHistory:
    """Writes every finished epoch's logs (and its wall time) to :data:`HISTORY` at once.

    The file survives a kill: a resumed run reads it back and keeps the epochs it already has. A training loop
    calls :meth:`on_epoch_begin` / :meth:`on_epoch_end` itself; ``Model.fit`` takes :meth:`callback`.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self.epochs: dict[int, dict[str, float]] = {}
        if self.path.exists():
            saved = read_json(self.path)
            self.epochs = {int(k): v for k, v in saved.get("epochs", {}).items()}
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the clock of epoch ``epoch`` (0-based)."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Record epoch ``epoch``'s ``logs``, its seconds and its end time, and write the file."""
        record = {k: float(v) for k, v in (logs or {}).items()}
        assert self._start is not None, "on_epoch_end before on_epoch_begin"
        record["seconds"] = time.perf_counter() - self._start
        record["finished_at"] = time.time()
        self.epochs[epoch] = record
        write_json(self.path, {"epochs": self.epochs})

    def callback(self) -> Any:
        """A ``keras.callbacks.Callback`` that records into this history."""
        import keras

        return keras.callbacks.LambdaCallback(on_epoch_begin=self.on_epoch_begin, on_epoch_end=self.on_epoch_end)

    def as_series(self) -> dict[str, list[float | None]]:
        """``{metric: [value per epoch]}`` in epoch order (None where an epoch lacks the metric)."""
        keys = sorted({k for rec in self.epochs.values() for k in rec} - {"finished_at"})
        ordered = [self.epochs[e] for e in sorted(self.epochs)]
        return {k: [rec.get(k) for rec in ordered] for k in keys}
