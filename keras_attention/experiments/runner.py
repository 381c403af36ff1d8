"""How an experiment runs: its options resolved, its output directory claimed, one run per seed.

- :func:`seed_list`, :func:`epoch_count`, :func:`run_limits`, :func:`image_dataset_name`,
  :func:`series_dataset_names`: a :class:`~keras_attention.experiments.registry.RunOptions` value, else the
  experiment's default, else the ``--quick`` one;
- :func:`preset_options`: a ``--preset``'s options with the explicit ones put over them;
- :func:`run_seeds`: THE per-seed loop: with ``--resume`` a seed whose run finished is kept (its
  ``result.json`` read back), every other seed sets Keras' global seed and trains;
- :func:`run_training_choices` and :func:`train_experiment_run`: one seed's training with the settings the
  experiment and its run options fix (``train_run``, or the multi-worker loop under
  ``MultiWorkerMirroredStrategy``).
"""

from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, cast

from keras_attention.data.images import default_image_dataset
from keras_attention.experiments.artifacts import MODEL, RESULT, RunResult
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.utils.files import read_json


# ----------------------------------------------------------------------------------------- options
def seed_list(experiment: Experiment, options: RunOptions) -> list[int]:
    """The seeds of a run: ``options.seeds`` seeds (default: the experiment's, or its quick count) from
    ``options.first_seed`` on.

    Args:
        experiment: the experiment (``default_seeds``, ``quick_seeds``).
        options: the run options (``seeds``, ``first_seed``, ``quick``).

    Returns:
        The seeds, in order.

    Example:
        >>> from keras_attention.experiments.registry import Experiment, RunOptions
        >>> from keras_attention.experiments.runner import seed_list
        >>> experiment = Experiment("demo", "a demo", "Table 0", run=lambda e, o: {})
        >>> seed_list(experiment, RunOptions(out_dir="runs/demo", first_seed=4))
        [4, 5, 6]
    """
    count = options.seeds or (experiment.quick_seeds if options.quick else experiment.default_seeds)
    return list(range(options.first_seed, options.first_seed + count))


def epoch_count(experiment: Experiment, options: RunOptions) -> int:
    """Epochs per run: ``options.epochs``, else 1 in quick mode, else the experiment's default.

    Args:
        experiment: the experiment (``default_epochs``).
        options: the run options (``epochs``, ``quick``).

    Returns:
        The number of epochs.
    """
    return options.epochs or (1 if options.quick else experiment.default_epochs)


def preset_options(experiment: Experiment, preset: str | None, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The run options of ``experiment``'s ``preset`` with the ``explicit`` ones put over them.

    ``epochs`` and ``steps`` exclude each other, so an explicit one drops the preset's other.

    Args:
        experiment: the experiment (its ``presets``).
        preset: the preset's name, or None for none.
        explicit: ``{RunOptions field: value}``, the options given; None values are left out.

    Returns:
        ``{RunOptions field: value}``.

    Raises:
        ValueError: ``preset`` is not a preset of ``experiment`` (the message names the known ones).

    Example:
        >>> from keras_attention.experiments.registry import get_experiment
        >>> from keras_attention.experiments.runner import preset_options
        >>> preset_options(get_experiment("san-lenet"), "published", {"epochs": 2, "seeds": None})
        {'dataset': 'fashion_mnist', 'seeds': 5, 'epochs': 2}
    """
    explicit = {key: value for key, value in explicit.items() if value is not None}
    if preset is None:
        return explicit
    if preset not in experiment.presets:
        known = ", ".join(sorted(experiment.presets)) or "none"
        raise ValueError(f"--preset {preset!r} is not a preset of {experiment.name}; its presets: {known}.")
    chosen = dict(experiment.presets[preset])
    for key, other in (("epochs", "steps"), ("steps", "epochs")):
        if key in explicit:
            chosen.pop(other, None)
    return {**chosen, **explicit}


def run_limits(options: RunOptions, quick_train: int, quick_test: int) -> tuple[int | None, int | None]:
    """(train, test) image limits of a run: the explicit ``train_limit`` / ``test_limit``, else the quick
    subset sizes in quick mode, else ``None`` (everything).

    Args:
        options: the run options.
        quick_train: the training images of a ``--quick`` run.
        quick_test: the test images of a ``--quick`` run.

    Returns:
        ``(train limit, test limit)``, each None for every image.
    """
    train = options.train_limit or (quick_train if options.quick else None)
    test = options.test_limit or (quick_test if options.quick else None)
    return train, test


def default_dataset(data_dir: str | PathLike[str] | None = None) -> str:
    """The image experiments' default data set, printed with where it comes from and why.

    Local Fashion-MNIST IDX files, else tensorflow-datasets' ``fashion_mnist`` (already prepared, or
    downloaded where a network exists), else ``fashion_mnist_slice``, the 2,000 + 1,000-image slice of
    Fashion-MNIST shipped with the package (:func:`keras_attention.data.images.default_image_dataset`).

    Args:
        data_dir: the directory of local data (``--data-dir``), None for the default places.

    Returns:
        The data set's name.
    """
    name, reason = default_image_dataset(data_dir)
    print(f"data: {name} ({reason})", flush=True)
    return name


def experiment_dataset(experiment: Experiment, dataset: str | None = None,
                       data_dir: str | PathLike[str] | None = None) -> str | list[str]:
    """What ``reproduce`` records as the data of a run: ``dataset`` (``--dataset``), else the experiment's
    default (its data set, or its list of series data sets), else the offline image default.

    Args:
        experiment: the experiment.
        dataset: the data set given (``--dataset``), or None.
        data_dir: the directory of local data (:func:`default_dataset`).

    Returns:
        A data set's name, or the list of a time-series experiment's data sets.
    """
    if dataset:
        return dataset
    if experiment.default_dataset:
        return experiment.default_dataset
    if experiment.default_datasets:
        return list(experiment.default_datasets)
    return default_dataset(data_dir)


def image_dataset_name(experiment: Experiment, options: RunOptions) -> str:
    """The data set of an image experiment (:func:`experiment_dataset` of ``options``).

    Args:
        experiment: an image experiment (one data set).
        options: the run options (``dataset``, ``data_dir``).

    Returns:
        The data set's name.
    """
    # one name: an image experiment has a default_dataset (or none), never a list of default_datasets
    return cast(str, experiment_dataset(experiment, options.dataset, options.data_dir))


def series_dataset_names(experiment: Experiment, options: RunOptions, quick_datasets: Iterable[str]) -> list[str]:
    """The data sets of a time-series experiment: ``options.dataset`` (comma-separated), else
    ``quick_datasets`` in quick mode, else the experiment's.

    Args:
        experiment: a time-series experiment (``default_datasets``).
        options: the run options (``dataset``, ``quick``).
        quick_datasets: the data sets of a ``--quick`` run.

    Returns:
        The data sets' names, in order.
    """
    if options.dataset:
        return [name.strip() for name in str(options.dataset).split(",") if name.strip()]
    return list(quick_datasets if options.quick else experiment.default_datasets)


# ------------------------------------------------------------------------------------------ the loop
class Progress:
    """``[k/total]`` counter of the runs of one experiment."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def next(self, title: str) -> str:
        """Count one more run; the line that announces it, ``[done/total] title``."""
        self.done += 1
        return f"[{self.done}/{self.total}] {title}"


def finished_result(run_dir: str | PathLike[str], need_model: bool = False) -> dict[str, Any] | None:
    """The saved ``result.json`` of the run in ``run_dir``.

    Args:
        run_dir: the run's directory.
        need_model: also require its ``model.keras``.

    Returns:
        The ``result.json`` dict, or None when the run has not finished (with ``need_model``, also when its
        ``model.keras`` is missing).
    """
    result_file = Path(run_dir) / RESULT
    if not result_file.exists() or (need_model and not (Path(run_dir) / MODEL).exists()):
        return None
    return read_json(result_file)


def run_seeds(
    seeds: Iterable[int],
    run_dir: Callable[..., str | PathLike[str]],  # (callers bind loop values as default arguments: "...")
    train: Callable[..., dict[str, Any]],
    *,
    options: RunOptions,
    progress: Progress,
    title: str,
    kept: Callable[..., dict[str, Any] | None] | None = None,
    report: Callable[[dict[str, Any]], str] | None = None,
    detail: Callable[..., str] | None = None,
) -> list[dict[str, Any]]:
    """Run one configuration for every seed; returns the ``result.json`` dicts, in seed order.

    Args:
        seeds: the seeds.
        run_dir: ``run_dir(seed)`` -> the run's directory.
        train: ``train(seed, directory)`` -> the run's result dict; Keras' global seed is set first.
        options: the run options (``resume``).
        progress: the experiment's :class:`Progress`.
        title: the configuration, in the progress lines.
        kept: ``kept(seed, directory)`` -> the result of a finished run, or None to train it (default:
            :func:`finished_result`); asked only with ``options.resume``.
        report: ``report(result)`` -> the line printed after a run.
        detail: ``detail(seed)`` -> text added to the progress line of a run that trains.

    Returns:
        The runs' ``result.json`` dicts (those of kept runs read back), in seed order.
    """
    import keras

    kept = kept or (lambda seed, directory: finished_result(directory))
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        directory = Path(run_dir(seed))
        line = progress.next(f"{title} seed {seed}")
        saved = kept(seed, directory) if options.resume else None
        if saved is not None:
            runs.append(saved)
            print(f"{line}: done earlier, kept", flush=True)
            continue
        print(line + (detail(seed) if detail else ""), flush=True)
        keras.utils.set_random_seed(seed)
        result = train(seed, directory)
        runs.append(result)
        if report:
            print(f"    {report(result)}", flush=True)
    return runs


# ------------------------------------------------------------------------------------ a work directory
# ----------------------------------------------------------------------------------------- one run
def run_training_choices(experiment: Experiment, options: RunOptions) -> tuple[str, float]:
    """``(optimizer, learning_rate)`` of a run: the options' (``--optimizer``, ``--learning-rate``), else the
    experiment's settings.

    Args:
        experiment: the experiment (``settings.optimizer``, ``settings.learning_rate``).
        options: the run options.

    Returns:
        ``(optimizer name, learning rate)``.
    """
    settings = experiment.settings
    optimizer = getattr(options, "optimizer", None) or settings.optimizer
    learning_rate = getattr(options, "learning_rate", None) or settings.learning_rate
    return optimizer, learning_rate


def train_experiment_run(
    experiment: Experiment,
    options: RunOptions,
    build_model: Callable[[], Any],
    train_ds: Any,
    *,
    epochs: int,
    out_dir: str | PathLike[str],
    val_ds: Any = None,
    test_ds: Any = None,
    extra: dict[str, Any] | None = None,
    select_best: str | None = None,
    evaluate_train: bool = False,
    backup_interval: float = 0.0,
) -> RunResult:
    """:func:`~keras_attention.experiments.training.train_run` with the settings a registered experiment and its
    run options fix.

    The strategy, XLA and verbosity come from ``options``, the learning rate and optimizer from the options,
    else ``experiment.settings`` (:func:`run_training_choices`). Under ``MultiWorkerMirroredStrategy`` it is
    :func:`keras_attention.experiments.distributed.train_multiworker` (Keras' ``fit`` cannot train across
    workers, keras-team/keras#20585), which has no validation curve and so no checkpoint selection.

    Args:
        experiment: the experiment (its settings).
        options: the run options (``strategy``, ``jit_compile``, ``verbose``, ``optimizer``, ``learning_rate``).
        build_model: ``build_model()`` -> a new ``keras.Model``.
        train_ds: the training batches (a ``tf.data.Dataset``).
        epochs: training epochs.
        out_dir: the run's directory.
        val_ds: the validation batches, or None.
        test_ds: the test batches, evaluated once on the final model, or None.
        extra: entries added to ``result.json``.
        select_best: the validation metric of checkpoint selection (e.g. ``"val_top1"``), or None.
        evaluate_train: also evaluate the final model on ``train_ds``.
        backup_interval: seconds between epoch-end backups, as in ``train_run``.

    Returns:
        The run's :class:`~keras_attention.experiments.artifacts.RunResult`.
    """
    optimizer, learning_rate = run_training_choices(experiment, options)
    if type(options.strategy).__name__ == "MultiWorkerMirroredStrategy":
        from keras_attention.experiments.distributed import train_multiworker

        return train_multiworker(build_model, train_ds, epochs=epochs, out_dir=out_dir, test_ds=test_ds,
                                 strategy=options.strategy, learning_rate=learning_rate, optimizer=optimizer,
                                 extra=extra)
    from keras_attention.experiments.training import train_run

    return train_run(
        build_model,
        train_ds,
        epochs=epochs,
        out_dir=out_dir,
        val_ds=val_ds,
        test_ds=test_ds,
        strategy=options.strategy,
        jit_compile=options.jit_compile,
        learning_rate=learning_rate,
        optimizer=optimizer,
        verbose=options.verbose,
        extra=extra,
        select_best=select_best,
        evaluate_train=evaluate_train,
        backup_interval=backup_interval,
    )
