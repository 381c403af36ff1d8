"""What a model costs: multiply-accumulates, attention-map sizes, step time and the memory a training step adds.

- :func:`count_macs` / :func:`layer_macs`: multiply-accumulates (MACs, the convention of the SE / FA / AW
  papers' "FLOPs") per sample. A layer of this package is asked for its own count (its ``multiply_adds``
  method, which writes its formula; ``tests/experiments/test_costs.py`` fails while a public layer has none);
  Keras' ``Conv2D``, ``DepthwiseConv2D``, ``Dense`` and ``LSTM`` are counted here; BatchNormalization,
  activations, poolings, additions and other weightless layers count 0. Anything else with weights is listed
  as uncounted.
- :func:`attention_map_entries`: entries per sample of the attention maps a model keeps (the layers that
  report one: ``attention_map_entries`` methods, e.g. SPANet's ``K`` and ``A``, the non-local block's ``f``).
- :func:`step_seconds`: THE step timer, the median wall time of ``train_on_batch`` after warm-up steps;
  :func:`train_step_seconds` compiles the model as in training first.
- :func:`peak_step_memory`: the peak memory the training steps add above what was in use before them:
  ``tf.config.experimental.get_memory_info`` around the timed steps (compiled as in training, after 2 warm-up
  steps and a ``reset_memory_stats``): what a step adds (activations, gradients, workspace). On a GPU this runs
  in the process. TensorFlow's default CPU allocator keeps no statistics (the call reports zeros), so on the CPU
  the measurement runs in a child process started with ``TF_CPU_ALLOCATOR_USE_BFC=true`` (the BFC allocator,
  which keeps them), unless this process already runs with it.

Step time and memory depend on the machine and its load: compare within one table.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

# A shape of a built layer's tensor: the batch size None, every other size known (an int).
_Dims = tuple[Any, ...]

WARMUP_STEPS = 2
MIB = 2**20


# ----------------------------------------------------------------------------------------------------- MACs
def _shape(value: Any) -> _Dims:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def positions(shape: Sequence[Any]) -> int:
    """Positions of a ``(B, *S, C)`` shape: the product of its spatial sizes (1 without any).

    Args:
        shape: a shape, batch first and channels last (its spatial sizes known).

    Returns:
        The product of the spatial sizes.

    Example:
        >>> from keras_attention.experiments.costs import positions
        >>> positions((None, 8, 8, 16)), positions((None, 16))
        (64, 1)
    """
    return int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


def _channels_last(layer: Any, shape: _Dims) -> _Dims:
    """``shape`` in channels-last order: a rank-4 shape of a ``data_format="channels_first"`` layer permuted
    ``(B, C, H, W)`` -> ``(B, H, W, C)``; anything else as it is."""
    if getattr(layer, "data_format", None) == "channels_first" and len(shape) == 4:
        return (shape[0], shape[2], shape[3], shape[1])
    return shape


def _input_shape(layer: Any) -> _Dims | list[_Dims]:
    """The shape(s) ``layer`` was called on, channels last: one shape, or a list for several tensors."""
    inputs = layer.input
    if isinstance(inputs, (list, tuple)):
        return [_channels_last(layer, _shape(t)) for t in inputs]
    return _channels_last(layer, _shape(inputs))


def _output_shape(layer: Any) -> _Dims:
    return _channels_last(layer, _shape(layer.output))


def _conv_macs(layer: Any) -> int:
    window = int(np.prod(layer.kernel_size))
    c_in = cast(int, _input_shape(layer)[-1]) // getattr(layer, "groups", 1)  # (one input, its channels known)
    return positions(_output_shape(layer)) * window * c_in * layer.filters


def _depthwise_macs(layer: Any) -> int:
    y = _output_shape(layer)
    return positions(y) * int(np.prod(layer.kernel_size)) * y[-1]


def _dense_macs(layer: Any) -> int:
    x = _shape(layer.input)
    return positions(x) * x[-1] * layer.units


def _lstm_macs(layer: Any) -> int:
    x = _shape(layer.input)  # (B, T, V): four gates of units per step, on the input and the state
    return x[1] * 4 * layer.units * (x[-1] + layer.units)


# Keras' own layers with weights, counted by this module (an exact type match)
KERAS_COUNTS: dict[type, Callable[[Any], int]] = {
    keras.layers.Conv1D: _conv_macs,
    keras.layers.Conv2D: _conv_macs,
    keras.layers.DepthwiseConv2D: _depthwise_macs,
    keras.layers.Dense: _dense_macs,
    keras.layers.LSTM: _lstm_macs,
}
WEIGHTS_NOT_COUNTED = (keras.layers.BatchNormalization, keras.layers.LayerNormalization)  # per-element: 0


def layer_macs(layer: Any) -> int | None:
    """Multiply-accumulates of one call of ``layer`` per sample.

    A layer of this package answers itself (``layer.multiply_adds(input_shape)``); Keras' ``Conv1D``,
    ``Conv2D``, ``DepthwiseConv2D``, ``Dense`` and ``LSTM`` are counted here.

    Args:
        layer: a built, called ``keras.layers.Layer`` (its input and output shapes known).

    Returns:
        The count; 0 for weightless layers and normalisations; None for a layer with weights whose cost is not
        modelled.

    Example:
        >>> import keras
        >>> from keras_attention.experiments.costs import layer_macs
        >>> inputs = keras.Input((8, 8, 3))
        >>> model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(inputs))
        >>> layer_macs(model.layers[-1])  # 8 x 8 positions x 3 x 3 window x 3 inputs x 4 filters
        6912
    """
    count = getattr(layer, "multiply_adds", None)
    if count is not None:
        return int(count(_input_shape(layer)))
    counter = KERAS_COUNTS.get(type(layer))
    if counter is not None:
        return int(counter(layer))
    if not layer.weights or isinstance(layer, WEIGHTS_NOT_COUNTED):
        return 0
    return None


def count_macs(model: Any) -> dict[str, Any]:
    """The multiply-accumulates per sample of ``model``, layer by layer (:func:`layer_macs`).

    Args:
        model: a built ``keras.Model``.

    Returns:
        ``{"total": MACs per sample, "layers": {name: MACs}, "uncounted": [names]}`` (layers with a count of 0
        left out of ``"layers"``).

    Example:
        >>> import keras
        >>> from keras_attention.experiments.costs import count_macs
        >>> inputs = keras.Input((16,))
        >>> model = keras.Model(inputs, keras.layers.Dense(4, name="fc")(inputs))
        >>> count_macs(model)
        {'total': 64, 'layers': {'fc': 64}, 'uncounted': []}
    """
    per_layer: dict[str, int] = {}
    uncounted: list[str] = []
    for layer in model.layers:
        macs = layer_macs(layer)
        if macs is None:
            uncounted.append(layer.name)
        elif macs:
            per_layer[layer.name] = int(macs)
    return {"total": int(sum(per_layer.values())), "layers": per_layer, "uncounted": uncounted}


def attention_map_entries(model: Any) -> int:
    """Entries per sample of the attention maps the layers of ``model`` keep (those with an
    ``attention_map_entries(input_shape)`` method: SPANet's ``K`` (``k x d``) and ``A`` (``d x d``), the
    non-local block's ``f`` (``N x N'``)).

    Args:
        model: a built ``keras.Model``.

    Returns:
        The sum over its layers (0 without attention maps).
    """
    return int(sum(layer.attention_map_entries(_input_shape(layer)) for layer in model.layers
                   if hasattr(layer, "attention_map_entries")))


# ------------------------------------------------------------------------------------------------ step time
def step_seconds(model: Any, x: Any, y: Any, steps: int, warmup: int = WARMUP_STEPS) -> float:
    """Median wall time (seconds) of ``model.train_on_batch(x, y)`` over ``steps`` calls after ``warmup``
    untimed ones.

    Args:
        model: a compiled ``keras.Model``; its weights and optimizer state change.
        x: one batch of inputs.
        y: its labels.
        steps: the timed calls (at least one).
        warmup: untimed calls first (tracing, the optimizer's slots).

    Returns:
        The median seconds of one step.
    """
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times: list[float] = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step_seconds(model: Any, images: Any, labels: Any, steps: int, *, warmup: int = WARMUP_STEPS,
                       jit_compile: bool | str = False) -> float:
    """:func:`step_seconds` of ``model`` compiled as in training (Adam, sparse cross-entropy): its weights move.

    Args:
        model: a ``keras.Model`` (compiled here).
        images: one batch of inputs.
        labels: its integer labels.
        steps: the timed steps.
        warmup: untimed steps first.
        jit_compile: Keras' ``jit_compile`` (True, False or ``"auto"``).

    Returns:
        The median seconds of one training step.
    """
    from keras_attention.experiments.training import compile_classifier

    compile_classifier(model, jit_compile=jit_compile)
    return step_seconds(model, images, labels, steps, warmup)


# --------------------------------------------------------------------------------------------- peak memory
def _allocator_peak(model: Any, images: Any, labels: Any, steps: int, device: str,
                    jit_compile: bool | str = False) -> int:
    """Peak bytes the allocator of ``device`` holds during ``steps`` compiled training steps, above what it
    held before them (after 2 warm-up steps that trace the step and create the optimizer's slots)."""
    import tensorflow as tf

    from keras_attention.experiments.training import compile_classifier

    compile_classifier(model, jit_compile=jit_compile)
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(images, labels)
    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return int(tf.config.experimental.get_memory_info(device)["peak"] - before)


def _cpu_stats_enabled() -> bool:
    return os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("1", "true")


def memory_child(argv: Sequence[str]) -> None:
    """Child-process entry (CPU, BFC allocator with statistics): ``model.keras batch.npz steps jit`` -> one JSON
    line ``{"peak": bytes}`` on stdout.

    Args:
        argv: the saved model's path, the ``.npz`` of the batch (``images``, ``labels``), the steps, and
            ``jit_compile`` as JSON.
    """
    model_path, batch_path, steps, jit = argv[0], argv[1], int(argv[2]), json.loads(argv[3])
    model = keras.saving.load_model(model_path, safe_mode=True)
    batch = np.load(batch_path)
    peak = _allocator_peak(model, batch["images"], batch["labels"], steps, "CPU:0", jit)
    print(json.dumps({"peak": peak}), flush=True)


def peak_step_memory(model: Any, model_path: str | PathLike[str], images: Any, labels: Any, steps: int, *,
                     jit_compile: bool | str = False) -> tuple[int, str]:
    """The peak memory the training steps add (module docstring).

    Args:
        model: the ``keras.Model`` (compiled here; its weights move).
        model_path: its saved ``.keras`` file, which the child process loads on a CPU.
        images: one batch of inputs.
        labels: its integer labels.
        steps: the measured training steps (after 2 warm-up steps).
        jit_compile: Keras' ``jit_compile`` (True, False or ``"auto"``).

    Returns:
        ``(bytes, method)``: the peak bytes above what was in use before the steps, and how they were measured.

    Raises:
        RuntimeError: the child process of a CPU measurement failed (its stderr is in the message).
    """
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        device = gpus[0].name.replace("/device:", "")
        return _allocator_peak(model, images, labels, steps, device, jit_compile), f"{device} get_memory_info peak"
    if _cpu_stats_enabled():  # this process already runs the CPU allocator with statistics
        return _allocator_peak(model, images, labels, steps, "CPU:0", jit_compile), "CPU:0 get_memory_info peak"
    with tempfile.TemporaryDirectory() as tmp:
        batch_path = Path(tmp) / "batch.npz"
        np.savez(batch_path, images=images, labels=labels)
        code = "import sys; from keras_attention.experiments.costs import memory_child; memory_child(sys.argv[1:])"
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CPU_ALLOCATOR_USE_BFC": "true"}
        argv = [str(model_path), str(batch_path), str(steps), json.dumps(jit_compile)]  # True, False or "auto"
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                              check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"memory measurement of {model_path} failed:\n{done.stderr[-2000:]}")
    return int(json.loads(lines[-1])["peak"]), "CPU:0 get_memory_info peak, child process with the BFC allocator"
