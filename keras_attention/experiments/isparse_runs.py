"""The iSparse experiment on LeNet-5 (dissertation ch. 4: Fig. 4.5/4.6, Table 4.1): what
:mod:`keras_attention.experiments.catalog.isparse` describes (its docstring gives the protocol and the readings),
run. :func:`run_isparse_lenet` trains the Base, L1, Dropout and train-with runs per seed, sparsifies the Base
model once per strategy and factor, times the score-and-mask updates, and writes ``results.json``,
``results.md`` and the two figures."""

import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

from keras_attention import models
from keras_attention.data import dataset_info, image_dataset
from keras_attention.experiments.artifacts import HISTORY, MODEL, RESULT, SPARSIFY_WITH, TRAIN_WITH, seed_dir
from keras_attention.experiments.catalog.isparse import (
    L1_STRENGTH,
    L1_ZERO_THRESHOLD,
    METHOD_COLORS,
    METHOD_LABELS,
    PAPER_COLUMN,
    PAPER_TABLE_4_1,
    QUICK_SPARSIFY_LEVELS,
    QUICK_TEST,
    QUICK_TRAIN,
    QUICK_TRAIN_LEVELS,
    SPARSIFY_LEVELS,
    STRATEGY_LABELS,
    TRAIN_LEVELS,
    TRAIN_METHODS,
    ISparseSettings,
)
from keras_attention.experiments.evaluation import dataset_labels, topk_accuracy
from keras_attention.experiments.images import image_size_for
from keras_attention.experiments.plots import plot_sparsify_with, plot_train_with
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import (
    QUICK_NOTE,
    format_mean_std,
    markdown_table,
    mean_std,
    summary_head,
    write_results,
)
from keras_attention.experiments.runner import epoch_count, finished_result, image_dataset_name, seed_list
from keras_attention.experiments.training import train_run
from keras_attention.sparsity import ISparse, sparsify, sparsity_report
from keras_attention.sparsity.samples import collect_samples
from keras_attention.utils.files import read_json, write_json, write_text


class TimedISparse(ISparse):
    """:class:`ISparse` that records the wall time of every score-and-mask update (``update_seconds``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.update_seconds: list[float] = []

    def update(self, epoch: int) -> None:
        """:meth:`ISparse.update`, timed."""
        start = time.perf_counter()
        super().update(epoch)
        self.update_seconds.append(time.perf_counter() - start)


def lenet5_dropout(input_shape: tuple[int, ...], num_classes: int, rate: float) -> Any:
    """LeNet-5 with ``Dropout(rate)`` on the input of each Dense layer (the Dropout baseline, see above)."""
    base = models.lenet5(input_shape=input_shape, num_classes=num_classes)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in base.layers[1:]:
        if isinstance(layer, keras.layers.Dense):
            x = keras.layers.Dropout(rate, name=f"dropout_{layer.name}")(x)
        x = layer(x)
    return keras.Model(inputs, x, name="lenet5_dropout")


def lenet5_l1(input_shape: tuple[int, ...], num_classes: int, strength: float = L1_STRENGTH) -> Any:
    """LeNet-5 with an ``L1(strength)`` kernel regulariser on every Conv2D / Dense layer (same initial weights)."""
    base = models.lenet5(input_shape=input_shape, num_classes=num_classes)

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            config["kernel_regularizer"] = keras.regularizers.L1(strength)
        return layer.__class__.from_config(config)

    model = keras.models.clone_model(base, clone_function=clone)
    model.set_weights(base.get_weights())
    return model


def near_zero_fraction(model: Any, threshold: float = L1_ZERO_THRESHOLD) -> float:
    """Fraction of the Conv / Dense kernel entries of ``model`` with ``|w| < threshold``."""
    small = total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            w = np.asarray(layer.kernel.numpy())
            small += int(np.count_nonzero(np.abs(w) < threshold))
            total += w.size
    return small / total


def _fmt(values: Iterable[float]) -> str:
    return format_mean_std(mean_std(values))


def _median_epoch_seconds(history_file: str | PathLike[str]) -> float:
    epochs = read_json(Path(history_file))["epochs"]
    seconds = [epochs[k]["seconds"] for k in sorted(epochs, key=int)]
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def _train(run_dir: Path, build: Callable[[], Any], train_ds: Any, test_ds: Any, epochs: int, options: RunOptions,
           callbacks: Sequence[Any] = ()) -> tuple[dict[str, Any], Any]:
    """Train (or, with ``--resume``, reuse) one run; returns its ``result.json`` dict and the model."""
    saved = finished_result(run_dir, need_model=True) if options.resume else None
    if saved is not None:
        return saved, keras.saving.load_model(run_dir / MODEL, safe_mode=True)
    result = train_run(
        build,
        train_ds,
        epochs=epochs,
        out_dir=run_dir,
        val_ds=None,  # epoch times are training only (part (c)); the test set is evaluated at the end
        test_ds=test_ds,
        strategy=options.strategy,
        jit_compile=options.jit_compile,
        verbose=options.verbose,
        callbacks=callbacks,
    )
    return read_json(run_dir / RESULT), result.model


def run_isparse_lenet(experiment: Experiment, options: RunOptions, *, sparsify_levels: Sequence[float] | None = None,
                      train_levels: Sequence[float] | None = None, max_samples: int | None = None) -> dict[str, Any]:
    """Run parts (a)-(c) (module docstring) and write ``results.json``, ``results.md`` and the PNGs.

    ``sparsify_levels`` / ``train_levels`` / ``max_samples`` override the experiment's
    :class:`ISparseSettings` (sparsities are fractions in (0, 1)). Returns the summary dict.
    """
    settings = cast(ISparseSettings, experiment.settings)  # the isparse catalog's
    sparsify_levels = sparsify_levels or settings.sparsify_levels
    train_levels = train_levels or settings.train_levels
    max_samples = max_samples or settings.max_samples
    out_dir = Path(options.out_dir)
    dataset = image_dataset_name(experiment, options)
    seeds = seed_list(experiment, options)
    epochs = epoch_count(experiment, options)
    sparsify_levels = tuple(sparsify_levels or (QUICK_SPARSIFY_LEVELS if options.quick else SPARSIFY_LEVELS))
    train_levels = tuple(train_levels or (QUICK_TRAIN_LEVELS if options.quick else TRAIN_LEVELS))
    for name, levels in (("sparsify_levels", sparsify_levels), ("train_levels", train_levels)):
        if any(isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 1 for s in levels):
            raise ValueError(f"Argument `{name}` must hold sparsities in (0, 1); got {levels!r}.")
    limit_train, limit_test = (QUICK_TRAIN, QUICK_TEST) if options.quick else (None, None)
    info = dataset_info(dataset, data_dir=options.data_dir)
    size = image_size_for("lenet5", info["input_shape"])
    input_shape = tuple(size or info["input_shape"][:2]) + (info["input_shape"][2],)
    num_classes = info["num_classes"]
    start_epoch = 1 if epochs > 1 else 0
    print(f"{experiment.name}: {experiment.paper_table} on {dataset} - seeds {seeds} x {epochs} epochs; "
          f"sparsify-with at {list(sparsify_levels)}, train-with at {list(train_levels)} -> {out_dir}", flush=True)

    common = dict(batch_size=options.batch_size, data_dir=options.data_dir, image_size=size)
    test_ds = image_dataset(dataset, "test", shuffle=False, limit=limit_test, **common)
    test_labels = dataset_labels(test_ds)
    # {strategy: {level: {"top1" / "top5": per-seed %}}}
    sparsify_with: dict[str, dict[str, dict[str, list[float]]]] = {
        s: {f"{lv:g}": {"top1": [], "top5": []} for lv in sparsify_levels} for s in STRATEGY_LABELS}
    base_runs: list[dict[str, Any]] = []
    l1_runs: list[dict[str, Any]] = []
    train_with: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {f"{lv:g}": [] for lv in train_levels} for m in TRAIN_METHODS}
    # per strategy: (update seconds, base epoch seconds)
    updates: dict[str, list[tuple[float, float]]] = {s: [] for s in STRATEGY_LABELS}

    for seed in seeds:
        def data(seed: int = seed) -> Any:
            return image_dataset(dataset, "train", shuffle=True, seed=seed, limit=limit_train, **common)

        samples = collect_samples(data(), max_samples, argument="samples")

        def lenet(seed: int = seed) -> Any:
            keras.utils.set_random_seed(seed)
            return models.lenet5(input_shape=input_shape, num_classes=num_classes)

        # Base (dense) run: the Table 4.1 baseline and the pre-trained model of part (a).
        print(f"[seed {seed}] Base", flush=True)
        base_dir = seed_dir(out_dir, "base", seed)
        base, base_model = _train(base_dir, lenet, data(), test_ds, epochs, options)
        base["achieved_sparsity"] = sparsity_report(base_model)[-1]["sparsity"]
        base_runs.append(base)
        epoch_seconds = _median_epoch_seconds(base_dir / HISTORY)

        # (a) sparsify-with.
        cache = out_dir / "sparsify_with" / f"seed{seed}.json"
        if options.resume and cache.exists():
            curves = read_json(cache)
        else:
            curves = {}
            for strategy in STRATEGY_LABELS:
                curves[strategy] = {}
                for level in sparsify_levels:
                    copy = sparsify(base_model, level, samples if strategy == "isparse" else None, strategy,
                                    seed=seed, max_samples=max_samples)
                    curves[strategy][f"{level:g}"] = topk_accuracy(copy, test_ds, test_labels)
                print(f"[seed {seed}] sparsify-with {strategy}: top-1 "
                      + ", ".join(f"{k}: {100 * v['top1']:.1f}" for k, v in curves[strategy].items()), flush=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, curves)
        for strategy, by_level in curves.items():
            for level, acc in by_level.items():
                for k in ("top1", "top5"):
                    sparsify_with[strategy][level][k].append(100 * acc[k])

        # (b) train-with, and (c) the update cost inside it.
        print(f"[seed {seed}] L1({L1_STRENGTH:g})", flush=True)

        def build_l1(seed: int = seed) -> Any:
            keras.utils.set_random_seed(seed)
            return lenet5_l1(input_shape, num_classes)

        l1, l1_model = _train(seed_dir(out_dir, "l1", seed), build_l1, data(), test_ds, epochs, options)
        l1["achieved_sparsity"] = near_zero_fraction(l1_model)
        l1_runs.append(l1)
        for level in train_levels:
            for method in TRAIN_METHODS:
                run_dir = seed_dir(out_dir / "train_with", f"{method}_{level:g}", seed)
                print(f"[seed {seed}] train-with {method} at {100 * level:g}%", flush=True)
                if method == "dropout":
                    def build(seed: int = seed, level: float = level) -> Any:
                        keras.utils.set_random_seed(seed)
                        return lenet5_dropout(input_shape, num_classes, level)

                    result, model = _train(run_dir, build, data(), test_ds, epochs, options)
                else:
                    callback = TimedISparse(level, samples if method == "isparse" else None, strategy=method,
                                            start_epoch=start_epoch, seed=seed, max_samples=max_samples)
                    result, model = _train(run_dir, lenet, data(), test_ds, epochs, options, [callback])
                    timing_file = run_dir / "update_seconds.json"
                    if callback.update_seconds:
                        write_text(timing_file, json.dumps(callback.update_seconds))
                    if timing_file.exists():
                        for seconds in read_json(timing_file):
                            updates[method].append((seconds, epoch_seconds))
                result["achieved_sparsity"] = sparsity_report(model)[-1]["sparsity"]
                train_with[method][f"{level:g}"].append(result)
                print(f"    top-1 {100 * result['test']['top1']:.2f}  sparsity "
                      f"{100 * result['achieved_sparsity']:.1f}%", flush=True)

    cost = {}
    for strategy, pairs in updates.items():
        if pairs:
            update_s = statistics.median(p[0] for p in pairs)
            epoch_s = statistics.median(p[1] for p in pairs)
            cost[strategy] = {"update_seconds_median": update_s, "epoch_seconds_median": epoch_s,
                              "fraction_of_epoch": update_s / epoch_s, "updates_timed": len(pairs)}

    summary = {
        **summary_head(experiment, options, seeds, epochs, dataset=dataset),
        "batch_size": options.batch_size,
        "train_images": limit_train,
        "test_images": int(len(test_labels)),
        "max_samples": max_samples,
        "start_epoch": start_epoch,
        "l1_strength": L1_STRENGTH,
        "l1_zero_threshold": L1_ZERO_THRESHOLD,
        "sparsify_levels": list(sparsify_levels),
        "train_levels": list(train_levels),
        "base": {"top1": [100 * r["test"]["top1"] for r in base_runs],
                 "top5": [100 * r["test"]["top5"] for r in base_runs],
                 "train_seconds": [r["train_seconds"] for r in base_runs]},
        "sparsify_with": sparsify_with,
        "train_with": {
            "l1": {"top1": [100 * r["test"]["top1"] for r in l1_runs],
                   "achieved_sparsity": [100 * r["achieved_sparsity"] for r in l1_runs]},
            **{method: {level: {"top1": [100 * r["test"]["top1"] for r in runs],
                                "achieved_sparsity": [100 * r["achieved_sparsity"] for r in runs],
                                "train_seconds": [r["train_seconds"] for r in runs]}
                        for level, runs in by_level.items()}
               for method, by_level in train_with.items()},
        },
        "update_cost": cost,
        "paper": {str(k): v for k, v in PAPER_TABLE_4_1.get(dataset, {}).items()},
    }
    write_isparse_summary(summary, out_dir)
    return summary


def format_isparse_markdown(summary: Mapping[str, Any]) -> str:
    """``results.md``: (a) sparsify-with, (b) train-with next to Table 4.1, (c) the update cost."""
    paper = summary["paper"]
    quick = QUICK_NOTE if summary["quick"] else ""
    strategies = list(STRATEGY_LABELS.values())
    sparsify_rows = [["0% (Base)", *[_fmt(summary["base"][k]) for k in ("top1", "top5") for _ in strategies]]]
    for level in summary["sparsify_levels"]:
        key = f"{level:g}"
        sparsify_rows.append([f"{100 * level:g}%", *[_fmt(summary["sparsify_with"][s][key][k])
                                                    for k in ("top1", "top5") for s in STRATEGY_LABELS]])
    train_rows = []
    for level in summary["train_levels"]:
        key = f"{level:g}"
        cells = []
        for method in METHOD_LABELS:
            cell = summary["train_with"][method][key]
            cells.append(f"{_fmt(cell['top1'])} ({statistics.fmean(cell['achieved_sparsity']):.1f})")
        ref = next((v for k, v in paper.items() if k not in ("base", "l1") and abs(float(k) - level) < 1e-9), None)
        ref_cell = " / ".join(f"{ref[PAPER_COLUMN[m]]:.2f}" for m in METHOD_LABELS) if ref else "-"
        train_rows.append([f"{100 * level:g}%", *cells, ref_cell])
    cost_rows = [[STRATEGY_LABELS[strategy], f"{c['update_seconds_median']:.4f}", f"{c['epoch_seconds_median']:.2f}",
                  f"{100 * c['fraction_of_epoch']:.2f}%", c["updates_timed"]]
                 for strategy, c in summary["update_cost"].items()]
    base_ref = paper.get("base")
    l1_ref = paper.get("l1")
    l1 = summary["train_with"]["l1"]
    paper_header = "paper " + " / ".join(label.split("(")[-1].rstrip(")") for label in METHOD_LABELS.values())
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']}",
        "",
        f"LeNet-5, {summary['seeds']} seed(s) x {summary['epochs']} epochs, batch {summary['batch_size']}, "
        f"{summary['test_images']} test images{quick}. Accuracy in %, mean ± std over seeds.",
        "",
        "## (a) sparsify-with (Fig. 4.5/4.6): one-shot sparsification of the trained Base model, no retraining",
        "",
        markdown_table(["sparsification", *[f"{label} top-{k}" for k in (1, 5) for label in strategies]],
                       sparsify_rows, align="r" * (1 + 2 * len(strategies))),
        "",
        "## (b) train-with (Table 4.1): top-1 (achieved weight sparsity in %)",
        "",
        f"- Base (dense): {_fmt(summary['base']['top1'])}"
        + (f" - paper {base_ref[0]:.2f}" if base_ref else ""),
        f"- Base w. L1 ({summary['l1_strength']:g}): {_fmt(l1['top1'])} ({_fmt(l1['achieved_sparsity'])}% of "
        f"|w| < {summary['l1_zero_threshold']:g})"
        + (f" - paper {l1_ref[0]:.2f} ({l1_ref[1]:.2f}%)" if l1_ref else ""),
        "",
        markdown_table(["target", *METHOD_LABELS.values(), paper_header], train_rows,
                       align="r" * (len(METHOD_LABELS) + 2)),
        "",
        "Dropout(rate = target) on the input of each Dense layer; it prunes no weight. L1 is one run per seed "
        "(Table 4.1 reports the sparsity it achieves). Masks are recomputed every epoch from epoch "
        f"{summary['start_epoch']} on; Lottery-Ticket (LT) is not reproduced.",
        "",
        "## (c) cost of one score-and-mask update (ISparse.update) relative to one dense training epoch",
        "",
        markdown_table(["strategy", "update s (median)", "epoch s (median)", "fraction of an epoch", "updates timed"],
                       cost_rows),
        "",
        f"iSparse scores use {summary['max_samples']} training images per update.",
    ]
    return "\n".join(lines) + "\n"


def write_isparse_summary(summary: Mapping[str, Any], out_dir: str | PathLike[str]) -> None:
    """``results.json``, ``results.md`` and the two figures in ``out_dir``."""
    write_results(summary, out_dir, format_isparse_markdown(summary))
    plot_sparsify_with(summary, Path(out_dir) / SPARSIFY_WITH, STRATEGY_LABELS, METHOD_COLORS)
    plot_train_with(summary, Path(out_dir) / TRAIN_WITH, METHOD_LABELS, METHOD_COLORS)
