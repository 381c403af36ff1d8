import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every test, and every subprocess a test starts, reads the committed Fashion-MNIST slice: the package
# searches KERAS_ATTENTION_DATA before any system directory, so a machine with Debian's full copy tests
# the same path and the same images as a bare one (see tests/real_data.py).
os.environ["KERAS_ATTENTION_DATA"] = str(Path(__file__).resolve().parent / "data")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy_and_seed():
    """Every test starts from float32 and a fixed seed, whatever the previous test did."""
    keras.mixed_precision.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tensorflow_only: uses TensorFlow itself (tf.function, GradientTape, tf.data, TF fast paths)"
    )
    config.addinivalue_line("markers", "backends: also run under JAX and torch by tests/test_backends.py")


def pytest_collection_modifyitems(config, items):
    """Under a backend other than TensorFlow (tests/test_backends.py), skip the tests marked
    ``tensorflow_only``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only (KERAS_BACKEND={backend})")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
