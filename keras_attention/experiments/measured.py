"""The image experiments that also measure what each model costs (FANet Table I, SPANet Table 2, AW paper
Table 1: ``fa``, ``spanet``, ``awconv``; their data is in :mod:`keras_attention.experiments.catalog.fa_spanet_aw`).

:func:`run_measured_image_experiment` trains the configurations (:func:`~keras_attention.experiments.images.
run_image_experiment`), then measures every configuration's first-seed model on one batch of real test images:
multiply-accumulates and attention-map entries (:mod:`~keras_attention.experiments.costs`), the peak memory a
training step adds (``spanet``) and the step time, and writes the experiment's table next to the paper's numbers.
"""

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

from keras_attention.data import image_dataset
from keras_attention.experiments.artifacts import MODEL, seed_dir
from keras_attention.experiments.catalog.fa_spanet_aw import MeasuredSettings
from keras_attention.experiments.costs import (
    MIB,
    attention_map_entries,
    count_macs,
    peak_step_memory,
    train_step_seconds,
)
from keras_attention.experiments.images import run_header, run_image_experiment
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import format_mean_std, markdown_table, slug, write_results

TIMED_STEPS, QUICK_TIMED_STEPS = 10, 3


def probe_batch(dataset: str, size: tuple[int, int] | None, batch_size: int,
                data_dir: str | PathLike[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``batch_size`` test images of ``dataset`` at ``size`` and their labels, as numpy arrays."""
    batch = next(iter(image_dataset(dataset, "test", batch_size=batch_size, shuffle=False, data_dir=data_dir,
                                    image_size=size, limit=batch_size)))
    return np.asarray(batch[0]), np.asarray(batch[1])


def run_measured_image_experiment(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """Train the configurations (``run_image_experiment``), then measure each first-seed model and write the
    experiment's table (``results.md``, ``results.json``, with the measurements added to the rows)."""
    summary = run_image_experiment(experiment, options)
    settings = cast(MeasuredSettings, experiment.settings)  # the settings of the fa / spanet / awconv catalog
    out_dir = Path(options.out_dir)
    steps = QUICK_TIMED_STEPS if options.quick else TIMED_STEPS
    probe: tuple[np.ndarray, np.ndarray] | None = None
    for row in summary["rows"]:
        if "incompatible" in row:
            continue
        model_path = seed_dir(out_dir, slug(row["label"]), summary["seed_list"][0]) / MODEL
        model = keras.saving.load_model(model_path, safe_mode=True)
        if probe is None:
            probe = probe_batch(summary["dataset"], tuple(model.input_shape[1:3]), options.batch_size,
                                 options.data_dir)
        macs = count_macs(model)
        row["macs"], row["macs_uncounted"] = macs["total"], macs["uncounted"]
        row["attention_map_entries"] = attention_map_entries(model)
        if settings.memory:
            row["peak_step_memory_bytes"], row["memory_method"] = peak_step_memory(
                model, model_path, *probe, steps, jit_compile=options.jit_compile)
            model = keras.saving.load_model(model_path, safe_mode=True)
        row["step_seconds"] = train_step_seconds(model, *probe, steps, jit_compile=options.jit_compile)
        print(f"    {row['label']}: {row['macs'] / 1e6:.2f} MMACs, step {1e3 * row['step_seconds']:.1f} ms"
              + (f", peak +{row['peak_step_memory_bytes'] / MIB:.1f} MiB" if settings.memory else ""), flush=True)
    summary["measured_batch"] = options.batch_size
    summary["timed_steps"] = steps
    summary["paper_reference"] = settings.paper_reference
    write_results(summary, out_dir, format_measured_markdown(summary, settings.table))
    return summary


def format_measured_markdown(summary: Mapping[str, Any], table: str) -> str:
    """The experiment's table: ours (mean ± std over seeds) next to the paper's reference numbers."""
    ref = summary["paper_reference"]
    measured = ["params", "MMACs", "step ms"]
    if table == "spanet":
        measured += ["attn map entries", "peak step MiB"]
    metric = "top-1 error %" if table == "fa" else "top-1 %"
    header = ["model", metric, *measured, *ref["columns"]]
    rows = []
    for row in summary["rows"]:
        paper = [str(v) for v in ref["rows"].get(row["label"], ["-"] * len(ref["columns"]))]
        if "incompatible" in row:
            rows.append([row["label"]] + ["-"] * (len(header) - 1 - len(paper)) + paper)
            continue
        mean, std = row["top1_mean_std"]  # over the seeds (run_image_experiment)
        if table == "fa":
            mean = 100.0 - mean  # error; its std is the accuracy's
        cells = [row["label"], format_mean_std((mean, std)), f"{row['params']:,}", f"{row['macs'] / 1e6:.3f}",
                 f"{1e3 * row['step_seconds']:.1f}"]
        if table == "spanet":
            memory = row.get("peak_step_memory_bytes")
            cells += [f"{row['attention_map_entries']:,}", "-" if memory is None else f"{memory / MIB:.1f}"]
        rows.append(cells + paper)
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']} (32 x 32)",
        "",
        run_header(summary)
        + f". Mean ± std over seeds. MMACs: multiply-accumulates per image (module docstring); step ms: median "
        f"of {summary['timed_steps']} training steps of batch {summary['measured_batch']}. Paper columns: "
        f"{ref['source']}.",
        "",
        markdown_table(header, rows),
    ]
    methods = sorted({row["memory_method"] for row in summary["rows"] if "memory_method" in row})
    if methods:
        lines += ["", f"Peak step memory: {', '.join(methods)}; above the memory in use before the steps."]
    uncounted = sorted({name for row in summary["rows"] for name in row.get("macs_uncounted", [])})
    if uncounted:
        lines += ["", f"Layers not in the MAC count: {', '.join(uncounted)}."]
    return "\n".join(lines) + "\n"
