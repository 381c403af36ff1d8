import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every test, and every subprocess a test starts, reads the Fashion-MNIST slice shipped with the package
# (keras_attention/data/bundled/fashion-mnist, the repository's one copy): the package searches
# KERAS_ATTENTION_DATA before any system directory, so a machine with Debian's full copy tests the same
# path and the same images as a bare one (see tests/real_data.py).
os.environ["KERAS_ATTENTION_DATA"] = str(Path(__file__).resolve().parents[1] / "keras_attention" / "data" / "bundled")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# KERAS_ATTENTION_TEST_CPU=no-avx512 (set by tests/test_cpu_paths.py for its subprocesses): under torch, take
# the kernels a CPU without AVX-512 gets. ATEN_CPU_CAPABILITY=avx2 (set with it) picks ATen's AVX2 kernels;
# oneDNN's bfloat16 / float16 convolutions need AVX-512, so such a CPU runs them in ATen's own slow_conv2d,
# which turning oneDNN off here reproduces.
if os.environ.get("KERAS_ATTENTION_TEST_CPU") == "no-avx512" and keras.backend.backend() == "torch":
    import torch  # noqa: E402

    torch.backends.mkldnn.enabled = False


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


# The files that take a minute or more, longest first (measured with ``--durations=0``; the backend matrix
# first since its JAX and torch processes run beside the other worker). pytest-xdist (``-n 2 --dist
# loadfile``) hands whole files to its workers in collection order; its default reordering by number of
# tests would put these few-test, long files last, where one worker runs them while the other has nothing
# left (about 4 minutes of a 21-minute run). Every other file keeps its place after them.
LONGEST_FIRST = (
    "tests/test_cpu_paths.py",
    "tests/test_backends.py",
    "tests/test_dependency_floors.py",
    "tests/test_packaging.py",
    "tests/models/test_image_builders.py",
    "tests/cli/test_cli.py",
    "tests/layers/test_competitor_fast_paths.py",
    "tests/experiments/test_distributed.py",
    "tests/layers/test_scale_space_attention_fast_paths.py",
    "tests/models/test_fa_spanet_aw_models.py",
    "tests/test_readme_examples.py",
    "tests/layers/test_xm2a_fast_paths.py",
    "tests/test_notebooks.py",
    "tests/experiments/test_multiworker.py",
    "tests/experiments/test_backup.py",
    "tests/models/test_attention_encoder.py",
    "tests/cli/test_racknet_cli.py",
    "tests/layers/test_aw_conv_fast_paths.py",
    "tests/cli/test_cli_faults.py",
    "tests/experiments/test_run_directory.py",
)


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the collection order (above)
        config.option.loadscopereorder = False
    config.addinivalue_line(
        "markers", "tensorflow_only: uses TensorFlow itself (tf.function, GradientTape, tf.data, TF fast paths)"
    )
    config.addinivalue_line("markers", "backends: also run under JAX and torch by tests/test_backends.py")


def pytest_collection_modifyitems(config, items):
    """The files of :data:`LONGEST_FIRST` first (a stable sort: the order inside a file and among the other
    files stays); under a backend other than TensorFlow (tests/test_backends.py), skip the tests marked
    ``tensorflow_only``."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    root = Path(str(config.rootpath))
    items.sort(key=lambda item: rank.get(Path(str(item.path)).relative_to(root).as_posix(), len(rank)))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only (KERAS_BACKEND={backend})")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
