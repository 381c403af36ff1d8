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

from pathlib import Path

from keras_attention.data.images import default_image_dataset
from keras_attention.experiments.artifacts import MODEL, RESULT
from keras_attention.utils.files import read_json


# ----------------------------------------------------------------------------------------- options
def seed_list(experiment, options):
    """The seeds of a run: ``options.seeds`` seeds (default: the experiment's, or its quick count) from
    ``options.first_seed`` on."""
    count = options.seeds or (experiment.quick_seeds if options.quick else experiment.default_seeds)
    return list(range(options.first_seed, options.first_seed + count))


def epoch_count(experiment, options):
    """Epochs per run: ``options.epochs``, else 1 in quick mode, else the experiment's default."""
    return options.epochs or (1 if options.quick else experiment.default_epochs)


def preset_options(experiment, preset, explicit):
    """The run options of ``experiment``'s ``preset`` (None: none) with ``explicit`` (``{RunOptions field:
    value}``, None values left out) put over them; ``epochs`` and ``steps`` exclude each other, so an
    explicit one drops the preset's other. ValueError naming the known presets for an unknown one."""
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


def run_limits(options, quick_train, quick_test):
    """(train, test) image limits of a run: the explicit ``train_limit`` / ``test_limit``, else the quick
    subset sizes in quick mode, else ``None`` (everything)."""
    train = options.train_limit or (quick_train if options.quick else None)
    test = options.test_limit or (quick_test if options.quick else None)
    return train, test


def default_dataset(data_dir=None):
    """The image experiments' default data set, printed with where it comes from and why.

    Local Fashion-MNIST IDX files, else tensorflow-datasets' ``fashion_mnist`` (already prepared, or
    downloaded where a network exists), else ``fashion_mnist_slice``, the 2,000 + 1,000-image slice of
    Fashion-MNIST shipped with the package (:func:`keras_attention.data.images.default_image_dataset`).
    """
    name, reason = default_image_dataset(data_dir)
    print(f"data: {name} ({reason})", flush=True)
    return name


def experiment_dataset(experiment, dataset=None, data_dir=None):
    """What ``reproduce`` records as the data of a run: ``dataset`` (``--dataset``), else the experiment's
    default (its data set, or its list of series data sets), else the offline image default."""
    if dataset:
        return dataset
    if experiment.default_dataset:
        return experiment.default_dataset
    if experiment.default_datasets:
        return list(experiment.default_datasets)
    return default_dataset(data_dir)


def image_dataset_name(experiment, options):
    """The data set of an image experiment (:func:`experiment_dataset` of ``options``)."""
    return experiment_dataset(experiment, options.dataset, options.data_dir)


def series_dataset_names(experiment, options, quick_datasets):
    """The data sets of a time-series experiment: ``options.dataset`` (comma-separated), else
    ``quick_datasets`` in quick mode, else the experiment's."""
    if options.dataset:
        return [name.strip() for name in str(options.dataset).split(",") if name.strip()]
    return list(quick_datasets if options.quick else experiment.default_datasets)


# ------------------------------------------------------------------------------------------ the loop
class Progress:
    """``[k/total]`` counter of the runs of one experiment."""

    def __init__(self, total):
        self.total, self.done = total, 0

    def next(self, title):
        self.done += 1
        return f"[{self.done}/{self.total}] {title}"


def finished_result(run_dir, need_model=False):
    """The saved ``result.json`` of the run in ``run_dir`` (None when it has not finished; with
    ``need_model``, also when its ``model.keras`` is missing)."""
    result_file = Path(run_dir) / RESULT
    if not result_file.exists() or (need_model and not (Path(run_dir) / MODEL).exists()):
        return None
    return read_json(result_file)


def run_seeds(seeds, run_dir, train, *, options, progress, title, kept=None, report=None, detail=None):
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
    """
    import keras

    kept = kept or (lambda seed, directory: finished_result(directory))
    runs = []
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
def run_training_choices(experiment, options):
    """``(optimizer, learning_rate)`` of a run: the options' (``--optimizer``, ``--learning-rate``), else the
    experiment's settings."""
    settings = experiment.settings
    optimizer = getattr(options, "optimizer", None) or settings.optimizer
    learning_rate = getattr(options, "learning_rate", None) or settings.learning_rate
    return optimizer, learning_rate


def train_experiment_run(experiment, options, build_model, train_ds, *, epochs, out_dir, val_ds=None, test_ds=None,
                         extra=None, select_best=None, evaluate_train=False, backup_interval=0.0):
    """:func:`~keras_attention.experiments.training.train_run` with the settings a registered experiment and its
    run options fix: the strategy, XLA
    and verbosity of ``options`` (a ``RunOptions``), learning rate and optimizer from the options, else
    ``experiment.settings`` (:func:`run_training_choices`); ``backup_interval`` as in ``train_run``. Under
    ``MultiWorkerMirroredStrategy`` it is
    :func:`keras_attention.experiments.distributed.train_multiworker` (Keras' ``fit`` cannot train across
    workers, keras-team/keras#20585), which has no validation curve and so no checkpoint selection."""
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
