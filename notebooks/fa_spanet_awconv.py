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
# # FA, SPANet and AW-convolution in a CIFAR-style ResNet (FANet Table I, SPANet Table 1, AW-conv Table 1)
#
# A ResNet-20-style network (3 stages of basic blocks, 16-32-64 filters) built by hand with the functional
# API, with:
#
# - **FA** (focus-and-association, FANet eq. 5-9): every block but the first of the network is recalibrated by
#   `FocusAssociation()([block input, block output, s])`, `s` carrying the earlier blocks' scalars;
# - **SE** (squeeze-and-excitation) on every block's residual branch, the common competitor of FA and AW;
# - **SPANet** (salient positions attention) and **NL** (non-local block) after stage 2 (the papers put them in
#   a middle stage);
# - **AW-conv**: every 3x3 convolution of the blocks replaced by `AWConv2D` (attentional weights, eq. 7-8).
#
# Trained on Fashion-MNIST (offline; the package's slice when missing) by `train_run`, the code of
# `keras-attention reproduce fa / spanet / awconv`; accuracies are those of the final model on the test images.
# The papers report CIFAR-10/100 and ImageNet, so the paper's numbers below are for a different data set and
# deeper networks: compare the sign and size of the change over the baseline, not absolute accuracies.
#
# **Runtime.** Smoke mode (`SMOKE = True` below, or `KERAS_ATTENTION_SMOKE=1`): about a minute (1 block per
# stage, 4-8-16 filters). Full run (ResNet-20: 3 blocks per stage, 16-32-64 filters, 6 models x 10 epochs on
# 60 000 images): about 3-4 hours on 2 CPU cores (AW-conv, a per-sample convolution, is the slowest). Outputs:
# `figures/fa_spanet_awconv_*.png`, `fa_spanet_awconv_*.csv`.
#
# The full runs committed with the package (3 seeds on a Fashion-MNIST subset, at 32 x 32; no figures, tables
# only): [fa_fashion_mnist.md](../benchmarks/results/fa_fashion_mnist.md),
# [spanet_fashion_mnist.md](../benchmarks/results/spanet_fashion_mnist.md),
# [awconv_fashion_mnist.md](../benchmarks/results/awconv_fashion_mnist.md).

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

from keras_attention.layers import AWConv2D, FocusAssociation, NonLocalBlock, SPANet, SqueezeExcitation

nb = Notebook("fa_spanet_awconv", SMOKE, OUT)
data = image_data(SMOKE)  # as `reproduce`: validation curves on held-out training images, test on the final model
DATASET, INPUT_SHAPE, NUM_CLASSES = data.name, data.input_shape, data.num_classes

# %%
BLOCKS_PER_STAGE = 1 if SMOKE else 3  # 6n + 2 = 20 layers in the full run
FILTERS = (4, 8, 16) if SMOKE else (16, 32, 64)
EPOCHS = 1 if SMOKE else 10


def conv_bn(x, filters, stride, name, aw=False, relu=True):
    if aw:
        x = AWConv2D(filters, 3, strides=stride, padding="same", name=name + "_aw")(x)
    else:
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(name=name + "_bn")(x)
    return keras.layers.ReLU(name=name + "_relu")(x) if relu else x


def resnet(attention=None, name="resnet"):
    """CIFAR ResNet (He et al.) with the attention of the comparison; FA's `s` is the output "fa_scalars"."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = conv_bn(inputs, FILTERS[0], 1, "stem")
    s, index = None, 0
    for stage, filters in enumerate(FILTERS):
        for b in range(BLOCKS_PER_STAGE):
            stride = 2 if stage > 0 and b == 0 else 1
            tag = f"s{stage + 1}b{b + 1}"
            y = conv_bn(x, filters, stride, tag + "_conv1", aw=attention == "aw")
            y = conv_bn(y, filters, 1, tag + "_conv2", aw=attention == "aw", relu=False)
            if attention == "se":
                y = SqueezeExcitation(reduction=4, name=tag + "_se")(y)
            shortcut = x
            if stride != 1 or x.shape[-1] != filters:
                shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=tag + "_proj")(x)
                shortcut = keras.layers.BatchNormalization(name=tag + "_proj_bn")(shortcut)
            u = keras.layers.ReLU(name=tag + "_out")(keras.layers.Add()([y, shortcut]))
            if attention == "fa" and index > 0:  # block 0 is the benchmark block (SPEC §3)
                x, s = FocusAssociation(name=tag + "_fa")([x, u] if s is None else [x, u, s])
            else:
                x = u
            index += 1
        if stage == 1 and attention == "spanet":
            x = SPANet(k=8, name="spanet")(x)
        if stage == 1 and attention == "nonlocal":
            x = NonLocalBlock(name="nonlocal")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


# %% [markdown]
# ## Training and the comparison table
#
# Paper numbers (top-1 accuracy %, i.e. 100 - the reported error where the paper gives errors):
# FANet Table I, CIFAR-10, ResNet-20 re-implementation: base 92.30, SE 92.75, FA 92.68.
# SPANet Table 1, CIFAR-10, ResNet-18: base 93.07, SE 95.12, NL 95.36, SPA (k = 2, stage 3) 95.79.
# AW-conv Table 1, ImageNet, ResNet-50: base 75.44, SE 76.86, AW 76.62.

# %%
PAPER = {  # model -> {source: top-1 %}
    "Base": {"FANet CIFAR-10 ResNet-20": 100 - 7.70, "SPANet CIFAR-10 ResNet-18": 93.07,
             "AW ImageNet ResNet-50": 100 - 24.56},
    "SE": {"FANet CIFAR-10 ResNet-20": 100 - 7.25, "SPANet CIFAR-10 ResNet-18": 95.12,
           "AW ImageNet ResNet-50": 100 - 23.14},
    "FA": {"FANet CIFAR-10 ResNet-20": 100 - 7.32},
    "SPANet": {"SPANet CIFAR-10 ResNet-18": 95.79},
    "NL": {"SPANet CIFAR-10 ResNet-18": 95.36},
    "AW-conv": {"AW ImageNet ResNet-50": 100 - 23.38},
}
KINDS = {"Base": None, "SE": "se", "FA": "fa", "SPANet": "spanet", "NL": "nonlocal", "AW-conv": "aw"}
rows, runs = [], {}
for label, kind in KINDS.items():
    runs[label] = run = nb.train(label, lambda kind=kind: resnet(kind, name=f"resnet_{kind or 'base'}"), data.train,
                                 data.val, data.test, epochs=EPOCHS)
    rows.append({"model": label, "top-1": 100 * run.test_metrics["top1"], "params": run.params,
                 "train s": run.train_seconds,
                 **{"paper " + source: PAPER[label].get(source, float("nan"))
                    for source in ("FANet CIFAR-10 ResNet-20", "SPANet CIFAR-10 ResNet-18", "AW ImageNet ResNet-50")}})
results = nb.table(rows, "comparison", f"ResNet-{6 * BLOCKS_PER_STAGE + 2} on {DATASET} vs the papers (final model)")
results["gain over Base"] = results["top-1"] - results.loc[0, "top-1"]
print(results[["model", "top-1", "gain over Base"]].to_string(index=False))
nb.curves(runs, "curves", f"ResNet-{6 * BLOCKS_PER_STAGE + 2} on {DATASET}")

# %% [markdown]
# ## What the modules attend to
#
# Left: FA's block weights `k_i` (eq. 8-9) on the test images, one box per recalibrated block: a block with
# `k` near 1 is kept, near 0 skipped (FANet's "reducing redundancy among blocks"). Right: where SPANet changes
# the features: the per-position energy of `z - x` (the attention it added), averaged over test images.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
fa_model = runs["FA"].model
fa_layers = [layer for layer in fa_model.layers if isinstance(layer, FocusAssociation)]
k = np.asarray(keras.Model(fa_model.inputs, fa_layers[-1].output[1]).predict(data.test, verbose=0))
axes[0].boxplot([k[:, i] for i in range(k.shape[1])])
axes[0].set_xticks(range(1, k.shape[1] + 1), [f"block {i + 2}" for i in range(k.shape[1])])
axes[0].set(ylabel="FA weight k", title="FA: block weights on the test images")
spa_model = runs["SPANet"].model
layer = spa_model.get_layer("spanet")
before, after = keras.Model(spa_model.inputs, [layer.input, layer.output]).predict(data.test, verbose=0)
im = axes[1].imshow(np.mean(np.sum((after - before) ** 2, axis=-1), axis=0), cmap="viridis")
fig.colorbar(im, ax=axes[1])
axes[1].set_title("SPANet: mean energy of z - x per position")
nb.show(fig, "fa_weights_spanet_energy")
