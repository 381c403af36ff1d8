"""Subprocess of ``tests/experiments/test_multiworker.py``: one worker of a 2-worker run.

``python tests/multiworker_worker.py ROUTE worker OUT [--epochs N] [--resume-after K] [--reference]``

* ROUTE ``tf`` (``KERAS_BACKEND=tensorflow``): runs ``keras_attention.experiments.distributed.
  train_multiworker`` under ``TF_CONFIG`` (the strategy is created first, before any TensorFlow operation;
  collective timeout ``MULTIWORKER_TIMEOUT`` seconds, else the library's default).
* ROUTE ``jax`` (``KERAS_BACKEND=jax``): calls ``initialize_data_parallel()`` with no coordinator / count /
  id arguments (it reads ``SLURM_NTASKS``, ``SLURM_PROCID`` and ``KERAS_ATTENTION_COORDINATOR``, as in the
  README's SLURM recipe; ``timeout_seconds`` from ``MULTIWORKER_TIMEOUT``), then ``train_run``
  (``Model.fit``; process 0 writes into OUT, the others into ``OUT.worker<id>`` beside it).

With ``--reference`` the writer first trains the single-process reference in the same process: a
fresh model (same seed) with plain ``Model.fit`` on its own device (JAX: the distribution unset) on the
same global batches, and saves ``initial.npz`` and ``reference.npz``. That saves starting (and importing
TensorFlow / JAX in) one more process per route on the 2-core test machine.

The model: Conv2D -> SAN([input, conv]) -> CBAM -> GAP -> Dense(softmax), SGD (Nesterov momentum), fixed
synthetic data, global batch ``BATCH``, no shuffling. CBAM's BatchNormalization is ``synchronized`` under
TensorFlow (global-batch statistics, as one device computes them); under JAX the sharded computation uses
the global batch anyway. The writer of the run (the chief / process 0) saves the final weights to
``OUT/weights.npz``. The TF chief prints ``epoch 1/N: ...`` and every JAX process ``ready`` once the first
epoch has finished.
"""

import argparse
import os
import sys

ROUTE, MODE = sys.argv[1], sys.argv[2]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if ROUTE == "jax":
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
else:
    os.environ["KERAS_BACKEND"] = "tensorflow"

from keras_attention.experiments import distributed  # noqa: E402

if ROUTE == "tf" and MODE == "worker":
    _timeout = os.environ.get("MULTIWORKER_TIMEOUT")
    STRATEGY = distributed.make_multiworker_strategy(
        float(_timeout) if _timeout else distributed.DEFAULT_COLLECTIVE_TIMEOUT)
if ROUTE == "jax" and MODE == "worker":
    _timeout = os.environ.get("MULTIWORKER_TIMEOUT")
    distributed.initialize_data_parallel(timeout_seconds=int(_timeout) if _timeout else None)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention.layers import CBAM, SAN  # noqa: E402

SEED = 3
SAMPLES, SIZE, CLASSES, BATCH = 48, 12, 5, 16
LEARNING_RATE = 0.05


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=SAMPLES).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def build():
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = SAN()([inputs, conv])
    cbam = CBAM(reduction=4, spatial_kernel_size=3)
    if ROUTE == "tf":
        cbam.spatial_norm.synchronized = True
    x = cbam(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="san_cbam")


class Ready(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            print("ready", flush=True)


def reference(out, epochs):
    """The single-process run: a fresh model (same seed) trained with plain ``Model.fit`` on one device on
    the same global batches; saves its initial and final weights."""
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)  # JAX: this process's own device only
    model = build()
    np.savez(os.path.join(out, "initial.npz"), **{f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())})
    model.compile(optimizer=distributed.make_optimizer("sgd", LEARNING_RATE), loss="sparse_categorical_crossentropy")
    model.fit(data(), epochs=epochs, shuffle=False, verbose=0)
    np.savez(os.path.join(out, "reference.npz"), **{f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())})
    keras.distribution.set_distribution(distribution)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("route", choices=["tf", "jax"])
    parser.add_argument("mode", choices=["worker"])
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resume-after", type=int, default=0,
                        help="tf: train this many epochs first, then call train_multiworker again for --epochs "
                             "with the same directory: the second call resumes from the first one's backup")
    parser.add_argument("--reference", action="store_true",
                        help="the writer then also trains the single-process reference (reference.npz)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.reference and (distributed.is_chief_process() if ROUTE == "jax" else
                           distributed.worker_role(STRATEGY)[2]):
        reference(args.out, args.epochs)  # first: the workers then finish together (the other one waits)
    if ROUTE == "tf":
        for epochs in ([args.resume_after] if args.resume_after else []) + [args.epochs]:
            result = distributed.train_multiworker(build, data(), epochs=epochs, out_dir=args.out, strategy=STRATEGY,
                                                   optimizer="sgd", learning_rate=LEARNING_RATE, verbose=True)
        writer = distributed.worker_role(STRATEGY)[2]
    else:
        from keras_attention.experiments.training import train_run

        writer = distributed.is_chief_process()
        result = train_run(build, data(), epochs=args.epochs, out_dir=distributed.process_out_dir(args.out),
                           optimizer="sgd", learning_rate=LEARNING_RATE, verbose=0, callbacks=[Ready()])
    if writer:
        weights = {f"w{i}": np.asarray(w) for i, w in enumerate(result.model.get_weights())}
        np.savez(os.path.join(args.out, "weights.npz"), **weights)
    print("done", flush=True)


if __name__ == "__main__":
    main()
