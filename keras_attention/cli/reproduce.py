"""``keras-attention reproduce EXPERIMENT``: a paper experiment of the registry, all its seeds, in one directory.

Before TensorFlow: the experiment's name (an argparse choice), the data set's name for an image experiment
(time-series experiments take UEA/UCR names), the seed range and the output folder. Then the experiment's
``--preset`` is resolved (:func:`keras_attention.experiments.runner.preset_options`: options given explicitly
win), the options it does not take are refused, and the run directory is claimed.
"""

import argparse
import dataclasses
from typing import cast

from keras_attention.cli.common import (
    RUNS_DIR,
    check_image_data,
    command_line,
    import_tensorflow_quietly,
    run_config,
    verbosity,
)
from keras_attention.cli.parser import JIT_COMPILE
from keras_attention.data.images import DATASETS
from keras_attention.experiments import distributed
from keras_attention.experiments.arguments import MAX_SEED
from keras_attention.experiments.artifacts import RESULTS_MD
from keras_attention.experiments.registry import (
    EXPERIMENT_MODULES,
    SERIES_MODULES,
    SPECIFIC_OPTIONS,
    Experiment,
    RunOptions,
)
from keras_attention.experiments.run_directory import RunDirectory

RUN_OPTIONS = tuple(field.name for field in dataclasses.fields(RunOptions))


def check_dataset_name(dataset: str) -> None:
    """ValueError unless ``dataset`` is an image data set of :data:`DATASETS` (the ``--dataset`` of an image
    experiment; a time-series experiment's names are checked when its data loads)."""
    if dataset not in DATASETS:
        raise ValueError(f"--dataset {dataset!r} is not known; choose one of: {', '.join(sorted(DATASETS))}.")


def check_seed_range(first_seed: int, seeds: int | None) -> None:
    """ValueError when the seeds ``first_seed .. first_seed + seeds - 1`` go past 2**32 - 1."""
    if seeds and first_seed + seeds - 1 > MAX_SEED:
        raise ValueError(f"--first-seed {first_seed} with --seeds {seeds} goes past the largest seed, 2**32 - 1 "
                         f"({MAX_SEED}); start lower or run fewer seeds.")


def check_reproduce_options(experiment: Experiment, args: argparse.Namespace) -> None:
    """ValueError, before any work, for an option the experiment does not take (``Experiment.options``) or
    for --epochs with --steps."""
    if getattr(args, "epochs", None) is not None and getattr(args, "steps", None) is not None:
        raise ValueError(f"--epochs {args.epochs} and --steps {args.steps} exclude each other: --steps is an "
                         "optimizer-step budget from which the epochs are derived; give one.")
    for dest in SPECIFIC_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None and dest not in experiment.options:
            takes = ", ".join("--" + d.replace("_", "-") for d in experiment.options) or "none of them"
            shown = ",".join(value) if isinstance(value, (tuple, list)) else value
            raise ValueError(f"--{dest.replace('_', '-')} {shown} does not apply to experiment {experiment.name} "
                             f"(its own options: {takes}).")
    if getattr(args, "rows", None) is not None:
        from keras_attention.experiments.series import select_rows

        select_rows(experiment, args)  # unknown rows fail here


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``keras-attention reproduce`` (module docstring); 0 when the experiment's results are written."""
    from keras_attention.experiments.registry import get_experiment
    from keras_attention.experiments.runner import experiment_dataset, preset_options

    if args.dataset is not None and EXPERIMENT_MODULES[args.experiment] not in SERIES_MODULES:
        check_dataset_name(args.dataset)
    check_seed_range(args.first_seed, args.seeds)
    out = args.out or RUNS_DIR / (args.experiment + ("-quick" if args.quick else ""))
    args.planned_out = out
    RunDirectory(out, {}, overwrite=args.overwrite, resume=args.resume).check(config=False)  # the rest: below
    import_tensorflow_quietly()
    strategy = distributed.make_strategy(args.strategy, args.distribution)  # before any op (collectives, JAX)
    out = distributed.worker_out_dir(out, strategy, args.distribution)  # a worker but the chief: its own directory
    experiment = get_experiment(args.experiment)
    explicit = {name: getattr(args, name) for name in RUN_OPTIONS if hasattr(args, name)}
    vars(args).update(preset_options(experiment, args.preset, explicit))  # the options given win over the preset's
    check_reproduce_options(experiment, args)
    if args.batch_size is None:
        args.batch_size = experiment.settings.batch_size
    dataset = experiment_dataset(experiment, args.dataset, args.data_dir)  # a list: the default_datasets
    if isinstance(dataset, str) and dataset in DATASETS:
        check_image_data(dataset, args.data_dir)
    config = run_config(args, dataset=dataset)
    args.planned_out = out
    args.run_directory = RunDirectory(out, config, overwrite=args.overwrite, resume=args.resume,
                                      command=command_line(args))
    out = args.claimed_out = args.run_directory.claim()
    options = RunOptions(
        out_dir=out,
        # (without a default the data set is the offline image default, a name)
        dataset=args.dataset or (None if experiment.default_dataset or experiment.default_datasets
                                 else cast(str, dataset)),
        seeds=args.seeds,
        first_seed=args.first_seed,
        epochs=args.epochs,
        quick=args.quick,
        resume=args.resume,
        jit_compile=JIT_COMPILE[args.jit],
        strategy=strategy,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        verbose=verbosity(),
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        width=args.width,
        **{dest: getattr(args, dest) for dest in ("steps", "optimizer", "learning_rate", "positional", "depth",
                                                   "heads", "key_dim", "sigma0", "rows")},
    )
    experiment.run(experiment, options)
    print(f"results: {out / RESULTS_MD}", flush=True)
    return 0
