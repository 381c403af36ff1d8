"""SDMA time-series experiments: ``sdma`` (Table 6.2 analog) and ``sdma-ablation`` (Table 6.3 analog).

The dissertation's benchmarks (MOCAP, AUSLAN, SML; §6.5.2) are not bundled offline, so the analogs run on
the UEA/UCR sets aeon ships (:func:`keras_attention.data.load_timeseries`): the multi-variate
JapaneseVowels and BasicMotions and the uni-variate OSULeaf, ACSF1, ArrowHead, PickupGestureWiimoteZ.
The paper's MOCAP / AUSLAN numbers are printed beside ours for orientation only (other data).

Protocol (our reading of §6.5.1, written down where it departs):

- data: aeon's train split minus a stratified 20 % validation part (split seed 0 for every seed), aeon's
  test split as the test set, z-normalised per variate with the training part's statistics;
- saliency series: :func:`keras_attention.saliency.saliency_series` of every series (``O = 3``, ``S = 3``,
  ``sigma0`` per dataset from ``experiment.extra["sigma0"]``, default 1.0; amplitude ``"mean"`` without
  cut unless the configuration says otherwise), fed unscaled as the second input;
- networks: one layer (or 3 for Type 1 / Type 2 and the multi-layer baseline) of ``units`` units,
  ``units = max(2 * V, min_units)`` with ``min_units = 32``: the paper's rule is ``2 * V`` but its
  smallest set had 17 variates (34 units); on uni-variate data ``2 * V`` would be 2 units. SAN-1D is
  LSTM-4 (64 units) as the SAN paper defines it;
- training: Adam, learning rate 1e-3 (the paper uses RMSProp; ``train_run`` offers Adam or SGD), batch
  ``min(--batch-size, 16)`` (these sets have 30-300 training series), a fixed number of epochs, and the
  test accuracy of the final model (the paper reports the best epoch);
- seeds: seed k sets Keras' global seed (weights) and the shuffling; the tables give mean ± sample
  standard deviation of the test accuracy (%) over the seeds;
- MiniRocket (aeon's ``MiniRocketClassifier``, 10,000 kernels, ``random_state`` = seed) is the
  non-neural reference row; it sees the series only.

Outputs under ``out_dir``: ``<dataset>/<config>/seed<k>/`` (the ``train_run`` artefacts: history, curves,
``model.keras``, ``result.json``), ``results.json``, ``results.md`` and ``saliency_<dataset>.png`` (Fig. 6.3
style: a test series with its events, and its saliency series; :func:`plot_series_events`).
"""

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from keras_attention.data import load_timeseries
from keras_attention.experiments.registry import Experiment, register
from keras_attention.experiments.training import train_experiment_run
from keras_attention.models.sdma_net import sdma_net
from keras_attention.models.timeseries_nets import (
    fusion_cross_attention,
    lstm_baseline,
    san1d_lstm,
    self_attention_lstm,
)
from keras_attention.saliency import extract_events, saliency_series
from keras_attention.utils.files import read_json, save_figure, write_json, write_text

QUICK_TRAIN, QUICK_VAL, QUICK_TEST = 48, 16, 48
MAX_BATCH = 16
MIN_UNITS = 32
EVENT_OCTAVES, EVENT_SCALES = 3, 3

BUILDERS = {
    "lstm": lstm_baseline,
    "self_attention": self_attention_lstm,
    "san1d": san1d_lstm,
    "fusion": fusion_cross_attention,
    "sdma": sdma_net,
}
UNITLESS = ("san1d",)  # builders that do not take ``units``


@dataclass
class SeriesConfig:
    """One row: ``kind`` in :data:`BUILDERS` or ``"minirocket"``; ``inputs`` ``"series"`` (one input),
    ``"saliency"`` (``[series, saliency]``) or ``"series_twice"`` (``[series, series]``, data-only masks)."""

    label: str
    kind: str
    options: dict = field(default_factory=dict)
    inputs: str = "series"
    amplitude: str = "mean"
    cut: bool = False

    @property
    def slug(self):
        return "".join(ch if ch.isalnum() else "_" for ch in self.label.lower()).strip("_")


# ----------------------------------------------------------------------------- figure
def plot_series_events(series, events, saliency, path, variates=None, title=""):
    """Fig. 6.3 style: (a) one series with its events, (b) its saliency series.

    Args:
        series: ``(T, V)`` array, one sample.
        events: the events of that sample (any array with fields ``variate``, ``t``, ``sigma``, ``polarity``).
        saliency: ``(T, V)`` saliency series of the sample.
        path: PNG to write.
        variates: variate indices to draw (default: the first 3).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series, saliency = np.asarray(series), np.asarray(saliency)
    variates = list(range(min(3, series.shape[1]))) if variates is None else list(variates)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (ax_a, ax_b) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    steps = np.arange(series.shape[0])
    for k, v in enumerate(variates):
        colour = colours[k % len(colours)]
        ax_a.plot(steps, series[:, v], color=colour, lw=1.2, label=f"variate {v}")
        ax_b.plot(steps, saliency[:, v], color=colour, lw=1.2, label=f"variate {v}")
        mine = events[np.asarray(events["variate"]) == v]
        t = np.asarray(mine["t"], dtype=int)
        if t.size:
            up = np.asarray(mine["polarity"]) > 0
            ax_a.scatter(t[up], series[t[up], v], marker="^", color=colour, edgecolor="k", zorder=3, s=28)
            ax_a.scatter(t[~up], series[t[~up], v], marker="v", color=colour, edgecolor="k", zorder=3, s=28)
            low = series[:, variates].min()
            span = series[:, variates].max() - low
            for j, (centre, sigma) in enumerate(zip(t, np.asarray(mine["sigma"]))):
                level = low - 0.06 * span * (1 + k + len(variates) * (j % 3))
                ends = np.clip([centre - 3 * sigma, centre + 3 * sigma], 0, series.shape[0] - 1)
                ax_a.plot(ends, [level, level], color=colour, lw=0.8, alpha=0.6)
    ax_a.set_title("(a) series with its events (^ maxima, v minima of the DoG; bars: t ± 3 sigma, clipped)", fontsize=9)
    ax_b.set_title("(b) saliency series", fontsize=9)
    ax_b.set_xlabel("time step")
    for ax in (ax_a, ax_b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------- data
def _mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def _datasets(experiment, options):
    if options.dataset:
        return [name.strip() for name in str(options.dataset).split(",") if name.strip()]
    if options.quick:
        return list(experiment.extra.get("quick_datasets", experiment.default_dataset[:1]))
    return list(experiment.default_dataset)


class _DatasetCache:
    """One dataset's splits, its events per split (computed once) and saliency series per (amplitude, cut)."""

    def __init__(self, name, quick, sigma0):
        data = load_timeseries(name, validation_fraction=0.2, seed=0)
        self.data = data
        self.x = {"train": data.x_train, "val": data.x_val, "test": data.x_test}
        self.y = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
        if quick:
            limits = {"train": QUICK_TRAIN, "val": QUICK_VAL, "test": QUICK_TEST}
            self.x = {k: v[: limits[k]] for k, v in self.x.items()}
            self.y = {k: v[: limits[k]] for k, v in self.y.items()}
        self.sigma0 = float(sigma0)
        self._events = {}
        self._saliency = {}

    def events(self, split):
        if split not in self._events:
            self._events[split] = extract_events(
                self.x[split], octaves=EVENT_OCTAVES, scales=EVENT_SCALES, sigma0=self.sigma0
            )
        return self._events[split]

    def saliency(self, split, amplitude, cut):
        key = (split, amplitude, cut)
        if key not in self._saliency:
            self._saliency[key] = saliency_series(self.x[split], self.events(split), amplitude=amplitude, cut=cut)
        return self._saliency[key]

    def inputs(self, config, split):
        x = self.x[split]
        if config.inputs == "series":
            return x
        second = x if config.inputs == "series_twice" else self.saliency(split, config.amplitude, config.cut)
        return {"series": x, "saliency": second}


def _tf_dataset(inputs, labels, batch_size, shuffle_seed=None):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


# ----------------------------------------------------------------------------- one run
def _run_minirocket(cache, seed, run_dir):
    from aeon.classification.convolution_based import MiniRocketClassifier

    def aeon_layout(x):
        return np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float64)

    start = time.perf_counter()
    classifier = MiniRocketClassifier(n_kernels=10_000, random_state=seed, n_jobs=1)
    classifier.fit(aeon_layout(cache.x["train"]), cache.y["train"])
    seconds = time.perf_counter() - start
    accuracy = float(classifier.score(aeon_layout(cache.x["test"]), cache.y["test"]))
    result = {"test": {"top1": accuracy}, "train_seconds": seconds, "params": None}
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "result.json", result)
    return result


def _run_network(experiment, options, config, cache, seed, epochs, run_dir):
    data = cache.data
    n_variates = data.n_variates
    units = max(2 * n_variates, experiment.extra.get("min_units", MIN_UNITS))
    input_shape = (data.length, n_variates)
    batch_size = min(options.batch_size, experiment.extra.get("max_batch", MAX_BATCH))
    train_ds = _tf_dataset(cache.inputs(config, "train"), cache.y["train"], batch_size, shuffle_seed=seed)
    val_ds = _tf_dataset(cache.inputs(config, "val"), cache.y["val"], batch_size) if len(cache.y["val"]) else None
    test_ds = _tf_dataset(cache.inputs(config, "test"), cache.y["test"], batch_size)

    def build():
        builder = BUILDERS[config.kind]
        kwargs = dict(config.options)
        if config.kind not in UNITLESS:
            kwargs.setdefault("units", units)
        return builder(input_shape, data.n_classes, **kwargs)

    train_experiment_run(
        experiment,
        options,
        build,
        train_ds,
        epochs=epochs,
        out_dir=run_dir,
        val_ds=val_ds,
        test_ds=test_ds,
    )
    return read_json(run_dir / "result.json")


def run_sdma_experiment(experiment, options):
    """``run(experiment, options)`` of the ``sdma`` and ``sdma-ablation`` entries (module docstring)."""
    out_dir = Path(options.out_dir)
    datasets = _datasets(experiment, options)
    seeds = options.seeds or (1 if options.quick else experiment.default_seeds)
    epochs = options.epochs or (1 if options.quick else experiment.default_epochs)
    configs = experiment.configs
    total = len(configs) * seeds * len(datasets)
    print(f"{experiment.name}: {experiment.paper_table} analog on {', '.join(datasets)} — {len(configs)} "
          f"configurations x {seeds} seeds x {epochs} epochs -> {out_dir}", flush=True)
    results = {config.label: {} for config in configs}
    info, done = {}, 0
    for dataset in datasets:
        sigma0 = experiment.extra.get("sigma0", {}).get(dataset, 1.0)
        cache = _DatasetCache(dataset, options.quick, sigma0)
        info[dataset] = {
            "length": cache.data.length,
            "variates": cache.data.n_variates,
            "classes": cache.data.n_classes,
            "train": len(cache.y["train"]),
            "val": len(cache.y["val"]),
            "test": len(cache.y["test"]),
            "sigma0": sigma0,
        }
        draw_saliency(cache, out_dir / f"saliency_{dataset}.png", title=f"{dataset}: test series 0")
        for config in configs:
            runs = []
            for seed in range(seeds):
                done += 1
                run_dir = out_dir / dataset / config.slug / f"seed{seed}"
                result_file = run_dir / "result.json"
                if options.resume and result_file.exists():
                    runs.append(read_json(result_file))
                    print(f"[{done}/{total}] {dataset} {config.label} seed {seed}: done earlier, kept", flush=True)
                    continue
                print(f"[{done}/{total}] {dataset} {config.label} seed {seed}", flush=True)
                keras.utils.set_random_seed(seed)
                if config.kind == "minirocket":
                    result = _run_minirocket(cache, seed, run_dir)
                else:
                    result = _run_network(experiment, options, config, cache, seed, epochs, run_dir)
                runs.append(result)
                print(f"    accuracy {100 * result['test']['top1']:.2f}  {result['train_seconds']:.0f} s", flush=True)
            top1 = [100 * r["test"]["top1"] for r in runs]
            results[config.label][dataset] = {
                "top1": top1,
                "top1_mean_std": _mean_std(top1),
                "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in runs),
                "params": runs[0]["params"],
            }
    summary = {
        "experiment": experiment.name,
        "paper_table": experiment.paper_table,
        "datasets": datasets,
        "dataset_info": info,
        "seeds": seeds,
        "epochs": epochs,
        "quick": options.quick,
        "batch_size": min(options.batch_size, experiment.extra.get("max_batch", MAX_BATCH)),
        "rows": [
            {"label": c.label, "kind": c.kind, "options": c.options, "inputs": c.inputs,
             "amplitude": c.amplitude, "cut": c.cut, "results": results[c.label]}
            for c in configs
        ],
        "paper": experiment.paper,
    }
    write_summary(summary, out_dir)
    return summary


def draw_saliency(cache, path, title=""):
    x = cache.x["test"][:1]
    events = cache.events("test")
    events = events[np.asarray(events["sample"]) == 0]
    return plot_series_events(x[0], events, cache.saliency("test", "mean", False)[0], path, title=title)


def write_summary(summary, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", summary)
    datasets, paper = summary["datasets"], summary["paper"]
    paper_sets = list(paper)
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} analog",
        "",
        f"{summary['seeds']} seeds x {summary['epochs']} epochs, batch {summary['batch_size']}"
        + (" (quick mode: small subset, not comparable to the paper)" if summary["quick"] else "")
        + ". Test accuracy in %, mean ± std over seeds. Paper columns: the dissertation's numbers on its "
        "own data sets (other data, for orientation only).",
        "",
        "| model | " + " | ".join(datasets) + "".join(f" | paper {p}" for p in paper_sets) + " |",
        "|---|" + "---:|" * (len(datasets) + len(paper_sets)),
    ]
    for row in summary["rows"]:
        cells = []
        for dataset in datasets:
            cell = row["results"].get(dataset)
            cells.append("-" if cell is None else f"{cell['top1_mean_std'][0]:.2f} ± {cell['top1_mean_std'][1]:.2f}")
        for p in paper_sets:
            value = paper[p].get(row["label"])
            cells.append("-" if value is None else f"{value:.2f}")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Mean training seconds (params):", "",
              "| model | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for row in summary["rows"]:
        cells = []
        for dataset in datasets:
            cell = row["results"].get(dataset)
            if cell is None:
                cells.append("-")
            else:
                params = "-" if cell["params"] is None else str(cell["params"])
                seconds = cell["train_seconds_mean"]
                cells.append(f"{seconds:.{0 if seconds >= 10 else 1}f} ({params})")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    steps = {d: math.ceil(info["train"] / summary["batch_size"]) * summary["epochs"]
             for d, info in summary.get("dataset_info", {}).items() if d in datasets}
    if steps:
        lines += ["", "Optimizer steps per network run (training series / batch x epochs): "
                  + ", ".join(f"{d} {n}" for d, n in steps.items()) + "."]
    write_text(out_dir / "results.md", "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


# ----------------------------------------------------------------------------- the registry entries
SDMA_DATASETS = ["JapaneseVowels", "BasicMotions", "OSULeaf", "ACSF1", "ArrowHead", "PickupGestureWiimoteZ"]

SDMA_CONFIGS = [
    SeriesConfig("Base LSTM (no attention)", "lstm"),
    SeriesConfig("Self-attention", "self_attention"),
    SeriesConfig("SAN-1D (LSTM-4, SAN-c)", "san1d", {"variant": "c"}),
    SeriesConfig("FusAtNet-style (data only)", "fusion", inputs="series_twice"),
    SeriesConfig("FusAtNet-style (data + saliency)", "fusion", inputs="saliency"),
    SeriesConfig("SDCA", "sdma", {"block": "sdca"}, inputs="saliency"),
    SeriesConfig("SDMA single layer", "sdma", {"block": "sdma"}, inputs="saliency"),
    SeriesConfig("SDMA Type 1 (3 layers)", "sdma", {"layers": 3, "architecture": "type1"}, inputs="saliency"),
    SeriesConfig("SDMA Type 2 (3 layers)", "sdma", {"layers": 3, "architecture": "type2"}, inputs="saliency"),
    SeriesConfig("MiniRocket (non-neural reference)", "minirocket"),
]

# Table 6.2, single-layer column (Type 1 / Type 2 columns for the multi-layer SDMA rows).
_TABLE_6_2 = {
    "MOCAP": {"Base LSTM (no attention)": 72.65, "Self-attention": 74.41, "SAN-1D (LSTM-4, SAN-c)": 77.35,
              "FusAtNet-style (data only)": 74.32, "FusAtNet-style (data + saliency)": 84.12, "SDCA": 75.88,
              "SDMA single layer": 88.23, "SDMA Type 1 (3 layers)": 84.05, "SDMA Type 2 (3 layers)": 91.17},
    "AUSLAN": {"Base LSTM (no attention)": 71.16, "Self-attention": 72.91, "SAN-1D (LSTM-4, SAN-c)": 74.23,
               "FusAtNet-style (data only)": 81.61, "FusAtNet-style (data + saliency)": 82.15, "SDCA": 80.17,
               "SDMA single layer": 88.77, "SDMA Type 1 (3 layers)": 85.96, "SDMA Type 2 (3 layers)": 86.56},
}

register(
    Experiment(
        name="sdma",
        description="SDMA vs no attention, self-attention, SAN-1D, FusAtNet-style, SDCA, SDMA Type 1/2, MiniRocket.",
        paper_table="Dissertation Table 6.2",
        run=run_sdma_experiment,
        default_dataset=SDMA_DATASETS,
        default_seeds=3,
        default_epochs=20,
        configs=SDMA_CONFIGS,
        paper=_TABLE_6_2,
        extra={"quick_datasets": ["BasicMotions"], "min_units": MIN_UNITS, "max_batch": MAX_BATCH},
    )
)

AMPLITUDE_LABELS = {"dog": "scale-space (DoG)", "unit": "unit", "center": "center", "mean": "mean"}
ARCHITECTURE_OPTIONS = {
    "single": {"layers": 1},
    "Type 1": {"layers": 3, "architecture": "type1"},
    "Type 2": {"layers": 3, "architecture": "type2"},
}


def _ablation_label(arch, amplitude, cut):
    return f"SDMA {arch}: {AMPLITUDE_LABELS[amplitude]} amplitude, {'with' if cut else 'without'} cut"


def _ablation_configs():
    configs = [SeriesConfig("Base LSTM (single)", "lstm"), SeriesConfig("Base LSTM (3 layers)", "lstm", {"layers": 3})]
    for arch, arch_options in ARCHITECTURE_OPTIONS.items():
        for amplitude in AMPLITUDE_LABELS:
            for cut in (True, False):
                configs.append(SeriesConfig(_ablation_label(arch, amplitude, cut), "sdma", dict(arch_options),
                                            inputs="saliency", amplitude=amplitude, cut=cut))
    return configs


def _table_6_3():
    # (single, Type 1, Type 2) per row; MOCAP then AUSLAN. The Scale-Space row has no cut column: placed
    # under "without cut", the construction the paper proposes.
    rows = {
        ("dog", False): ((83.82, 77.65, 85.29), (73.26, 74.23, 83.47)),
        ("unit", True): ((82.35, 77.65, 82.35), (73.70, 77.45, 83.47)),
        ("unit", False): ((84.12, 77.94, 79.12), (76.04, 78.42, 82.32)),
        ("center", True): ((86.18, 72.65, 81.18), (73.89, 79.35, 81.72)),
        ("center", False): ((83.24, 72.18, 82.06), (75.86, 83.95, 85.88)),
        ("mean", True): ((82.94, 79.41, 82.35), (84.24, 81.40, 82.28)),
        ("mean", False): ((88.23, 84.05, 91.17), (88.77, 85.96, 86.56)),
    }
    paper = {"MOCAP": {"Base LSTM (single)": 72.65, "Base LSTM (3 layers)": 68.53},
             "AUSLAN": {"Base LSTM (single)": 71.16, "Base LSTM (3 layers)": 69.40}}
    for (amplitude, cut), per_set in rows.items():
        for dataset, values in zip(("MOCAP", "AUSLAN"), per_set):
            for arch, value in zip(ARCHITECTURE_OPTIONS, values):
                paper[dataset][_ablation_label(arch, amplitude, cut)] = value
    return paper


register(
    Experiment(
        name="sdma-ablation",
        description="SDMA saliency construction: amplitude mean/center/unit/DoG x with/without cut, 3 architectures.",
        paper_table="Dissertation Table 6.3",
        run=run_sdma_experiment,
        default_dataset=["JapaneseVowels", "BasicMotions"],
        default_seeds=3,
        default_epochs=20,
        configs=_ablation_configs(),
        paper=_table_6_3(),
        extra={"quick_datasets": ["BasicMotions"], "min_units": MIN_UNITS, "max_batch": MAX_BATCH},
    )
)

__all__ = ["SeriesConfig", "plot_series_events", "run_sdma_experiment", "write_summary"]
