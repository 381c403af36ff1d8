"""The RACKNet experiment (dissertation Tables 3.6, 3.8): what :mod:`keras_attention.experiments.catalog.racknet`
describes, run. :func:`run_racknet_experiment` analyses the training images once (a plan), trains a CNN per
kernel-allocation strategy and seed on that plan, and writes ``results.json``, ``results.md``, the plan and the two
figures."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import tensorflow as tf

from keras_attention.data import dataset_info, load_arrays
from keras_attention.experiments import runner
from keras_attention.experiments.artifacts import ENTROPY_HISTOGRAM, PLAN, RESULT, STRATEGY_ACCURACY, seed_dir
from keras_attention.experiments.catalog.racknet import (
    PHASE_LABELS,
    QUICK_TEST,
    QUICK_TRAIN,
    STRATEGY_ROWS,
    VALIDATION_FRACTION,
    RacknetSettings,
)
from keras_attention.experiments.plots import plot_entropy_histogram, plot_strategy_accuracy
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import (
    QUICK_NOTE,
    format_mean_std,
    markdown_table,
    paper_value,
    seed_statistics,
    subset_note,
    summary_head,
    write_results,
)
from keras_attention.experiments.runner import train_experiment_run
from keras_attention.racknet import (
    PHASES,
    RackPlan,
    allocate,
    analyze,
    build_model,
    default_upscale,
    describe_plan,
    entropy_sample,
)
from keras_attention.utils.files import read_json


def validation_split(n: int, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """Boolean mask of the validation examples among ``n`` (a fixed random ``fraction``, at least one)."""
    n_val = max(1, round(fraction * n)) if n > 1 else 0
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(0).permutation(n)[:n_val]] = True
    return mask


def _dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle_seed: int | None = None) -> Any:
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    data = data.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_racknet_experiment(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """``run(experiment, options)`` of the ``racknet`` entry (module docstring); returns the summary."""
    out_dir = Path(options.out_dir)
    settings = cast(RacknetSettings, experiment.settings)  # the racknet catalog's
    dataset = runner.image_dataset_name(experiment, options)
    seeds = runner.seed_list(experiment, options)
    epochs = runner.epoch_count(experiment, options)
    budget = settings.budget
    limit_train, limit_test = runner.run_limits(options, QUICK_TRAIN, QUICK_TEST)
    info = dataset_info(dataset, data_dir=options.data_dir)
    images, labels = load_arrays(dataset, "train", data_dir=options.data_dir, limit=limit_train)
    x_test, y_test = load_arrays(dataset, "test", data_dir=options.data_dir, limit=limit_test)
    val = validation_split(len(labels))
    x_train, y_train, x_val, y_val = images[~val], labels[~val], images[val], labels[val]
    upscale = default_upscale(info["input_shape"])
    print(f"{experiment.name}: {experiment.paper_table} on {dataset} — {len(y_train)} training / {len(y_val)} "
          f"validation / {len(y_test)} test images, budget {budget}, {len(STRATEGY_ROWS)} strategies x "
          f"{len(seeds)} seeds x {epochs} epochs -> {out_dir}", flush=True)

    plan_file = out_dir / PLAN
    if options.resume and plan_file.exists():
        plan = RackPlan.from_json(plan_file)
        print(f"plan from the earlier run: {plan}", flush=True)
    else:
        plan = analyze(x_train, upscale=upscale, progress=options.verbose == 1, budget=budget)
        out_dir.mkdir(parents=True, exist_ok=True)
        plan.to_json(plan_file)
    print(describe_plan(plan, dataset), flush=True)
    entropies, octaves = entropy_sample(x_train, plan)
    plot_entropy_histogram(plan, entropies, octaves, out_dir / ENTROPY_HISTOGRAM,
                           title=f"{dataset}: keypoint entropy per octave and its Gaussian components")

    val_ds = _dataset(x_val, y_val, options.batch_size)
    test_ds = _dataset(x_test, y_test, options.batch_size)
    progress = runner.Progress(len(STRATEGY_ROWS) * len(seeds))
    rows = []
    for strategy, (label, observations) in STRATEGY_ROWS.items():
        allocations = {seed: allocate(plan, budget, strategy, seed) for seed in seeds}

        def train(seed: int, run_dir: Path, strategy: str = strategy,
                  allocations: dict[int, Any] = allocations) -> dict[str, Any]:
            counts = [list(rack) for rack in allocations[seed]]
            train_experiment_run(
                experiment, options,
                lambda: build_model(counts, info["input_shape"], info["num_classes"], name=f"racknet_{strategy}"),
                _dataset(x_train, y_train, options.batch_size, shuffle_seed=seed),
                epochs=epochs, out_dir=run_dir, val_ds=val_ds, test_ds=test_ds)
            return read_json(run_dir / RESULT)

        runs = runner.run_seeds(seeds, lambda seed, strategy=strategy: seed_dir(out_dir, strategy, seed), train,
                                options=options, progress=progress, title=label,
                                detail=lambda seed, allocations=allocations: f": {allocations[seed]}",
                                report=lambda r: f"top-1 {100 * r['test']['top1']:.2f}  {r['train_seconds']:.0f} s")
        stats = seed_statistics(runs, ("top1", "top5"))
        rows.append({
            "strategy": strategy,
            "label": label,
            "observations": observations,
            "allocations": [str(allocations[seed]) for seed in seeds],
            "params": [r["params"] for r in runs],
            "top1": stats["top1"],
            "top5": stats["top5"],
            "top1_mean_std": stats["top1_mean_std"],
            "train_seconds": [r["train_seconds"] for r in runs],
            "train_seconds_mean": stats["train_seconds_mean"],
        })
    racknet_row = next(row for row in rows if row["strategy"] == "racknet")
    summary = {
        **summary_head(experiment, options, seeds, epochs, dataset=dataset),
        "train_limit": limit_train,
        "test_limit": limit_test,
        "batch_size": options.batch_size,
        "budget": budget,
        "images": {"train": len(y_train), "validation": len(y_val), "test": len(y_test)},
        "plan_row": str(plan),
        "plan": plan.to_dict(),
        "rows": rows,
        "timings": {**{p: plan.timings.get(p, 0.0) for p in PHASES}, "training": racknet_row["train_seconds_mean"]},
        "paper": experiment.paper.get(dataset, {}),
        "paper_timings": settings.paper_timings.get(dataset, {}),
    }
    write_results(summary, out_dir, format_racknet_markdown(summary))
    plot_strategy_accuracy(summary, out_dir / STRATEGY_ACCURACY)
    return summary


def format_racknet_markdown(summary: Mapping[str, Any]) -> str:
    """``results.md``: the Table 3.2 row, Table 3.6 and Table 3.8."""
    paper, paper_timings = summary["paper"], summary["paper_timings"]
    images = summary["images"]
    accuracy = [[row["label"], f"⟨{row['observations']}⟩", f"`{row['allocations'][0]}`", row["params"][0],
                 format_mean_std(row["top1_mean_std"]), paper_value(paper.get(row["strategy"])),
                 f"{row['train_seconds_mean']:.1f}"] for row in summary["rows"]]
    timings = [[PHASE_LABELS[phase], f"{seconds:.2f}", paper_value(paper_timings.get(phase))]
               for phase, seconds in summary["timings"].items()]
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']}",
        "",
        f"{images['train']} training / {images['validation']} validation / {images['test']} test images; kernel "
        f"budget {summary['budget']}; {summary['seeds']} seeds x {summary['epochs']} epochs, batch "
        f"{summary['batch_size']}" + (QUICK_NOTE if summary["quick"] else "") + subset_note(summary) + ".",
        "",
        f"Table 3.2 (RACKNet allocation): `{summary['plan_row']}`",
        "",
        "Table 3.6: top-1 test accuracy in %, mean ± std over seeds.",
        "",
        markdown_table(["strategy", "observations", "layers (kernels), seed 0", "params", "top-1", "paper top-1",
                        "train s (mean)"], accuracy, align="lllrrrr"),
        "",
        "Table 3.8: execution time in seconds (training: RACKNet network, mean over seeds).",
        "",
        markdown_table(["phase", "seconds", "paper"], timings),
    ]
    return "\n".join(lines) + "\n"
