"""What the time-series experiments (SDMA, XM2A) share: the splits of a UEA/UCR set, the ``tf.data``
pipelines, the MiniRocket reference row, the data set x configuration x seed grid and its accuracy table.

Data: aeon's train split minus a stratified 20 % validation part (split seed 0 for every seed), aeon's test
split as the test set, z-normalised per variate with the training part's statistics
(:func:`keras_attention.data.load_timeseries`); ``--quick`` keeps a small slice of each split.
MiniRocket: aeon's ``MiniRocketClassifier`` (10,000 kernels, ``random_state`` = seed) on the series alone.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_attention.data import load_timeseries
from keras_attention.experiments.registry import Settings
from keras_attention.experiments.results import (
    QUICK_NOTE,
    format_mean_std,
    markdown_table,
    paper_value,
    seed_statistics,
    summary_head,
)
from keras_attention.experiments.runner import (
    Progress,
    epoch_count,
    run_seeds,
    seed_list,
    series_dataset_names,
)
from keras_attention.utils.files import write_json

SPLITS = ("train", "val", "test")
QUICK_LIMITS = {"train": 32, "val": 8, "test": 32}


@dataclass(frozen=True)
class SeriesSettings(Settings):
    """``quick_datasets``: the sets of a ``--quick`` run; ``max_batch``: the batch size cap (these sets have
    a few dozen to a few hundred training series)."""

    quick_datasets: tuple = ("BasicMotions",)
    max_batch: int = 16


# ----------------------------------------------------------------------------------------- data
def spread_slice(n, limit):
    """``limit`` indices spread evenly over ``range(n)`` (all of them when ``n <= limit``).

    aeon's files are often sorted by class, so the first ``limit`` series could miss classes."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def load_splits(name, quick=False, limits=None, spread=True):
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


def split_info(data, y):
    """What the summary records of a set: length, variates, classes and the series per split."""
    return {"length": data.length, "variates": data.n_variates, "classes": data.n_classes,
            **{split: len(y[split]) for split in SPLITS}}


def batch_size(experiment, options):
    """``--batch-size`` capped at the experiment's ``max_batch``."""
    return min(options.batch_size, experiment.settings.max_batch)


def tf_dataset(inputs, labels, batch_size, shuffle_seed=None):
    """Batches of ``(inputs, labels)``, reshuffled every epoch with ``shuffle_seed`` (None: in order)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def split_datasets(inputs, y, batch_size, seed):
    """``(train, val, test)`` pipelines of ``{split: inputs}``: training shuffled with ``seed``, validation
    None when the split is empty."""
    train = tf_dataset(inputs["train"], y["train"], batch_size, shuffle_seed=seed)
    val = tf_dataset(inputs["val"], y["val"], batch_size) if len(y["val"]) else None
    return train, val, tf_dataset(inputs["test"], y["test"], batch_size)


# -------------------------------------------------------------------------------------- MiniRocket
def run_minirocket(x, y, seed, run_dir, **extra):
    """Fit MiniRocket on ``x["train"]``, score it on ``x["test"]``; writes and returns the run's
    ``result.json`` (``extra`` keys added)."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    def aeon_layout(a):
        return np.ascontiguousarray(np.transpose(a, (0, 2, 1)), dtype=np.float64)

    start = time.perf_counter()
    classifier = MiniRocketClassifier(n_kernels=10_000, random_state=seed, n_jobs=1)
    classifier.fit(aeon_layout(x["train"]), y["train"])
    seconds = time.perf_counter() - start
    accuracy = float(classifier.score(aeon_layout(x["test"]), y["test"]))
    result = {"test": {"top1": accuracy}, "train_seconds": seconds, "params": None, **extra}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / "result.json", result)
    return result


# ------------------------------------------------------------------------------------------ the grid
def run_grid(experiment, options, out_dir, prepare, train, *, report, kept=None, cell_keys=(), banner=""):
    """Every configuration on every data set for every seed (:func:`~keras_attention.experiments.runner.run_seeds`).

    ``prepare(dataset)`` -> ``(context, info)``; ``train(config, context, seed, run_dir)`` -> result dict;
    ``kept(config, context, seed, run_dir)`` -> the result of a finished run or None (with ``--resume``);
    ``banner``: added to the line that announces the grid.
    Returns ``(datasets, seeds, results, info)``: ``results[label][dataset]`` is the seeds' statistics
    (:func:`~keras_attention.experiments.results.seed_statistics`) plus ``cell_keys`` of the first seed.
    """
    datasets = series_dataset_names(experiment, options, experiment.settings.quick_datasets)
    seeds = seed_list(experiment, options)
    configs = experiment.configs
    progress = Progress(len(configs) * len(seeds) * len(datasets))
    print(f"{experiment.name}: {experiment.paper_table} analog on {', '.join(datasets)} — {len(configs)} "
          f"configurations x {len(seeds)} seeds x {epoch_count(experiment, options)} epochs{banner} -> {out_dir}",
          flush=True)
    results, info = {config.label: {} for config in configs}, {}
    for dataset in datasets:
        context, info[dataset] = prepare(dataset)
        for config in configs:
            runs = run_seeds(
                seeds, lambda seed, config=config: out_dir / dataset / config.slug / f"seed{seed}",
                lambda seed, run_dir, config=config: train(config, context, seed, run_dir),
                options=options, progress=progress, title=f"{dataset} {config.label}", report=report,
                kept=None if kept is None else (lambda seed, run_dir, config=config: kept(config, context, seed,
                                                                                           run_dir)))
            results[config.label][dataset] = {**seed_statistics(runs),
                                              **{key: runs[0].get(key) for key in cell_keys}}
    return datasets, seeds, results, info


def series_summary(experiment, options, datasets, seeds, info, rows, **extra):
    """The summary of a time-series experiment (``results.json``)."""
    return {
        **summary_head(experiment, options, seeds, epoch_count(experiment, options), datasets=datasets,
                       dataset_info=info),
        **extra,
        "batch_size": batch_size(experiment, options),
        "rows": rows,
        "paper": experiment.paper,
    }


def accuracy_table(summary, paper_sets, quick_note=QUICK_NOTE, settings_text="", paper_text=""):
    """The title, the run line and the accuracy table (one column per data set, then the paper's columns)."""
    datasets, paper = summary["datasets"], summary["paper"]
    rows = []
    for row in summary["rows"]:
        cells = [format_mean_std(row["results"][ds]["top1_mean_std"]) if ds in row["results"] else "-"
                 for ds in datasets]
        rows.append([row["label"], *cells, *[paper_value(paper[p].get(row["label"])) for p in paper_sets]])
    header = ["model", *datasets, *[f"paper {p}" for p in paper_sets]]
    return [
        f"# {summary['experiment']}: {summary['paper_table']} analog",
        "",
        f"{summary['seeds']} seeds x {summary['epochs']} epochs, batch {summary['batch_size']}{settings_text}"
        + (quick_note if summary["quick"] else "")
        + f". Test accuracy in %, mean ± std over seeds. Paper columns: {paper_text} (other data, for "
        "orientation only).",
        "",
        markdown_table(header, rows),
    ]


__all__ = ["SeriesSettings", "accuracy_table", "load_splits", "run_grid", "run_minirocket", "series_summary",
           "split_datasets", "spread_slice", "tf_dataset"]
