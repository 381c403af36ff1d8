"""``keras-attention train``: one model of :data:`keras_attention.models.BUILDERS` on one image data set.

Before TensorFlow is imported the arguments have been parsed (the data set, the model and ``--data-dir``
among their choices) and the run directory checked (``--resume`` of a finished run says so and stops); a dry
build then checks the builder's arguments and the data is found before the directory is claimed.
"""

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from keras_attention.cli.common import (
    RUNS_DIR,
    check_image_data,
    command_line,
    import_tensorflow_quietly,
    percent,
    run_config,
    verbosity,
)
from keras_attention.cli.parser import JIT_COMPILE
from keras_attention.data.images import DEFAULT_BATCH_SIZE
from keras_attention.experiments import distributed
from keras_attention.experiments.run_directory import RunDirectory

BUILDER_OPTIONS = ("conv", "stage", "k", "depth")  # passed only when given, to the builders that take them


def train_split_sizes(args: argparse.Namespace) -> dict[str, int]:
    """``{"train", "validation", "test"}`` example counts of a ``train`` run (ValueError, before any work,
    when ``--validation-split`` leaves either part of the training images empty)."""
    from keras_attention.data.images import example_count, validation_split_sizes

    total = example_count(args.dataset, "train", data_dir=args.data_dir, limit=args.limit)
    try:
        n_train, n_val = validation_split_sizes(total, args.validation_split)
    except ValueError as error:
        raise ValueError(f"--validation-split {args.validation_split:g}: {error}") from None
    return {"train": n_train, "validation": n_val,
            "test": example_count(args.dataset, "test", data_dir=args.data_dir, limit=args.limit)}


def finished_train_run(out: Path) -> dict[str, Any] | None:
    """The ``result.json`` of a ``train`` run in ``out`` that finished (its ``model.keras`` written too), else None."""
    from keras_attention.experiments.runner import finished_result

    return finished_result(out, need_model=True)


def say_finished(out: Path, result: dict[str, Any]) -> None:
    """The line of ``train --resume`` on a finished run."""
    from keras_attention.experiments.artifacts import MODEL

    test = result.get("test") or {}
    scores = (f" (test top-1 {percent(test, 'top1')}, top-5 {percent(test, 'top5')})"
              if {"top1", "top5"} <= set(test) else "")
    print(f"the run in {str(out)!r} is complete{scores}: nothing to resume, nothing was changed. Its model: "
          f"{out / MODEL}; --overwrite trains it again.", flush=True)


def builder_options(args: argparse.Namespace, builder: Callable[..., Any]) -> dict[str, Any]:
    """The keyword arguments of ``--conv``, ``--stage``, ``--k``, ``--depth`` and ``--placement`` (those given)
    for ``builder``. ``--k`` of ``--attention spanet`` reaches a builder without a ``k`` argument (VGG, LeNet-5:
    SPANet in their attention slots) as ``attention_options={"k": k}``. ValueError for an option the builder
    does not take."""
    accepted = inspect.signature(builder).parameters
    options = {name: getattr(args, name) for name in BUILDER_OPTIONS if getattr(args, name) is not None}
    if "k" in options and args.attention != "spanet":
        raise ValueError(f"--k {args.k} (salient positions) applies only to --attention spanet; got --attention "
                         f"{args.attention}.")
    if "k" in options and "k" not in accepted and "attention_options" in accepted:
        options["attention_options"] = {"k": options.pop("k")}
    for name in options:
        if name not in accepted:
            raise ValueError(f"--{name} does not apply to --model {args.model}.")
    if args.placement is not None:
        options["placement"] = args.placement
    return options


def build_error(error: ValueError, args: argparse.Namespace) -> str:
    """The message of a dry build's ValueError, with the ``--k`` to pass when SPANet's ``k`` exceeds the
    positions of a feature map."""
    import re

    found = re.search(r"exceeds the number of positions \S+?=(\d+)", str(error))
    if found and args.attention == "spanet":
        return (f"{error} Pass --k {found.group(1)} or less: the salient positions SPANet keeps must fit the "
                "smallest feature map it weights.")
    return str(error)


def _run_directory(args: argparse.Namespace, out: Path) -> RunDirectory:
    args.planned_out = out
    return RunDirectory(out, run_config(args), overwrite=args.overwrite, resume=args.resume,
                        command=command_line(args)).check()


def cmd_train(args: argparse.Namespace) -> int:
    """``keras-attention train`` (module docstring); 0 when the run finished (or had finished)."""
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE
    placement = args.placement or "default"
    out = args.out or RUNS_DIR / f"train-{args.model}-{args.attention}-{placement}-{args.dataset}-s{args.seed}"
    run_dir = _run_directory(args, out)
    finished = finished_train_run(out) if args.resume else None
    if finished is not None:
        say_finished(out, finished)
        return 0
    if args.backup_every and args.strategy == "multiworker":
        raise SystemExit(f"--backup-every {args.backup_every}: --strategy multiworker backs up after every epoch "
                         "only (its custom training loop); leave --backup-every out.")
    import_tensorflow_quietly()
    strategy = distributed.make_strategy(args.strategy, args.distribution)  # before any op: collectives start now
    worker_out = distributed.worker_out_dir(out, strategy, args.distribution)
    if worker_out != out:  # a worker that is not the chief: its own directory
        out = worker_out
        run_dir = _run_directory(args, out)

    import keras

    from keras_attention.data import dataset_info, image_dataset
    from keras_attention.experiments.artifacts import MODEL, RESULT
    from keras_attention.experiments.images import image_size_for, split_note
    from keras_attention.experiments.training import train_run
    from keras_attention.models import BUILDERS

    attention = None if args.attention == "none" else args.attention
    builder = cast(Callable[..., Any], BUILDERS[args.model])  # (mypy reads BUILDERS' values as "function")
    options = builder_options(args, builder)
    info = dataset_info(args.dataset, data_dir=args.data_dir)
    size = image_size_for(args.model, info["input_shape"])
    input_shape = tuple(size or info["input_shape"][:2]) + (info["input_shape"][2],)

    def build() -> Any:
        return builder(input_shape=input_shape, num_classes=info["num_classes"], attention=attention,
                       width=args.width, **options)

    try:
        build()  # a dry build: an invalid combination of arguments fails here, before any directory or data
    except ValueError as error:
        raise ValueError(build_error(error, args)) from None
    keras.backend.clear_session()
    check_image_data(args.dataset, args.data_dir)
    sizes = train_split_sizes(args)  # a split too small for the data fails here, before the directory is claimed
    out = run_dir.claim()  # only now, with everything validated, is an old run replaced
    args.claimed_out, args.run_directory = out, run_dir
    keras.utils.set_random_seed(args.seed)
    common = dict(batch_size=args.batch_size, data_dir=args.data_dir, image_size=size, limit=args.limit)
    split = dict(validation_split=args.validation_split)
    train_ds = image_dataset(args.dataset, "train", shuffle=True, seed=args.seed, augment=args.augment,
                             subset="training", **split, **common)
    val_ds = (image_dataset(args.dataset, "train", shuffle=False, subset="validation", **split, **common)
              if sizes["validation"] else None)
    test_ds = image_dataset(args.dataset, "test", shuffle=False, **common)
    print(f"training {args.model} (attention={args.attention}, placement={placement}, options={options}) on "
          f"{args.dataset} for {args.epochs} epochs: {split_note(sizes, args.validation_split)} -> {out}", flush=True)
    extra = {"examples": sizes, "validation_split": args.validation_split,
             "validation_rule": "the last round(validation_split x N) of the N training images, in order"}
    if args.strategy == "multiworker":
        result = distributed.train_multiworker(build, train_ds, epochs=args.epochs, out_dir=out, test_ds=test_ds,
                                               strategy=strategy, learning_rate=args.learning_rate, verbose=True,
                                               extra=extra)
    else:
        result = train_run(
            build,
            train_ds,
            epochs=args.epochs,
            out_dir=out,
            val_ds=val_ds,
            test_ds=test_ds,
            strategy=strategy,
            jit_compile=JIT_COMPILE[args.jit],
            learning_rate=args.learning_rate,
            backup_freq=args.backup_every or "epoch",
            verbose=verbosity(),
            extra=extra,
        )
    validation = result.validation_metrics
    if validation:
        print(f"validation (last epoch) top-1 {percent(validation, 'top1')}  top-5 {percent(validation, 'top5')}",
              flush=True)
    print(f"test (final model, {sizes['test']} images) top-1 {percent(result.test_metrics, 'top1')}  top-5 "
          f"{percent(result.test_metrics, 'top5')}  ({result.train_seconds:.0f} s training); model: "
          f"{out / MODEL}; results: {out / RESULT}", flush=True)
    return 0
