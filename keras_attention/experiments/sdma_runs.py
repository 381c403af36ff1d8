"""The SDMA time-series experiments (dissertation Tables 6.2, 6.3): what
:mod:`keras_attention.experiments.catalog.sdma` describes, run on the shared time-series protocol of
:mod:`keras_attention.experiments.series`. Per data set the series, their scale-space events and saliency series are
computed once (``_DatasetCache``); every row trains per seed; ``results.json``, ``results.md`` and one saliency
figure per data set are written."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from keras_attention.experiments.artifacts import RESULT
from keras_attention.experiments.catalog.sdma import (
    DEFAULT_SIGMA0,
    EVENT_OCTAVES,
    EVENT_SCALES,
    QUICK_LIMITS,
    UNITLESS,
    SDMASettings,
    SeriesConfig,
)
from keras_attention.experiments.plots import plot_series_events
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import markdown_table, write_results
from keras_attention.experiments.series import (
    load_splits,
    report_line,
    run_grid,
    run_minirocket,
    select_rows,
    series_report,
    series_summary,
    split_datasets,
    split_info,
    train_series_run,
)
from keras_attention.models.sdma_net import sdma_net
from keras_attention.models.timeseries_nets import (
    fusion_cross_attention,
    lstm_baseline,
    san1d_lstm,
    self_attention_lstm,
)
from keras_attention.saliency import extract_events, saliency_series
from keras_attention.utils.files import read_json

BUILDERS: dict[str, Any] = {
    "lstm": lstm_baseline,
    "self_attention": self_attention_lstm,
    "san1d": san1d_lstm,
    "fusion": fusion_cross_attention,
    "sdma": sdma_net,
}


class _DatasetCache:
    """One dataset's splits, its events per split (computed once) and saliency series per (amplitude, cut)."""

    def __init__(self, name: str, quick: bool, sigma0: float) -> None:
        self.data, self.x, self.y = load_splits(name, quick, limits=QUICK_LIMITS, spread=False)
        self.sigma0 = float(sigma0)
        self._events: dict[str, Any] = {}
        self._saliency: dict[tuple[str, str, bool], np.ndarray] = {}

    def events(self, split: str) -> Any:
        """The scale-space events of ``split`` (computed on first use)."""
        if split not in self._events:
            self._events[split] = extract_events(
                self.x[split], octaves=EVENT_OCTAVES, scales=EVENT_SCALES, sigma0=self.sigma0
            )
        return self._events[split]

    def saliency(self, split: str, amplitude: str, cut: bool) -> np.ndarray:
        """The saliency series of ``split`` with ``amplitude`` and ``cut`` (computed on first use)."""
        key = (split, amplitude, cut)
        if key not in self._saliency:
            self._saliency[key] = saliency_series(self.x[split], self.events(split), amplitude=amplitude, cut=cut)
        return self._saliency[key]

    def inputs(self, config: SeriesConfig, split: str) -> np.ndarray | dict[str, np.ndarray]:
        """What the network of ``config`` takes on ``split``: the series, or ``{"series", "saliency"}``."""
        x = self.x[split]
        if config.inputs == "series":
            return x
        second = x if config.inputs == "series_twice" else self.saliency(split, config.amplitude, config.cut)
        return {"series": x, "saliency": second}


def _run_network(experiment: Experiment, options: RunOptions, config: SeriesConfig, cache: _DatasetCache,
                 plan: Mapping[str, Any], seed: int, run_dir: Path) -> dict[str, Any]:
    data = cache.data
    units = max(2 * data.n_variates, cast(SDMASettings, experiment.settings).min_units)
    inputs = {split: cache.inputs(config, split) for split in cache.x if len(cache.y[split])}  # no empty split
    datasets = split_datasets(inputs, cache.y, plan["batch_size"], seed)

    def build() -> Any:
        kwargs = dict(config.options)
        if config.kind not in UNITLESS:
            kwargs.setdefault("units", units)
        return BUILDERS[config.kind]((data.length, data.n_variates), data.n_classes, **kwargs)

    train_series_run(experiment, options, build, datasets, plan, run_dir)
    return read_json(run_dir / RESULT)


def sigma0_of(experiment: Experiment, options: RunOptions, dataset: str) -> float:
    """The events' first scale on ``dataset``: ``--sigma0``, else the experiment's per-set default."""
    if options.sigma0 is not None:
        return float(options.sigma0)
    return float(cast(SDMASettings, experiment.settings).sigma0.get(dataset, DEFAULT_SIGMA0))


def run_sdma_experiment(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """``run(experiment, options)`` of the ``sdma`` and ``sdma-ablation`` entries (module docstring)."""
    out_dir = Path(options.out_dir)
    full, experiment = experiment, select_rows(experiment, options)
    if options.sigma0 is not None and not (isinstance(options.sigma0, (int, float)) and options.sigma0 > 0):
        raise ValueError(f"{experiment.name}: sigma0={options.sigma0!r}; expected a number > 0.")

    def prepare(dataset: str) -> tuple[_DatasetCache, dict[str, Any]]:
        sigma0 = sigma0_of(experiment, options, dataset)
        cache = _DatasetCache(dataset, options.quick, sigma0)
        draw_saliency(cache, out_dir / f"saliency_{dataset}.png", title=f"{dataset}: test series 0")
        return cache, {**split_info(cache.data, cache.y), "sigma0": sigma0}

    def train(config: SeriesConfig, cache: _DatasetCache, plan: dict[str, Any], seed: int,
              run_dir: Path) -> dict[str, Any]:
        if config.kind == "minirocket":
            return run_minirocket(cache.x, cache.y, seed, run_dir)
        return _run_network(experiment, options, config, cache, plan, seed, run_dir)

    datasets, seeds, results, info = run_grid(experiment, options, out_dir, prepare, train, report=report_line)
    rows = [{"label": c.label, "kind": c.kind, "options": c.options, "inputs": c.inputs, "amplitude": c.amplitude,
             "cut": c.cut, "results": results[c.label]} for c in experiment.configs]
    sigma0 = {dataset: info[dataset]["sigma0"] for dataset in datasets}
    summary = series_summary(experiment, options, datasets, seeds, info, rows, full=full, sigma0=sigma0,
                             sigma0_source="--sigma0" if options.sigma0 is not None else "per data set default")
    write_results(summary, out_dir, format_markdown(summary))
    return summary


def draw_saliency(cache: _DatasetCache, path: Path, title: str = "") -> Path:
    x = cache.x["test"][:1]
    events = cache.events("test")
    events = events[np.asarray(events["sample"]) == 0]
    return plot_series_events(x[0], events, cache.saliency("test", "mean", False)[0], path, title=title)


def format_markdown(summary: Mapping[str, Any]) -> str:
    """``results.md``: per data set the accuracy table and what the numbers say
    (:func:`~keras_attention.experiments.series.series_report`), the paper's numbers, then seconds and
    parameters."""
    datasets = summary["datasets"]
    sigma0 = summary.get("sigma0", {})
    lines = series_report(
        summary, list(summary["paper"]),
        settings_text=(f"; saliency events O = {EVENT_OCTAVES}, S = {EVENT_SCALES}, sigma0 "
                       + ", ".join(f"{d} {v:g}" for d, v in sigma0.items())
                       + f" ({summary.get('sigma0_source', 'per data set default')})"),
        paper_text="the dissertation's Table 6.2 / 6.3 on MOCAP and AUSLAN, single-layer column for the "
                   "single-layer rows, Type 1 / Type 2 columns for the 3-layer rows")
    rows = []
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
        rows.append([row["label"], *cells])
    lines += ["", "Mean training seconds (params):", "", markdown_table(["model", *datasets], rows)]
    return "\n".join(lines) + "\n"
