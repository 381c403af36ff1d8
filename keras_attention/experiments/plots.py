"""PNG figures that the CLI, the experiments and the notebooks save: training curves, attention-mask grids, and
each experiment's own figures (iSparse's accuracy curves, RACKNet's entropy histogram and strategy accuracies,
SDMA's series with their events, XM2A's accuracy against parameters).

The backend is left to matplotlib (Agg on a machine without a display, inline in a notebook); every
figure is saved and closed, so nothing accumulates in long runs.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from keras_attention.experiments.results import mean_std
from keras_attention.utils.files import save_figure

if TYPE_CHECKING:
    from keras_attention.racknet.plan import RackPlan


def close_figure(fig: Any, path: str | PathLike[str], dpi: int = 110) -> Path:
    """Save ``fig`` to ``path`` (atomically, its folder created) and close it; returns ``path`` as a Path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    return Path(path)


# what the curves' axes and legends say instead of the metric keys of a Keras history
METRIC_LABELS = {"loss": "loss", "top1": "top-1 accuracy", "top5": "top-5 accuracy"}
CURVE_KINDS = (("", "training", "-"), ("val_", "validation", "--"))
MASK_LABEL = "attention weight"
HISTOGRAM_BIN_BITS = 0.05  # RACKNet's entropy histograms: bin width (bits)


def training_curves_figure(series: Mapping[str, Sequence[float | None]], title: str = "") -> Any:
    """The figure of :func:`plot_training_curves` (not saved, not closed): one panel per metric, loss and
    top-1 accuracy against the epoch (integer ticks), training solid and validation dashed."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    n_epochs = max([len(values) for values in series.values() if values] or [1])
    for ax, metric in zip(axes, ("loss", "top1")):
        for prefix, label, style in CURVE_KINDS:
            values = series.get(prefix + metric)
            if values and any(v is not None for v in values):
                epochs = np.arange(1, len(values) + 1)
                values = [np.nan if v is None else v for v in values]
                ax.plot(epochs, values, style, marker="o", label=label)
        ax.set_xlim(0.5, n_epochs + 0.5)  # at least one whole epoch wide: integer ticks even for one epoch
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_training_curves(series: Mapping[str, Sequence[float | None]], path: str | PathLike[str],
                         title: str = "") -> Path:
    """Loss and top-1 accuracy per epoch, training and validation (when the history has ``val_`` keys),
    from ``{metric: [per-epoch values]}``; saved to ``path`` (returned as a Path)."""
    return close_figure(training_curves_figure(series, title), path)


def attention_grid_figure(images: Any, masks_by_model: Mapping[str, Any], channels: int = 4, title: str = "") -> Any:
    """The figure of :func:`plot_attention_grid` (not saved, not closed).

    Column 0 holds the image, columns 1.. the mask channels (``min(channels, most channels of any mask)``
    columns); every column is titled, every row labelled with its model and image number, and one colorbar
    (:data:`MASK_LABEL`, 0..1, shared by every mask) stands right of the masks.
    """
    rows = [(name, i) for name in masks_by_model for i in range(len(images))]
    channels = max(1, min(channels, max(np.shape(mask)[-1] for mask in masks_by_model.values())))
    cols = 1 + channels
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.7 * cols + 1.0, 1.7 * len(rows) + 0.6), squeeze=False,
                             layout="constrained")
    mappable = None
    for r, (name, i) in enumerate(rows):
        img = images[i]
        axes[r, 0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
        axes[r, 0].set_ylabel(f"{name}\n#{i}", fontsize=8)
        mask = masks_by_model[name][i]
        for c in range(channels):
            if c < mask.shape[-1]:
                mappable = axes[r, 1 + c].imshow(mask[..., c], cmap="viridis", vmin=0.0, vmax=1.0)
            else:
                axes[r, 1 + c].set_visible(False)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    for c in range(cols):  # the title of a column goes on its first drawn panel
        top = next(ax for ax in axes[:, c] if ax.get_visible())
        top.set_title("image" if c == 0 else f"mask channel {c - 1}", fontsize=8)
    colorbar = fig.colorbar(mappable, ax=axes[:, 1:].ravel().tolist(), shrink=0.9, fraction=0.05)
    colorbar.set_label(MASK_LABEL)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_attention_grid(images: Any, masks_by_model: Mapping[str, Any], path: str | PathLike[str], channels: int = 4,
                        title: str = "") -> Path:
    """One row per (model, image): the image, then the first ``channels`` mask channels (Fig. 4/8 style),
    with one colorbar; saved to ``path`` (returned as a Path).

    ``images``: ``(n, H, W, C)`` in [0, 1]; ``masks_by_model``: ``{name: (n, h, w, c)}`` masks in [0, 1].
    """
    return close_figure(attention_grid_figure(images, masks_by_model, channels, title), path)


# ------------------------------------------------------------------------------------------------ iSparse
def plot_sparsify_with(summary: Mapping[str, Any], path: str | PathLike[str], labels: Mapping[str, str],
                       colors: Mapping[str, str]) -> Path:
    """Top-1 and top-5 test accuracy against the sparsification factor (Fig. 4.5 / 4.6 layout) of the iSparse
    experiment's ``summary``; ``labels`` / ``colors``: per strategy."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    levels = [0.0] + list(summary["sparsify_levels"])
    for ax, k in zip(axes, ("top1", "top5")):
        base = summary["base"][k]
        for strategy, label in labels.items():
            by_level = summary["sparsify_with"][strategy]
            stats = [mean_std(base)] + [mean_std(by_level[f"{lv:g}"][k]) for lv in summary["sparsify_levels"]]
            mean, std = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
            xs = 100 * np.array(levels)
            color = colors[strategy]
            ax.plot(xs, mean, marker="o", color=color, label=label)
            ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2)
        ax.set_xlabel("sparsification factor (%)")
        ax.set_ylabel(f"top-{k[-1]} accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"LeNet-5 on {summary['dataset']}: sparsify-with (no retraining), "
                 f"{summary['seeds']} seed(s)")
    fig.tight_layout()
    return close_figure(fig, path)


def plot_train_with(summary: Mapping[str, Any], path: str | PathLike[str], labels: Mapping[str, str],
                    colors: Mapping[str, str]) -> Path:
    """Top-1 test accuracy against the target sparsity for each train-with method (Table 4.1 as a figure);
    ``labels`` / ``colors``: per method."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = 100 * np.array(summary["train_levels"])
    for method, label in labels.items():
        stats = [mean_std(summary["train_with"][method][f"{lv:g}"]["top1"]) for lv in summary["train_levels"]]
        ax.errorbar(xs, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", capsize=3,
                    color=colors[method], label=label)
    for key, label, style in (("base", "Base (dense)", "k--"), ("l1", "L1", "k:")):
        values = summary["base"]["top1"] if key == "base" else summary["train_with"]["l1"]["top1"]
        ax.axhline(mean_std(values)[0], color=style[0], linestyle=style[1:], label=label)
    ax.set_xlabel("target sparsity (%)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"LeNet-5 on {summary['dataset']}: train-with, {summary['seeds']} seed(s) x "
                 f"{summary['epochs']} epochs", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return close_figure(fig, path)


# ------------------------------------------------------------------------------------------------ RACKNet
def plot_entropy_histogram(plan: "RackPlan", entropies: np.ndarray, octaves: np.ndarray, path: str | PathLike[str],
                           title: str = "") -> Path:
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


def plot_strategy_accuracy(summary: Mapping[str, Any], path: str | PathLike[str]) -> Path:
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


# ------------------------------------------------------------------------------------------------ SDMA
def plot_series_events(series: Any, events: Any, saliency: Any, path: str | PathLike[str],
                       variates: Iterable[int] | None = None, title: str = "") -> Path:
    """Fig. 6.3 style: (a) one series with its events, (b) its saliency series.

    Args:
        series: ``(T, V)`` array, one sample.
        events: the events of that sample (any array with fields ``variate``, ``t``, ``sigma``, ``polarity``).
        saliency: ``(T, V)`` saliency series of the sample.
        path: PNG to write.
        variates: variate indices to draw (default: the first 3).
    """
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
    ax_a.set_title("(a) series with its events (^ maxima, v minima of the DoG; bars: t ± 3 sigma, clipped)",
                   fontsize=9)
    ax_b.set_title("(b) saliency series", fontsize=9)
    ax_b.set_xlabel("time step")
    for ax in (ax_a, ax_b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return close_figure(fig, path)


# ------------------------------------------------------------------------------------------------ XM2A
def plot_accuracy_vs_params(summary: Mapping[str, Any], path: str | PathLike[str]) -> Path:
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
    length = f"{summary['steps']} steps" if summary.get("steps") else f"{summary['epochs']} epochs"
    fig.suptitle(f"{summary['experiment']}: accuracy vs parameters\n{d['num_layers']} blocks x {d['num_heads']} "
                 f"heads x key_dim {d['key_dim']}, {summary['seeds']} seeds x {length}", fontsize=9)
    fig.tight_layout(rect=(0, 0.1 if len(labels) > 4 else 0.06, 1, 1))
    return close_figure(fig, path)


# ------------------------------------------------------------------------------------- attention-lenet
def plot_accuracy_vs_step_cost(summary: Mapping[str, Any], path: str | PathLike[str]) -> Path:
    """One point per module: mean test top-1 (± std over seeds) against its training step time over the base's
    (measured side by side), the base's accuracy and seed spread drawn as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in summary["rows"] if row.get("step_ratio") is not None]
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    markers = "osD^vP*Xhd<>p8"
    palette = plt.get_cmap("tab20").colors  # its 10 strong hues first, then their light twins: 20 distinct colours
    colours = palette[0::2] + palette[1::2]
    for index, row in enumerate(rows):
        mean, std = row["top1_mean_std"]
        ax.errorbar(row["step_ratio"], mean, yerr=std, fmt=markers[index % len(markers)], capsize=3,
                    color=colours[index % len(colours)], label=row["label"])
    base = next((row for row in rows if row["step_ratio"] == 1.0), None)
    if base is not None:
        mean, std = base["top1_mean_std"]
        ax.axhspan(mean - std, mean + std, color="0.85", zorder=0, label=f"{base['label']} ± std")
    ax.set_xlabel("training step time / base model's (measured side by side)")
    ax.set_ylabel("test top-1 accuracy (%), mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{summary['experiment']}: LeNet-5 on {summary['dataset']}, {summary['seeds']} seeds x "
                 f"{summary['epochs']} epochs", fontsize=9)
    fig.tight_layout()
    return close_figure(fig, path)
