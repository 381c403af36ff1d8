"""benchmarks/gpu_check.sh, the GPU checks in one script: where no GPU is visible it stops at once with a
message that says so and writes nothing; its JUnit-to-table step (benchmarks/gpu_conventions.py) reports every
case and fails when one failed."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_conventions  # noqa: E402
from support import cpu_flags  # noqa: E402


def _results():
    return sorted((ROOT / "benchmarks" / "results").glob("gpu_*"))


def test_without_a_gpu_it_exits_at_once_and_writes_nothing(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    before = _results()
    # PATH without nvidia-smi (bash and coreutils still found): the machine of a user without a GPU
    env = {**os.environ, "PATH": f"{fake_bin}:/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no GPU is visible (nvidia-smi is not on PATH)" in result.stderr
    assert "nothing was measured or written" in result.stderr
    assert time.perf_counter() - start < 10
    assert _results() == before


def test_a_driver_without_a_device_tensorflow_sees_is_no_gpu(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    smi = fake_bin / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: fake'\n")
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "CUDA_VISIBLE_DEVICES": "",
           "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no GPU is visible (TensorFlow lists no GPU device)" in result.stderr


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.layers.test_conventions" name="test_layer_conventions[cbam]" time="2.5"/>
<testcase classname="tests.layers.test_conventions" name="test_layer_conventions[san-c]" time="4.0">
<failure message="AssertionError: XLA output differs&#10;more">trace</failure></testcase>
<testcase classname="tests.layers.test_conventions" name="test_layer_conventions[simam]" time="0.1">
<skipped message="not on this backend"/></testcase>
</testsuite></testsuites>"""


def test_conventions_table_lists_every_case_and_fails_on_a_failure(tmp_path):
    xml = tmp_path / "conventions.xml"
    xml.write_text(JUNIT)
    code = gpu_conventions.main([str(xml), str(tmp_path / "gpu_conventions")])
    assert code == 1
    text = (tmp_path / "gpu_conventions.md").read_text()
    assert "1 passed, 1 failed, 0 error, 1 skipped." in text
    assert "| test_layer_conventions[san-c] | failed | 4.0 | AssertionError: XLA output differs |" in text
    assert "logical cores" in text and "CPU flags" in text
    xml.write_text(JUNIT.replace('<failure message="AssertionError: XLA output differs&#10;more">trace</failure>', ""))
    assert gpu_conventions.main([str(xml), str(tmp_path / "gpu_conventions")]) == 0


def test_cpu_flags_name_the_vector_sets_and_the_onednn_settings(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    plain = cpu_flags()
    if Path("/proc/cpuinfo").exists() and "avx" in Path("/proc/cpuinfo").read_text():
        assert "avx" in plain
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_flags() == plain + " (ONEDNN_MAX_CPU_ISA=AVX2)"
