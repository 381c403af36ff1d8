"""XM2A time-series experiments: ``xm2a`` (Table 7.3 analog), ``xm2a-variants`` (Fig. 7.4), ``xm2a-ablation``
(Table 7.4 analog).

The dissertation's data sets (SADD, AUSLAN, MOCAP; Table 7.2) are not bundled offline, so the analogs run on
the UEA/UCR sets aeon ships (:func:`keras_attention.data.load_timeseries`): the multi-variate JapaneseVowels
and BasicMotions and the harder uni-variate OSULeaf, ACSF1, ArrowHead and PickupGestureWiimoteZ. The paper's
numbers are printed beside ours for orientation only (other data, other depth).

Protocol (our reading of §7.6.3, written down where it departs):

- data: aeon's train split minus a stratified 20 % validation part (split seed 0 for every seed), aeon's
  test split as the test set, z-normalised per variate with the training part's statistics (the paper
  z-normalises every series; :func:`load_timeseries` explains why per-variate train statistics);
- network: :func:`keras_attention.models.attention_encoder.attention_encoder` with the row's attention.
  The paper's depth (6 blocks, 8 heads, key_dim 64, width 512) is not CPU-feasible for 3 seeds x 6 sets x
  12 rows, so the default depth is ``XM2ASettings.depth`` = **2 blocks, 4 heads, key_dim 16 (width
  64, feed-forward 256), dropout 0.1**; ``--quick`` uses 1 block, 2 heads, key_dim 8 on a small slice;
- training: Adam, learning rate 1e-3 (the paper uses RMSProp; :func:`compile_classifier` offers Adam or
  SGD), batch ``min(--batch-size, 16)`` (these sets have 28-216 training series), a fixed number of epochs
  (default 30) and the test accuracy of the final model (the paper reports the best of 25 epochs);
- seeds: seed k sets Keras' global seed (weights, dropout) and the shuffling; the tables give mean ± sample
  standard deviation of the test accuracy (%) over the seeds;
- cost: ``params`` (the whole network) and ``attention params`` (the ``block{i}_attention`` layers), and
  the training step time of the seed-0 network after training: the median over ``step_repeats`` (10)
  timed ``train_on_batch`` calls on one training batch, after 3 warm-up calls. ``x MHA`` divides a row's
  step time by the Transformer row's (``keras.layers.MultiHeadAttention`` with the same heads and
  key_dim) on the same data set. Step times are wall-clock on a machine that may be shared: compare
  rows of one run, not runs;
- MiniRocket (aeon's ``aeon.classification.convolution_based.MiniRocketClassifier``, 10,000 kernels,
  ``random_state`` = seed) is the non-neural reference row of ``xm2a``.

Table 7.4's "input-to-scale" (IS) talk and its norm-less self-talk rows are not reproduced: the XM2A layer
has ``talk="scale"`` (SS) or ``"self"`` (ST) and always normalises; ``xm2a-ablation`` crosses talk x
descriptor x norm.

Outputs under ``out_dir``: ``<dataset>/<config>/seed<k>/`` (the ``train_run`` artefacts: history, curves,
``model.keras``, ``result.json`` with the step time added), ``results.json``, ``results.md``, and for
``xm2a-variants`` ``accuracy_vs_params.png`` (Fig. 7.4: mean test accuracy ± std against parameters).
"""

from dataclasses import dataclass, field
from pathlib import Path

import keras

from keras_attention.experiments.plots import close_figure
from keras_attention.experiments.registry import Experiment, register
from keras_attention.experiments.results import markdown_table, slug, write_results
from keras_attention.experiments.runner import epoch_count, finished_result, seed_list
from keras_attention.experiments import series
from keras_attention.experiments.series import load_splits, spread_slice
from keras_attention.experiments.training import compile_classifier, median_step_seconds, train_experiment_run
from keras_attention.models.attention_encoder import (
    attention_encoder,
    attention_parameter_count,
)
from keras_attention.utils.files import read_json, write_json

XM2A_DATASETS = ("JapaneseVowels", "BasicMotions", "OSULeaf", "ACSF1", "ArrowHead", "PickupGestureWiimoteZ")
PAPER_DATASETS = ("SADD", "AUSLAN", "MOCAP")
DEPTH = {"num_layers": 2, "num_heads": 4, "key_dim": 16, "dropout": 0.1}
QUICK_DEPTH = {"num_layers": 1, "num_heads": 2, "key_dim": 8, "dropout": 0.1}
STEP_REPEATS, STEP_WARMUP = 10, 3
TRANSFORMER = "Transformer (MultiHeadAttention)"
MINIROCKET = "minirocket"


@dataclass(frozen=True)
class XM2ASettings(series.SeriesSettings):
    """The encoder depth of a full and of a ``--quick`` run, the timed steps, the row the step times are
    divided by (``ratio_reference``), whether to draw accuracy against parameters (``plot``) and the notes
    under the table."""

    depth: dict = field(default_factory=lambda: dict(DEPTH))
    quick_depth: dict = field(default_factory=lambda: dict(QUICK_DEPTH))
    step_repeats: int = STEP_REPEATS
    quick_step_repeats: int = 3
    ratio_reference: str = TRANSFORMER
    plot: bool = False
    notes: tuple = ()


@dataclass
class EncoderConfig:
    """One row: ``attention`` for :func:`attention_encoder` (None = no attention) or ``"minirocket"``;
    ``options`` are XM2A's (variant, talk, descriptor, norm)."""

    label: str
    attention: object
    options: dict = field(default_factory=dict)

    @property
    def slug(self):
        return slug(self.label)


# ----------------------------------------------------------------------------- cost
def step_time_ms(model, x, y, repeats=STEP_REPEATS, warmup=STEP_WARMUP):
    """Median wall time (ms) of ``model.train_on_batch(x, y)`` over ``repeats`` calls after ``warmup`` calls.

    ``model`` must be compiled; its weights and optimizer state change (use a model already saved)."""
    return 1000.0 * median_step_seconds(model, x, y, repeats, warmup)


def add_cost(experiment, options, model, timed, x, y, run_dir):
    """Add ``attention_params`` and (when ``timed``: the first seed) ``step_ms`` to the run's ``result.json``;
    returns its content.

    ``model`` is the trained, compiled network already saved in ``run_dir`` (timing changes its weights)."""
    summary = read_json(run_dir / "result.json")
    summary["attention_params"] = attention_parameter_count(model)
    summary["step_ms"] = None
    if timed:
        settings = experiment.settings
        repeats = settings.quick_step_repeats if options.quick else settings.step_repeats
        n = min(series.batch_size(experiment, options), len(y["train"]))
        summary["step_ms"] = step_time_ms(model, x["train"][:n], y["train"][:n], repeats=repeats)
    write_json(run_dir / "result.json", summary)
    return summary


# ----------------------------------------------------------------------------- one run
def run_xm2a_experiment(experiment, options):
    """``run(experiment, options)`` of ``xm2a``, ``xm2a-variants`` and ``xm2a-ablation`` (module docstring)."""
    out_dir = Path(options.out_dir)
    settings = experiment.settings
    epochs = epoch_count(experiment, options)
    first_seed = seed_list(experiment, options)[0]
    depth = dict(settings.quick_depth if options.quick else settings.depth)

    def prepare(dataset):
        data, x, y = load_splits(dataset, options.quick)
        return (data, x, y), series.split_info(data, y)

    def train(config, context, seed, run_dir):
        data, x, y = context
        if config.attention == MINIROCKET:
            return series.run_minirocket(x, y, seed, run_dir, attention_params=None, step_ms=None)
        train_ds, val_ds, test_ds = series.split_datasets(x, y, series.batch_size(experiment, options), seed)

        def build():
            return attention_encoder((data.length, data.n_variates), data.n_classes, config.attention,
                                     **depth, **config.options)

        result = train_experiment_run(experiment, options, build, train_ds, epochs=epochs, out_dir=run_dir,
                                      val_ds=val_ds, test_ds=test_ds)
        return add_cost(experiment, options, result.model, seed == first_seed, x, y, run_dir)

    def kept(config, context, seed, run_dir):
        """A finished run (step time measured); one killed while timing is timed from its model.keras."""
        _, x, y = context
        saved = finished_result(run_dir)
        if saved is not None and "step_ms" not in saved and (run_dir / "model.keras").exists():
            model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
            compile_classifier(model, learning_rate=settings.learning_rate, optimizer=settings.optimizer,
                               jit_compile=options.jit_compile)
            saved = add_cost(experiment, options, model, seed == first_seed, x, y, run_dir)
        return saved if saved is not None and "step_ms" in saved else None

    def report(result):
        step = "" if result["step_ms"] is None else f"  step {result['step_ms']:.1f} ms"
        return f"accuracy {100 * result['test']['top1']:.2f}  {result['train_seconds']:.0f} s{step}"

    datasets, seeds, results, info = series.run_grid(
        experiment, options, out_dir, prepare, train, report=report, kept=kept,
        cell_keys=("attention_params", "step_ms"), banner=f", depth {depth}")
    reference = settings.ratio_reference
    for dataset in datasets:
        base = results.get(reference, {}).get(dataset, {}).get("step_ms")
        for label in results:
            cell = results[label][dataset]
            cell["step_ratio"] = None if not base or cell["step_ms"] is None else cell["step_ms"] / base
    rows = [{"label": c.label, "attention": c.attention, "options": c.options, "results": results[c.label]}
            for c in experiment.configs]
    summary = series.series_summary(experiment, options, datasets, seeds, info, rows, depth=depth,
                                    ratio_reference=reference if reference in results else None,
                                    notes=list(settings.notes))
    write_results(summary, out_dir, format_markdown(summary))
    if settings.plot:
        plot_accuracy_vs_params(summary, out_dir / "accuracy_vs_params.png")
    return summary


# ----------------------------------------------------------------------------- reports
def format_markdown(summary):
    """The ``results.md`` text: accuracy table (with the paper's columns) and cost table."""
    datasets, paper = summary["datasets"], summary["paper"]
    d = summary["depth"]
    width = d["num_heads"] * d["key_dim"]
    lines = series.accuracy_table(
        summary, [p for p in PAPER_DATASETS if p in paper],
        quick_note=" (quick mode: small slices, not comparable to the paper)",
        settings_text=(f", encoder depth {d['num_layers']} blocks x {d['num_heads']} heads x key_dim {d['key_dim']} "
                       f"(width {width}, feed-forward {4 * width}, dropout {d['dropout']})"),
        paper_text="the dissertation's numbers on its own data sets with 6 blocks x 8 heads x key_dim 64")
    reference = summary.get("ratio_reference")
    ratio_text = f", x {reference} = step time / that row's on the same set" if reference else ""
    rows = []
    for row in summary["rows"]:
        first = next(iter(row["results"].values()), {})
        att = first.get("attention_params")
        cells = []
        for ds in datasets:
            cell = row["results"].get(ds)
            if cell is None:
                cells.append("-")
            elif cell["params"] is None:
                cells.append(f"fit {cell['train_seconds_mean']:.1f} s")
            else:
                text = f"{cell['params']:,} / {cell['step_ms']:.1f} ms" if cell["step_ms"] is not None \
                    else f"{cell['params']:,}"
                if cell.get("step_ratio") is not None:
                    text += f" / x{cell['step_ratio']:.2f}"
                cells.append(text)
        rows.append([row["label"], "-" if att is None else f"{att:,}", *cells])
    lines += [
        "",
        (f"Cost: attention params; per data set total params / training step ms (seed-0 network, median of "
         f"timed train_on_batch calls{ratio_text}); MiniRocket: fit seconds."),
        "",
        markdown_table(["model", "attention params", *datasets], rows),
    ]
    info = summary["dataset_info"]
    lines += ["", "Data (train / val / test series, length x variates, classes): " + "; ".join(
        f"{ds} {i['train']}/{i['val']}/{i['test']}, {i['length']}x{i['variates']}, {i['classes']}"
        for ds, i in info.items()) + "."]
    lines += [f"- {note}" for note in summary.get("notes", [])]
    return "\n".join(lines) + "\n"


def plot_accuracy_vs_params(summary, path):
    """Fig. 7.4 analog: one panel per data set, mean test accuracy (± std) against total parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = summary["datasets"]
    cols = min(3, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    markers = "osD^vP*Xh"
    for ax, ds in zip(axes.flat, datasets):
        for k, row in enumerate(summary["rows"]):
            cell = row["results"].get(ds)
            if cell is None or cell["params"] is None:
                continue
            mean, std = cell["top1_mean_std"]
            ax.errorbar(cell["params"], mean, yerr=std, fmt=markers[k % len(markers)], capsize=3,
                        label=row["label"])
        ax.set_title(ds, fontsize=10)
        ax.set_xlabel("parameters")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8)
    d = summary["depth"]
    fig.suptitle(f"{summary['experiment']}: accuracy vs parameters\n{d['num_layers']} blocks x {d['num_heads']} "
                 f"heads x key_dim {d['key_dim']}, {summary['seeds']} seeds x {summary['epochs']} epochs",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.1 if len(labels) > 4 else 0.06, 1, 1))
    return close_figure(fig, path)


# ----------------------------------------------------------------------------- the registry entries
VARIANT_LABELS = {
    "xm2a": "XM2A",
    "msmsa": "XM2A-MSMSA (M)",
    "exp": "XM2A-Exp (E)",
    "pool": "XM2A-Pool (P)",
    "exp_pool": "XM2A-Exp-Pool (EP)",
}
VARIANT_CONFIGS = [EncoderConfig(label, "xm2a", {"variant": variant}) for variant, label in VARIANT_LABELS.items()]
MULTI_HEAD_CONFIGS = [EncoderConfig(TRANSFORMER, "transformer"), EncoderConfig("MSMSA", "msmsa")]

XM2A_CONFIGS = [
    EncoderConfig("No attention", None),
    EncoderConfig("Self", "self"),
    EncoderConfig("SENet", "se"),
    EncoderConfig("BAM", "bam"),
    *MULTI_HEAD_CONFIGS,
    *VARIANT_CONFIGS,
    EncoderConfig("MiniRocket (non-neural reference)", MINIROCKET),
]

_TABLE_7_3 = {  # dataset -> row -> accuracy (%); the paper's baselines are VGG / InceptionNet, not ours
    "SADD": {"Self": 94.56, "SENet": 94.91, "BAM": 95.95, TRANSFORMER: 96.16, "MSMSA": 97.03, "XM2A": 98.12},
    "AUSLAN": {"Self": 82.50, "SENet": 82.54, "BAM": 82.89, TRANSFORMER: 85.52, "MSMSA": 87.63, "XM2A": 89.52},
    "MOCAP": {"Self": 73.76, "SENet": 73.11, "BAM": 74.99, TRANSFORMER: 75.11, "MSMSA": 76.47, "XM2A": 78.82},
}


# The data sets of the committed tables (benchmarks/results/xm2a_*.md; 3 seeds x 30 epochs, batch 16).
PUBLISHED_DATASETS = "JapaneseVowels,BasicMotions,ArrowHead,PickupGestureWiimoteZ"


def _register(name, description, paper_table, configs, paper, settings, published=PUBLISHED_DATASETS):
    register(Experiment(name=name, description=description, paper_table=paper_table, run=run_xm2a_experiment,
                        default_datasets=XM2A_DATASETS, default_seeds=3, default_epochs=30, configs=configs,
                        paper=paper, settings=settings,
                        presets={"published": {"dataset": published, "seeds": 3, "batch_size": 16}}))


_register("xm2a", "XM2A and its variants vs MSMSA, Transformer, BAM, SENet, Self, no attention, MiniRocket.",
          "Dissertation Table 7.3", XM2A_CONFIGS, _TABLE_7_3, XM2ASettings(notes=(
              "The paper's 'Baseline W/O Attn' rows are VGG / InceptionNet (not reproduced); our 'No attention' "
              "row is the same encoder without attention sub-blocks.",)))
_register("xm2a-variants", "Accuracy vs parameters of every XM2A variant, the Transformer and MSMSA (PNG).",
          "Dissertation Fig. 7.4", [*VARIANT_CONFIGS, *MULTI_HEAD_CONFIGS],
          {ds: {k: v for k, v in cells.items() if k in ("XM2A", TRANSFORMER, "MSMSA")}
           for ds, cells in _TABLE_7_3.items()},
          XM2ASettings(plot=True))


def _ablation_label(descriptor, norm, talk):
    talk_text = "scale-to-scale (SS)" if talk == "scale" else "self-talk (ST)"
    label = f"{'average' if descriptor == 'mean' else 'maximum'} / {norm} norm / {talk_text}"
    return label + (" = XM2A" if (descriptor, norm, talk) == ("mean", "layer", "scale") else "")


ABLATION_CONFIGS = [
    EncoderConfig(_ablation_label(descriptor, norm, talk), "xm2a",
                  {"descriptor": descriptor, "norm": norm, "talk": talk})
    for descriptor in ("max", "mean") for norm in ("batch", "layer") for talk in ("self", "scale")
]

_TABLE_7_4_SS = {  # (descriptor, norm) -> (SADD, AUSLAN, MOCAP) of the scale-to-scale rows
    ("max", "batch"): (96.24, 86.24, 76.89),
    ("max", "layer"): (97.52, 88.15, 77.99),
    ("mean", "batch"): (96.02, 87.38, 77.05),
    ("mean", "layer"): (98.12, 89.52, 78.82),
}

_register("xm2a-ablation", "XM2A ablation: descriptor mean/max x norm layer/batch x talk self/scale.",
          "Dissertation Table 7.4", ABLATION_CONFIGS,
          {p: {_ablation_label(desc, norm, "scale"): values[i] for (desc, norm), values in _TABLE_7_4_SS.items()}
           for i, p in enumerate(PAPER_DATASETS)},
          XM2ASettings(ratio_reference=_ablation_label("mean", "layer", "scale"), notes=(
              "x ratio here: step time relative to the default XM2A row (there is no Transformer row).",
              "The paper's self-talk (ST) rows have no normalisation (average 95.12 / 80.73 / 72.17, maximum "
              "94.99 / 80.40 / 71.76 on SADD / AUSLAN / MOCAP); ours normalise like every XM2A, so they are "
              "left without a paper value. The input-to-scale (IS) rows are not reproduced.")),
          published="JapaneseVowels,BasicMotions")

__all__ = [
    "XM2A_DATASETS",
    "XM2ASettings",
    "EncoderConfig",
    "add_cost",
    "format_markdown",
    "load_splits",
    "plot_accuracy_vs_params",
    "run_xm2a_experiment",
    "spread_slice",
    "step_time_ms",
]
