"""Backend-neutral helpers for the tests that run under every Keras 3 backend (tests/test_backends.py).

``BACKEND`` is ``keras.backend.backend()``; ``tensorflow_only`` marks a test that uses TensorFlow itself
(``tf.GradientTape``, ``tf.function``, ``tf.data``, the TF fast paths): ``conftest.py`` skips it under
another backend. ``to_numpy`` reads any backend tensor (a torch output requires grad, which
``np.asarray`` refuses); ``jit_call`` runs a model compiled by XLA (TensorFlow, JAX; None elsewhere);
``gradients`` returns a model's outputs and the gradients of a scalar loss of them. ``backends`` marks
the representative tests that tests/test_backends.py runs under JAX and torch.
"""

import functools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
JIT_BACKENDS = ("tensorflow", "jax")

tensorflow_only = pytest.mark.tensorflow_only
backends = pytest.mark.backends  # run by tests/test_backends.py under every backend


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


_NUMPY_LIKE = (np.ndarray, np.generic, int, float, bool, complex)


def to_numpy(x, dtype=None):
    """``np.asarray(x, dtype)`` that also reads backend tensors and Keras variables (through
    ``keras.ops.convert_to_numpy``); a list / tuple holding a tensor gives a list of arrays."""
    if x is None or isinstance(x, _NUMPY_LIKE):
        return np.asarray(x, dtype=dtype)
    if isinstance(x, (list, tuple)):
        if all(isinstance(v, _NUMPY_LIKE + (list, tuple)) for v in x):
            return np.asarray(x, dtype=dtype)
        return [to_numpy(v, dtype) for v in x]
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=dtype)


def jit_call(fn, *args):
    """``fn(*args)`` compiled by XLA (``tf.function(jit_compile=True)`` or ``jax.jit``), as numpy; None
    under a backend without XLA (torch). ``fn`` may read Keras variables (they become constants of the
    compiled function) but must not assign them: inference only."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return to_numpy(tf.function(fn, jit_compile=True, autograph=False)(*args))
    if BACKEND == "jax":
        import jax

        return to_numpy(jax.jit(fn)(*args))
    return None


def gradients(model, feed, loss_fn=None):
    """``(outputs, grads)`` of ``model(feed, training=True)``: numpy outputs (a list) and the gradients
    (numpy, None where a weight gets none) of ``loss_fn(outputs)`` (default: the sum of the float32 means
    of the outputs) with respect to ``model.trainable_variables``."""
    ops = keras.ops

    def loss_of(outputs):
        if loss_fn is not None:
            return loss_fn(outputs)
        return sum(ops.mean(ops.cast(o, "float32")) for o in outputs)

    weights = model.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            outputs = as_list(model(feed, training=True))
            loss = loss_of(outputs)
        grads = tape.gradient(loss, weights)
        return to_numpy(outputs), [None if g is None else to_numpy(tf.convert_to_tensor(g)) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in weights]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_and_outputs(trainable):
            outputs, _ = model.stateless_call(trainable, non_trainable, feed, training=True)
            outputs = as_list(outputs)
            return loss_of(outputs), outputs

        # jitted: JAX's eager gradients dispatch (and compile) op by op, several times slower here
        (_, outputs), grads = jax.jit(jax.value_and_grad(loss_and_outputs, has_aux=True))(trainable)
        return to_numpy(outputs), [to_numpy(g) for g in grads]
    if BACKEND == "torch":
        for v in weights:
            v.value.grad = None
        outputs = as_list(model(feed, training=True))
        if weights:  # a model without trainable weights (a fixed encoding) has no graph to run backward through
            loss_of(outputs).backward()
        grads = [None if v.value.grad is None else to_numpy(v.value.grad) for v in weights]
        return to_numpy(outputs), grads
    raise NotImplementedError(f"gradients() for backend {BACKEND!r}")


_BFLOAT16_PROBE = """
import tensorflow as tf
x = tf.cast(tf.reshape(tf.range(64.0), (8, 8)), "bfloat16")
y = tf.linalg.matmul(x, x) + tf.nn.conv2d(tf.reshape(x, (1, 8, 8, 1)), tf.ones((3, 3, 1, 2), "bfloat16"), 1, "SAME")[0, :, :, 0]
tf.debugging.assert_all_finite(tf.cast(y, "float32"), "bfloat16")
print("ok")
"""


@functools.lru_cache(maxsize=None)
def tensorflow_bfloat16():
    """``(works, reason)``: whether TensorFlow runs bfloat16 matmuls and convolutions in this configuration,
    found by running them in a child process (they can crash the process, not raise). TensorFlow sends
    bfloat16 to oneDNN when the CPU reports AVX-512; with ``ONEDNN_MAX_CPU_ISA=AVX2`` on such a CPU (what
    tests/test_cpu_paths.py sets to exercise what a CPU without AVX-512 runs) oneDNN cannot run them and
    the process dies with a segmentation fault. A real CPU without AVX-512 runs them in Eigen."""
    if BACKEND != "tensorflow":
        return True, ""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        done = subprocess.run([sys.executable, "-c", _BFLOAT16_PROBE], capture_output=True, text=True, timeout=120,
                              env=env)
    except subprocess.TimeoutExpired:
        return False, "a bfloat16 matmul did not finish in 120 s"
    if done.returncode == 0 and done.stdout.strip().endswith("ok"):
        return True, ""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return False, (f"TensorFlow's bfloat16 matmul / convolution exits with code {done.returncode} here"
                   + (f" (ONEDNN_MAX_CPU_ISA={isa})" if isa else ""))
