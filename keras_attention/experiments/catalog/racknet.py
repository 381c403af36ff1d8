"""RACKNet from the command line and its experiment (dissertation ch. 3: Table 3.2, 3.6, 3.8, Fig. 3.4; SPEC §8).

``keras-attention racknet analyze --dataset D --out plan.json`` analyses the training images of ``D``
with :func:`keras_attention.racknet.analyze` (tqdm bar over the images), allocates ``--budget`` kernels
the RACKNet way, writes the plan as JSON, prints it as a row of Table 3.2 with the seconds of every
analysis phase, and draws ``<plan stem>_entropy.png`` next to it: per rack (octave), the histogram of
the keypoint entropies with the fitted Gaussian components (Fig. 3.4). ``keras_attention.cli`` declares
the command's arguments; :mod:`keras_attention.cli.racknet` runs it.

The ``racknet`` experiment (``keras-attention reproduce racknet``) analyses the training images once,
allocates a budget of 400 kernels with each of the six strategies of §3.5.2 and trains the CNN of each
allocation for several seeds: Table 3.6 (mean ± sample std of the top-1 test accuracy over the seeds)
and Table 3.8 (seconds of the four analysis phases and of training).

Readings of points the dissertation and SPEC leave open:

* validation (§3.5.1, "10% of the training data was reserved for validation"): a fixed random 10 % of
  the training split (``numpy.random.default_rng(0)``, the same for every strategy and seed) is the
  validation set; the analysis sees the other 90 %, the images the networks are trained on; accuracy is
  measured on the test split;
* one analysis per data set (``analyze``'s ``seed=0``): the racks, layers and cluster counts do not
  depend on the training seed. Seed ``k`` sets Keras' global seed (initial weights, shuffling) and the
  seed of :func:`~keras_attention.racknet.allocate`, so only the ``random`` strategy's allocation
  changes with the seed;
* training: the dissertation's "RMSE as the model optimizer" names no optimizer; Adam (learning rate
  1e-3) with cross-entropy, batch 128, 10 epochs, as in the package's other experiments, average
  pooling and dropout 0.25 (§3.5.1 defaults); no augmentation;
* SIFT on images smaller than 28 px finds almost nothing, so they are enlarged by
  ``ceil(32 / min(H, W))`` before detection (4 for the 8x8 digits; :func:`default_upscale`);
* Table 3.8's "Training" row is the mean, over seeds, of the training seconds (sum of the epoch times)
  of the RACKNet-allocated network; every strategy's mean is in the Table 3.6 rows;
* Fig. 3.4: ``RackPlan`` keeps the mixture, not the per-keypoint entropies, so the histogram is of the
  keypoints of the first :data:`HISTOGRAM_IMAGES` analysed images, detected again with the plan's SIFT
  settings (all of them, hence exactly the analysed keypoints, when there are no more images than
  that); the components are drawn as ``weight * N(mean, std)`` densities;
* the dissertation has no Fashion-MNIST or digits numbers; its MNIST / SVHN / CIFAR numbers of Tables
  3.6 and 3.8 are printed next to ours when the experiment runs on one of those data sets.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from keras_attention.data import dataset_info, load_arrays
from keras_attention.experiments import runner
from keras_attention.experiments.plots import close_figure
from keras_attention.experiments.registry import Experiment, Settings, register
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
    DEFAULT_BUDGET,
    PHASES,
    RackPlan,
    allocate,
    analyze,
    build_model,
    detect_keypoints,
    keypoint_entropies,
    to_gray_uint8,
)
from keras_attention.utils.files import read_json

VALIDATION_FRACTION = 0.1
HISTOGRAM_IMAGES = 5000
HISTOGRAM_BIN_BITS = 0.05
QUICK_TRAIN, QUICK_TEST = 512, 256
PLAN_FILE = "plan.json"
HISTOGRAM_FILE = "entropy_histogram.png"
ACCURACY_FILE = "strategy_accuracy.png"

# Table 3.6 order: strategy -> (label, observations it keeps).
STRATEGY_ROWS = {
    "random": ("Random", "o1, o2"),
    "uniform_rack": ("Uniform Rack", "o1, o2"),
    "uniform_layer": ("Uniform Layer", "o1, o2"),
    "c_proportional": ("C-Proportional", "o1, o2, o3"),
    "inverse_order": ("Inverse Order", "o1, o2, o4"),
    "racknet": ("RACKNet", "o1, o2, o3, o4"),
}
# Table 3.6 (top-1 %) and Table 3.8 (seconds), for the data sets of this package that the dissertation used.
PAPER_TABLE_3_6 = {
    "mnist": {"random": 98.98, "uniform_rack": 98.97, "uniform_layer": 98.97, "c_proportional": 98.90,
              "inverse_order": 98.99, "racknet": 99.25},
    "svhn_cropped": {"random": 90.34, "uniform_rack": 90.90, "uniform_layer": 91.04, "c_proportional": 90.77,
                     "inverse_order": 91.11, "racknet": 94.57},
    "cifar10": {"random": 69.69, "uniform_rack": 70.18, "uniform_layer": 69.50, "c_proportional": 68.50,
                "inverse_order": 69.88, "racknet": 71.65},
}
PAPER_TABLE_3_8 = {
    "mnist": {"features": 340.34, "entropy": 81.04, "mixture": 1.79, "clustering": 75.76, "training": 929.33},
    "svhn_cropped": {"features": 449.35, "entropy": 119.47, "mixture": 1.71, "clustering": 97.45,
                     "training": 1396.79},
    "cifar10": {"features": 302.10, "entropy": 60.41, "mixture": 2.17, "clustering": 62.13, "training": 1189.61},
}
PHASE_LABELS = {"features": "Feature", "entropy": "Entropy Histogram", "mixture": "Mixture Separation",
                "clustering": "Clustering", "training": "Training"}


# ------------------------------------------------------------------------------------------- helpers


def default_upscale(image_shape):
    """SIFT enlargement for images of ``image_shape`` ``(H, W, ...)``: 1 from 28 px on, else ceil(32 / side)."""
    side = min(int(image_shape[0]), int(image_shape[1]))
    return 1 if side >= 28 else math.ceil(32 / side)


def validation_split(n, fraction=VALIDATION_FRACTION):
    """Boolean mask of the validation examples among ``n`` (a fixed random ``fraction``, at least one)."""
    n_val = max(1, round(fraction * n)) if n > 1 else 0
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(0).permutation(n)[:n_val]] = True
    return mask


def entropy_sample(images, plan, max_images=HISTOGRAM_IMAGES, n_jobs=None):
    """``(entropies, octaves)`` of the SIFT keypoints of the first ``max_images`` of ``images``.

    Keypoints are detected with the plan's ``upscale`` and ``sift_params``, so for the images the plan
    was made from they are exactly the analysed keypoints (module docstring).
    """
    gray = to_gray_uint8(images[:max_images])
    keypoints = detect_keypoints(gray, upscale=plan.settings.get("upscale", 1),
                                 sift_params=plan.settings.get("sift_params") or None, n_jobs=n_jobs)
    return keypoint_entropies(gray, keypoints), keypoints.octave


def plot_entropy_histogram(plan, entropies, octaves, path, title=""):
    """Fig. 3.4 for every rack: entropy histogram (density) of the rack's octave and its Gaussian components."""
    racks = plan.n_racks
    fig, axes = plt.subplots(1, racks, figsize=(4.2 * racks, 3.4), squeeze=False)
    top = max(float(np.max(entropies)) if entropies.size else 0.0,
              max(c.mean + 3 * c.std for rack in plan.components for c in rack)) + HISTOGRAM_BIN_BITS
    grid = np.linspace(0.0, top, 600)
    bins = np.arange(0.0, top + HISTOGRAM_BIN_BITS, HISTOGRAM_BIN_BITS)
    for i, (octave, components, ax) in enumerate(zip(plan.octaves, plan.components, axes[0])):
        values = entropies[octaves == octave]
        peak = 0.0
        if values.size:
            heights, _, _ = ax.hist(values, bins=bins, density=True, color="0.75", label=f"{values.size} keypoints")
            peak = float(np.max(heights))
        total = np.zeros_like(grid)
        for j, comp in enumerate(components):
            colour = f"C{j % 10}"
            label = f"layer {j + 1}: mean {comp.mean:.2f}, w {comp.weight:.2f}"
            if comp.std > 0:
                density = comp.weight * np.exp(-0.5 * ((grid - comp.mean) / comp.std) ** 2) / (
                    comp.std * math.sqrt(2 * math.pi))
                total += density
                ax.plot(grid, density, color=colour, label=label)
                ax.fill_between(grid, density, color=colour, alpha=0.25)
            else:
                ax.axvline(comp.mean, color=colour, label=label)
        if len(components) > 1 and total.any():
            ax.plot(grid, total, "k--", linewidth=1, label="mixture")
        if peak > 0:  # a near-degenerate component (e.g. flat scopes, 0 bits) must not hide the histogram
            ax.set_ylim(0.0, 1.3 * max(peak, min(float(np.max(total)), 3.0 * peak)))
        ax.set_title(f"rack {i + 1}: octave {octave}, {len(components)} component(s)", fontsize=9)
        ax.set_xlabel("scope entropy (bits)")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return close_figure(fig, path)


def describe_plan(plan, name):
    """The plan as a Table 3.2 row plus one line per layer (what ``racknet analyze`` prints)."""
    lines = [
        f"RACKNet plan for {name}: {plan.n_images} images, {plan.n_keypoints} SIFT keypoints, octave counts "
        f"{plan.octave_counts}, upscale {plan.settings.get('upscale')}, mixture {plan.settings.get('mixture')}"
        + (" (fallback plan: too few keypoints)" if plan.fallback else ""),
        "",
        f"{'Dataset':16s} Convolution Layers <Kernels> (budget {plan.budget}, '-' = down-sampling by 2)",
        f"{name:16s} {plan}",
        "",
    ]
    for i, (octave, rack) in enumerate(zip(plan.octaves, plan.components)):
        lines.append(f"rack {i + 1} (octave {octave}, {sum(c.n_keypoints for c in rack)} keypoints):")
        kernels = plan.allocation[i] if plan.allocation is not None else [None] * len(rack)
        for j, (comp, k) in enumerate(zip(rack, kernels)):
            lines.append(f"  layer {j + 1}: entropy mean {comp.mean:.3f} bits (std {comp.std:.3f}, weight "
                         f"{comp.weight:.3f}), {comp.n_keypoints} keypoints, {comp.n_clusters} cluster(s)"
                         + (f" -> {k} kernels" if k is not None else ""))
    seconds = ", ".join(f"{p} {plan.timings.get(p, 0.0):.2f}" for p in PHASES)
    lines += ["", f"seconds per phase: {seconds} (total {sum(plan.timings.get(p, 0.0) for p in PHASES):.2f})"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ experiment
@dataclass(frozen=True)
class RacknetSettings(Settings):
    """``budget``: the kernels every strategy allocates; ``paper_timings``: Table 3.8 per data set."""

    budget: int = DEFAULT_BUDGET
    paper_timings: dict = field(default_factory=dict)


def _dataset(images, labels, batch_size, shuffle_seed=None):
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    data = data.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_racknet_experiment(experiment, options):
    out_dir = Path(options.out_dir)
    dataset = runner.image_dataset_name(experiment, options)
    seeds = runner.seed_list(experiment, options)
    epochs = runner.epoch_count(experiment, options)
    budget = experiment.settings.budget
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

    plan_file = out_dir / PLAN_FILE
    if options.resume and plan_file.exists():
        plan = RackPlan.from_json(plan_file)
        print(f"plan from the earlier run: {plan}", flush=True)
    else:
        plan = analyze(x_train, upscale=upscale, progress=options.verbose == 1, budget=budget)
        out_dir.mkdir(parents=True, exist_ok=True)
        plan.to_json(plan_file)
    print(describe_plan(plan, dataset), flush=True)
    entropies, octaves = entropy_sample(x_train, plan)
    plot_entropy_histogram(plan, entropies, octaves, out_dir / HISTOGRAM_FILE,
                           title=f"{dataset}: keypoint entropy per octave and its Gaussian components")

    val_ds = _dataset(x_val, y_val, options.batch_size)
    test_ds = _dataset(x_test, y_test, options.batch_size)
    progress = runner.Progress(len(STRATEGY_ROWS) * len(seeds))
    rows = []
    for strategy, (label, observations) in STRATEGY_ROWS.items():
        allocations = {seed: allocate(plan, budget, strategy, seed) for seed in seeds}

        def train(seed, run_dir, strategy=strategy, allocations=allocations):
            counts = [list(rack) for rack in allocations[seed]]
            train_experiment_run(
                experiment, options,
                lambda: build_model(counts, info["input_shape"], info["num_classes"], name=f"racknet_{strategy}"),
                _dataset(x_train, y_train, options.batch_size, shuffle_seed=seed),
                epochs=epochs, out_dir=run_dir, val_ds=val_ds, test_ds=test_ds)
            return read_json(run_dir / "result.json")

        runs = runner.run_seeds(seeds, lambda seed, strategy=strategy: out_dir / strategy / f"seed{seed}", train,
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
        "paper_timings": experiment.settings.paper_timings.get(dataset, {}),
    }
    write_results(summary, out_dir, format_racknet_markdown(summary))
    plot_strategy_accuracy(summary, out_dir / ACCURACY_FILE)
    return summary


def format_racknet_markdown(summary):
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


def plot_strategy_accuracy(summary, path):
    """Bar chart of Table 3.6: mean top-1 per strategy with the std over seeds as error bars."""
    rows = summary["rows"]
    means = [row["top1_mean_std"][0] for row in rows]
    stds = [row["top1_mean_std"][1] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(range(len(rows)), means, yerr=stds, capsize=4,
           color=["C3" if row["strategy"] == "racknet" else "C0" for row in rows])
    ax.set_xticks(range(len(rows)), [row["label"] for row in rows], rotation=20, fontsize=8)
    low = min(m - s for m, s in zip(means, stds))
    ax.set_ylim(max(0.0, low - 2.0), min(100.0, max(m + s for m, s in zip(means, stds)) + 1.0))
    ax.set_ylabel("top-1 test accuracy (%)")
    ax.set_title(f"{summary['dataset']}: kernel allocation strategies, budget {summary['budget']}, "
                 f"{summary['seeds']} seed(s)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return close_figure(fig, path)


register(
    Experiment(
        name="racknet",
        description="RACKNet vs five kernel allocation strategies (budget 400) and the cost of each phase.",
        paper_table="Dissertation Tables 3.6, 3.8",
        run=run_racknet_experiment,
        paper=PAPER_TABLE_3_6,
        quick_seeds=2,
        settings=RacknetSettings(budget=DEFAULT_BUDGET, paper_timings=PAPER_TABLE_3_8),
        presets={  # racknet_fashion_mnist, racknet_digits
            "published": {"dataset": "fashion_mnist", "seeds": 3, "epochs": 5, "batch_size": 64, "train_limit": 6000},
            "published-digits": {"dataset": "digits", "seeds": 3, "epochs": 10, "batch_size": 32},
        },
    )
)

__all__ = [
    "default_upscale",
    "describe_plan",
    "entropy_sample",
    "plot_entropy_histogram",
    "plot_strategy_accuracy",
    "run_racknet_experiment",
    "validation_split",
    "format_racknet_markdown",
    "RacknetSettings",
]
