"""attention-lenet (SAN's Table IV against the field): its rows are the package's modules in LeNet-5's slots and
SK in its convolutions, and its table, tests and plot say what the per-seed numbers say."""

import re

import keras
import numpy as np

from keras_attention.experiments.catalog.field import BASE, MODULES, SAN_D
from keras_attention.experiments.field_comparison import (
    PLOT,
    format_field_markdown,
    summary_lines,
)
from keras_attention.experiments.plots import plot_accuracy_vs_step_cost
from keras_attention.experiments.registry import get_experiment
from keras_attention.experiments.results import compare_to_reference, mean_std
from keras_attention.layers.selective_kernel import SelectiveKernel
from keras_attention.models import attention_layers, lenet5


def test_every_row_builds_the_module_it_names():
    experiment = get_experiment("attention-lenet")
    assert [config.label for config in experiment.configs] == [label for label, _, _ in MODULES]
    for config in experiment.configs:
        model = lenet5((28, 28, 1), 10, config.attention, **config.options)
        modules = attention_layers(model)
        if config.attention is None:
            assert modules == []
            sk = [layer for layer in model.layers if isinstance(layer, SelectiveKernel)]
            assert len(sk) == (2 if config.options.get("conv") == "sk" else 0), config.label
        else:
            assert len(modules) == 2, config.label  # after both convolutions


def _summary(rng):
    rows = []
    for index, (label, kind, options) in enumerate(MODULES):
        shift = {BASE: 0.0, SAN_D: 1.0, "CBAM": -1.0}.get(label, 0.0)
        top1 = list(88.0 + shift + 0.05 * rng.standard_normal(5))
        rows.append({"label": label, "attention": kind, "options": options, "top1": top1,
                     "top5": [99.7] * 5, "top1_mean_std": mean_std(top1), "top5_mean_std": (99.7, 0.0),
                     "params": 61706 + index, "step_seconds": 0.01 * (1 + index / 10),
                     "epoch_seconds": 4.22 * (1 + index / 10), "step_ratio": 1 + index / 10})
    samples = {row["label"]: row["top1"] for row in rows}
    return {"experiment": "attention-lenet", "paper_table": "SAN paper Table IV, extended to the field",
            "dataset": "fashion_mnist", "seeds": 5, "epochs": 10, "quick": False, "batch_size": 128, "width": 1.0,
            "train_limit": None, "test_limit": None, "rows": rows, "paper": {BASE: (89.43, 99.87)},
            "welch": {ref: compare_to_reference(samples, ref) for ref in (BASE, SAN_D)}, "timing_rounds": 7,
            "timed_steps": 10, "steps_per_epoch": 422, "alpha": 0.05}


def test_the_table_and_what_the_numbers_say(rng):
    summary = _summary(rng)
    text = format_field_markdown(summary)
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in text.splitlines() if line.startswith("| ")}
    assert [label for label, _, _ in MODULES] == [label for label in cells if label != "model"]
    assert cells[BASE][0].startswith("88.0") and cells[BASE][-1] == "89.43" and cells["SE"][-1] == "-"
    assert cells[SAN_D][4] == "2.20" and "higher" in cells[SAN_D][5] and cells[SAN_D][6] == "-"  # step, Welch
    said = "\n".join(summary_lines(summary))
    against_base = said.split("\n\n")[1]  # the first block: every row against the base
    assert re.search(r"higher: [^\n]*SAN-d \(\+1\.00 points[^\n]*lower: CBAM \(-1\.05", against_base)
    assert "13 tests against each reference, no correction for multiple comparisons" in said
    assert "Claim (SAN Table IV): SAN-d > Base Model. top-1 (final model): reproduced" in said
    assert "SAN-d ranks 1 of 14 by mean top-1; 12 of the other rows cost less per step." in said


def test_the_plot_has_one_point_per_row(rng, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    captured = {}
    real_close = plt.close

    def keep(fig=None):
        captured["fig"] = fig
        return real_close(fig)

    plt.close = keep
    try:
        path = plot_accuracy_vs_step_cost(_summary(rng), tmp_path / PLOT)
    finally:
        plt.close = real_close
    assert path.exists() and path.stat().st_size > 10_000
    ax = captured["fig"].axes[0]
    assert "step time" in ax.get_xlabel() and "accuracy" in ax.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert sorted(labels) == sorted([label for label, _, _ in MODULES] + [f"{BASE} ± std"])


def test_the_rows_are_timed_side_by_side(monkeypatch, tmp_path):
    """Every row's model is timed once per round, the rounds interleaved (row order within each round)."""
    from keras_attention.experiments import field_comparison

    order = []
    monkeypatch.setattr(field_comparison, "step_seconds", lambda model, x, y, steps, warmup: order.append(model.name)
                        or 0.01)
    monkeypatch.setattr(field_comparison, "probe_batch", lambda *a: (np.zeros((2, 28, 28, 1)), np.zeros(2)))
    models = {}
    for label in ("a", "b"):
        inputs = keras.Input((28, 28, 1))
        models[label] = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name=label)
    monkeypatch.setattr(field_comparison.keras.saving, "load_model",
                        lambda path, safe_mode: models[path.parent.parent.name])

    class Options:
        out_dir, jit_compile, batch_size, data_dir = tmp_path, False, 2, None

    times = field_comparison.time_side_by_side([{"label": "a"}, {"label": "b"}],
                                               {"seed_list": [0], "dataset": "fashion_mnist"}, Options, rounds=3)
    assert order == ["a", "b"] * 3 and times == {"a": 0.01, "b": 0.01}
