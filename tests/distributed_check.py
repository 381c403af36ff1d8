"""Subprocess helper of ``tests/experiments/test_distributed.py``: MirroredStrategy over 2 logical CPUs vs one device.

Run as ``python tests/distributed_check.py --out result.json [--layers A,B] [--cli DIR]``. Logical
devices can only be configured before TensorFlow initialises its runtime, which the pytest process has
long done, so this script splits the host CPU into two logical devices FIRST, then:

- for every layer case, builds a tiny functional classifier around the layer on a real-data slice
  (scikit-learn digits through ``keras_attention.data.load_arrays`` for image layers, BasicMotions through
  ``load_timeseries`` for sequence layers), and trains copies of it with plain SGD from identical initial
  weights, batch after batch in a fixed order:

  * ``single``: default strategy (one device), global batch of ``BATCH``;
  * ``mirrored``: MirroredStrategy over ``/cpu:0`` and ``/cpu:1``, the same global batch split in two.

  BatchNormalization computes its statistics per replica under MirroredStrategy unless it is
  ``synchronized``, and then the two runs train different functions. For those two runs every
  BatchNormalization inside the model is switched to ``synchronized=True`` (global-batch statistics; a
  no-op on one device), so the 2-replica run must reproduce the single-device one exactly up to float
  rounding. For layers that contain BatchNormalization two more runs pin down what happens WITHOUT
  synchronisation:

  * ``mirrored_local_bn``: 2 replicas, the layer as built (per-replica statistics);
  * ``ghost``: one device, the model applied to each half of the global batch separately (its own
    batch statistics per half) and the outputs concatenated, which is what the replicas compute.

  The test asserts ``mirrored == single`` and ``mirrored_local_bn == ghost`` and, as a proof that the
  comparison can fail, ``mirrored_local_bn != single``. The last two runs are made for the cases named
  in ``--local-bn`` only (they cost a third of the time).

- with ``--cli DIR`` (done first): runs ``keras_attention.cli.main(["train", "--strategy", "mirrored",
  ...])`` on digits. The CLI's own ``tf.distribute.MirroredStrategy()`` mirrors over every logical
  device, here both CPUs; its replica count and devices are reported, and the layer cases reuse that
  strategy object (see ``run_cli``). Without ``--cli`` they use ``MirroredStrategy(["/cpu:0", "/cpu:1"])``.

Per run the JSON holds the per-step training losses (undone from Keras' running epoch mean), the final
weights' largest difference to the reference run, the replica count and the devices of the mirrored
variables. A case that raises is reported with its error instead of stopping the others.
"""

import argparse
import json
import os
import sys
import time
import traceback

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

REPLICAS = 2
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(REPLICAS)]
)

import keras
import numpy as np
from keras import ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SAMPLES = 48  # at most: 3 steps of BATCH on digits; BasicMotions has 32 training series (2 steps)
BATCH = 16  # global batch: 8 per replica
LEARNING_RATE = 0.5
SEED = 7


# ------------------------------------------------------------------------------------------------ data


def image_data():
    from keras_attention.data import load_arrays

    x, y = load_arrays("digits", "train", limit=SAMPLES)
    return x.astype("float32") / 255.0, y.astype("int64"), 10


def sequence_data():
    from keras_attention.data import load_timeseries

    data = load_timeseries("BasicMotions")
    return data.x_train[:SAMPLES, :40].astype("float32"), data.y_train[:SAMPLES].astype("int64"), data.n_classes


# ------------------------------------------------------------------------------------------------ models


def _image_head(x, classes):
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(classes, activation="softmax", name="classifier")(x)


def _stem(inputs):
    return keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)


def _second(x):
    return keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="second")(x)


def _single_input(make_layer):
    def build(inputs, classes):
        return _image_head(make_layer()(_stem(inputs)), classes)

    return build


def _san(variant):
    def build(inputs, classes):
        from keras_attention.layers import ScaleSpaceAttention

        previous = _stem(inputs)
        return _image_head(ScaleSpaceAttention(variant=variant)([previous, _second(previous)]), classes)

    return build


def _fa(inputs, classes):
    from keras_attention.layers import FocusAssociation

    x = _stem(inputs)
    x_next, _ = FocusAssociation(reduction=2)([x, _second(x)])
    return _image_head(x_next, classes)


def _layer(module, name, **kwargs):
    def make():
        import importlib

        return getattr(importlib.import_module(f"keras_attention.layers.{module}"), name)(**kwargs)

    return make


def _sequence(make_layer):
    def build(inputs, classes):
        x = make_layer()(inputs)
        x = keras.layers.GlobalAveragePooling1D()(x)
        return keras.layers.Dense(classes, activation="softmax", name="classifier")(x)

    return build


def _mutual(make_layer):
    """SDMA/SDCA take [series features, saliency features]; a Conv1D of the series stands in for the saliency."""

    def build(inputs, classes):
        saliency = keras.layers.Conv1D(inputs.shape[-1], 5, padding="same", name="saliency_stand_in")(inputs)
        x = make_layer()([inputs, saliency])
        x = keras.layers.GlobalAveragePooling1D()(x)
        return keras.layers.Dense(classes, activation="softmax", name="classifier")(x)

    return build


# name -> (data kind, builder(inputs, classes) -> outputs)
CASES = {
    "SqueezeExcitation": ("image", _single_input(_layer("squeeze_excitation", "SqueezeExcitation", reduction=2))),
    "CBAM": ("image", _single_input(_layer("cbam", "CBAM", reduction=2, spatial_kernel_size=3))),
    "BAM": ("image", _single_input(_layer("bam", "BAM", reduction=2, dilation_rate=2))),
    "ScaleSpaceAttention-c": ("image", _san("c")),
    "ScaleSpaceAttention-d": ("image", _san("d")),
    "FocusAssociation": ("image", _fa),
    "AWConv2D": ("image", _single_input(_layer("aw_conv", "AWConv2D", filters=8, kernel_size=3, reduction=2))),
    "SalientPositionsAttention": (
        "image", _single_input(_layer("salient_positions_attention", "SalientPositionsAttention", k=8)),
    ),
    "NonLocalBlock": ("image", _single_input(_layer("non_local", "NonLocalBlock", sub_sample=True))),
    "XM2A": ("sequence", _sequence(_layer("xm2a", "XM2A", num_heads=2, key_dim=4))),
    "XM2A-batchnorm": ("sequence", _sequence(_layer("xm2a", "XM2A", num_heads=2, key_dim=4, norm="batch"))),
    "MultiScaleSelfAttention": (
        "sequence", _sequence(_layer("multi_scale_self_attention", "MultiScaleSelfAttention", num_heads=2, key_dim=4)),
    ),
    "SDMA": ("sequence", _mutual(_layer("sdma", "SDMA", units=8))),
    "SDCA": ("sequence", _mutual(_layer("sdma", "SDCA", units=8))),
    "PositionalEncoding": (
        "sequence", _sequence(_layer("positional_encoding", "PositionalEncoding", mode="learned", channels=4)),
    ),
    "EfficientChannelAttention": ("image", _single_input(_layer("efficient_channel_attention", "EfficientChannelAttention"))),
    "CoordinateAttention": (
        "image", _single_input(_layer("coordinate_attention", "CoordinateAttention", reduction=2, min_channels=2)),
    ),
    "GlobalContext": ("image", _single_input(_layer("global_context", "GlobalContext", reduction=2))),
    "SelectiveKernel": (
        "image", _single_input(_layer("selective_kernel", "SelectiveKernel", filters=8, reduction=2, min_units=4)),
    ),
    "GatherExcite": ("image", _single_input(_layer("gather_excite", "GatherExcite", reduction=2))),
    "SimAM": ("image", _single_input(_layer("simam", "SimAM"))),
    "TripletAttention": ("image", _single_input(_layer("triplet_attention", "TripletAttention", kernel_size=3))),
    "SCSE": ("image", _single_input(_layer("scse", "SCSE"))),
}


def _all_layers(model):
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "_layers", []) or [])
    return found


def batch_norms(model):
    return [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


class GhostBatch(keras.Model):
    """One device computing what ``parts`` replicas compute: ``inner`` on each slice of the batch."""

    def __init__(self, inner, parts, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.parts = parts

    def call(self, inputs, training=None):
        pieces = ops.split(inputs, self.parts, axis=0)
        return ops.concatenate([self.inner(p, training=training) for p in pieces], axis=0)


class BatchLosses(keras.callbacks.Callback):
    """Per-step losses, undone from the running epoch mean that Keras reports after each batch."""

    def __init__(self):
        super().__init__()
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))

    def per_step(self):
        means = np.asarray(self.means, dtype="float64")
        steps = np.arange(1, len(means) + 1)
        totals = means * steps
        return list(np.diff(np.concatenate([[0.0], totals])))


def _replica_devices(model):
    value = model.trainable_weights[0].value
    components = getattr(value, "values", None)
    if components is None:
        return [value.device]
    return [v.device for v in components]


def train(case, x, y, classes, strategy, initial, *, sync_bn, ghost=False):
    _, build = CASES[case]
    with strategy.scope():
        keras.utils.set_random_seed(SEED)
        inputs = keras.Input(x.shape[1:], name="inputs")
        model = keras.Model(inputs, build(inputs, classes), name=case.replace("-", "_"))
        if initial is not None:
            model.set_weights(initial)
        start = [np.asarray(w) for w in model.get_weights()]
        norms = batch_norms(model)
        for bn in norms:
            bn.synchronized = sync_bn
        trained = GhostBatch(model, REPLICAS) if ghost else model
        trained.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    losses = BatchLosses()
    trained.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[losses])
    return {
        "losses": losses.per_step(),
        "replicas": int(strategy.num_replicas_in_sync),
        "variable_devices": _replica_devices(model),
        "batch_norms": len(norms),
        "start": start,
        "final": [np.asarray(w) for w in model.get_weights()],
        "final_trainable": [np.asarray(w) for w in model.trainable_weights],
    }


def _max_diff(a, b):
    return float(max(np.max(np.abs(p.astype("float64") - q.astype("float64"))) for p, q in zip(a, b)))


def run_case(case, mirrored, local_bn):
    kind, _ = CASES[case]
    x, y, classes = image_data() if kind == "image" else sequence_data()
    default = tf.distribute.get_strategy()
    single = train(case, x, y, classes, default, None, sync_bn=True)
    initial = single["start"]
    runs = {"single": single, "mirrored": train(case, x, y, classes, mirrored, initial, sync_bn=True)}
    if local_bn and single["batch_norms"]:
        runs["mirrored_local_bn"] = train(case, x, y, classes, mirrored, initial, sync_bn=False)
        runs["ghost"] = train(case, x, y, classes, default, initial, sync_bn=False, ghost=True)
    report = {"weights_moved": _max_diff(single["final"], initial)}
    for name, run in runs.items():
        report[name] = {
            "losses": run["losses"],
            "replicas": run["replicas"],
            "variable_devices": run["variable_devices"],
            "batch_norms": run["batch_norms"],
            "same_start_as_single": _max_diff(run["start"], initial) == 0.0,
            "weights_vs_single": _max_diff(run["final"], single["final"]),
            "trainable_vs_single": _max_diff(run["final_trainable"], single["final_trainable"]),
        }
    if "ghost" in runs:
        # trainable weights only: the ghost model runs each BatchNormalization twice per step, so its
        # moving statistics take two momentum updates where every replica takes one
        report["mirrored_local_bn"]["trainable_vs_ghost"] = _max_diff(
            runs["mirrored_local_bn"]["final_trainable"], runs["ghost"]["final_trainable"]
        )
    return report


def run_cli(out_dir):
    """``keras-attention train --strategy mirrored`` as a user runs it, with its own strategy.

    ``distributed.make_strategy`` is only wrapped to keep the strategy it made, which the layer cases then
    reuse: two MirroredStrategy objects over the same devices in one process draw the same collective
    instance keys, and TensorFlow aborts the second one's gradient all-reduce with "Shape mismatch in
    the collective instance".
    """
    from keras_attention import cli
    from keras_attention.experiments import distributed

    original = distributed.make_strategy
    made = []

    def make_strategy(name, distribution="none"):
        strategy = original(name, distribution)
        made.append(strategy)
        return strategy

    distributed.make_strategy = make_strategy
    try:
        code = cli.main([
            "train", "--model", "lenet5", "--attention", "san-d", "--dataset", "digits", "--epochs", "1",
            "--limit", "256", "--batch-size", "64", "--strategy", "mirrored", "--out", str(out_dir),
        ])
    finally:
        distributed.make_strategy = original
    replicas = [1 if s is None else int(s.num_replicas_in_sync) for s in made]
    devices = [list(s.extended.worker_devices) for s in made if s is not None]
    strategy = made[0] if len(made) == 1 and isinstance(made[0], tf.distribute.MirroredStrategy) else None
    return {"exit_code": code, "replicas": replicas, "devices": devices}, strategy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--layers", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--local-bn", default="", help="cases that also get the per-replica BN runs")
    parser.add_argument("--cli", default=None, help="output directory of a CLI smoke run (skipped if absent)")
    args = parser.parse_args(argv)
    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    result = {"logical_cpus": logical, "cases": {}}
    mirrored = None
    if args.cli:
        try:
            result["cli"], mirrored = run_cli(args.cli)
        except BaseException:  # noqa: BLE001 - SystemExit from the CLI included
            result["cli"] = {"error": traceback.format_exc()}
    if mirrored is None:
        mirrored = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(REPLICAS)])
    for case in [c for c in args.layers.split(",") if c]:
        try:
            start = time.perf_counter()
            result["cases"][case] = run_case(case, mirrored, case in args.local_bn.split(","))
            result["cases"][case]["seconds"] = time.perf_counter() - start
        except Exception:  # noqa: BLE001 - reported per case to the test
            result["cases"][case] = {"error": traceback.format_exc()}
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
