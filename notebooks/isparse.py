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
# # iSparse: output-informed sparsification of LeNet-5 (dissertation ch. 4: Fig. 4.6a, Fig. 4.9, Table 4.1)
#
# On Fashion-MNIST (offline IDX files; the 2,000 + 1,000-image slice the package ships when missing):
#
# 1. LeNet-5 built by hand with the functional API and trained dense ("Base");
# 2. **sparsify-with** (Fig. 4.6a): the trained network is sparsified once, without retraining, at increasing
#    sparsity by iSparse (InfFS output scores propagated to edge scores), Retrain-free (|W|) and DropConnect
#    (random) -> the sparsity-accuracy curve;
# 3. which weights each strategy removes (Fig. 4.9 in numbers): histograms of |W| of kept and pruned edges;
# 4. **train-with** (Table 4.1, LeNet-5 / FMNIST column): training with the `ISparse` callback at target
#    sparsities, against the paper's numbers.
#
# Training is `train_run`, as in `keras-attention reproduce isparse-lenet`, and every accuracy is that of the
# final model on the test images (`topk_accuracy`, the experiment's metric).
#
# **Runtime.** Smoke mode (`SMOKE = True` below, or `KERAS_ATTENTION_SMOKE=1`): about a minute. Full run
# (60 000 / 10 000 images, 10 epochs, 9 sparsity levels x 3 strategies for sparsify-with, 6 levels x 3
# strategies for train-with = 19 trainings): about 1-1.5 hours on 2 CPU cores. Outputs:
# `figures/isparse_*.png`, `isparse_*.csv`.
#
# The full run committed with the package (3 seeds x 5 epochs, table in
# [benchmarks/results/isparse_fashion_mnist.md](../benchmarks/results/isparse_fashion_mnist.md)):
#
# ![sparsify-with, committed full run](../benchmarks/results/isparse_fashion_mnist_sparsify_with.png)
#
# ![train-with, committed full run](../benchmarks/results/isparse_fashion_mnist_train_with.png)

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
import pandas as pd
from _shared import Notebook, image_data  # notebooks/_shared.py

from keras_attention.experiments.catalog.isparse import PAPER_TABLE_4_1, STRATEGY_LABELS
from keras_attention.experiments.evaluation import topk_accuracy
from keras_attention.experiments.plots import plot_training_curves
from keras_attention.sparsity import ISparse, inffs, sparsify, sparsity_report
from keras_attention.sparsity.samples import collect_samples

nb = Notebook("isparse", SMOKE, OUT)
data = image_data(SMOKE)  # as `reproduce`: validation curves on held-out training images, test on the final model
DATASET, INPUT_SHAPE, NUM_CLASSES = data.name, data.input_shape, data.num_classes
EPOCHS = 1 if SMOKE else 10


def top1(model):
    """Top-1 test accuracy (%) of the model as it is: the final model, as ``reproduce`` reports it."""
    return 100 * topk_accuracy(model, data.test)["top1"]


# %% [markdown]
# ## 1. LeNet-5 by hand and the dense baseline
#
# conv 6@5x5 same tanh -> avg-pool -> conv 16@5x5 valid tanh -> avg-pool -> dense 120 -> 84 (tanh) -> softmax
# (SPEC §10). Every Conv2D / Dense kernel is prunable; biases never are.

# %%
WIDTH = 0.5 if SMOKE else 1.0


def lenet(name="lenet5", weights=None):
    def n(units):
        return max(1, round(units * WIDTH))

    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = keras.layers.Conv2D(n(6), 5, padding="same", activation="tanh", name="conv1")(inputs)
    x = keras.layers.AveragePooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(n(16), 5, padding="valid", activation="tanh", name="conv2")(x)
    x = keras.layers.AveragePooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(n(120), activation="tanh", name="fc1")(x)
    x = keras.layers.Dense(n(84), activation="tanh", name="fc2")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.set_weights(weights)
    return model


def train(name, weights, callbacks=()):
    return nb.train(name, lambda: lenet(name, weights), data.train, data.val, data.test, epochs=EPOCHS,
                    callbacks=callbacks)


keras.utils.set_random_seed(0)
initial_weights = lenet().get_weights()  # every run starts from these
base_run = train("base", initial_weights)
base = base_run.model
print(f"Base: top-1 {top1(base):.2f} %, {base_run.train_seconds:.1f} s")
nb.show(plot_training_curves(base_run.history, nb.figure_path("base_curves"), title="LeNet-5 (dense)"))

score_x = collect_samples(data.train, 256)  # InfFS score samples, as the experiment draws them
output_scores = inffs(base.predict(score_x, verbose=0))
print("InfFS scores of the output neurons (Alg. 1):", np.round(output_scores, 3))

# %% [markdown]
# ## 2. Sparsify-with: accuracy against the sparsification factor (Fig. 4.6a)
#
# The dissertation shows this curve as a figure only (no table): iSparse loses the least accuracy as the
# factor grows, Retrain-free next, DropConnect the most.

# %%
LEVELS = (0.5, 0.9) if SMOKE else (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
base_top1 = top1(base)
rows, sparsified = [], {}
for strategy, label in STRATEGY_LABELS.items():
    for level in LEVELS:
        model = sparsify(base, level, x=score_x, strategy=strategy, seed=0)
        sparsified[strategy, level] = model
        rows.append({"strategy": label, "target": level, "achieved": sparsity_report(model)[-1]["sparsity"],
                     "top-1": top1(model)})
curve = nb.table(rows, "sparsify_with", f"sparsify-with on {DATASET} (dense top-1 {base_top1:.2f} %)")
curve = pd.concat([pd.DataFrame({"strategy": list(STRATEGY_LABELS.values()), "target": 0.0, "top-1": base_top1}),
                   curve])
ax = curve.pivot(index="target", columns="strategy", values="top-1").plot(marker="o", figsize=(6.5, 3.8))
ax.set(xlabel="sparsification factor (fraction of kernel entries removed per layer)", ylabel="top-1 test accuracy (%)",
       title=f"LeNet-5 on {DATASET}, sparsify-with (no retraining)")
nb.show(ax.figure, "sparsity_accuracy")

# %% [markdown]
# ## 3. Which edges are removed: |W| of kept and pruned edges at 50 %
#
# Retrain-free keeps exactly the largest |W|; iSparse keeps large weights that lead to important outputs,
# so its kept and pruned |W| distributions overlap; DropConnect ignores |W|.

# %%
level = 0.5
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
dense_kernel = np.abs(base.get_layer("fc1").kernel.numpy()).ravel()
for ax, (strategy, label) in zip(axes, STRATEGY_LABELS.items()):
    kept = sparsified[strategy, level].get_layer("fc1").kernel.numpy().ravel() != 0
    bins = np.linspace(0, dense_kernel.max(), 40)
    ax.hist(dense_kernel[kept], bins=bins, alpha=0.6, label="kept")
    ax.hist(dense_kernel[~kept], bins=bins, alpha=0.6, label="pruned")
    ax.set(title=f"{label}, fc1, {int(100 * level)} %", xlabel="|W| (dense model)")
    ax.legend()
axes[0].set_ylabel("edges")
nb.show(fig, "kept_pruned_histograms")
print(pd.DataFrame(sparsity_report(sparsified["isparse", level])).to_string(index=False))

# %% [markdown]
# ## 4. Train-with (Table 4.1, LeNet-5 / FMNIST)
#
# Every run starts from the Base model's initial weights and trains with the `ISparse` callback (masks
# recomputed each epoch, pruned weights kept at zero after every step). Paper columns: DC = DropConnect,
# RT = Retrain-free, iS = iSparse (Dropout and Lottery-Ticket are not re-run here; the CLI's `isparse-lenet`
# adds Dropout and L1).

# %%
PAPER_COLUMN = {"random": 1, "magnitude": 2, "isparse": 4}  # in PAPER_TABLE_4_1's (DO, DC, RT, LT, iS)
TARGETS = (0.5,) if SMOKE else (0.05, 0.10, 0.20, 0.30, 0.40, 0.50)
paper = PAPER_TABLE_4_1.get(DATASET, {})
rows = [{"method": "Base", "target": 0.0, "achieved": 0.0, "top-1": base_top1,
         "paper top-1": paper.get("base", (float("nan"),))[0]}]
runs = {"Base": base_run}
for target in TARGETS:
    for strategy, label in STRATEGY_LABELS.items():
        callback = ISparse(target, samples=score_x, strategy=strategy, seed=0)
        run = train(f"{strategy}_{int(100 * target)}", initial_weights, callbacks=[callback])
        runs[f"{label} {int(100 * target)} %"] = run
        ref = paper.get(target)
        rows.append({"method": label, "target": target, "achieved": sparsity_report(run.model)[-1]["sparsity"],
                     "top-1": top1(run.model), "paper top-1": ref[PAPER_COLUMN[strategy]] if ref else float("nan")})
nb.table(rows, "table_4_1", f"Table 4.1 (train-with, LeNet-5) on {DATASET}")
last = f" {int(100 * TARGETS[-1])} %"
nb.curves({k: v for k, v in runs.items() if k == "Base" or k.endswith(last)}, "train_with_curves",
          f"train-with at{last}")
