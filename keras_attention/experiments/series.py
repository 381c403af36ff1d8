"""What the time-series experiments (SDMA, XM2A) share: the splits of a UEA/UCR set, the ``tf.data``
pipelines, the training protocol (a step budget, checkpoint selection on validation), the MiniRocket
reference row, the data set x configuration x seed grid and its tables.

Data: aeon's train split minus a stratified 20 % validation part (split seed 0 for every seed), aeon's test
split as the test set, z-normalised per variate with the training part's statistics
(:func:`keras_attention.data.load_timeseries`); ``--quick`` keeps a small slice of each split.

Protocol (:func:`training_plan`, :func:`run_protocol`):

- batch: ``--batch-size`` as given (default ``SeriesSettings.batch_size``, 16); only on a set with fewer
  training series than that is it reduced, to the number of series (one full batch per epoch), which is
  printed and recorded per data set;
- length: ``--steps N`` (default ``SeriesSettings.steps``, 500) is an optimizer-step budget: every run of a
  data set trains ``epochs = ceil(N / batches per epoch)`` epochs, so ``epochs x batches per epoch >= N``
  steps (the optimizer's own count is recorded per run); ``--epochs`` fixes the epochs instead, and a
  ``--quick`` run without ``--steps`` trains 1 epoch;
- optimizer: ``--optimizer`` / ``--learning-rate`` (default: the dissertation's RMSProp, 1e-3);
- selection: the weights of the epoch with the best validation accuracy (the first on ties) are kept and
  the test set is evaluated on them and on the final model (:func:`~keras_attention.experiments.training.train_run`,
  ``select_best``); the test set plays no part in the choice. The final model's accuracy on the training
  split is recorded too (underfitting shows there);
- tables (:func:`series_report`): per data set, mean ± std over seeds of the final-model and the
  best-validation test accuracy, the final training accuracy, the selected epoch and the optimizer steps,
  then Welch's t-test of every row against the experiment's reference row and the paper's claims
  (:func:`keras_attention.experiments.results.numbers_say`).

MiniRocket: aeon's ``MiniRocketClassifier`` (10,000 kernels, ``random_state`` = seed) on the series alone,
fitted on the training part (no epochs, no selection).
"""

import argparse
import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, cast

import numpy as np

from keras_attention.data import load_timeseries
from keras_attention.experiments.artifacts import RESULT, RunResult, seed_dir
from keras_attention.experiments.configs import SeriesSettings
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import (
    QUICK_NOTE,
    Claim,
    format_mean_std,
    markdown_table,
    mean_std,
    numbers_say,
    paper_value,
    seed_statistics,
    summary_head,
)
from keras_attention.experiments.runner import (
    Progress,
    run_seeds,
    run_training_choices,
    seed_list,
    series_dataset_names,
    train_experiment_run,
)
from keras_attention.utils.files import write_json

SPLITS = ("train", "val", "test")
QUICK_LIMITS = {"train": 32, "val": 8, "test": 32}
OPTIMIZERS = ("adam", "rmsprop")
SELECTION = "val_top1"
# seconds between epoch-end backups of a run: the small sets train 2-3 batches an epoch, and an every-epoch
# backup (two weight files) about doubled such an epoch (measured on one core: 48 ms with validation, 94 ms
# with the backup); a kill loses at most this much training
BACKUP_INTERVAL = 30.0
SELECTION_TEXT = ("the best-validation checkpoint: the weights of the epoch with the highest validation accuracy, "
                  "the first on ties; the test set plays no part in the choice")


# ----------------------------------------------------------------------------------------- data
def spread_slice(n: int, limit: int) -> np.ndarray:
    """``limit`` indices spread evenly over ``range(n)`` (all of them when ``n <= limit``).

    aeon's files are often sorted by class, so the first ``limit`` series could miss classes."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def load_splits(name: str, quick: bool = False, limits: Mapping[str, int] | None = None,
                spread: bool = True) -> tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(data, x, y)``: the :class:`TimeSeriesData` and ``{split: array}``; in quick mode ``limits``
    (default :data:`QUICK_LIMITS`) series of each split, spread over it (``spread``) or the first ones."""
    data = load_timeseries(name, validation_fraction=0.2, seed=0)
    x = {"train": data.x_train, "val": data.x_val, "test": data.x_test}
    y = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
    if quick:
        limits = limits or QUICK_LIMITS
        keep = {split: spread_slice(len(y[split]), limits[split]) if spread else slice(limits[split])
                for split in SPLITS}
        x = {split: v[keep[split]] for split, v in x.items()}
        y = {split: v[keep[split]] for split, v in y.items()}
    return data, x, y


def split_info(data: Any, y: Mapping[str, np.ndarray]) -> dict[str, int]:
    """What the summary records of a set: length, variates, classes and the series per split."""
    return {"length": data.length, "variates": data.n_variates, "classes": data.n_classes,
            **{split: len(y[split]) for split in SPLITS}}


# ------------------------------------------------------------------------------------------ protocol
def check_series_options(experiment: Experiment, options: RunOptions) -> None:
    """ValueError, before any work, for run options a time-series run cannot take."""
    if options.epochs is not None and options.steps is not None:
        raise ValueError(f"{experiment.name}: epochs={options.epochs} and steps={options.steps} exclude each other "
                         "(--steps derives the epochs from an optimizer-step budget); give one.")
    if options.steps is not None and (isinstance(options.steps, bool) or not isinstance(options.steps, int)
                                      or options.steps < 1):
        raise ValueError(f"{experiment.name}: steps={options.steps!r}; expected an integer >= 1.")
    optimizer, learning_rate = run_training_choices(experiment, options)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"{experiment.name}: optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"{experiment.name}: learning_rate={learning_rate!r}; expected a finite number > 0.")
    if not isinstance(options.batch_size, int) or options.batch_size < 1:
        raise ValueError(f"{experiment.name}: batch_size={options.batch_size!r}; expected an integer >= 1.")


def select_rows(experiment: Experiment, options: RunOptions | argparse.Namespace) -> Experiment:
    """``experiment`` with only the rows of ``options.rows`` (labels or slugs, kept in the experiment's order);
    all of them when ``rows`` is None. ValueError naming the unknown ones and the known slugs. ``options``: the
    run options, or the command line's arguments (``reproduce`` checks ``--rows`` before any work)."""
    rows = options.rows
    if rows is None:
        return experiment
    rows = [rows] if isinstance(rows, str) else list(rows)
    known = {name for config in experiment.configs for name in (config.label, config.slug)}
    unknown = [row for row in rows if row not in known]
    if unknown or not rows:
        raise ValueError(f"{experiment.name}: rows {unknown or rows!r} are not rows of the experiment; its rows "
                         f"(slugs): {', '.join(config.slug for config in experiment.configs)}.")
    chosen = [config for config in experiment.configs if config.label in rows or config.slug in rows]
    return dataclasses.replace(experiment, configs=chosen)


def step_budget(experiment: Experiment, options: RunOptions) -> int | None:
    """The optimizer-step budget of every run (``--steps``, else the experiment's), or None when the epochs
    are fixed: by ``--epochs``, or to 1 by ``--quick`` without ``--steps``."""
    if options.epochs is not None or (options.quick and options.steps is None):
        return None
    return options.steps or cast(SeriesSettings, experiment.settings).steps  # (a time-series experiment's)


def training_plan(experiment: Experiment, options: RunOptions, dataset: str, n_train: int) -> dict[str, Any]:
    """How the runs on ``dataset`` (``n_train`` training series) train: ``{"batch_size"`` (the effective
    batch), ``"batch_requested"``, ``"batches_per_epoch"``, ``"epochs"``, ``"step_budget"`` (None when the
    epochs are fixed) and ``"steps"`` (epochs x batches per epoch)``}`` (module docstring). A batch larger
    than the training set is reduced to it, with a printed line."""
    requested = options.batch_size
    batch = min(requested, n_train)
    if batch < requested:
        print(f"{dataset}: batch size {requested} > {n_train} training series; batch {batch} (one full batch per "
              "epoch)", flush=True)
    per_epoch = math.ceil(n_train / batch)
    budget = step_budget(experiment, options)
    if budget is None:
        epochs = options.epochs if options.epochs is not None else 1
    else:
        epochs = math.ceil(budget / per_epoch)
    return {"batch_size": batch, "batch_requested": requested, "batches_per_epoch": per_epoch, "epochs": epochs,
            "step_budget": budget, "steps": epochs * per_epoch}


def run_protocol(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """The run-wide training settings recorded in ``results.json`` (``"protocol"``) and the table header."""
    optimizer, learning_rate = run_training_choices(experiment, options)
    budget = step_budget(experiment, options)
    epochs = options.epochs if options.epochs is not None else (1 if budget is None else None)
    return {"step_budget": budget, "epochs": epochs, "batch_size": options.batch_size, "optimizer": optimizer,
            "learning_rate": learning_rate, "selection": SELECTION_TEXT}


def protocol_text(protocol: Mapping[str, Any]) -> str:
    """The protocol as a sentence of the table header."""
    length = (f"{protocol['step_budget']} optimizer steps per run (epochs = ceil(steps / batches per epoch), per "
              "data set below)" if protocol["step_budget"] else f"{protocol['epochs']} epochs per run")
    return (f"{length}, batch {protocol['batch_size']} (reduced only where a set has fewer training series), "
            f"{protocol['optimizer']} with learning rate {protocol['learning_rate']:g}; test accuracy of the final "
            f"model and of {protocol['selection']}; training accuracy of the final model on the training split")


def train_series_run(experiment: Experiment, options: RunOptions, build: Callable[[], Any],
                     datasets: tuple[Any, Any, Any], plan: Mapping[str, Any], run_dir: Path) -> RunResult:
    """Train ``build()`` on ``datasets`` (``(train, val, test)``) with ``plan`` (:func:`training_plan`):
    checkpoint selection on validation, the final training accuracy; the plan is added to ``result.json``.
    Returns the :class:`~keras_attention.experiments.training.RunResult`."""
    train_ds, val_ds, test_ds = datasets
    return train_experiment_run(experiment, options, build, train_ds, epochs=plan["epochs"], out_dir=run_dir,
                                val_ds=val_ds, test_ds=test_ds, select_best=SELECTION, evaluate_train=True,
                                extra={"plan": plan}, backup_interval=BACKUP_INTERVAL)


def tf_dataset(inputs: Any, labels: Any, batch_size: int, shuffle_seed: int | None = None) -> Any:
    """Batches of ``(inputs, labels)``, reshuffled every epoch with ``shuffle_seed`` (None: in order)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def split_datasets(inputs: Mapping[str, Any], y: Mapping[str, Any], batch_size: int,
                   seed: int) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` pipelines of ``{split: inputs}``: training shuffled with ``seed``, validation
    None when the split is empty."""
    train = tf_dataset(inputs["train"], y["train"], batch_size, shuffle_seed=seed)
    val = tf_dataset(inputs["val"], y["val"], batch_size) if len(y["val"]) else None
    return train, val, tf_dataset(inputs["test"], y["test"], batch_size)


# -------------------------------------------------------------------------------------- MiniRocket
def run_minirocket(x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], seed: int, run_dir: str | PathLike[str],
                   **extra: Any) -> dict[str, Any]:
    """Fit MiniRocket on ``x["train"]``, score it on ``x["test"]``; writes and returns the run's
    ``result.json`` (``extra`` keys added)."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    def aeon_layout(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(a, (0, 2, 1)), dtype=np.float64)

    start = time.perf_counter()
    classifier = MiniRocketClassifier(n_kernels=10_000, random_state=seed, n_jobs=1)
    classifier.fit(aeon_layout(x["train"]), y["train"])
    seconds = time.perf_counter() - start
    accuracy = float(classifier.score(aeon_layout(x["test"]), y["test"]))
    train_accuracy = float(classifier.score(aeon_layout(x["train"]), y["train"]))
    result = {"test": {"top1": accuracy}, "train_seconds": seconds, "params": None,
              "train_final": {"top1": train_accuracy}, "test_best_val": None, "best_val_epoch": None,
              "optimizer_steps": None, **extra}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / RESULT, result)
    return result


# ------------------------------------------------------------------------------------------ the grid
def _percent(runs: Sequence[Mapping[str, Any]], key: str) -> list[float] | None:
    """Per-seed ``100 * run[key]["top1"]``, or None when a run has no such number."""
    values: list[Any] = [(run.get(key) or {}).get("top1") for run in runs]
    return None if any(v is None for v in values) else [100 * v for v in values]


def series_cell(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One configuration on one data set, from its seeds' ``result.json``: :func:`seed_statistics` (the
    final-model test top-1, ``top1``) plus the best-validation checkpoint's test top-1 (``top1_best_val``),
    the final training top-1 (``train_top1``), each with ``<key>_mean_std`` (None when the runs lack it:
    MiniRocket has no checkpoint, runs of an older version neither), and per seed the selected epoch
    (``best_val_epoch``) and the optimizer steps (``optimizer_steps``)."""
    cell = seed_statistics(runs)
    for key, source in (("top1_best_val", "test_best_val"), ("train_top1", "train_final")):
        values = _percent(runs, source)
        cell[key], cell[f"{key}_mean_std"] = values, (None if values is None else mean_std(values))
    cell["best_val_epoch"] = [run.get("best_val_epoch") for run in runs]
    cell["optimizer_steps"] = [run.get("optimizer_steps") for run in runs]
    return cell


def run_grid(
    experiment: Experiment,
    options: RunOptions,
    out_dir: Path,
    prepare: Callable[[str], tuple[Any, dict[str, Any]]],
    train: Callable[[Any, Any, dict[str, Any], int, Path], dict[str, Any]],
    *,
    report: Callable[[dict[str, Any]], str],
    kept: Callable[[Any, Any, int, Path], dict[str, Any] | None] | None = None,
    cell_keys: Iterable[str] = (),
    banner: str = "",
) -> tuple[list[str], list[int], dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Every configuration on every data set for every seed (:func:`~keras_attention.experiments.runner.run_seeds`).

    ``prepare(dataset)`` -> ``(context, info)`` (``info`` with the split sizes, :func:`split_info`; the
    :func:`training_plan` of the set is added to it under ``"plan"``); ``train(config, context, plan, seed,
    run_dir)`` -> result dict; ``kept(config, context, seed, run_dir)`` -> the result of a finished run or None
    (with ``--resume``); ``banner``: added to the line that announces the grid.
    Returns ``(datasets, seeds, results, info)``: ``results[label][dataset]`` is :func:`series_cell` plus
    ``cell_keys`` of the first seed.
    """
    check_series_options(experiment, options)
    datasets = series_dataset_names(experiment, options, cast(SeriesSettings, experiment.settings).quick_datasets)
    seeds = seed_list(experiment, options)
    configs = experiment.configs
    progress = Progress(len(configs) * len(seeds) * len(datasets))
    protocol = run_protocol(experiment, options)
    length = f"{protocol['step_budget']} steps" if protocol["step_budget"] else f"{protocol['epochs']} epochs"
    print(f"{experiment.name}: {experiment.paper_table} analog on {', '.join(datasets)} — {len(configs)} "
          f"configurations x {len(seeds)} seeds x {length}, batch {protocol['batch_size']}, {protocol['optimizer']} "
          f"{protocol['learning_rate']:g}{banner} -> {out_dir}", flush=True)
    results: dict[str, dict[str, dict[str, Any]]] = {config.label: {} for config in configs}
    info: dict[str, dict[str, Any]] = {}
    for dataset in datasets:
        context, info[dataset] = prepare(dataset)
        plan = training_plan(experiment, options, dataset, info[dataset]["train"])
        info[dataset]["plan"] = plan
        print(f"{dataset}: batch {plan['batch_size']}, {plan['batches_per_epoch']} batches per epoch, "
              f"{plan['epochs']} epochs = {plan['steps']} optimizer steps per run", flush=True)
        for config in configs:
            runs = run_seeds(
                seeds, lambda seed, config=config: seed_dir(out_dir / dataset, config.slug, seed),
                lambda seed, run_dir, config=config: train(config, context, plan, seed, run_dir),
                options=options, progress=progress, title=f"{dataset} {config.label}", report=report,
                kept=None if kept is None else (lambda seed, run_dir, config=config: kept(config, context, seed,
                                                                                           run_dir)))
            results[config.label][dataset] = {**series_cell(runs), **{key: runs[0].get(key) for key in cell_keys}}
    return datasets, seeds, results, info


def report_line(result: Mapping[str, Any]) -> str:
    """The line printed after a run: its test accuracies, training accuracy and seconds."""
    best = result.get("test_best_val")
    train = result.get("train_final")
    parts = [f"test {100 * result['test']['top1']:.2f}"]
    if best:
        parts.append(f"best-val {100 * best['top1']:.2f} (epoch {result['best_val_epoch']})")
    if train:
        parts.append(f"train {100 * train['top1']:.2f}")
    parts.append(f"{result['train_seconds']:.0f} s")
    return "  ".join(parts)


def series_summary(experiment: Experiment, options: RunOptions, datasets: Sequence[str], seeds: Sequence[int],
                   info: Mapping[str, Any], rows: list[dict[str, Any]], full: Experiment | None = None,
                   **extra: Any) -> dict[str, Any]:
    """The summary of a time-series experiment (``results.json``): the run protocol (:func:`run_protocol`;
    ``epochs`` is None when they come from the step budget, per data set under ``dataset_info[ds]["plan"]``),
    the rows of ``full`` (the experiment before :func:`select_rows`) left out, the reference row, the
    claims, the rows and the paper's numbers."""
    protocol = run_protocol(experiment, options)
    settings = cast(SeriesSettings, experiment.settings)  # a time-series experiment's
    trained = {config.label for config in experiment.configs}
    left_out = [config.label for config in (full or experiment).configs if config.label not in trained]
    return {
        **summary_head(experiment, options, seeds, protocol["epochs"], datasets=datasets, dataset_info=info),
        "seed_list": list(seeds),
        "steps": protocol["step_budget"],
        "protocol": protocol,
        **extra,
        "batch_size": options.batch_size,
        "rows_left_out": left_out,
        "reference": settings.reference,
        "claims": [{"better": c.better, "worse": c.worse, "source": c.source} for c in settings.claims],
        "rows": rows,
        "paper": experiment.paper,
    }


def _cell(cell: Mapping[str, Any] | None, key: str) -> str:
    pair = None if cell is None else cell.get(f"{key}_mean_std")
    return "-" if pair is None else format_mean_std(pair)


def _spread(values: Iterable[Any] | None) -> str:
    """``"n"`` when every value is ``n``, ``"a-b"`` over a range, ``"-"`` without values."""
    values = [v for v in values or () if v is not None]
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _median_and_range(values: Iterable[Any] | None) -> str:
    values = sorted(v for v in values or () if v is not None)
    if not values:
        return "-"
    median = statistics.median(values)
    text = f"{median:g}"
    return text if values[0] == values[-1] else f"{text} ({values[0]}-{values[-1]})"


def _claims(summary: Mapping[str, Any]) -> list[Claim]:
    """The summary's claims whose two rows this run trained."""
    labels = {row["label"] for row in summary["rows"]}
    claims = [Claim(**claim) for claim in summary.get("claims", [])]
    return [claim for claim in claims if claim.better in labels and claim.worse in labels]


def series_report(summary: Mapping[str, Any], paper_sets: Sequence[str], *, title_note: str = "",
                  settings_text: str = "", paper_text: str = "", quick_note: str = QUICK_NOTE) -> list[str]:
    """The markdown of a time-series experiment's results: title, protocol, then per data set its line
    (splits, batch, epochs, steps), its table (final-model and best-validation test accuracy, selected
    epoch, final training accuracy, optimizer steps; mean ± std over seeds, in %) and its "What the numbers
    say" section (Welch's t-test against the reference row, the paper's claims); last the paper's numbers."""
    datasets, protocol = summary["datasets"], summary["protocol"]
    seeds = summary.get("seed_list") or list(range(summary["seeds"]))
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} analog{title_note}",
        "",
        f"{summary['seeds']} seeds ({', '.join(str(s) for s in seeds)}); {protocol_text(protocol)}{settings_text}"
        + (quick_note if summary["quick"] else "") + ". Accuracy in %, mean ± std over seeds.",
    ]
    if summary.get("rows_left_out"):
        lines += ["", "Rows of the experiment not trained in this run (--rows): "
                  + "; ".join(summary["rows_left_out"]) + "."]
    reference = summary.get("reference")
    for dataset in datasets:
        info = summary["dataset_info"][dataset]
        plan = info.get("plan", {})
        extra = f", sigma0 {info['sigma0']:g}" if "sigma0" in info else ""
        lines += ["", f"## {dataset}", "",
                  f"{info['train']} training / {info['val']} validation / {info['test']} test series, length "
                  f"{info['length']} x {info['variates']} variates, {info['classes']} classes; batch "
                  f"{plan.get('batch_size', '-')}, {plan.get('batches_per_epoch', '-')} batches per epoch, "
                  f"{plan.get('epochs', '-')} epochs = {plan.get('steps', '-')} optimizer steps per network "
                  f"run{extra}.",
                  ""]
        rows = []
        for row in summary["rows"]:
            cell = row["results"].get(dataset)
            rows.append([row["label"], _cell(cell, "top1"), _cell(cell, "top1_best_val"),
                         _median_and_range(None if cell is None else cell.get("best_val_epoch")),
                         _cell(cell, "train_top1"), _spread(None if cell is None else cell.get("optimizer_steps"))])
        lines.append(markdown_table(["model", "test, final model", "test, best-val checkpoint", "selected epoch",
                                     "train, final model", "optimizer steps"], rows))
        if reference:
            metrics = {
                "final model": {r["label"]: (r["results"].get(dataset) or {}).get("top1") for r in summary["rows"]},
                "best-val checkpoint": {r["label"]: (r["results"].get(dataset) or {}).get("top1_best_val")
                                        for r in summary["rows"]},
            }
            lines += [""] + numbers_say(metrics, reference, _claims(summary))
    if paper_sets:
        paper = summary["paper"]
        rows = [[row["label"], *[paper_value(paper[p].get(row["label"])) for p in paper_sets]]
                for row in summary["rows"]]
        lines += ["", f"The paper's numbers ({paper_text}; other data, for orientation only):", "",
                  markdown_table(["model", *[f"paper {p}" for p in paper_sets]], rows)]
    return lines


__all__ = ["OPTIMIZERS", "SeriesSettings", "check_series_options", "load_splits", "report_line", "run_grid",
           "run_minirocket", "run_protocol", "select_rows", "series_cell", "series_report", "series_summary",
           "split_datasets", "spread_slice", "tf_dataset", "train_series_run", "training_plan"]
