"""The XM2A time-series experiments (dissertation Table 7.3, Fig. 7.4, Table 7.4): what
:mod:`keras_attention.experiments.catalog.xm2a` describes, run on the shared time-series protocol of
:mod:`keras_attention.experiments.series`. Every row is an attention encoder (or MiniRocket) trained per data set
and seed; the first seed's model is timed (:func:`~keras_attention.experiments.costs.step_seconds`) and its attention
parameters counted; ``results.json``, ``results.md`` and, for ``xm2a-variants``, accuracy against parameters are
written."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

from keras_attention.experiments import series
from keras_attention.experiments.artifacts import MODEL, RESULT
from keras_attention.experiments.catalog.xm2a import (
    MINIROCKET,
    PAPER_DATASETS,
    STEP_WARMUP,
    EncoderConfig,
    XM2ASettings,
)
from keras_attention.experiments.costs import step_seconds
from keras_attention.experiments.plots import plot_accuracy_vs_params
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import markdown_table, write_results
from keras_attention.experiments.runner import finished_result, run_training_choices, seed_list
from keras_attention.experiments.series import load_splits
from keras_attention.experiments.training import compile_classifier
from keras_attention.layers.xm2a import VARIANTS, receptive_field
from keras_attention.models.attention_encoder import POSITIONAL, attention_encoder, attention_parameter_count
from keras_attention.utils.files import read_json, write_json


def add_cost(experiment: Experiment, options: RunOptions, model: Any, timed: bool, x: Mapping[str, np.ndarray],
             y: Mapping[str, np.ndarray], run_dir: Path, batch_size: int) -> dict[str, Any]:
    """Add ``attention_params`` and (when ``timed``: the first seed) ``step_ms`` (on one training batch of
    ``batch_size``) to the run's ``result.json``; returns its content.

    ``model`` is the trained, compiled network already saved in ``run_dir`` (timing changes its weights)."""
    summary = read_json(run_dir / RESULT)
    summary["attention_params"] = attention_parameter_count(model)
    summary["step_ms"] = None
    if timed:
        settings = cast(XM2ASettings, experiment.settings)  # an xm2a experiment's
        repeats = settings.quick_step_repeats if options.quick else settings.step_repeats
        n = min(batch_size, len(y["train"]))
        summary["step_ms"] = 1000.0 * step_seconds(model, x["train"][:n], y["train"][:n], repeats, STEP_WARMUP)
    write_json(run_dir / RESULT, summary)
    return summary


def encoder_depth(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """The encoder's ``num_layers``, ``num_heads``, ``key_dim`` and ``dropout``: the settings' depth (of a quick
    run in quick mode) with ``--depth``, ``--heads`` and ``--key-dim`` put in."""
    settings = cast(XM2ASettings, experiment.settings)  # an xm2a experiment's
    depth = dict(settings.quick_depth if options.quick else settings.depth)
    for key, value in (("num_layers", options.depth), ("num_heads", options.heads), ("key_dim", options.key_dim)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{experiment.name}: {key}={value!r}; expected an integer >= 1.")
            depth[key] = value
    return depth


def encoder_positional(experiment: Experiment, options: RunOptions) -> str:
    """The positional encoding of every row without its own: ``--positional``, else the settings'."""
    positional = options.positional or cast(XM2ASettings, experiment.settings).positional
    if positional not in POSITIONAL:
        raise ValueError(f"{experiment.name}: positional={positional!r}; expected one of {', '.join(POSITIONAL)}.")
    return positional


def run_xm2a_experiment(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """``run(experiment, options)`` of ``xm2a``, ``xm2a-variants`` and ``xm2a-ablation`` (module docstring)."""
    out_dir = Path(options.out_dir)
    full, experiment = experiment, series.select_rows(experiment, options)
    settings = cast(XM2ASettings, experiment.settings)  # an xm2a experiment's
    first_seed = seed_list(experiment, options)[0]
    depth = encoder_depth(experiment, options)
    positional = encoder_positional(experiment, options)

    def prepare(dataset: str) -> tuple[tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]], dict[str, Any]]:
        data, x, y = load_splits(dataset, options.quick)
        return (data, x, y), series.split_info(data, y)

    def train(config: EncoderConfig, context: tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]],
              plan: dict[str, Any], seed: int, run_dir: Path) -> dict[str, Any]:
        data, x, y = context
        if config.attention == MINIROCKET:
            return series.run_minirocket(x, y, seed, run_dir, attention_params=None, step_ms=None)
        datasets = series.split_datasets(x, y, plan["batch_size"], seed)

        def build() -> Any:
            return attention_encoder((data.length, data.n_variates), data.n_classes, config.attention,
                                     **{**depth, "positional": positional, **config.options})

        result = series.train_series_run(experiment, options, build, datasets, plan, run_dir)
        return add_cost(experiment, options, result.model, seed == first_seed, x, y, run_dir, plan["batch_size"])

    def kept(config: EncoderConfig, context: tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]], seed: int,
             run_dir: Path) -> dict[str, Any] | None:
        """A finished run (step time measured); one killed while timing is timed from its model.keras."""
        _, x, y = context
        saved = finished_result(run_dir)
        if saved is not None and "step_ms" not in saved and (run_dir / MODEL).exists():
            model = keras.saving.load_model(run_dir / MODEL, safe_mode=True)
            optimizer, learning_rate = run_training_choices(experiment, options)
            compile_classifier(model, learning_rate=learning_rate, optimizer=optimizer,
                               jit_compile=options.jit_compile)
            batch = saved.get("plan", {}).get("batch_size") or min(options.batch_size, len(y["train"]))
            saved = add_cost(experiment, options, model, seed == first_seed, x, y, run_dir, batch)
        return saved if saved is not None and "step_ms" in saved else None

    def report(result: dict[str, Any]) -> str:
        step = "" if result["step_ms"] is None else f"  step {result['step_ms']:.1f} ms"
        return series.report_line(result) + step

    datasets, seeds, results, info = series.run_grid(
        experiment, options, out_dir, prepare, train, report=report, kept=kept,
        cell_keys=("attention_params", "step_ms"), banner=f", depth {depth}, positional encoding {positional}")
    reference = settings.ratio_reference
    for dataset in datasets:
        base = results.get(reference, {}).get(dataset, {}).get("step_ms")
        for label in results:
            cell = results[label][dataset]
            cell["step_ratio"] = None if not base or cell["step_ms"] is None else cell["step_ms"] / base
    rows = [{"label": c.label, "attention": c.attention, "options": c.options, "results": results[c.label]}
            for c in experiment.configs]
    fields = {variant: receptive_field(variant, depth["num_heads"], depth["num_layers"]) for variant in VARIANTS}
    summary = series.series_summary(experiment, options, datasets, seeds, info, rows, full=full, depth=depth,
                                    positional=positional, receptive_field=fields,
                                    ratio_reference=reference if reference in results else None,
                                    notes=list(settings.notes))
    write_results(summary, out_dir, format_markdown(summary))
    if settings.plot:
        plot_accuracy_vs_params(summary, out_dir / "accuracy_vs_params.png")
    return summary


def format_markdown(summary: Mapping[str, Any]) -> str:
    """The ``results.md`` text: accuracy table (with the paper's columns) and cost table."""
    datasets, paper = summary["datasets"], summary["paper"]
    d = summary["depth"]
    width = d["num_heads"] * d["key_dim"]
    fields = summary.get("receptive_field") or {}
    field_text = (f"; XM2A's convolutions reach {fields['xm2a']} time steps around each step at this depth "
                  f"(MSMSA {fields['msmsa']}, Exp {fields['exp']}; the paper's 6 x 8: 43, 85, 763)" if fields else "")
    lines = series.series_report(
        summary, [p for p in PAPER_DATASETS if p in paper],
        quick_note=" (quick mode: small slices, not comparable to the paper)",
        settings_text=(f"; encoder depth {d['num_layers']} blocks x {d['num_heads']} heads x key_dim {d['key_dim']} "
                       f"(width {width}, feed-forward {4 * width}, dropout {d['dropout']}), positional encoding "
                       f"{summary.get('positional', 'none')} (rows that say otherwise: none){field_text}"),
        paper_text="the dissertation's Table 7.3 / 7.4 on its own data sets with 6 blocks x 8 heads x key_dim 64")
    reference = summary.get("ratio_reference")
    ratio_text = f", x {reference} = step time / that row's on the same set" if reference else ""
    rows = []
    for row in summary["rows"]:
        first: dict[str, Any] = next(iter(row["results"].values()), {})
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
