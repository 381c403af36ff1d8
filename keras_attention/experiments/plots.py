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


def plot_training_curves(series, path, title=""):
    """Loss and top-1 per epoch, train and validation, from ``{metric: [per-epoch values]}``."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "top1")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = series.get(prefix + metric)
            if values and any(v is not None for v in values):
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, marker="o", label=("validation " if prefix else "train ") + metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return close_figure(fig, path)


def plot_attention_grid(images, masks_by_model, path, channels=4, title=""):
    """One row per (model, image): the image, then the first ``channels`` mask channels (Fig. 4/8 style).

    ``images``: ``(n, H, W, C)`` in [0, 1]; ``masks_by_model``: ``{name: (n, h, w, c)}`` masks in [0, 1].
    """
    rows = [(name, i) for name in masks_by_model for i in range(len(images))]
    cols = 1 + channels
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.6 * cols, 1.6 * len(rows)), squeeze=False)
    for r, (name, i) in enumerate(rows):
        img = images[i]
        axes[r, 0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
        axes[r, 0].set_ylabel(f"{name}\n#{i}", fontsize=8)
        mask = masks_by_model[name][i]
        for c in range(channels):
            ax = axes[r, 1 + c]
            if c < mask.shape[-1]:
                ax.imshow(mask[..., c], cmap="viridis", vmin=0.0, vmax=1.0)
                if r == 0:
                    ax.set_title(f"mask ch {c}", fontsize=8)
            else:
                ax.set_visible(False)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return close_figure(fig, path)
