"""Every Keras 3 backend: the layers, builders and iSparse under JAX and torch, from the TensorFlow run.

Each check starts a fresh Python process with ``KERAS_BACKEND`` set (a process picks its backend once):
- ``keras_attention.layers``, ``models``, ``saliency``, ``sparsity``, ``racknet`` and ``utils`` import
  without TensorFlow, layers with TensorFlow fast paths train without importing it, and ``sparsify`` runs;
- the tests marked ``backends`` (numpy references of every layer, the Keras conventions of one
  configuration per layer family, the iSparse tests) and tests/backends/check_builders.py (one builder per
  family: a ``fit`` step and a ``.keras`` round trip) pass; both backends run at once, each bounded;
- weights saved under TensorFlow load under JAX and torch with the same outputs;
- a model with SAN and CBAM gives the eager outputs under ``jit_compile=True`` (TensorFlow and JAX).
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from tolerance import assert_close

from keras_attention.layers import CBAM, SAN

OTHER_BACKENDS = ("jax", "torch")
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
MATRIX_FILES = [
    "tests/layers/test_competitor_modules.py",
    "tests/layers/test_scale_space_attention.py",
    "tests/layers/test_sdma.py",
    "tests/layers/test_spanet_nonlocal.py",
    "tests/layers/test_xm2a.py",
    "tests/layers/test_focus_association.py",
    "tests/layers/test_aw_conv.py",
    "tests/layers/test_conventions.py",
    "tests/layers/test_positional_encoding.py",
    "tests/layers/test_efficient_channel_attention.py",
    "tests/layers/test_coordinate_attention.py",
    "tests/layers/test_global_context.py",
    "tests/layers/test_selective_kernel.py",
    "tests/layers/test_gather_excite.py",
    "tests/layers/test_simam.py",
    "tests/layers/test_triplet_attention.py",
    "tests/layers/test_scse.py",
    "tests/layers/test_data_format.py",
    "tests/models/test_channels_first_and_selective_kernel.py",
    "tests/sparsity/test_sparsity.py",
    "tests/backends/check_builders.py",
]
MATRIX_TIMEOUT = 2400  # a guard against a hang, not a speed limit: JAX 230-245 s, torch 60 s on 2 busy cores
# with AVX-512, torch over 900 s with oneDNN limited to AVX2 while the rest of the suite ran (2026-12-07)
PACKAGES = ("layers", "models", "saliency", "sparsity", "racknet", "utils")


def _installed(backend):
    try:
        __import__(backend)
    except ImportError:
        return False
    return True


def _environment(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if backend == "jax":
        # the CPU only, and XLA's cheapest code generation: compiling (every fit step and jitted call of
        # these tests) is most of JAX's time here, running the tiny batches is not (about 40 % faster)
        env.setdefault("JAX_PLATFORMS", "cpu")
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run_script(backend, script, timeout=300):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(backend),
        cwd=ROOT,
    )
    assert done.returncode == 0, f"KERAS_BACKEND={backend}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


def _need(backend):
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed (pip install -e '.[test]')")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_packages_import_without_tensorflow(backend):
    _need(backend)
    out = _run_script(
        backend,
        f"""
        import json, sys
        import keras_attention
        for name in {PACKAGES!r}:
            __import__("keras_attention." + name)
        def tensorflow_modules():
            return sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")[:5]

        imported = tensorflow_modules()
        import keras, numpy as np
        from keras_attention.layers import AWConv2D, CBAM, SAN, XM2A
        from keras_attention.sparsity import sparsify
        # and they run without it: layers with TensorFlow fast paths, forward and backward, and iSparse
        image = keras.Input((8, 8, 2))
        conv = AWConv2D(2, 3, padding="same")(image)
        x = CBAM(reduction=2)(SAN()([image, conv]))
        model = keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
        images = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype("float32")
        model.compile("sgd", "mse")
        model.fit(images, np.zeros((4, 3), "float32"), verbose=0)
        XM2A(num_heads=2, key_dim=2, variant="pool", implementation="reference")(np.zeros((2, 6, 3), "float32"))
        ran = tensorflow_modules()
        # (Keras' own get_config, which clone_model calls, imports TensorFlow whenever it is installed)
        sparsify(model, 0.5, images)
        print(json.dumps({{"backend": keras.backend.backend(), "tensorflow": imported, "ran": ran,
                           "layers": "keras_attention.layers.xm2a" in sys.modules}}))
        """,
    )
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"backend": backend, "tensorflow": [], "ran": [], "layers": True}


def test_backend_matrix():
    """The ``backends`` tests under JAX and torch, both processes at once; each must pass."""
    backends = [b for b in OTHER_BACKENDS if _installed(b)]
    if not backends:
        pytest.skip("neither jax nor torch is installed (pip install -e '.[test]')")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-m", "backends", "-p", "no:cacheprovider", *MATRIX_FILES]
    started = time.perf_counter()
    processes = {
        b: subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_environment(b), cwd=ROOT
        )
        for b in backends
    }
    failures = []
    for backend, process in processes.items():
        try:
            output, _ = process.communicate(timeout=max(1.0, MATRIX_TIMEOUT - (time.perf_counter() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            failures.append(f"KERAS_BACKEND={backend}: timed out after {MATRIX_TIMEOUT} s\n{output[-3000:]}")
            continue
        elapsed = time.perf_counter() - started
        print(f"KERAS_BACKEND={backend}: {output.strip().splitlines()[-1] if output.strip() else ''} ({elapsed:.0f} s)")
        if process.returncode != 0:
            failures.append(f"KERAS_BACKEND={backend}: exit {process.returncode}\n{output[-6000:]}")
    assert not failures, "\n\n".join(failures)


def _san_cbam_model():
    inputs = keras.Input((12, 12, 2))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    x = SAN(variant="d", bias_initializer="random_normal")([inputs, conv])
    x = CBAM(reduction=2)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = SAN(variant="c")([conv, keras.layers.Conv2D(4, 3, padding="same")(x)])
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def test_weights_saved_under_tensorflow_load_under_every_backend(tmp_path):
    """A ``.weights.h5`` file written here (TensorFlow) loads into the same model under JAX and torch."""
    keras.utils.set_random_seed(7)
    model = _san_cbam_model()
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 2)).astype("float32")
    model.save_weights(tmp_path / "model.weights.h5")
    np.save(tmp_path / "x.npy", x)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    for backend in OTHER_BACKENDS:
        if not _installed(backend):
            continue
        out = tmp_path / f"{backend}.npy"
        _run_script(
            backend,
            f"""
            import numpy as np, keras
            from test_backends import _san_cbam_model
            model = _san_cbam_model()
            model.load_weights({str(tmp_path / "model.weights.h5")!r})
            np.save({str(out)!r}, keras.ops.convert_to_numpy(model(np.load({str(tmp_path / "x.npy")!r}),
                                                                     training=False)))
            """,
        )
        assert_close(np.load(out), expected, err_msg=backend)


JIT_SCRIPT = """
import numpy as np, keras
from test_backends import _san_cbam_model
from tolerance import assert_close
keras.utils.set_random_seed(3)
model = _san_cbam_model()
x = np.random.default_rng(1).normal(size=(4, 12, 12, 2)).astype("float32")
eager = keras.ops.convert_to_numpy(model(x, training=False))
model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
assert model.jit_compile, "jit_compile was turned off"
assert_close(model.predict(x, verbose=0), eager, err_msg="XLA vs eager")
loss = model.fit(x, np.arange(4) % 3, batch_size=4, epochs=1, verbose=0).history["loss"][0]
assert np.isfinite(loss)
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_jit_compile_with_san_and_cbam(backend):
    """``jit_compile=True`` (XLA) predictions equal the eager ones, and an XLA training step runs."""
    if backend == "tensorflow":
        exec(compile(JIT_SCRIPT, "<jit>", "exec"), {"__name__": "jit_check"})
    else:
        _need(backend)
        assert _run_script(backend, JIT_SCRIPT).strip().endswith(f"ok {backend}")
