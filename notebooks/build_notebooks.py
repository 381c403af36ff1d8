"""Generate the experiment notebooks of ``notebooks/`` from the cell lists in this file.

This script is the source of truth: every notebook is a Python list of ``(kind, source)`` cells below, and
running ``python notebooks/build_notebooks.py`` rewrites the ``.ipynb`` files with NO outputs and no
execution counts (outputs never go into git). ``--check`` only compares and exits 1 when a committed
notebook differs from what this script generates. Cell ids are fixed (``<notebook>-<index>``) so the output
is byte-for-byte reproducible.

Every notebook reads two environment variables:

- ``KERAS_ATTENTION_SMOKE=1``: a run of about a minute (tiny subsets, 1 epoch, narrow models, eager
  execution - tracing a graph costs more than two batches of training) that exercises every cell;
- ``KERAS_ATTENTION_OUT``: output directory (default ``runs/notebooks``, relative to the kernel's working
  directory). Figures go to ``$KERAS_ATTENTION_OUT/figures/<notebook>_<figure>.png`` and result tables to
  ``$KERAS_ATTENTION_OUT/<notebook>_<table>.csv``.
"""

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def md(text):
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text):
    return ("code", textwrap.dedent(text).strip("\n"))


def setup(name, imports=""):
    """The first code cell of every notebook: switches, output folders and display helpers."""
    body = f'''
    import os
    import time
    from pathlib import Path

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from IPython.display import Image, display
    {{imports}}
    NOTEBOOK = "{name}"
    SMOKE = os.environ.get("KERAS_ATTENTION_SMOKE", "0") == "1"
    OUT = Path(os.environ.get("KERAS_ATTENTION_OUT", "runs/notebooks"))
    FIGURES = OUT / "figures"
    FIGURES.mkdir(parents=True, exist_ok=True)
    RUN_EAGERLY = SMOKE  # smoke runs train two batches: tracing a graph would cost more than the training
    keras.utils.set_random_seed(0)
    pd.set_option("display.width", 160)
    print(f"{{NOTEBOOK}}: smoke={{SMOKE}}, outputs in {{OUT.resolve()}}, Keras {{keras.__version__}} "
          f"({{keras.backend.backend()}})")


    def show_png(path):
        """Show a saved PNG inline (works whatever matplotlib backend a library selected)."""
        display(Image(filename=str(path)))
        return path


    def save_figure(fig, stem):
        """Save ``fig`` as ``figures/<notebook>_<stem>.png``, show it inline and close it."""
        path = FIGURES / f"{{NOTEBOOK}}_{{stem}}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return show_png(path)


    def show_table(rows, stem, title=""):
        """Print a result table (list of dicts), show it and save it as ``<notebook>_<stem>.csv``."""
        frame = pd.DataFrame(rows)
        frame.to_csv(OUT / f"{{NOTEBOOK}}_{{stem}}.csv", index=False)
        if title:
            print(title)
        print(frame.to_string(index=False, float_format=lambda v: f"{{v:.4g}}"))
        return frame
    '''
    extra = textwrap.dedent(imports).strip("\n")
    body = textwrap.dedent(body).replace("{imports}", "\n" + extra + "\n" if extra else "")
    return code(body)


IMAGE_DATA = code('''
    from keras_attention.data import dataset_info, image_dataset, load_arrays
    from keras_attention.experiments.runner import default_dataset

    DATASET = default_dataset()  # Fashion-MNIST when its IDX files are found locally, else sklearn digits
    SIZE = None if dataset_info(DATASET)["input_shape"][0] >= 28 else (28, 28)
    INFO = dataset_info(DATASET, image_size=SIZE)
    INPUT_SHAPE, NUM_CLASSES = INFO["input_shape"], INFO["num_classes"]
    LIMIT_TRAIN, LIMIT_TEST = (256, 128) if SMOKE else (None, None)
    BATCH = 64 if SMOKE else 128


    def datasets(seed=0):
        common = dict(batch_size=BATCH, image_size=SIZE)
        train = image_dataset(DATASET, "train", shuffle=True, seed=seed, limit=LIMIT_TRAIN, **common)
        test = image_dataset(DATASET, "test", shuffle=False, limit=LIMIT_TEST, **common)
        return train, test


    train_ds, test_ds = datasets()
    test_images = np.asarray(next(iter(test_ds))[0][:3])
    print(f"{DATASET}: input {INPUT_SHAPE}, {NUM_CLASSES} classes, "
          f"train limit {LIMIT_TRAIN or 'all'}, test limit {LIMIT_TEST or 'all'}")
''')

TRAIN_HELPERS = code('''
    from keras_attention.experiments.plots import plot_attention_grid, plot_training_curves
    from keras_attention.experiments.training import compile_classifier


    def train(model, train_data, val_data, epochs):
        """Adam 1e-3, sparse cross-entropy, top-1 / top-5; returns (history dict, train seconds, test metrics)."""
        compile_classifier(model)
        model.run_eagerly = RUN_EAGERLY
        start = time.perf_counter()
        history = model.fit(train_data, validation_data=val_data, epochs=epochs, shuffle=False,  # tf.data shuffles
                            verbose=0 if SMOKE else 2)
        seconds = time.perf_counter() - start
        metrics = model.evaluate(val_data, verbose=0, return_dict=True)
        return history.history, seconds, {k: float(v) for k, v in metrics.items()}


    def curves_figure(histories, metric, stem, title):
        """One line per model: validation ``metric`` per epoch (dashed: training)."""
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for label, hist in histories.items():
            epochs = np.arange(1, len(hist[metric]) + 1)
            line, = ax.plot(epochs, hist["val_" + metric], marker="o", label=label)
            ax.plot(epochs, hist[metric], "--", color=line.get_color(), alpha=0.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{metric} (validation solid, training dashed)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return save_figure(fig, stem)
''')

TS_TRAIN_HELPERS = code('''
    def fit_series(model, x_train, y_train, x_val, y_val, x_test, y_test, epochs, optimizer="adam"):
        """Train a sequence classifier; report the test accuracy at the epoch of best validation accuracy."""
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.run_eagerly = RUN_EAGERLY
        (OUT / "checkpoints").mkdir(exist_ok=True)
        best = keras.callbacks.ModelCheckpoint(str(OUT / "checkpoints" / f"{NOTEBOOK}_{model.name}.weights.h5"),
                                               monitor="val_accuracy", save_best_only=True, save_weights_only=True)
        start = time.perf_counter()
        history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=BATCH,
                            callbacks=[best], verbose=0)
        seconds = time.perf_counter() - start
        model.load_weights(best.filepath)
        test = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
        return history.history, seconds, float(test["accuracy"])


    def curves_figure(histories, stem, title):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for label, hist in histories.items():
            epochs = np.arange(1, len(hist["loss"]) + 1)
            for ax, metric in zip(axes, ("loss", "accuracy")):
                line, = ax.plot(epochs, hist["val_" + metric], marker="o", label=label)
                ax.plot(epochs, hist[metric], "--", color=line.get_color(), alpha=0.5)
                ax.set_xlabel("epoch")
                ax.set_ylabel(f"{metric} (validation solid, training dashed)")
                ax.grid(alpha=0.3)
        axes[1].legend(fontsize=8)
        fig.suptitle(title)
        return save_figure(fig, stem)
''')

# ---------------------------------------------------------------------------------------------------- SAN
SAN = [
    md('''
    # SAN: scale-space attention on LeNet-5 (SAN paper Table IV, Table IX, Fig. 8)

    Reproduces, on Fashion-MNIST (the offline IDX files; sklearn's digits when they are missing):

    1. a hand-built network with SAN modules between two convolutions (functional API, `SAN()([previous, current])`);
    2. **Table IV**: LeNet-5 without attention, with CBAM, BAM, SAN-c and SAN-d (top-1 / top-5 test accuracy, %);
    3. **Fig. 8**: the attention masks of the first module of each model, and a histogram of mask values;
    4. **Table IX** (LeNet-5 / FMNIST column): the SAN ablation rows 0 and 3-5 (rows 1-2 are "-" there:
       LeNet-5's pairs have different channel counts, which needs cross-layer channel alignment).

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute (256 training / 128 test images, 1 epoch, eager).
    Full run (60 000 / 10 000 images, 10 epochs, one seed, 9 trainings): roughly 1-1.5 hours on 2 CPU cores
    (measured: 20-40 s per LeNet-5 epoch on 60 000 images, BAM the slowest). The CLI (`keras-attention reproduce san-lenet`) repeats Table IV over 3 seeds.
    Outputs: `$KERAS_ATTENTION_OUT/figures/san_*.png` and `san_*.csv` (default `runs/notebooks`).
    '''),
    setup("san", '''
    from keras_attention import models
    from keras_attention.experiments.images import attention_masks
    from keras_attention.layers import SAN
    '''),
    IMAGE_DATA,
    TRAIN_HELPERS,
    md('''
    ## 1. SAN between two convolutions, by hand

    A SAN module weights the output `current` of a layer by a mask built from how it differs from that
    layer's input `previous` (eq. 4-12): channel alignment, |difference|, soft extrema in 3x3 windows, one
    smoothing convolution, sigmoid. `SAN-c` uses a plain smoothing convolution, `SAN-d` a dilated one.
    '''),
    code('''
    EPOCHS = 1 if SMOKE else 10
    WIDTH = 4 if SMOKE else 16

    inputs = keras.Input(INPUT_SHAPE, name="image")
    c1 = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu", name="conv1")(inputs)
    a1 = SAN(variant="c", kernel_size=3, name="san_c_conv1")([inputs, c1])  # previous = the image
    c2 = keras.layers.Conv2D(2 * WIDTH, 3, padding="same", activation="relu", name="conv2")(a1)
    a2 = SAN(variant="d", kernel_size=3, name="san_d_conv2")([a1, c2])      # previous = input of conv2
    x = keras.layers.MaxPooling2D(2)(a2)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    hand = keras.Model(inputs, outputs, name="two_conv_san")
    hand.summary(line_length=100)

    hist, seconds, metrics = train(hand, train_ds, test_ds, EPOCHS)
    print(f"two-conv SAN network: top-1 {100 * metrics['top1']:.2f} %, {seconds:.1f} s")
    show_png(plot_training_curves(hist, FIGURES / "san_two_conv_curves.png", title=hand.name))
    name, mask = attention_masks(hand, test_images)
    print(f"mask of {name}: shape {mask.shape}, range [{mask.min():.3f}, {mask.max():.3f}]")
    show_png(plot_attention_grid(test_images, {"hand-built SAN-c": mask}, FIGURES / "san_two_conv_masks.png",
                                 title="SAN-c between the image and conv1"))
    '''),
    md('''
    ## 2. Table IV: LeNet-5 with CBAM, BAM, SAN-c, SAN-d

    The paper's numbers (SAN paper Table IV, top-1 / top-5 %, copied from `papers/san_scale_space_attention.md`).
    LeNet-5 has one attention module after each of its two convolutions; bottleneck and full placement are the
    same network here.
    '''),
    code('''
    PAPER_TABLE_IV = {  # dataset -> model -> (top-1, top-5)
        "mnist": {"Base Model": (98.37, 99.98), "CBAM": (97.88, 99.98), "BAM": (98.52, 99.99),
                  "SAN-c": (98.56, 99.99), "SAN-d": (98.70, 100.00)},
        "fashion_mnist": {"Base Model": (89.43, 99.87), "CBAM": (89.27, 99.85), "BAM": (89.64, 99.90),
                          "SAN-c": (89.75, 99.92), "SAN-d": (89.94, 99.96)},
    }
    CONFIGS = [("Base Model", None), ("CBAM", "cbam"), ("BAM", "bam"), ("SAN-c", "san-c"), ("SAN-d", "san-d")]
    LENET_WIDTH = 0.5 if SMOKE else 1.0
    paper = PAPER_TABLE_IV.get(DATASET, {})

    rows, histories, trained = [], {}, {}
    for label, attention in CONFIGS:
        keras.utils.set_random_seed(0)
        model = models.lenet5(INPUT_SHAPE, NUM_CLASSES, attention=attention, width=LENET_WIDTH)
        hist, seconds, metrics = train(model, train_ds, test_ds, EPOCHS)
        histories[label], trained[label] = hist, model
        ref = paper.get(label, (float("nan"), float("nan")))
        rows.append({"model": label, "top-1": 100 * metrics["top1"], "top-5": 100 * metrics["top5"],
                     "paper top-1": ref[0], "paper top-5": ref[1], "train s": seconds,
                     "params": model.count_params()})
    table_iv = show_table(rows, "table_iv", f"Table IV on {DATASET} ({EPOCHS} epoch(s), seed 0; paper: {DATASET})")
    curves_figure(histories, "top1", "lenet_curves", f"LeNet-5 on {DATASET}")
    '''),
    md('''
    ## 3. Fig. 8: attention masks and their distribution

    The first attention module of every attention model (after `conv1`), on three test images; then the
    histogram of all mask values on those images. The paper's point: CBAM's spatial gate is one mask shared by
    every channel, BAM's masks are coarse, SAN's are per-channel and detailed.
    '''),
    code('''
    masks = {}
    for label, model in trained.items():
        name, mask = attention_masks(model, test_images)
        if mask is not None:
            masks[f"{label}\\n({name})"] = mask
    show_png(plot_attention_grid(test_images, masks, FIGURES / "san_attention_masks.png",
                                 title=f"first attention module, {DATASET} test images"))

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label, mask in masks.items():
        ax.hist(mask.ravel(), bins=40, range=(0, 1), histtype="step", density=True, label=label.split("\\n")[0])
    ax.set_xlabel("mask value")
    ax.set_ylabel("density")
    ax.set_title("distribution of the first module's mask values")
    ax.legend(fontsize=8)
    save_figure(fig, "mask_histogram")
    '''),
    md('''
    ## 4. Table IX: SAN ablation on LeNet-5

    Rows (SAN-c at both slots): 3 = |difference| and channel alignment only; 4 = + soft extrema;
    5 = + smoothing (the full module). Paper numbers from Table IX (LeNet-5, MNIST / FMNIST columns).
    '''),
    code('''
    PAPER_TABLE_IX = {"mnist": {0: 98.37, 3: 98.34, 4: 98.17, 5: 98.56},
                      "fashion_mnist": {0: 89.43, 3: 89.55, 4: 89.28, 5: 89.75}}
    ABLATION = {  # row -> SAN switches (rows 1-2 need channel_alignment=False: incompatible with LeNet-5)
        3: dict(absolute=True, channel_alignment=True, extrema=False, smoothing=False),
        4: dict(absolute=True, channel_alignment=True, extrema=True, smoothing=False),
        5: dict(absolute=True, channel_alignment=True, extrema=True, smoothing=True),
    }
    rows_run = [3] if SMOKE else [3, 4, 5]
    paper = PAPER_TABLE_IX.get(DATASET, {})
    rows = [{"row": 0, "configuration": "Base Model", "top-1": table_iv.loc[0, "top-1"],
             "paper top-1": paper.get(0, float("nan"))}]
    for row in rows_run:
        keras.utils.set_random_seed(0)
        model = models.lenet5(INPUT_SHAPE, NUM_CLASSES, attention="san-c", width=LENET_WIDTH,
                              attention_options=ABLATION[row])
        _, seconds, metrics = train(model, train_ds, test_ds, EPOCHS)
        switches = ", ".join(k for k, v in ABLATION[row].items() if v)
        rows.append({"row": row, "configuration": switches, "top-1": 100 * metrics["top1"],
                     "paper top-1": paper.get(row, float("nan"))})
    show_table(rows, "table_ix", f"Table IX (LeNet-5) on {DATASET}")
    '''),
    md('''
    **Reading the results.** The paper's LeNet-5 gains are small (at most +0.5 points on FMNIST), of the order
    of the seed-to-seed spread; compare one seed only with care, and use the CLI's 3-seed mean ± std for a claim.
    '''),
]

# ------------------------------------------------------------------------------------------------ iSparse
ISPARSE = [
    md('''
    # iSparse: output-informed sparsification of LeNet-5 (dissertation ch. 4: Fig. 4.6a, Fig. 4.9, Table 4.1)

    On Fashion-MNIST (offline IDX files; sklearn digits when missing):

    1. LeNet-5 built by hand with the functional API and trained dense ("Base");
    2. **sparsify-with** (Fig. 4.6a): the trained network is sparsified once, without retraining, at increasing
       sparsity by iSparse (InfFS output scores propagated to edge scores), Retrain-free (|W|) and DropConnect
       (random) -> the sparsity-accuracy curve;
    3. which weights each strategy removes (Fig. 4.9 in numbers): histograms of |W| of kept and pruned edges;
    4. **train-with** (Table 4.1, LeNet-5 / FMNIST column): training with the `ISparse` callback at target
       sparsities, against the paper's numbers.

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute. Full run (60 000 / 10 000 images, 10 epochs,
    9 sparsity levels x 3 strategies for sparsify-with, 6 levels x 3 strategies for train-with = 19 trainings):
    about 1-1.5 hours on 2 CPU cores. Outputs: `figures/isparse_*.png`, `isparse_*.csv`.
    '''),
    setup("isparse", '''
    from keras_attention.sparsity import ISparse, inffs, sparsify, sparsity_report
    '''),
    IMAGE_DATA,
    TRAIN_HELPERS,
    md('''
    ## 1. LeNet-5 by hand and the dense baseline

    conv 6@5x5 same tanh -> avg-pool -> conv 16@5x5 valid tanh -> avg-pool -> dense 120 -> 84 (tanh) -> softmax
    (SPEC §10). Every Conv2D / Dense kernel is prunable; biases never are.
    '''),
    code('''
    EPOCHS = 1 if SMOKE else 10
    WIDTH = 0.5 if SMOKE else 1.0


    def lenet(name="lenet5"):
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
        return keras.Model(inputs, outputs, name=name)


    keras.utils.set_random_seed(0)
    base = lenet("base")
    initial_weights = base.get_weights()  # every train-with run starts from these
    base_hist, base_seconds, base_metrics = train(base, train_ds, test_ds, EPOCHS)
    print(f"Base: top-1 {100 * base_metrics['top1']:.2f} %, {base_seconds:.1f} s")
    show_png(plot_training_curves(base_hist, FIGURES / "isparse_base_curves.png", title="LeNet-5 (dense)"))

    test_x = np.concatenate([np.asarray(x) for x, _ in test_ds])
    test_y = np.concatenate([np.asarray(y) for _, y in test_ds])
    score_x = np.concatenate([np.asarray(x) for x, _ in train_ds.take(4)])[:256]  # InfFS score samples
    output_scores = inffs(base.predict(score_x, verbose=0))
    print("InfFS scores of the 10 output neurons (Alg. 1):", np.round(output_scores, 3))


    def top1(model):
        model.run_eagerly = RUN_EAGERLY
        return 100.0 * float(np.mean(np.argmax(model.predict(test_x, verbose=0, batch_size=512), -1) == test_y))
    '''),
    md('''
    ## 2. Sparsify-with: accuracy against the sparsification factor (Fig. 4.6a)

    The dissertation shows this curve as a figure only (no table): iSparse loses the least accuracy as the
    factor grows, Retrain-free next, DropConnect the most.
    '''),
    code('''
    LEVELS = (0.5, 0.9) if SMOKE else (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    STRATEGIES = {"isparse": "iSparse (iS)", "magnitude": "Retrain-free (RF)", "random": "DropConnect (DC)"}
    base_top1 = top1(base)
    rows, sparsified = [], {}
    for strategy, label in STRATEGIES.items():
        for level in LEVELS:
            model = sparsify(base, level, x=score_x, strategy=strategy, seed=0)
            sparsified[strategy, level] = model
            achieved = sparsity_report(model)[-1]["sparsity"]
            rows.append({"strategy": label, "target": level, "achieved": achieved, "top-1": top1(model)})
    curve = show_table(rows, "sparsify_with", f"sparsify-with on {DATASET} (dense top-1 {base_top1:.2f} %)")

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label in STRATEGIES.values():
        part = curve[curve["strategy"] == label]
        ax.plot([0.0, *part["target"]], [base_top1, *part["top-1"]], marker="o", label=label)
    ax.set_xlabel("sparsification factor (fraction of kernel entries removed per layer)")
    ax.set_ylabel("top-1 test accuracy (%)")
    ax.set_title(f"LeNet-5 on {DATASET}, sparsify-with (no retraining)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, "sparsity_accuracy")
    '''),
    md('''
    ## 3. Which edges are removed: |W| of kept and pruned edges at 50 %

    Retrain-free keeps exactly the largest |W|; iSparse keeps large weights that lead to important outputs,
    so its kept and pruned |W| distributions overlap; DropConnect ignores |W|.
    '''),
    code('''
    level = 0.5
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    dense_kernel = np.abs(base.get_layer("fc1").kernel.numpy()).ravel()
    for ax, (strategy, label) in zip(axes, STRATEGIES.items()):
        kept = sparsified[strategy, level].get_layer("fc1").kernel.numpy().ravel() != 0
        bins = np.linspace(0, dense_kernel.max(), 40)
        ax.hist(dense_kernel[kept], bins=bins, alpha=0.6, label="kept")
        ax.hist(dense_kernel[~kept], bins=bins, alpha=0.6, label="pruned")
        ax.set_title(f"{label}, fc1, {int(100 * level)} %")
        ax.set_xlabel("|W| (dense model)")
        ax.legend()
    axes[0].set_ylabel("edges")
    save_figure(fig, "kept_pruned_histograms")
    print(pd.DataFrame(sparsity_report(sparsified["isparse", level])).to_string(index=False))
    '''),
    md('''
    ## 4. Train-with (Table 4.1, LeNet-5 / FMNIST)

    Every run starts from the Base model's initial weights and trains with the `ISparse` callback (masks
    recomputed each epoch, pruned weights kept at zero after every step). Paper columns: DC = DropConnect,
    RT = Retrain-free, iS = iSparse (Dropout and Lottery-Ticket are not re-run here; the CLI's `isparse-lenet`
    adds Dropout and L1).
    '''),
    code('''
    PAPER_TABLE_4_1 = {  # LeNet-5 train-with top-1 %: target -> (DO, DC, RT, LT, iS); base: 88.02 / 98.79
        "fashion_mnist": {"base": 88.02, 0.05: (88.35, 88.23, 88.70, 87.76, 88.75),
                          0.10: (88.06, 87.60, 87.02, 87.34, 87.89), 0.20: (87.00, 88.02, 88.00, 86.89, 88.11),
                          0.30: (86.51, 88.00, 87.75, 87.37, 88.25), 0.40: (84.09, 87.81, 87.25, 86.79, 88.30),
                          0.50: (83.13, 87.76, 88.15, 86.83, 88.46)},
        "mnist": {"base": 98.79, 0.05: (98.09, 98.90, 97.99, 98.03, 98.09),
                  0.10: (98.07, 98.17, 98.45, 98.82, 98.56), 0.20: (98.70, 98.79, 98.81, 98.60, 98.98),
                  0.30: (98.54, 98.78, 98.71, 98.72, 98.98), 0.40: (98.11, 98.85, 98.97, 98.37, 98.99),
                  0.50: (97.60, 98.55, 98.85, 98.68, 99.00)},
    }
    COLUMN = {"random": 1, "magnitude": 2, "isparse": 4}
    TARGETS = (0.5,) if SMOKE else (0.05, 0.10, 0.20, 0.30, 0.40, 0.50)
    paper = PAPER_TABLE_4_1.get(DATASET, {})
    rows = [{"method": "Base", "target": 0.0, "achieved": 0.0, "top-1": 100 * base_metrics["top1"],
             "paper top-1": paper.get("base", float("nan"))}]
    histories = {"Base": base_hist}
    for target in TARGETS:
        for strategy, label in STRATEGIES.items():
            model = lenet(f"{strategy}_{int(100 * target)}")
            model.set_weights(initial_weights)
            callback = ISparse(target, samples=score_x, strategy=strategy, seed=0)
            compile_classifier(model)
            model.run_eagerly = RUN_EAGERLY
            hist = model.fit(train_ds, validation_data=test_ds, epochs=EPOCHS, callbacks=[callback], shuffle=False,
                             verbose=0 if SMOKE else 2).history
            histories[f"{label} {int(100 * target)} %"] = hist
            ref = paper.get(target)
            rows.append({"method": label, "target": target, "achieved": sparsity_report(model)[-1]["sparsity"],
                         "top-1": top1(model), "paper top-1": ref[COLUMN[strategy]] if ref else float("nan")})
    show_table(rows, "table_4_1", f"Table 4.1 (train-with, LeNet-5) on {DATASET}")
    curves_figure({k: v for k, v in histories.items() if k == "Base" or k.endswith(f" {int(100 * TARGETS[-1])} %")},
                  "top1", "train_with_curves", f"train-with at {int(100 * TARGETS[-1])} %")
    '''),
]

# ------------------------------------------------------------------------------------------------ RACKNet
RACKNET = [
    md('''
    # RACKNet: data-driven allocation of convolution kernels (dissertation ch. 3: Tables 3.2, 3.6, 3.8)

    On Fashion-MNIST (offline IDX files; sklearn digits, enlarged for SIFT, when missing):

    1. `analyze`: SIFT keypoints -> racks (octaves with >= 5 % of the keypoints), entropy mixtures -> layers per
       rack and their order, DBSCAN descriptor clusters -> kernel weights; the phase timings (Table 3.8);
    2. `allocate` the kernel budget with RACKNet and the five comparison strategies (Table 3.6 rows), printed in
       Table 3.2's notation `layers-per-rack (kernels)`;
    3. the RACKNet CNN built by hand with the functional API from the allocation (and checked against
       `build_model`), then all strategies trained and compared with the paper's MNIST numbers (the
       dissertation has no Fashion-MNIST column; the closest is MNIST, same image size and layout).

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute (300 images analysed, budget 48, 2 strategies).
    Full run (10 000 images analysed, budget 400 as in the paper, 6 strategies x 10 epochs on 60 000 images):
    about 3 hours on 2 CPU cores (the convolutions at 28 x 28 with ~400 kernels dominate).
    Outputs: `figures/racknet_*.png`, `racknet_*.csv`, `racknet_plan.json`.
    '''),
    setup("racknet", '''
    from keras_attention.racknet import STRATEGIES, allocate, analyze, build_model
    '''),
    IMAGE_DATA,
    TRAIN_HELPERS,
    md('''
    ## 1. Data analysis (Obs. 1-4) and its cost (Table 3.8)
    '''),
    code('''
    N_ANALYSIS = 300 if SMOKE else 10000
    BUDGET = 48 if SMOKE else 400
    images, _ = load_arrays(DATASET, "train", limit=N_ANALYSIS, image_size=SIZE)  # the size the CNN sees
    plan = analyze(images, seed=0, budget=BUDGET, fallback=SMOKE)
    plan.to_json(OUT / "racknet_plan.json")
    print(f"plan on {plan.n_images} images, {plan.n_keypoints} keypoints, octave counts {plan.octave_counts}")
    print(f"racks (octaves) {plan.octaves}, layers per rack {plan.layers_per_rack}, clusters n_ij {plan.n_clusters}")
    print(f"RACKNet allocation (Table 3.2 notation): {plan}")
    PAPER_TABLE_3_8_MNIST = {"features": 340.34, "entropy": 81.04, "mixture": 1.79, "clustering": 75.76,
                             "training": 929.33}  # seconds, 60k MNIST images
    timings = [{"phase": phase, "seconds here": plan.timings.get(phase, float("nan")),
                "paper MNIST (60k images)": PAPER_TABLE_3_8_MNIST[phase]} for phase in plan.timings]

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    octs = sorted(plan.octave_counts)
    axes[0].bar([str(o) for o in octs], [plan.octave_counts[o] for o in octs],
                color=["tab:blue" if o in plan.octaves else "tab:gray" for o in octs])
    axes[0].set_xlabel("SIFT octave (blue: a rack)")
    axes[0].set_ylabel("keypoints")
    grid = np.linspace(0, 8, 400)
    for rack, (octave, components) in enumerate(zip(plan.octaves, plan.components), start=1):
        density = sum(c.weight * np.exp(-0.5 * ((grid - c.mean) / max(c.std, 1e-3)) ** 2)
                      / (max(c.std, 1e-3) * np.sqrt(2 * np.pi)) for c in components)
        axes[1].plot(grid, density, label=f"rack {rack} (octave {octave}): {len(components)} layer(s)")
    axes[1].set_xlabel("scope entropy (bits)")
    axes[1].set_ylabel("mixture density")
    axes[1].legend(fontsize=8)
    fig.suptitle("Obs. 1-2: racks from octave populations, layers from entropy mixtures")
    save_figure(fig, "analysis")
    '''),
    md('''
    ## 2. Allocation strategies (Table 3.6 rows)
    '''),
    code('''
    allocations = {strategy: allocate(plan, BUDGET, strategy=strategy, seed=0) for strategy in STRATEGIES}
    show_table([{"strategy": s, "allocation": str(a), "kernels": sum(map(sum, a))} for s, a in allocations.items()],
               "allocations", f"budget {BUDGET}")
    '''),
    md('''
    ## 3. The RACKNet CNN by hand, and training every strategy

    Per rack, one 3x3 ReLU convolution per layer with its kernel count; 2x2 average pooling between racks;
    Flatten -> Dropout(0.25) -> softmax (SPEC §8).
    '''),
    code('''
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

    PAPER_TABLE_3_6 = {"racknet": 99.25, "random": 98.98, "uniform_rack": 98.97, "uniform_layer": 98.97,
                       "c_proportional": 98.90, "inverse_order": 98.99}  # MNIST column, top-1 %
    EPOCHS = 1 if SMOKE else 10
    run = ["racknet", "uniform_layer"] if SMOKE else list(STRATEGIES)
    rows, histories = [], {}
    for strategy in run:
        keras.utils.set_random_seed(0)
        model = racknet_by_hand(allocations[strategy], strategy)
        hist, seconds, metrics = train(model, train_ds, test_ds, EPOCHS)
        histories[strategy] = hist
        rows.append({"strategy": strategy, "allocation": str(allocations[strategy]),
                     "top-1": 100 * metrics["top1"], "paper top-1 (MNIST)": PAPER_TABLE_3_6[strategy],
                     "params": model.count_params(), "train s": seconds})
    show_table(rows, "table_3_6", f"Table 3.6 on {DATASET} (paper: MNIST, budget 400)")
    timings.append({"phase": "training (racknet)", "seconds here": rows[0]["train s"],
                    "paper MNIST (60k images)": PAPER_TABLE_3_8_MNIST["training"]})
    show_table(timings, "table_3_8", "Table 3.8: time per phase (s)")
    curves_figure(histories, "top1", "strategy_curves", f"allocation strategies on {DATASET}")
    '''),
]

# --------------------------------------------------------------------------------------------- Saliency/SDMA
SALIENCY_SDMA = [
    md('''
    # Temporal scale-space events, saliency series and SDMA (dissertation ch. 6)

    On the real JapaneseVowels series (UEA, bundled with aeon: 12 LPC cepstrum coefficients, 9 speakers,
    equal-length copy of 25 steps):

    1. scale-space events (eq. 6.3-6.7): where they fall in time and scale, how many per variate;
    2. saliency series (eq. 6.8-6.11) for the four amplitude choices, with and without the 3-sigma cut;
    3. SDMA / SDCA networks (eq. 6.12, Fig. 6.10) built by hand and with `sdma_net`, against an LSTM without
       attention, next to the paper's Table 6.2 (the dissertation uses MOCAP, AUSLAN and SML, not
       JapaneseVowels; AUSLAN, sign-language gestures, is quoted as the closest classification set).

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute. Full run (270 training series, 25 epochs as
    Table 6.1 for the gesture sets, 6 networks): about 5-10 minutes on 2 CPU cores.
    Outputs: `figures/saliency_sdma_*.png`, `saliency_sdma_*.csv`.
    '''),
    setup("saliency_sdma", '''
    import importlib.util

    from keras_attention.data import load_timeseries
    from keras_attention.saliency import AMPLITUDES, extract_events, saliency_series
    '''),
    code('''
    data = load_timeseries("JapaneseVowels", validation_fraction=0.2, seed=0)
    n_train, n_eval = (48, 32) if SMOKE else (None, None)
    x_train, y_train = data.x_train[:n_train], data.y_train[:n_train]
    x_val, y_val = data.x_val[:n_eval], data.y_val[:n_eval]
    x_test, y_test = data.x_test[:n_eval], data.y_test[:n_eval]
    BATCH = 16 if SMOKE else 32
    print(f"JapaneseVowels: train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}, "
          f"{data.n_classes} classes")
    '''),
    md('''
    ## 1. Events

    Octaves `O = 3`, scales `S = 3` (Table 6.1), `sigma0 = 1` (the package default; Table 6.1's 0.5-2 are
    per-dataset choices), contrast 0.005 on the z-normalised series.
    '''),
    code('''
    EVENT_ARGS = dict(octaves=3, scales=3, sigma0=1.0, contrast=0.005)
    events = extract_events(x_train, **EVENT_ARGS)
    print(f"{len(events)} events in {len(x_train)} series x {data.n_variates} variates "
          f"({len(events) / (len(x_train) * data.n_variates):.2f} per series and variate)")
    per_variate = np.bincount(events["variate"], minlength=data.n_variates)

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    axes[0].hist(events["t"], bins=np.arange(data.length + 1) - 0.5)
    axes[0].set_xlabel("event time t (steps)")
    axes[0].set_ylabel("events")
    axes[1].hist(events["sigma"], bins=30)
    axes[1].set_xlabel("event scale sigma (steps)")
    axes[2].bar(np.arange(data.n_variates), per_variate)
    axes[2].set_xlabel("variate")
    axes[2].set_ylabel("events")
    fig.suptitle("scale-space events of the JapaneseVowels training series")
    save_figure(fig, "event_histograms")
    '''),
    md('''
    ## 2. Saliency series

    One series, one variate: the z-normalised values, its events (marker size ~ sigma; up = maximum,
    down = minimum of the DoG) and the saliency series for each amplitude choice.
    '''),
    code('''
    sample, variate = 0, int(np.argmax(per_variate))
    mine = events[(events["sample"] == sample) & (events["variate"] == variate)]
    steps = np.arange(data.length)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    axes[0].plot(steps, x_train[sample, :, variate], color="black", label="series")
    for polarity, marker in ((1, "^"), (-1, "v")):
        sel = mine[mine["polarity"] == polarity]
        axes[0].scatter(sel["t"], x_train[sample, sel["t"], variate], s=30 * sel["sigma"], marker=marker,
                        label=f"events ({'max' if polarity > 0 else 'min'})")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"training series {sample}, variate {variate}")
    for amplitude in AMPLITUDES:
        for cut in (False, True):
            series = saliency_series(x_train[sample:sample + 1], amplitude=amplitude, cut=cut, **EVENT_ARGS)
            axes[1].plot(steps, series[0, :, variate], "--" if cut else "-",
                         label=f"{amplitude}{' (cut)' if cut else ''}")
    axes[1].set_xlabel("time step")
    axes[1].set_ylabel("saliency A(t)")
    axes[1].legend(fontsize=7, ncol=4)
    save_figure(fig, "saliency_series")
    '''),
    md('''
    ## 3. SDMA networks

    `SDMA` and `sdma_net` are a later step of the project. The next cell checks that they are present in
    this checkout and skips the network experiment, saying so, when they are not.
    '''),
    code('''
    HAVE_SDMA = all(importlib.util.find_spec(m) is not None
                    for m in ("keras_attention.layers.sdma", "keras_attention.models.sdma_net"))
    print("SDMA available:", HAVE_SDMA)
    '''),
    code('''
    PAPER_TABLE_6_2 = {  # classification accuracy %, (single layer, multi-layer type 1, type 2)
        "AUSLAN": {"Base W/O Attention": (71.16, 69.40, 69.40), "SDCA": (80.17, 78.63, 82.77),
                   "SDMA": (88.77, 85.96, 86.56)},
        "MOCAP": {"Base W/O Attention": (72.65, 68.53, 68.53), "SDCA": (75.88, 82.94, 81.82),
                  "SDMA": (88.23, 84.05, 91.17)},
    }
    if HAVE_SDMA:
        from keras_attention.layers.sdma import SDCA, SDMA
        from keras_attention.models.sdma_net import sdma_net

        EPOCHS = 1 if SMOKE else 25
        UNITS = 2 * data.n_variates  # SPEC §6 default
        sal_train, sal_val, sal_test = (saliency_series(x, **EVENT_ARGS) for x in (x_train, x_val, x_test))
        shape = (data.length, data.n_variates)

        def by_hand(block, name):
            series = keras.Input(shape, name="series")
            saliency = keras.Input(shape, name="saliency")
            if block is None:  # the LSTM baseline sees the series only
                y = keras.layers.LSTM(UNITS, return_sequences=True)(series)
                inputs = [series, saliency]
            else:
                y = block(UNITS, name=name + "_block")([series, saliency])
                inputs = [series, saliency]
            last = y[:, -1, :]  # classification head on the last step (SPEC §6)
            outputs = keras.layers.Dense(data.n_classes, activation="softmax")(last)
            return keras.Model(inputs, outputs, name=name)

        networks = {
            ("Base W/O Attention", 0): lambda: by_hand(None, "lstm"),
            ("SDCA", 0): lambda: by_hand(SDCA, "sdca_single"),
            ("SDMA", 0): lambda: by_hand(SDMA, "sdma_single"),
            ("SDMA", 1): lambda: sdma_net(shape, data.n_classes, layers=2, architecture="type1", name="sdma_type1"),
            ("SDMA", 2): lambda: sdma_net(shape, data.n_classes, layers=2, architecture="type2", name="sdma_type2"),
            ("SDCA", 2): lambda: sdma_net(shape, data.n_classes, layers=2, architecture="type2", block="sdca",
                                          name="sdca_type2"),
        }
        if SMOKE:
            networks = {k: v for k, v in networks.items() if k in {("SDMA", 0), ("SDMA", 2)}}
        ARCH = {0: "single layer", 1: "2 layers, type 1", 2: "2 layers, type 2"}
        rows, histories = [], {}
        for (label, arch), make in networks.items():
            keras.utils.set_random_seed(0)
            model = make()
            hist, seconds, acc = fit_series(model, [x_train, sal_train], y_train, [x_val, sal_val], y_val,
                                            [x_test, sal_test], y_test, EPOCHS)
            histories[f"{label} ({ARCH[arch]})"] = hist
            rows.append({"model": label, "architecture": ARCH[arch], "test accuracy": 100 * acc,
                         "paper AUSLAN": PAPER_TABLE_6_2["AUSLAN"][label][arch],
                         "paper MOCAP": PAPER_TABLE_6_2["MOCAP"][label][arch], "params": model.count_params(),
                         "train s": seconds})
        show_table(rows, "table_6_2", "Table 6.2 analogue on JapaneseVowels (paper: AUSLAN / MOCAP)")
        curves_figure(histories, "curves", "SDMA / SDCA on JapaneseVowels")
    else:
        print("keras_attention.layers.sdma / keras_attention.models.sdma_net are not in this checkout: "
              "the SDMA network experiment is skipped. Paper numbers for reference:")
        print(pd.DataFrame(PAPER_TABLE_6_2).to_string())
    '''),
]
SALIENCY_SDMA.insert(2, TS_TRAIN_HELPERS)

# --------------------------------------------------------------------------------------------------- XM2A
XM2A_NB = [
    md('''
    # XM2A: multi-scale multi-head attention with cross-talk (dissertation ch. 7: Tables 7.3, 7.4, Fig. 7.4)

    Attention encoders built by hand with the functional API (input projection, then blocks of attention ->
    residual + LayerNorm -> feed-forward -> residual + LayerNorm, global average pooling, softmax), with
    Keras' `MultiHeadAttention` (Transformer), `MSMSA`, XM2A and its variants (Table 7.1) and the ablations of
    Table 7.4 (self-talk, max descriptors, BatchNorm), trained on the real JapaneseVowels series (UEA, bundled
    in aeon). The dissertation uses SADD (spoken Arabic digits, 13 MFCCs), AUSLAN and MOCAP; JapaneseVowels
    (12 cepstrum coefficients of spoken vowels) is closest to SADD, whose column is quoted.
    Paper setting: 6 blocks, 8 heads, key_dim 64, RMSProp, 25 epochs, best validation epoch reported.

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute (1 block, 2 heads, key_dim 8). Full run (the
    paper's 6 x 8 x 64 encoders, 11 models x 25 epochs on 216 series of 25 steps): roughly 20-40 minutes on
    2 CPU cores. Outputs: `figures/xm2a_*.png`, `xm2a_*.csv`.
    '''),
    setup("xm2a", '''
    from keras_attention.data import load_timeseries
    from keras_attention.layers import MSMSA, XM2A
    '''),
    TS_TRAIN_HELPERS,
    code('''
    data = load_timeseries("JapaneseVowels", validation_fraction=0.2, seed=0)
    n_train, n_eval = (48, 32) if SMOKE else (None, None)
    x_train, y_train = data.x_train[:n_train], data.y_train[:n_train]
    x_val, y_val = data.x_val[:n_eval], data.y_val[:n_eval]
    x_test, y_test = data.x_test[:n_eval], data.y_test[:n_eval]
    BATCH = 16 if SMOKE else 32
    BLOCKS, HEADS, KEY_DIM = (1, 2, 8) if SMOKE else (6, 8, 64)
    D_MODEL = 16 if SMOKE else 64  # width of the residual stream (XM2A / MSMSA project back to it)
    EPOCHS = 1 if SMOKE else 25
    print(f"train {x_train.shape}, {data.n_classes} classes; encoder {BLOCKS} blocks, {HEADS} heads, "
          f"key_dim {KEY_DIM}, model width {D_MODEL}")
    '''),
    md('''
    ## The encoder, by hand
    '''),
    code('''
    def encoder(kind, name, **options):
        inputs = keras.Input((data.length, data.n_variates), name="series")
        x = keras.layers.Dense(D_MODEL, name="embed")(inputs)
        for i in range(BLOCKS):
            if kind == "transformer":
                a = keras.layers.MultiHeadAttention(HEADS, KEY_DIM, name=f"mha{i}")(x, x)
            elif kind == "msmsa":
                a = MSMSA(num_heads=HEADS, key_dim=KEY_DIM, name=f"msmsa{i}")(x)
            else:
                a = XM2A(num_heads=HEADS, key_dim=KEY_DIM, name=f"xm2a{i}", **options)(x)
            x = keras.layers.LayerNormalization(name=f"norm{i}a")(x + a)
            f = keras.layers.Dense(2 * D_MODEL, activation="relu", name=f"ff{i}a")(x)
            f = keras.layers.Dense(D_MODEL, name=f"ff{i}b")(f)
            x = keras.layers.LayerNormalization(name=f"norm{i}b")(x + f)
        x = keras.layers.GlobalAveragePooling1D()(x)
        outputs = keras.layers.Dense(data.n_classes, activation="softmax")(x)
        return keras.Model(inputs, outputs, name=name)


    PAPER_SADD = {  # dissertation Table 7.3 (SADD column) and Table 7.4 (SADD column), accuracy %
        "Transformer": 96.16, "MSMSA": 97.03, "XM2A": 98.12,  # Table 7.3 (XM2A = average, layer norm, SS)
        "XM2A self-talk": 96.50,  # Table 7.4: average, layer norm, IS
        "XM2A max descriptor": 97.52,  # maximum, layer norm, SS
        "XM2A BatchNorm": 96.02,  # average, batch norm, SS
        "XM2A max, BatchNorm, self-talk": 96.02,  # maximum, batch norm, IS
    }  # the variants M / E / P / EP appear only in Fig. 7.4 (no numbers in the text): NaN below
    CONFIGS = {
        "Transformer": ("transformer", {}),
        "MSMSA": ("msmsa", {}),
        "XM2A": ("xm2a", {}),
        "XM2A-MSMSA (M)": ("xm2a", {"variant": "msmsa"}),
        "XM2A-Exp (E)": ("xm2a", {"variant": "exp"}),
        "XM2A-Pool (P)": ("xm2a", {"variant": "pool"}),
        "XM2A-Exp-Pool (EP)": ("xm2a", {"variant": "exp_pool"}),
        "XM2A self-talk": ("xm2a", {"talk": "self"}),
        "XM2A max descriptor": ("xm2a", {"descriptor": "max"}),
        "XM2A BatchNorm": ("xm2a", {"norm": "batch"}),
        "XM2A max, BatchNorm, self-talk": ("xm2a", {"descriptor": "max", "norm": "batch", "talk": "self"}),
    }
    if SMOKE:
        CONFIGS = {k: CONFIGS[k] for k in ("Transformer", "MSMSA", "XM2A", "XM2A-Pool (P)")}
    rows, histories = [], {}
    for label, (kind, options) in CONFIGS.items():
        keras.utils.set_random_seed(0)
        model = encoder(kind, "".join(c if c.isalnum() else "_" for c in label.lower()), **options)
        hist, seconds, acc = fit_series(model, x_train, y_train, x_val, y_val, x_test, y_test, EPOCHS,
                                        optimizer=keras.optimizers.RMSprop(1e-3))
        histories[label] = hist
        rows.append({"model": label, "test accuracy": 100 * acc, "paper SADD": PAPER_SADD.get(label, float("nan")),
                     "params": model.count_params(), "train s": seconds})
    results = show_table(rows, "table_7_3_7_4", "Tables 7.3 / 7.4 analogue on JapaneseVowels (paper: SADD)")
    curves_figure({k: histories[k] for k in ("Transformer", "MSMSA", "XM2A")}, "curves",
                  "Transformer vs MSMSA vs XM2A on JapaneseVowels")
    '''),
    md('''
    ## Parameter-accuracy trade-off (Fig. 7.4)

    The dissertation's claim: XM2A variants beat Transformer and MSMSA, with XM2A-P as small as the Transformer.
    '''),
    code('''
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for _, row in results.iterrows():
        ax.scatter(row["params"], row["test accuracy"], s=40)
        ax.annotate(row["model"], (row["params"], row["test accuracy"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("parameters")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("parameters vs accuracy, JapaneseVowels")
    ax.grid(alpha=0.3)
    save_figure(fig, "params_accuracy")
    '''),
]

# ------------------------------------------------------------------------------------ FA / SPANet / AW-conv
FA_SPANET_AW = [
    md('''
    # FA, SPANet and AW-convolution in a CIFAR-style ResNet (FANet Table I, SPANet Table 1, AW-conv Table 1)

    A ResNet-20-style network (3 stages of basic blocks, 16-32-64 filters) built by hand with the functional
    API, with:

    - **FA** (focus-and-association, FANet eq. 5-9): every block but the first of the network is recalibrated by
      `FocusAssociation()([block input, block output, s])`, `s` carrying the earlier blocks' scalars;
    - **SE** (squeeze-and-excitation) on every block's residual branch, the common competitor of FA and AW;
    - **SPANet** (salient positions attention) and **NL** (non-local block) after stage 2 (the papers put them in
      a middle stage);
    - **AW-conv**: every 3x3 convolution of the blocks replaced by `AWConv2D` (attentional weights, eq. 7-8).

    Trained on Fashion-MNIST (offline; digits when missing). The papers report CIFAR-10/100 and ImageNet, so the
    paper's numbers below are for a different data set and deeper networks: compare the sign and size of the
    change over the baseline, not absolute accuracies.

    **Runtime.** `KERAS_ATTENTION_SMOKE=1`: about a minute (1 block per stage, 4-8-16 filters). Full run
    (ResNet-20: 3 blocks per stage, 16-32-64 filters, 6 models x 10 epochs on 60 000 images): about 3-4 hours on
    2 CPU cores (AW-conv, a per-sample convolution, is the slowest). Outputs: `figures/fa_spanet_awconv_*.png`,
    `fa_spanet_awconv_*.csv`.
    '''),
    setup("fa_spanet_awconv", '''
    from keras_attention.layers import AWConv2D, FocusAssociation, NonLocalBlock, SPANet, SqueezeExcitation
    '''),
    IMAGE_DATA,
    TRAIN_HELPERS,
    code('''
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
        """CIFAR ResNet (He et al.) with the attention of the comparison; FA returns its `s` as a second output."""
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
                    fa = FocusAssociation(name=tag + "_fa")
                    x, s = fa([x, u] if s is None else [x, u, s])
                else:
                    x = u
                index += 1
            if stage == 1 and attention == "spanet":
                x = SPANet(k=8, name="spanet")(x)
            if stage == 1 and attention == "nonlocal":
                x = NonLocalBlock(name="nonlocal")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
        model = keras.Model(inputs, outputs, name=name)
        fa_model = keras.Model(inputs, s, name=name + "_fa_scalars") if s is not None else None
        return model, fa_model
    '''),
    md('''
    ## Training and the comparison table

    Paper numbers (top-1 accuracy %, i.e. 100 - the reported error where the paper gives errors):
    FANet Table I, CIFAR-10, ResNet-20 re-implementation: base 92.30, SE 92.75, FA 92.68.
    SPANet Table 1, CIFAR-10, ResNet-18: base 93.07, SE 95.12, NL 95.36, SPA (k = 2, stage 3) 95.79.
    AW-conv Table 1, ImageNet, ResNet-50: base 75.44, SE 76.86, AW 76.62.
    '''),
    code('''
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
    rows, histories, trained = [], {}, {}
    for label, kind in KINDS.items():
        keras.utils.set_random_seed(0)
        model, fa_model = resnet(kind, name=f"resnet_{kind or 'base'}")
        hist, seconds, metrics = train(model, train_ds, test_ds, EPOCHS)
        histories[label], trained[label] = hist, (model, fa_model)
        row = {"model": label, "top-1": 100 * metrics["top1"], "params": model.count_params(), "train s": seconds}
        for source in ("FANet CIFAR-10 ResNet-20", "SPANet CIFAR-10 ResNet-18", "AW ImageNet ResNet-50"):
            row["paper " + source] = PAPER[label].get(source, float("nan"))
        rows.append(row)
    results = show_table(rows, "comparison", f"ResNet-{6 * BLOCKS_PER_STAGE + 2} on {DATASET} vs the papers")
    results["gain over Base"] = results["top-1"] - results.loc[0, "top-1"]
    print(results[["model", "top-1", "gain over Base"]].to_string(index=False))
    curves_figure(histories, "top1", "curves", f"ResNet-{6 * BLOCKS_PER_STAGE + 2} on {DATASET}")
    '''),
    md('''
    ## What the modules attend to

    Left: FA's block weights `k_i` (eq. 8-9) on the test images, one box per recalibrated block: a block with
    `k` near 1 is kept, near 0 skipped (FANet's "reducing redundancy among blocks"). Right: where SPANet changes
    the features: the per-position energy of `z - x` (the attention it added), averaged over test images.
    '''),
    code('''
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    fa_model = trained["FA"][1]
    k = np.asarray(fa_model.predict(test_ds, verbose=0))
    axes[0].boxplot([k[:, i] for i in range(k.shape[1])])
    axes[0].set_xticks(range(1, k.shape[1] + 1), [f"block {i + 2}" for i in range(k.shape[1])])
    axes[0].set_ylabel("FA weight k")
    axes[0].set_title("FA: block weights on the test images")
    spa_model = trained["SPANet"][0]
    layer = spa_model.get_layer("spanet")
    probe = keras.Model(spa_model.inputs, [layer.input, layer.output])
    before, after = probe.predict(test_ds, verbose=0)
    energy = np.mean(np.sum((after - before) ** 2, axis=-1), axis=0)
    im = axes[1].imshow(energy, cmap="viridis")
    fig.colorbar(im, ax=axes[1])
    axes[1].set_title("SPANet: mean energy of z - x per position")
    save_figure(fig, "fa_weights_spanet_energy")
    '''),
]

def committed_results(*names):
    """Two closing cells: the full-run results committed under ``benchmarks/results`` (tables and figures),
    shown next to what this notebook just ran; a file not committed yet is named as such."""
    listing = ", ".join(repr(name) for name in names)
    return [
        md("""
        ## The full run committed with the package

        The cells above run the experiment at notebook size. The full run (all seeds, the data and epochs its
        header states) was made with the benchmark script or `keras-attention reproduce` and committed in
        `benchmarks/results/`; its tables and figures follow.
        """),
        code(f'''
        from IPython.display import Markdown

        ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "benchmarks" / "results").is_dir()), None)
        for name in [{listing}]:
            path = None if ROOT is None else ROOT / "benchmarks" / "results" / name
            if path is None or not path.exists():
                print(f"{{name}}: not committed yet")
            elif path.suffix == ".png":
                show_png(path)
            else:
                display(Markdown(path.read_text()))
        '''),
    ]


NOTEBOOKS = {
    "san": SAN,
    "isparse": ISPARSE,
    "racknet": RACKNET,
    "saliency_sdma": SALIENCY_SDMA,
    "xm2a": XM2A_NB,
    "fa_spanet_awconv": FA_SPANET_AW,
}


COMMITTED = {
    "san": ["san_lenet_fashion_mnist.md", "san_lenet_fashion_mnist.png", "layer_overhead.md"],
    "isparse": ["isparse_fashion_mnist.md", "isparse_fashion_mnist_sparsify_with.png",
                "isparse_fashion_mnist_train_with.png"],
    "racknet": ["racknet_digits.md", "racknet_digits_entropy.png", "racknet_fashion_mnist.md",
                "racknet_fashion_mnist_entropy.png", "racknet_fashion_mnist_accuracy.png"],
    "saliency_sdma": ["sdma_comparison.md", "sdma_ablation.md", "sdma_events.md",
                      "sdma_saliency_JapaneseVowels.png"],
    "xm2a": ["xm2a_comparison.md", "xm2a_variants.md", "xm2a_variants.png", "xm2a_ablation.md",
             "xm2a_step_time.md"],
    "fa_spanet_awconv": ["fa_fashion_mnist.md", "spanet_fashion_mnist.md", "awconv_fashion_mnist.md"],
}


def build(name):
    """The notebook ``name`` as an ``nbformat`` node, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    cells = []
    for index, (kind, source) in enumerate([*NOTEBOOKS[name], *committed_results(*COMMITTED[name])]):
        cell_id = f"{name.replace('_', '-')}-{index:02d}"
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(source, id=cell_id))
        else:
            cells.append(nbformat.v4.new_code_cell(source, id=cell_id))
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def render(name):
    """The exact text of ``<name>.ipynb``."""
    return nbformat.writes(build(name)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "differ from the generator" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}: {', '.join(stale) or '-'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
