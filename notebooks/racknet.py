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
# # RACKNet: data-driven allocation of convolution kernels (dissertation ch. 3: Tables 3.2, 3.6, 3.8)
#
# On Fashion-MNIST (offline IDX files; the 2,000 + 1,000-image slice the package ships when missing):
#
# 1. `analyze`: SIFT keypoints -> racks (octaves with >= 5 % of the keypoints), entropy mixtures -> layers per
#    rack and their order, DBSCAN descriptor clusters -> kernel weights; the phase timings (Table 3.8);
# 2. `allocate` the kernel budget with RACKNet and the five comparison strategies (Table 3.6 rows), printed in
#    Table 3.2's notation `layers-per-rack (kernels)`;
# 3. the RACKNet CNN built by hand with the functional API from the allocation (and checked against
#    `build_model`), then all strategies trained (`train_run`, final model on the test images, as in
#    `keras-attention reproduce racknet`) and compared with the paper's MNIST numbers (the dissertation has no
#    Fashion-MNIST column; the closest is MNIST, same image size and layout).
#
# **Runtime.** Smoke mode (`SMOKE = True` below, or `KERAS_ATTENTION_SMOKE=1`): about a minute (300 images
# analysed, budget 48, 2 strategies). Full run (10 000 images analysed, budget 400 as in the paper, 6 strategies
# x 10 epochs on 60 000 images): about 3 hours on 2 CPU cores (the convolutions at 28 x 28 with ~400 kernels
# dominate). Outputs: `figures/racknet_*.png`, `racknet_*.csv`, `racknet_plan.json`.
#
# The full runs committed with the package (3 seeds; tables in
# [racknet_fashion_mnist.md](../benchmarks/results/racknet_fashion_mnist.md), a 6000-image subset, and
# [racknet_digits.md](../benchmarks/results/racknet_digits.md)):
#
# ![RACKNet entropy histogram, Fashion-MNIST](../benchmarks/results/racknet_fashion_mnist_entropy.png)
#
# ![allocation strategies, Fashion-MNIST](../benchmarks/results/racknet_fashion_mnist_accuracy.png)
#
# ![RACKNet entropy histogram, digits](../benchmarks/results/racknet_digits_entropy.png)
#
# ![allocation strategies, digits](../benchmarks/results/racknet_digits_accuracy.png)

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

from keras_attention.data import load_arrays
from keras_attention.experiments.catalog.racknet import PAPER_TABLE_3_6, PAPER_TABLE_3_8, STRATEGY_ROWS
from keras_attention.racknet import allocate, analyze, build_model

nb = Notebook("racknet", SMOKE, OUT)
data = image_data(SMOKE)  # as `reproduce`: validation curves on held-out training images, test on the final model
DATASET, INPUT_SHAPE, NUM_CLASSES = data.name, data.input_shape, data.num_classes
EPOCHS = 1 if SMOKE else 10

# %% [markdown]
# ## 1. Data analysis (Obs. 1-4) and its cost (Table 3.8)

# %%
N_ANALYSIS = 300 if SMOKE else 10000
BUDGET = 48 if SMOKE else 400
images, _ = load_arrays(DATASET, "train", limit=N_ANALYSIS, image_size=data.image_size)  # the size the CNN sees
plan = analyze(images, seed=0, budget=BUDGET, fallback=SMOKE)
plan.to_json(nb.out / "racknet_plan.json")
print(f"plan on {plan.n_images} images, {plan.n_keypoints} keypoints, octave counts {plan.octave_counts}")
print(f"racks (octaves) {plan.octaves}, layers per rack {plan.layers_per_rack}, clusters n_ij {plan.n_clusters}")
print(f"RACKNet allocation (Table 3.2 notation): {plan}")
PAPER_SECONDS = PAPER_TABLE_3_8["mnist"]  # seconds on 60k MNIST images
timings = [{"phase": phase, "seconds here": plan.timings.get(phase, float("nan")),
            "paper MNIST (60k images)": PAPER_SECONDS[phase]} for phase in plan.timings]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
octs = sorted(plan.octave_counts)
axes[0].bar([str(o) for o in octs], [plan.octave_counts[o] for o in octs],
            color=["tab:blue" if o in plan.octaves else "tab:gray" for o in octs])
axes[0].set(xlabel="SIFT octave (blue: a rack)", ylabel="keypoints")
grid = np.linspace(0, 8, 400)
for rack, (octave, components) in enumerate(zip(plan.octaves, plan.components), start=1):
    density = sum(c.weight * np.exp(-0.5 * ((grid - c.mean) / max(c.std, 1e-3)) ** 2)
                  / (max(c.std, 1e-3) * np.sqrt(2 * np.pi)) for c in components)
    axes[1].plot(grid, density, label=f"rack {rack} (octave {octave}): {len(components)} layer(s)")
axes[1].set(xlabel="scope entropy (bits)", ylabel="mixture density")
axes[1].legend(fontsize=8)
fig.suptitle("Obs. 1-2: racks from octave populations, layers from entropy mixtures")
nb.show(fig, "analysis")

# %% [markdown]
# ## 2. Allocation strategies (Table 3.6 rows)

# %%
allocations = {strategy: allocate(plan, BUDGET, strategy=strategy, seed=0) for strategy in STRATEGY_ROWS}
nb.table([{"strategy": STRATEGY_ROWS[s][0], "observations": STRATEGY_ROWS[s][1], "allocation": str(a),
             "kernels": sum(map(sum, a))} for s, a in allocations.items()], "allocations", f"budget {BUDGET}")


# %% [markdown]
# ## 3. The RACKNet CNN by hand, and training every strategy
#
# Per rack, one 3x3 ReLU convolution per layer with its kernel count; 2x2 average pooling between racks;
# Flatten -> Dropout(0.25) -> softmax (SPEC §8).

# %%
def racknet_by_hand(counts, name):
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = inputs
    for i, rack in enumerate(counts):
        if i:
            x = keras.layers.AveragePooling2D(2, name=f"pool{i}")(x)
        for j, kernels in enumerate(rack):
            x = keras.layers.Conv2D(kernels, 3, padding="same", activation="relu", name=f"rack{i + 1}_conv{j + 1}")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.25)(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, activation="softmax")(x), name=name)


hand = racknet_by_hand(allocations["racknet"], "racknet_by_hand")
built = build_model(allocations["racknet"], INPUT_SHAPE, NUM_CLASSES)
assert hand.count_params() == built.count_params(), (hand.count_params(), built.count_params())
hand.summary(line_length=100)

rows, runs = [], {}
for strategy in ["racknet", "uniform_layer"] if SMOKE else list(STRATEGY_ROWS):
    runs[STRATEGY_ROWS[strategy][0]] = run = nb.train(
        strategy, lambda strategy=strategy: racknet_by_hand(allocations[strategy], strategy), data.train, data.val,
        data.test, epochs=EPOCHS)
    rows.append({"strategy": STRATEGY_ROWS[strategy][0], "allocation": str(allocations[strategy]),
                 "top-1": 100 * run.test_metrics["top1"], "paper top-1 (MNIST)": PAPER_TABLE_3_6["mnist"][strategy],
                 "params": run.params, "train s": run.train_seconds})
nb.table(rows, "table_3_6", f"Table 3.6 on {DATASET} (final model; paper: MNIST, budget 400)")
timings.append({"phase": "training (racknet)", "seconds here": rows[0]["train s"],
                "paper MNIST (60k images)": PAPER_SECONDS["training"]})
nb.table(timings, "table_3_8", "Table 3.8: time per phase (s)")
nb.curves(runs, "strategy_curves", f"allocation strategies on {DATASET}")
