"""The CPU kernel paths other machines take, exercised on every machine.

Which kernels TensorFlow and torch run depends on the CPU and the build: oneDNN (TensorFlow's default on x86
Linux) picks its code by instruction set (AVX-512 here, AVX2 on many servers and laptops), TensorFlow without
oneDNN runs its own CPU kernels (which, for one, have no grouped-convolution gradients), and torch runs
bfloat16 / float16 convolutions in its own ``slow_conv2d`` where oneDNN cannot (no AVX-512). A check that
passes only on the kernels of the machine it was written on is not done, so this file runs, in child
processes (a process picks its kernels once, at start):

- the layer tests (``tests/layers``) with TensorFlow's own CPU kernels (``TF_ENABLE_ONEDNN_OPTS=0``), leaving
  out the XLA cases, which do not go through the kernels that flag switches;
- the layer tests with oneDNN limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``: what a CPU without AVX-512 gets),
  XLA included (XLA's CPU matmuls call oneDNN's GEMM);
- the torch backend matrix of ``tests/test_backends.py`` with ATen limited to AVX2 (``ATEN_CPU_CAPABILITY=avx2``)
  and oneDNN off (``KERAS_ATTENTION_TEST_CPU=no-avx512``, read by ``conftest.py``): the reduced-precision
  convolutions then run in ``slow_conv2d``, as on a CPU without AVX-512.

Each child runs in one process (the suite's other worker keeps the second core busy) and must pass.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_backends import MATRIX_FILES, _environment, _installed

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 1200  # seconds per child; measured 180-420 s on 2 busy cores
CONFIGURATIONS = {
    "tensorflow-own-cpu-kernels": (
        {"KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0"},
        ["tests/layers", "-k", "not xla"],
    ),
    "onednn-avx2": (
        {"KERAS_BACKEND": "tensorflow", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        ["tests/layers"],
    ),
    "torch-avx2-without-onednn": (
        {"KERAS_BACKEND": "torch", "ATEN_CPU_CAPABILITY": "avx2", "KERAS_ATTENTION_TEST_CPU": "no-avx512"},
        ["-m", "backends", *MATRIX_FILES],
    ),
}


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
def test_layer_tests_pass_on_other_cpu_paths(configuration):
    variables, arguments = CONFIGURATIONS[configuration]
    backend = variables["KERAS_BACKEND"]
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed (pip install -e '.[test]')")
    env = _environment(backend)
    env.update(variables)
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *arguments]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as error:
        output = (error.stdout or b"")[-4000:]
        pytest.fail(f"{configuration}: timed out after {TIMEOUT} s\n{output}")
    output = done.stdout + done.stderr
    summary = [line for line in output.splitlines() if " passed" in line or " failed" in line]
    print(f"{configuration}: {summary[-1] if summary else '?'} ({time.perf_counter() - started:.0f} s)")
    assert done.returncode == 0, (
        f"{configuration} ({' '.join(f'{k}={v}' for k, v in variables.items())}): exit {done.returncode}\n"
        f"{output[-6000:]}"
    )
    assert summary and " passed" in summary[-1], output[-2000:]
