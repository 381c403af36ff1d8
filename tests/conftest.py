import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
