"""PNG figures that the CLI and the notebooks save: training curves and attention-mask grids.

The backend is left to matplotlib (Agg on a machine without a display, inline in a notebook); every
figure is saved and closed, so nothing accumulates in long runs.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from keras_attention.utils.files import save_figure


def close_figure(fig, path, dpi=110):
    """Save ``fig`` to ``path`` (atomically, its folder created) and close it; returns ``path`` as a Path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    return Path(path)


# what the curves' axes and legends say instead of the metric keys of a Keras history
METRIC_LABELS = {"loss": "loss", "top1": "top-1 accuracy", "top5": "top-5 accuracy"}
CURVE_KINDS = (("", "training", "-"), ("val_", "validation", "--"))
MASK_LABEL = "attention weight"


def training_curves_figure(series, title=""):
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


def plot_training_curves(series, path, title=""):
    """Loss and top-1 accuracy per epoch, training and validation (when the history has ``val_`` keys),
    from ``{metric: [per-epoch values]}``; saved to ``path`` (returned as a Path)."""
    return close_figure(training_curves_figure(series, title), path)


def attention_grid_figure(images, masks_by_model, channels=4, title=""):
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


def plot_attention_grid(images, masks_by_model, path, channels=4, title=""):
    """One row per (model, image): the image, then the first ``channels`` mask channels (Fig. 4/8 style),
    with one colorbar; saved to ``path`` (returned as a Path).

    ``images``: ``(n, H, W, C)`` in [0, 1]; ``masks_by_model``: ``{name: (n, h, w, c)}`` masks in [0, 1].
    """
    return close_figure(attention_grid_figure(images, masks_by_model, channels, title), path)
