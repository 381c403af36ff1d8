"""SAN's Table IV against the field (``attention-lenet``; its rows are data in
:mod:`keras_attention.experiments.catalog.field`).

:func:`run_field_comparison` trains every row at the Table IV protocol (:func:`~keras_attention.experiments.images.
run_image_experiment`: LeNet-5, the last 10 % of the training images held out for validation, every seed's final
model tested once), then measures what each row costs side by side in this one process: the first seed's model of
every row trains on the same batch of real test images in interleaved rounds, each round timing every model
(:func:`~keras_attention.experiments.costs.step_seconds`, the one step timer), so that a slower stretch of the
machine slows every row alike. A row's step time is the median over its rounds; its step ratio is that time over
the base's; its seconds per epoch are the step time times the steps of one epoch. Each row's per-seed top-1 is
tested against the base's and SAN-d's with Welch's t-test (:func:`~keras_attention.experiments.results.
compare_to_reference`).
"""

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from keras_attention.experiments.artifacts import MODEL, seed_dir
from keras_attention.experiments.catalog.field import BASE, CLAIMS, SAN_D
from keras_attention.experiments.costs import step_seconds
from keras_attention.experiments.images import run_header, run_image_experiment
from keras_attention.experiments.measured import probe_batch
from keras_attention.experiments.plots import plot_accuracy_vs_step_cost
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import (
    ALPHA,
    compare_to_reference,
    format_mean_std,
    markdown_table,
    numbers_say,
    slug,
    write_results,
)
from keras_attention.experiments.training import compile_classifier

ROUNDS, QUICK_ROUNDS = 7, 2  # interleaved timing rounds
STEPS_PER_ROUND = 10  # timed training steps of each model in a round (after 2 warm-up steps in the first)
PLOT = "accuracy_vs_step_cost.png"


def run_field_comparison(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """Train the rows (``run_image_experiment``), time them side by side, test them against the base and
    SAN-d, and write ``results.md`` / ``results.json`` and the accuracy-against-step-cost plot.

    Args:
        experiment: the ``attention-lenet`` experiment (or one with the same rows).
        options: the run options.

    Returns:
        The summary of ``run_image_experiment`` with every row's ``step_seconds``, ``epoch_seconds`` and
        ``step_ratio`` (None without a base row), the Welch tests against the base and SAN-d (``welch``) and
        the timing protocol (``timing_rounds``, ``timed_steps``, ``steps_per_epoch``, ``alpha``).
    """
    summary = run_image_experiment(experiment, options)
    out_dir = Path(options.out_dir)
    rows = [row for row in summary["rows"] if "incompatible" not in row]
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    timings = time_side_by_side(rows, summary, options, rounds)
    steps_per_epoch = math.ceil(summary["examples"]["train"] / options.batch_size)
    base_step = timings.get(BASE)
    for row in rows:
        row["step_seconds"] = timings[row["label"]]
        row["epoch_seconds"] = row["step_seconds"] * steps_per_epoch
        row["step_ratio"] = row["step_seconds"] / base_step if base_step else None
    samples = {row["label"]: row["top1"] for row in rows}
    summary["welch"] = {reference: compare_to_reference(samples, reference)
                        for reference in (BASE, SAN_D) if reference in samples}
    summary.update(timing_rounds=rounds, timed_steps=STEPS_PER_ROUND, steps_per_epoch=steps_per_epoch,
                   alpha=ALPHA)
    plot_accuracy_vs_step_cost(summary, out_dir / PLOT)
    write_results(summary, out_dir, format_field_markdown(summary))
    return summary


def time_side_by_side(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], options: RunOptions,
                      rounds: int) -> dict[str, float]:
    """The first seed's model of every row compiled as in training, timed in ``rounds`` interleaved rounds of
    :data:`STEPS_PER_ROUND` steps on one batch of real test images.

    Args:
        rows: the summary's rows to time (their ``label``; each row's first-seed ``model.keras`` saved).
        summary: the summary of ``run_image_experiment`` (``seed_list``, ``dataset``).
        options: the run options (``out_dir``, ``batch_size``, ``jit_compile``, ``data_dir``).
        rounds: the timing rounds (at least one).

    Returns:
        ``{label: median step seconds}``.
    """
    models: dict[str, Any] = {}
    for row in rows:
        model = keras.saving.load_model(seed_dir(options.out_dir, slug(row["label"]), summary["seed_list"][0])
                                        / MODEL, safe_mode=True)
        compile_classifier(model, jit_compile=options.jit_compile)
        models[row["label"]] = model
    first = next(iter(models.values()))
    images, labels = probe_batch(summary["dataset"], tuple(first.input_shape[1:3]), options.batch_size,
                                 options.data_dir)
    times: dict[str, list[float]] = {label: [] for label in models}
    for index in range(rounds):
        for label, model in models.items():
            times[label].append(step_seconds(model, images, labels, STEPS_PER_ROUND, warmup=2 if index == 0 else 0))
        print(f"    timing round {index + 1}/{rounds}", flush=True)
    return {label: statistics.median(values) for label, values in times.items()}


def _verdict_cell(tests: Sequence[Mapping[str, Any]], label: str) -> str:
    for test in tests:
        if test["label"] == label:
            if test["verdict"] == "not tested":
                return "not tested"
            return f"{test['diff']:+.2f} (p={test['p']:.3f}) {test['verdict']}"
    return "-"


def format_field_markdown(summary: Mapping[str, Any]) -> str:
    """``results.md``: one row per module (top-1, top-5, parameters, step cost, Welch's tests), the paper's
    Table IV numbers where it has them, and what the numbers say.

    Args:
        summary: the summary of :func:`run_field_comparison`.

    Returns:
        The markdown text, ending in a newline.
    """
    paper, welch = summary["paper"], summary["welch"]
    header = ["model", "top-1 %", "top-5 %", "params", "s / epoch", "step x base",
              f"vs {BASE} (Δ, p)", f"vs {SAN_D} (Δ, p)", "paper top-1"]
    rows = []
    for row in summary["rows"]:
        if "incompatible" in row:
            continue
        reference = paper.get(row["label"])
        rows.append([row["label"], format_mean_std(row["top1_mean_std"]), format_mean_std(row["top5_mean_std"]),
                     f"{row['params']:,}", f"{row['epoch_seconds']:.1f}",
                     "-" if row["step_ratio"] is None else f"{row['step_ratio']:.2f}",
                     _verdict_cell(welch.get(BASE, []), row["label"]),
                     _verdict_cell(welch.get(SAN_D, []), row["label"]),
                     "-" if reference is None else f"{reference[0]:.2f}"])
    lines = [f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']}", "",
             run_header(summary) + (". Test accuracy of each seed's final model in %, mean ± std over seeds; "
                                    "no checkpoint is chosen (on validation or test)."),
             "",
             (f"Step cost: median of {summary['timing_rounds']} interleaved rounds of {summary['timed_steps']} "
              f"training steps (batch {summary['batch_size']}, the first seed's model of each row, one process); "
              f"s / epoch = step time x {summary['steps_per_epoch']} steps. Welch's t-test on the per-seed top-1, "
              f"two-sided; Δ in points; a difference counts at p < {summary['alpha']:g}."),
             "", markdown_table(header, rows), "", *summary_lines(summary)]
    return "\n".join(lines) + "\n"


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """What the numbers say: each row against the base and against SAN-d (Welch), the SAN paper's Table IV
    claims on these seeds, and where SAN stands among the rows by mean top-1 and by step cost.

    Args:
        summary: the summary of :func:`run_field_comparison`.

    Returns:
        The markdown lines.
    """
    samples = {row["label"]: row["top1"] for row in summary["rows"] if "incompatible" not in row}
    metric = {"top-1 (final model)": samples}
    lines = [*numbers_say(metric, BASE, CLAIMS), "", *numbers_say(metric, SAN_D), ""]
    ranked = sorted(samples, key=lambda label: -statistics.fmean(samples[label]))
    costs = {row["label"]: row["step_ratio"] for row in summary["rows"] if row.get("step_ratio") is not None}
    for label in ("SAN-c", SAN_D):
        if label in samples:
            cheaper = [other for other in costs if costs[other] < costs.get(label, 0.0)]
            lines.append(f"- {label} ranks {ranked.index(label) + 1} of {len(ranked)} by mean top-1; "
                         f"{len(cheaper)} of the other rows cost less per step.")
    tests = len(samples) - 1
    lines.append(f"- Each row is tested on its own ({tests} tests against each reference, no correction for "
                 f"multiple comparisons): at p < {summary.get('alpha', 0.05)} about "
                 f"{tests * summary.get('alpha', 0.05):.1f} of them would come out 'higher' or 'lower' by "
                 "chance alone when no module made a difference; read a lone small effect with that in mind.")
    return lines
