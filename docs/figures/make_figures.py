"""Write the figures of the method pages into ``docs/_static/figures/`` (committed; the site build does not run this).

    python docs/figures/make_figures.py               # every figure, about 3-4 minutes on 2 CPU cores
    python docs/figures/make_figures.py --only san    # one of: san, competitors, fa, spanet, awconv,
                                                      #         positional, xm2a, eca, coordinate,
                                                      #         global_context, selective_kernel,
                                                      #         gather_excite, simam, triplet, scse

Each figure shows what a layer attends to after a short training run on data the package ships or reads offline:
the Fashion-MNIST slice bundled with the package (``fashion_mnist_slice``: 2,000 training and 1,000 test
images) for the image layers, the UEA set BasicMotions (in aeon's wheel) for XM2A. The networks are small and
trained for a few epochs (seed 0): the figures illustrate the mechanism, they are not results; the accuracy
tables are in ``benchmarks/results``. The quantities inside a layer (SPANet's scores and affinity, the
non-local block's affinity, XM2A's masks, scSE's two gates) are recomputed with numpy from the trained weights,
following the equations on the method pages.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_attention.data import load_arrays, load_timeseries  # noqa: E402
from keras_attention.layers import (  # noqa: E402
    BAM,
    CBAM,
    ECA,
    SAN,
    SCSE,
    XM2A,
    AWConv2D,
    CoordinateAttention,
    FocusAssociation,
    GatherExcite,
    GlobalContext,
    NonLocalBlock,
    PositionalEncoding,
    SalientPositionsAttention,
    SelectiveKernel,
    SimAM,
    SqueezeExcitation,
    TripletAttention,
)

OUT = Path(__file__).resolve().parents[1] / "_static" / "figures"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHOWN = (0, 1, 2)  # test images shown (ankle boot, pullover, trouser)
DPI = 100


def fashion(limit_test=1000):
    x_train, y_train = load_arrays("fashion_mnist_slice", "train")
    x_test, y_test = load_arrays("fashion_mnist_slice", "test", limit=limit_test)
    return (x_train / 255.0).astype("float32"), y_train, (x_test / 255.0).astype("float32"), y_test


def train(model, x, y, epochs=3):
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def accuracy(model, x, y):
    return float((model.predict(x, verbose=0).argmax(-1) == y).mean())


def image_axes(ax, title):
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)


def show(fig, ax, data, title, label, cmap="viridis", **kwargs):
    image = ax.imshow(data, cmap=cmap, **kwargs)
    image_axes(ax, title)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return image


def save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def row_title(ax, text):
    ax.annotate(text, xy=(-0.45, 0.5), xycoords="axes fraction", rotation=90, va="center", ha="center",
                fontsize=9)


# ------------------------------------------------------------------------------------------------------ SAN
def figure_san(epochs):
    x_train, y_train, x_test, y_test = fashion()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    conv1 = keras.layers.Conv2D(6, 5, padding="same", activation="tanh")(inputs)
    conv1, mask1 = SAN(variant="c", kernel_size=5, return_attention=True)([inputs, conv1])
    pool1 = keras.layers.AveragePooling2D(2)(conv1)
    conv2 = keras.layers.Conv2D(16, 5, activation="tanh")(pool1)
    conv2, mask2 = SAN(variant="c", kernel_size=5, return_attention=True)([pool1, conv2])
    hidden = keras.layers.Dense(84, activation="tanh")(keras.layers.Flatten()(keras.layers.AveragePooling2D(2)(conv2)))
    outputs = keras.layers.Dense(10, activation="softmax")(hidden)
    model = train(keras.Model(inputs, outputs), x_train, y_train, epochs)
    masks = keras.Model(inputs, [mask1, mask2]).predict(x_test[list(SHOWN)], verbose=0)
    print(f"san: LeNet-5 + SAN-c test accuracy {accuracy(model, x_test, y_test):.3f} after {epochs} epochs")

    fig, axes = plt.subplots(len(SHOWN), 4, figsize=(13, 3.1 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        show(fig, axes[row, 1], masks[0][row].mean(-1), "module 1: mask, mean of 6 channels", "mask value",
             vmin=0, vmax=1)
        channel = int(masks[0][row].reshape(-1, 6).std(0).argmax())
        show(fig, axes[row, 2], masks[0][row, ..., channel], f"module 1: mask, channel {channel}", "mask value",
             vmin=0, vmax=1)
        show(fig, axes[row, 3], masks[1][row].mean(-1), "module 2 (10x10): mean of 16, own scale", "mask value")
    fig.suptitle("SAN-c masks in LeNet-5 (Fashion-MNIST slice, short training run)", fontsize=11)
    fig.tight_layout()
    save(fig, "san_masks")


# ---------------------------------------------------------------------------------------- CBAM, BAM and SE
def small_net(module):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x, attention = module(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x)))
    return keras.Model(inputs, outputs), keras.Model(inputs, attention)


def figure_competitors(epochs):
    x_train, y_train, x_test, y_test = fashion()
    found = {}
    for name, make in (("CBAM", lambda: CBAM(reduction=4, return_attention=True)),
                       ("BAM", lambda: BAM(reduction=4, dilation_rate=2, return_attention=True)),
                       ("SE", lambda: SqueezeExcitation(reduction=4, return_attention=True))):
        keras.utils.set_random_seed(0)
        model, probe = small_net(make())
        train(model, x_train, y_train, epochs)
        found[name] = probe.predict(x_test[list(SHOWN)], verbose=0)
        print(f"competitors: {name} test accuracy {accuracy(model, x_test, y_test):.3f}")

    fig, axes = plt.subplots(len(SHOWN), 4, figsize=(14, 3.1 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        show(fig, axes[row, 1], found["CBAM"][row, ..., 0], "CBAM: spatial gate M_s", "gate value", vmin=0, vmax=1)
        show(fig, axes[row, 2], found["BAM"][row].mean(-1), "BAM: sigmoid(M_c + M_s), channel mean",
             "attention value", vmin=0, vmax=1)
        ax = axes[row, 3]
        scales = found["SE"][row].reshape(-1)
        ax.bar(np.arange(len(scales)), scales, color="tab:blue")
        ax.set_xticks(range(0, len(scales), 3))
        ax.set_ylim(0, 1)
        ax.set_title("SE: channel scales s", fontsize=9)
        ax.set_xlabel("channel", fontsize=8)
        ax.set_ylabel("scale s", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("CBAM, BAM and SE after the first convolution (16 channels; Fashion-MNIST slice)", fontsize=11)
    fig.tight_layout()
    save(fig, "cbam_bam_se")


# ------------------------------------------------------------------------------------------------------ FA
def figure_fa(epochs):
    x_train, y_train, x_test, y_test = fashion()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    s = None
    ks = []
    for block, (filters, stride) in enumerate(((16, 1), (32, 2), (32, 1), (64, 2))):
        u = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
        u = keras.layers.Conv2D(filters, 3, padding="same")(u)
        x, s = FocusAssociation(reduction=4)([x, u] if s is None else [x, u, s])
        x = keras.layers.ReLU()(x)
        ks.append(s[:, -1])
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x)))
    model = train(keras.Model(inputs, outputs), x_train, y_train, epochs)
    print(f"fa: test accuracy {accuracy(model, x_test, y_test):.3f}")
    k = keras.Model(inputs, s).predict(x_test, verbose=0)  # (N, 4): k_1 .. k_4

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].boxplot([k[:, i] for i in range(k.shape[1])], tick_labels=[f"block {i + 1}" for i in range(k.shape[1])])
    axes[0].set_ylabel("k (weight of the block's output)", fontsize=9)
    axes[0].set_title(f"FA: k per block on {len(k)} test images", fontsize=10)
    axes[0].set_ylim(0, 1)
    means = np.stack([k[y_test == c].mean(0) for c in range(10)])
    image = axes[1].imshow(means.T, cmap="viridis", aspect="auto")
    axes[1].set_xticks(range(10), CLASSES, rotation=45, ha="right", fontsize=8)
    axes[1].set_yticks(range(k.shape[1]), [f"block {i + 1}" for i in range(k.shape[1])], fontsize=8)
    axes[1].set_xlabel("class", fontsize=9)
    axes[1].set_title("FA: mean k per class and block (own scale)", fontsize=10)
    fig.colorbar(image, ax=axes[1]).set_label("mean k", fontsize=9)
    fig.tight_layout()
    save(fig, "fa_k")


# ---------------------------------------------------------------------------------- SPANet and non-local
def conv_1x1(x, kernel, bias):
    return x @ kernel + bias


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def figure_spanet(epochs):
    x_train, y_train, x_test, y_test = fashion()
    results = {}
    for name, make in (("SPANet", lambda: SalientPositionsAttention(k=8)), ("NonLocal", lambda: NonLocalBlock())):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
        features = keras.layers.MaxPooling2D(2)(x)  # 14 x 14 x 16
        layer = make()
        x = layer(features)
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x)))
        model = train(keras.Model(inputs, outputs), x_train, y_train, epochs)
        print(f"spanet: {name} test accuracy {accuracy(model, x_test, y_test):.3f}")
        feats = keras.Model(inputs, features).predict(x_test[list(SHOWN)], verbose=0).reshape(len(SHOWN), -1, 16)
        weights = {w.path.split("/")[-1]: np.asarray(w) for w in layer.weights}
        results[name] = (feats, weights, layer)

    fig, axes = plt.subplots(len(SHOWN), 4, figsize=(14, 3.1 * len(SHOWN)))
    feats, weights, layer = results["SPANet"]
    inter = weights["theta_kernel"].shape[1]
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        q = conv_1x1(feats[row], weights["theta_kernel"], weights["theta_bias"])  # (N, inter), eq. 3
        score = (q ** 2).sum(-1)  # eq. 5: the positions' query energy
        top = np.argsort(-score, kind="stable")[: layer.k]
        show(fig, axes[row, 1], score.reshape(14, 14), f"SPANet: score, top {layer.k} marked", "sum_c Q^2")
        axes[row, 1].scatter(top % 14, top // 14, marker="x", color="red", s=30)
        kk = q[top]  # (k, inter)
        affinity = softmax(kk.T @ kk / inter)  # eq. 6
        image = axes[row, 2].imshow(affinity, cmap="magma")
        axes[row, 2].set_title("SPANet: channel affinity A", fontsize=9)
        axes[row, 2].set_xlabel("embedding channel j", fontsize=8)
        axes[row, 2].set_ylabel("embedding channel i", fontsize=8)
        axes[row, 2].tick_params(labelsize=7)
        fig.colorbar(image, ax=axes[row, 2], fraction=0.046, pad=0.04).set_label("A[i, j]", fontsize=8)
    feats, weights, layer = results["NonLocal"]
    query = 7 * 14 + 7
    for row, index in enumerate(SHOWN):
        theta = conv_1x1(feats[row], weights["theta_kernel"], weights["theta_bias"])
        phi = conv_1x1(feats[row], weights["phi_kernel"], weights["phi_bias"])
        f = softmax(theta @ phi.T)  # eq. 2-3, embedded Gaussian
        show(fig, axes[row, 3], f[query].reshape(14, 14), "non-local: f for the marked query", "f[query, j]",
             cmap="magma")
        axes[row, 3].scatter([7], [7], marker="o", facecolors="none", edgecolors="cyan", s=60)
    fig.suptitle("SPANet (k = 8) and the non-local block on a 14x14x16 feature map (Fashion-MNIST slice)",
                 fontsize=11)
    fig.tight_layout()
    save(fig, "spanet_nonlocal")


# ---------------------------------------------------------------------------------------------- AW-conv
def figure_awconv(epochs):
    x_train, y_train, x_test, y_test = fashion()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    aw = AWConv2D(8, 3, padding="same")
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(aw(inputs)))
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.ReLU()(AWConv2D(16, 3, padding="same")(x))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x)))
    model = train(keras.Model(inputs, outputs), x_train, y_train, epochs)
    print(f"awconv: test accuracy {accuracy(model, x_test, y_test):.3f}")
    a = np.asarray(aw.attention(x_test[list(SHOWN)], training=False))  # (B, 3, 3, 8), eq. 7-8

    filters = a.shape[-1]
    fig, axes = plt.subplots(len(SHOWN), filters + 1, figsize=(2.0 * (filters + 1), 2.3 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        axes[row, 0].imshow(x_test[index, ..., 0], cmap="gray")
        image_axes(axes[row, 0], f"input ({CLASSES[y_test[index]]})")
        for f in range(filters):
            image = axes[row, f + 1].imshow(1 + a[row, ..., f], cmap="viridis", vmin=1, vmax=2)
            axes[row, f + 1].set_title(f"filter {f}", fontsize=8)
            axes[row, f + 1].set_xticks(range(3))
            axes[row, f + 1].set_yticks(range(3))
            axes[row, f + 1].set_xlabel("kernel x", fontsize=7)
            if f == 0:
                axes[row, f + 1].set_ylabel("kernel y", fontsize=7)
            axes[row, f + 1].tick_params(labelsize=6)
    bar = fig.colorbar(image, ax=axes, fraction=0.015, pad=0.01)
    bar.set_label("1 + a: the factor on each kernel tap", fontsize=9)
    fig.suptitle("AW-convolution: per-sample kernel scaling of the first 3x3 layer (8 filters)", fontsize=11)
    save(fig, "awconv_attention")


# ------------------------------------------------------------------------------------ positional encoding
def figure_positional(_epochs):
    series = np.zeros((1, 200, 1), "float32")
    encoded = np.asarray(PositionalEncoding(channels=8)(series))[0, :, 1:]  # (T, 8): the appended channels
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
    image = axes[0].imshow(encoded.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    axes[0].set_xlabel("time step t", fontsize=9)
    axes[0].set_ylabel("encoding channel", fontsize=9)
    axes[0].set_title("P[t, channel] (8 channels, max_wavelength 10,000)", fontsize=10)
    fig.colorbar(image, ax=axes[0]).set_label("value", fontsize=9)
    for channel in range(0, 8, 2):
        axes[1].plot(encoded[:, channel], label=f"channel {channel} (sin)")
    axes[1].set_xlabel("time step t", fontsize=9)
    axes[1].set_ylabel("value", fontsize=9)
    axes[1].set_title("the sine channels: wavelengths 6.3, 63, 628, 6,283 steps", fontsize=10)
    axes[1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save(fig, "positional_encoding")


# ------------------------------------------------------------------------------------------------- XM2A
def same_conv1d(x, kernel, bias):
    """Keras' ``same`` Conv1D: ``(L - 1) // 2`` steps padded before, the rest after; cross-correlation."""
    length = kernel.shape[0]
    before = (length - 1) // 2
    padded = np.pad(x, ((before, length - 1 - before), (0, 0)))
    return sum(padded[j:j + len(x)] @ kernel[j] for j in range(length)) + bias


def figure_xm2a(epochs):
    data = load_timeseries("BasicMotions")
    keras.utils.set_random_seed(0)
    inputs = keras.Input(data.x_train.shape[1:])
    embedded = keras.layers.Dense(16)(inputs)
    layer = XM2A(num_heads=3, key_dim=8)
    x = keras.layers.LayerNormalization()(embedded + layer(embedded))
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inputs, outputs)
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=15 * epochs, batch_size=16, verbose=0)
    print(f"xm2a: BasicMotions test accuracy {accuracy(model, data.x_test, data.y_test):.3f}")

    series = data.x_test[:1]
    embedding = keras.Model(inputs, embedded).predict(series, verbose=0)[0]  # (T, 16): the layer's input
    heads = [same_conv1d(embedding, np.asarray(k), np.asarray(b))  # eq. 7.4, kernel length h
             for k, b in zip(layer.head_kernels, layer.head_biases)]
    q = [s.mean(0) for s in heads]  # eq. 7.5 (key_dim,)
    k = [s.mean(1) for s in heads]  # eq. 7.6 (T,)
    fig = plt.figure(figsize=(14, 10))
    grid = fig.add_gridspec(4, 3, height_ratios=[1, 1, 1, 1])
    top = fig.add_subplot(grid[0, :])
    top.plot(series[0])
    top.set_xlabel("time step t", fontsize=9)
    top.set_ylabel("z-normalised value", fontsize=9)
    top.set_title(f"a BasicMotions test series ({series.shape[2]} variates, class "
                  f"{data.class_names[data.y_test[0]]})",
                  fontsize=10)
    for h1 in range(3):
        for h2 in range(3):
            mask = softmax(np.outer(k[h2], q[h1]), axis=0)  # eq. 7.8: softmax over time, (T, key_dim)
            ax = fig.add_subplot(grid[h1 + 1, h2])
            image = ax.imshow(mask.T, aspect="auto", cmap="magma", interpolation="nearest")
            ax.set_title(f"M[h1={h1 + 1}, h2={h2 + 1}] (scales {h1 + 1} and {h2 + 1})", fontsize=9)
            ax.set_xlabel("time step t", fontsize=8)
            ax.set_ylabel("feature c of head h1", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).set_label("mask", fontsize=8)
    fig.suptitle("XM2A cross-talk masks (3 heads x 8 features; softmax over time), trained on BasicMotions",
                 fontsize=11)
    fig.tight_layout()
    save(fig, "xm2a_masks")


# ------------------------------------------------------------- the competitor modules added later (one figure each)
def module_net(module, replaces_conv=False):
    """The small network of the CBAM / BAM / SE figure with ``module`` after its first convolution (16 channels),
    or in its place (``replaces_conv``: a selective kernel convolution); returns the model and a probe model that
    gives the module's input, its output and whatever else the module returns (its attention)."""
    inputs = keras.Input((28, 28, 1))
    features = inputs if replaces_conv else keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    out = module(features)
    x, extras = (out[0], list(out[1:])) if isinstance(out, (list, tuple)) else (out, [])
    probe_outputs = [features, x] + extras
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(x)))
    return keras.Model(inputs, outputs), keras.Model(inputs, probe_outputs)


def trained_probe(name, make, epochs, replaces_conv=False):
    """Train the small network around ``make()`` (seed 0); return the data, the layer and the probe's outputs on
    the whole test slice."""
    x_train, y_train, x_test, y_test = fashion()
    keras.utils.set_random_seed(0)
    layer = make()
    model, probe = module_net(layer, replaces_conv)
    train(model, x_train, y_train, epochs)
    print(f"{name}: test accuracy {accuracy(model, x_test, y_test):.3f} after {epochs} epochs")
    return x_test, y_test, layer, [np.asarray(v) for v in probe.predict(x_test, verbose=0)]


def channel_figure(x_test, y_test, weights, title, quantity, name, vmin=None, vmax=None):
    """Channel weights ``(N, C)``: bars for the shown test images (``vmin``-``vmax`` on the y axis), and the mean per
    class as a heat map on its own colour scale."""
    channels = weights.shape[-1]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw={"width_ratios": [1.1, 1]})
    width = 0.8 / len(SHOWN)
    for i, index in enumerate(SHOWN):
        axes[0].bar(np.arange(channels) + (i - (len(SHOWN) - 1) / 2) * width, weights[index], width,
                    label=f"test image {index} ({CLASSES[y_test[index]]})")
    axes[0].set_xticks(range(channels))
    axes[0].set_xlabel("channel c", fontsize=9)
    axes[0].set_ylabel(quantity, fontsize=9)
    if vmin is not None and vmax is not None:
        axes[0].set_ylim(vmin, vmax)
    axes[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(SHOWN))
    axes[0].set_title(f"{quantity} for three test images", fontsize=10)
    axes[0].tick_params(labelsize=7)
    means = np.stack([weights[y_test == c].mean(0) for c in range(10)])
    image = axes[1].imshow(means, cmap="viridis", aspect="auto")  # own scale: the differences between classes
    axes[1].set_yticks(range(10), CLASSES, fontsize=8)
    axes[1].set_xticks(range(channels))
    axes[1].set_xlabel("channel c", fontsize=9)
    axes[1].set_ylabel("class", fontsize=9)
    axes[1].set_title(f"mean {quantity} per class ({len(y_test)} test images; own scale)", fontsize=10)
    axes[1].tick_params(labelsize=7)
    fig.colorbar(image, ax=axes[1]).set_label(f"mean {quantity}", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save(fig, name)


def spatial_figure(x_test, y_test, columns, title, name):
    """One row per shown test image: the input, then one map per column; a column is ``(title, maps, colorbar
    label, vmin, vmax)`` with ``maps`` an ``(N, H, W)`` array (``vmin``/``vmax`` None: each map on its own scale)."""
    fig, axes = plt.subplots(len(SHOWN), len(columns) + 1, figsize=(3.5 * (len(columns) + 1), 3.1 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        for column, (label, values, bar_label, vmin, vmax) in enumerate(columns):
            show(fig, axes[row, column + 1], values[index], label, bar_label, vmin=vmin, vmax=vmax)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save(fig, name)


def most_varying_channel(mask):
    """The channel of ``mask`` ``(N, H, W, C)`` whose values vary most over the positions of the shown images."""
    return int(mask[list(SHOWN)].reshape(-1, mask.shape[-1]).std(0).argmax())


def figure_eca(epochs):
    x_test, y_test, layer, (_, _, w) = trained_probe("eca", lambda: ECA(return_attention=True), epochs)
    k = int(layer.kernel.shape[0])
    channel_figure(x_test, y_test, w.reshape(len(w), -1),
                   f"ECA after the first convolution (16 channels, k = {k}; Fashion-MNIST slice)",
                   "channel weight w", "eca", vmin=0, vmax=1)


def figure_coordinate(epochs):
    x_test, y_test, _, (_, _, g) = trained_probe(
        "coordinate", lambda: CoordinateAttention(return_attention=True), epochs)
    c = most_varying_channel(g)
    spatial_figure(x_test, y_test,
                   [("mask g^h g^w, mean of 16 channels", g.mean(-1), "mask value", None, None),
                    (f"mask g^h g^w, channel {c}", g[..., c], "mask value", None, None)],
                   "Coordinate attention after the first convolution (16 channels; Fashion-MNIST slice)",
                   "coordinate_attention")


def figure_global_context(epochs):
    x_test, y_test, _, (features, out, alpha) = trained_probe(
        "global_context", lambda: GlobalContext(reduction=4, return_attention=True), epochs)
    term = (out - features).mean(axis=(1, 2))  # fusion "add": the context term t, the same at every position
    fig, axes = plt.subplots(len(SHOWN), 3, figsize=(14, 3.1 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        show(fig, axes[row, 1], alpha[index, ..., 0], "pooling weights alpha (sum 1)", "alpha_j", cmap="magma")
        ax = axes[row, 2]
        ax.bar(np.arange(term.shape[-1]), term[index], color="tab:blue")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(term.shape[-1]))
        ax.set_title("context term t added to every position", fontsize=9)
        ax.set_xlabel("channel c", fontsize=8)
        ax.set_ylabel("t_c", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Global context block (fusion add, r = 4) after the first convolution (Fashion-MNIST slice)",
                 fontsize=11)
    fig.tight_layout()
    save(fig, "global_context")


def figure_selective_kernel(epochs):
    x_test, y_test, _, (_, _, a) = trained_probe(
        "selective_kernel", lambda: SelectiveKernel(16, return_attention=True), epochs, replaces_conv=True)
    channel_figure(x_test, y_test, a[:, 0],
                   "Selective kernel convolution as the first layer (16 filters, dilations 1 and 2): weight of the "
                   "3x3 branch (the dilated branch has 1 - a_1)",
                   "branch weight a_1", "selective_kernel", vmin=0, vmax=1)


def figure_gather_excite(epochs):
    x_test, y_test, _, (_, _, g) = trained_probe(
        "gather_excite", lambda: GatherExcite(extent=0, variant="theta+", reduction=4, return_attention=True),
        epochs)
    channel_figure(x_test, y_test, g.reshape(len(g), -1),
                   "Gather-excite (GE-theta+, global extent, r = 4) after the first convolution (Fashion-MNIST slice)",
                   "gate g", "gather_excite", vmin=0, vmax=1)


def figure_simam(epochs):
    x_test, y_test, _, (_, _, a) = trained_probe("simam", lambda: SimAM(return_attention=True), epochs)
    c = most_varying_channel(a)
    spatial_figure(x_test, y_test,
                   [("sigmoid(1/E), mean of 16 channels (own scale)", a.mean(-1), "attention value", None, None),
                    (f"sigmoid(1/E), channel {c}", a[..., c], "attention value", 0.6, 1)],
                   "SimAM after the first convolution (16 channels; Fashion-MNIST slice)", "simam")


def figure_triplet(epochs):
    x_test, y_test, _, (_, _, g) = trained_probe(
        "triplet", lambda: TripletAttention(return_attention=True), epochs)
    c = most_varying_channel(g)
    spatial_figure(x_test, y_test,
                   [("mask (g_hw + g_cw + g_hc) / 3, channel mean", g.mean(-1), "mask value", None, None),
                    (f"mask, channel {c}", g[..., c], "mask value", None, None)],
                   "Triplet attention after the first convolution (16 channels; Fashion-MNIST slice)",
                   "triplet_attention")


def figure_scse(epochs):
    x_test, y_test, layer, (features, out) = trained_probe("scse", lambda: SCSE(), epochs)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    kernel, bias = (np.asarray(v) for v in (layer.spatial_kernel, layer.spatial_bias))
    q = sigmoid(features @ kernel + bias)[..., 0]  # sSE: one gate per position
    z = features.mean(axis=(1, 2))
    hidden = np.maximum(z @ np.asarray(layer.squeeze_kernel) + np.asarray(layer.squeeze_bias), 0)
    s = sigmoid(hidden @ np.asarray(layer.excite_kernel) + np.asarray(layer.excite_bias))  # cSE: one per channel
    recomputed = np.maximum(features * s[:, None, None, :], features * q[..., None])  # mode "max"
    assert np.allclose(recomputed, out, atol=1e-4), "the recomputed gates do not give the layer's output"
    fig, axes = plt.subplots(len(SHOWN), 3, figsize=(14, 3.1 * len(SHOWN)))
    for row, index in enumerate(SHOWN):
        show(fig, axes[row, 0], x_test[index, ..., 0], f"input ({CLASSES[y_test[index]]})", "intensity", cmap="gray")
        show(fig, axes[row, 1], q[index], "sSE: spatial gate q (own scale)", "gate value")
        ax = axes[row, 2]
        ax.bar(np.arange(s.shape[-1]), s[index], color="tab:blue")
        ax.set_xticks(range(s.shape[-1]))
        ax.set_ylim(0, 1)
        ax.set_title("cSE: channel scales s", fontsize=9)
        ax.set_xlabel("channel c", fontsize=8)
        ax.set_ylabel("scale s_c", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle('scSE (mode "max", r = 2) after the first convolution: its two gates, recomputed from the trained '
                 "weights (Fashion-MNIST slice)", fontsize=11)
    fig.tight_layout()
    save(fig, "scse")


FIGURES = {
    "san": figure_san,
    "competitors": figure_competitors,
    "fa": figure_fa,
    "spanet": figure_spanet,
    "awconv": figure_awconv,
    "positional": figure_positional,
    "xm2a": figure_xm2a,
    "eca": figure_eca,
    "coordinate": figure_coordinate,
    "global_context": figure_global_context,
    "selective_kernel": figure_selective_kernel,
    "gather_excite": figure_gather_excite,
    "simam": figure_simam,
    "triplet": figure_triplet,
    "scse": figure_scse,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(FIGURES), action="append", help="make only these figures")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of each small network")
    args = parser.parse_args(argv)
    for name in args.only or FIGURES:
        FIGURES[name](args.epochs)


if __name__ == "__main__":
    sys.exit(main())
