# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SAN: scale-space attention on LeNet-5 (SAN paper Table IV, Table IX, Fig. 8)
#
# Reproduces, on Fashion-MNIST (the offline IDX files; the package's 2,000 + 1,000-image slice when they are missing):
#
# 1. a hand-built network with SAN modules between two convolutions (functional API, `SAN()([previous, current])`);
# 2. **Table IV**: LeNet-5 without attention, with CBAM, BAM, SAN-c and SAN-d (top-1 / top-5 test accuracy, %);
# 3. **Fig. 8**: the attention masks of the first module of each model, and a histogram of mask values;
# 4. **Table IX** (LeNet-5 / FMNIST column): the SAN ablation rows 0 and 3-5 (rows 1-2 are "-" there:
#    LeNet-5's pairs have different channel counts, which needs cross-layer channel alignment).
#
# Every network is trained by `train_run`, the code behind `keras-attention reproduce san-lenet`: Adam 1e-3, and
# the accuracy of the final model on the test images.
#
# **Runtime.** Smoke mode (`SMOKE = True` below, or `KERAS_ATTENTION_SMOKE=1`): about a minute (256 training /
# 128 test images, 1 epoch, eager). Full run (60 000 / 10 000 images, 10 epochs, one seed, 9 trainings): roughly
# 1-1.5 hours on 2 CPU cores (20-40 s per LeNet-5 epoch on 60 000 images, BAM the slowest). The CLI repeats
# Table IV over several seeds. Outputs: `$KERAS_ATTENTION_OUT/figures/san_*.png` and `san_*.csv` (default
# `runs/notebooks`).
#
# The full run committed with the package (`keras-attention reproduce san-lenet --preset published`: 5 seeds x
# 10 epochs on Fashion-MNIST, table in
# [benchmarks/results/san_lenet_fashion_mnist.md](../benchmarks/results/san_lenet_fashion_mnist.md), layer
# costs in [layer_overhead.md](../benchmarks/results/layer_overhead.md)):
#
# ![SAN LeNet-5 on Fashion-MNIST, committed full run](../benchmarks/results/san_lenet_fashion_mnist.png)

# %% tags=["parameters"]
import os
from pathlib import Path

SMOKE = os.environ.get("KERAS_ATTENTION_SMOKE", "0") == "1"  # tiny subsets, 1 epoch: the tests' setting
OUT = Path(os.environ.get("KERAS_ATTENTION_OUT", "../runs/notebooks"))  # figures, tables, runs (cwd: notebooks/)

# %%
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
import matplotlib.pyplot as plt
import numpy as np
from _shared import Notebook, image_data  # notebooks/_shared.py

from keras_attention import models
from keras_attention.experiments.catalog.san import COMPETITORS
from keras_attention.experiments.images import attention_masks
from keras_attention.experiments.plots import plot_attention_grid, plot_training_curves
from keras_attention.experiments.registry import get_experiment
from keras_attention.layers import SAN

nb = Notebook("san", SMOKE, OUT)
data = image_data(SMOKE)  # as `reproduce`: validation curves on held-out training images, test on the final model
DATASET, INPUT_SHAPE, NUM_CLASSES = data.name, data.input_shape, data.num_classes
EPOCHS = 1 if SMOKE else 10
test_images = np.asarray(next(iter(data.test))[0][:3])


def train(label, build):
    return nb.train(label, build, data.train, data.val, data.test, epochs=EPOCHS)


# %% [markdown]
# ## 1. SAN between two convolutions, by hand
#
# A SAN module weights the output `current` of a layer by a mask built from how it differs from that
# layer's input `previous` (eq. 4-12): channel alignment, |difference|, soft extrema in 3x3 windows, one
# smoothing convolution, sigmoid. `SAN-c` uses a plain smoothing convolution, `SAN-d` a dilated one.

# %%
WIDTH = 4 if SMOKE else 16


def two_conv_san():
    inputs = keras.Input(INPUT_SHAPE, name="image")
    c1 = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu", name="conv1")(inputs)
    a1 = SAN(variant="c", kernel_size=3, name="san_c_conv1")([inputs, c1])  # previous = the image
    c2 = keras.layers.Conv2D(2 * WIDTH, 3, padding="same", activation="relu", name="conv2")(a1)
    a2 = SAN(variant="d", kernel_size=3, name="san_d_conv2")([a1, c2])  # previous = input of conv2
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D(2)(a2))
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="two_conv_san")


run = train("two-conv SAN", two_conv_san)
run.model.summary(line_length=100)
print(f"two-conv SAN network: top-1 {100 * run.test_metrics['top1']:.2f} %, {run.train_seconds:.1f} s")
nb.show(plot_training_curves(run.history, nb.figure_path("two_conv_curves"), title=run.model.name))
name, mask = attention_masks(run.model, test_images)
print(f"mask of {name}: shape {mask.shape}, range [{mask.min():.3f}, {mask.max():.3f}]")
nb.show(plot_attention_grid(test_images, {"hand-built SAN-c": mask}, nb.figure_path("two_conv_masks"),
                         title="SAN-c between the image and conv1"))

# %% [markdown]
# ## 2. Table IV: LeNet-5 with CBAM, BAM, SAN-c, SAN-d
#
# The paper's numbers (SAN paper Table IV, top-1 / top-5 %) are those of the `san-lenet` experiment. LeNet-5 has
# one attention module after each of its two convolutions; bottleneck and full placement are the same network.

# %%
LENET_WIDTH = 0.5 if SMOKE else 1.0
paper = get_experiment("san-lenet").paper.get(DATASET, {})
rows, runs = [], {}
for label, attention in COMPETITORS:
    runs[label] = train(label, lambda attention=attention: models.lenet5(INPUT_SHAPE, NUM_CLASSES, attention=attention,
                                                                         width=LENET_WIDTH))
    ref = paper.get(label, (float("nan"), float("nan")))
    rows.append({"model": label, "top-1": 100 * runs[label].test_metrics["top1"],
                 "top-5": 100 * runs[label].test_metrics["top5"], "paper top-1": ref[0], "paper top-5": ref[1],
                 "train s": runs[label].train_seconds, "params": runs[label].params})
table_iv = nb.table(rows, "table_iv", f"Table IV on {DATASET} ({EPOCHS} epoch(s), seed 0, final model)")
nb.curves(runs, "lenet_curves", f"LeNet-5 on {DATASET}")

# %% [markdown]
# ## 3. Fig. 8: attention masks and their distribution
#
# The first attention module of every attention model (after `conv1`), on three test images; then the
# histogram of all mask values on those images. The paper's point: CBAM's spatial gate is one mask shared by
# every channel, BAM's masks are coarse, SAN's are per-channel and detailed.

# %%
masks = {}
for label, run in runs.items():
    name, mask = attention_masks(run.model, test_images)
    if mask is not None:
        masks[f"{label}\n({name})"] = mask
nb.show(plot_attention_grid(test_images, masks, nb.figure_path("attention_masks"),
                         title=f"first attention module, {DATASET} test images"))

fig, ax = plt.subplots(figsize=(6.5, 3.4))
for label, mask in masks.items():
    ax.hist(mask.ravel(), bins=40, range=(0, 1), histtype="step", density=True, label=label.split("\n")[0])
ax.set(xlabel="mask value", ylabel="density", title="distribution of the first module's mask values")
ax.legend(fontsize=8)
nb.show(fig, "mask_histogram")

# %% [markdown]
# ## 4. Table IX: SAN ablation on LeNet-5
#
# The rows of the `san-ablation` experiment (SAN-c at both slots): 3 = |difference| and channel alignment only;
# 4 = + soft extrema; 5 = + smoothing (the full module). Rows 1-2 switch channel alignment off, which LeNet-5's
# pairs cannot do. Paper numbers: Table IX (LeNet-5, MNIST / FMNIST columns).

# %%
ablation = get_experiment("san-ablation")
paper = ablation.paper.get(DATASET, {})
configs = [c for c in ablation.configs if c.attention and not c.incompatible][: 1 if SMOKE else None]
rows = [{"configuration": "0 Base Model", "top-1": table_iv.loc[0, "top-1"],
         "paper top-1": paper.get("0 Base Model", (float("nan"),))[0]}]
for config in configs:
    run = train(config.label, lambda config=config: models.lenet5(INPUT_SHAPE, NUM_CLASSES, attention=config.attention,
                                                                  width=LENET_WIDTH, **config.options))
    rows.append({"configuration": config.label, "top-1": 100 * run.test_metrics["top1"],
                 "paper top-1": paper.get(config.label, (float("nan"),))[0]})
nb.table(rows, "table_ix", f"Table IX (LeNet-5) on {DATASET}")

# %% [markdown]
# **Reading the results.** The paper's LeNet-5 gains are small (at most +0.5 points on FMNIST), of the order
# of the seed-to-seed spread; compare one seed only with care, and use the CLI's mean ± std over seeds (the
# committed table above) for a claim.
