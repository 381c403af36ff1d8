"""Training on several workers (``keras_attention.experiments.distributed``), both routes, 2 local processes.

Every run is a subprocess of ``tests/multiworker_worker.py`` (see its docstring: a tiny conv net with a SAN
and a CBAM layer, fixed synthetic data, global batch 16, plain Nesterov SGD). All of them start at once in
one module fixture (the file's wall time is the slowest group's, not the sum) on loopback ports chosen by
binding port 0, each bounded by ``TIMEOUT`` seconds:

* TensorFlow: 2 workers under ``TF_CONFIG`` run ``train_multiworker`` for 1 epoch, then call it again for 2
  epochs (it must resume from the backup of the first call); the chief's final weights must equal those of
  a single-device ``Model.fit`` on the same global batches (the chief trains that reference first, on its
  own, see the worker's ``--reference``), and training must have moved them by far more than the
  tolerance. Another pair is started for many epochs and worker 1 is killed once the chief has finished
  an epoch: the chief must exit non-zero with ``WorkerLostError`` (collective timeout 15 s) within 120 s.
* JAX (``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu``; CPU collectives over gloo, JAX 0.10's default): 2
  processes with ``SLURM_NTASKS``, ``SLURM_PROCID`` and ``KERAS_ATTENTION_COORDINATOR`` (the README's SLURM
  recipe) run ``initialize_data_parallel()`` then ``train_run`` (``Model.fit``) for 2 epochs; process 0's
  weights must equal a single-device run's (trained first by process 0 with the distribution unset). A
  killed process makes the other one fail with gloo's / JAX's error (timeouts 10 s) within 120 s.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from keras_attention.experiments.artifacts import worker_dir
from keras_attention.experiments.distributed import data_parallel_settings, first_slurm_host

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "multiworker_worker.py"
TIMEOUT = 180  # seconds any subprocess may run
WEIGHT_ATOL = 1e-5
HAS_JAX = importlib.util.find_spec("jax") is not None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class Proc:
    """A worker subprocess whose output goes to a file (no pipe to fill up)."""

    def __init__(self, route, mode, out, log, env=None, args=()):
        self.log = Path(log)
        self.out = Path(out)
        full_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG" and not k.startswith("SLURM_")}
        full_env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **(env or {}))
        with open(self.log, "w") as handle:
            self.popen = subprocess.Popen([sys.executable, str(WORKER), route, mode, str(out), *args],
                                          env=full_env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        self.started = time.monotonic()

    def text(self):
        return self.log.read_text(errors="replace")

    def wait(self, deadline=None):
        """The exit code; kills the process (and fails) past ``TIMEOUT`` seconds from its start."""
        left = TIMEOUT - (time.monotonic() - self.started) if deadline is None else deadline - time.monotonic()
        try:
            return self.popen.wait(timeout=max(left, 0.1))
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"{self.log.name} still ran after its time limit; output tail:\n{self.text()[-3000:]}")

    def wait_for(self, word, fail=pytest.fail):
        """Wait until the output contains ``word``; ``fail(message)`` if the process ends first or time
        runs out."""
        while word not in self.text():
            if self.popen.poll() is not None:
                return fail(f"{self.log.name} ended (rc {self.popen.returncode}) before {word!r}:\n"
                            f"{self.text()[-3000:]}")
            if time.monotonic() - self.started > TIMEOUT:
                return fail(f"{self.log.name} printed no {word!r} within {TIMEOUT} s:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def stop(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def _tf_pair(tmp, name, args, env=None):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return [Proc("tf", "worker", tmp / name, tmp / f"{name}-{index}.log", args=args, env={
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}), **(env or {})})
        for index in range(2)]


def _jax_pair(tmp, name, args, env=None):
    coordinator = f"localhost:{_free_port()}"
    return [Proc("jax", "worker", tmp / name, tmp / f"{name}-{index}.log", args=args, env={
        "KERAS_ATTENTION_COORDINATOR": coordinator, "SLURM_NTASKS": "2", "SLURM_PROCID": str(index),
        "JAX_PLATFORMS": "cpu", **(env or {})}) for index in range(2)]


def _kill_when_ready(pair, ready_word, record):
    """Kill the second process of ``pair`` as soon as the first (and, for ``ready``, both) printed
    ``ready_word``; ``record`` gets the kill time, or the error."""
    survivor, victim = pair
    try:
        survivor.wait_for(ready_word, fail=RuntimeError)
        if ready_word == "ready":  # JAX: both processes print it; TF: only the chief prints epochs
            victim.wait_for(ready_word, fail=RuntimeError)
        victim.popen.kill()
        record["killed_at"] = time.monotonic()
    except RuntimeError as error:
        record["error"] = str(error)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every run at once; a watcher thread per kill test kills its victim the moment it is ready."""
    tmp = tmp_path_factory.mktemp("multiworker")
    started, watchers = {}, []
    try:
        started["tf_workers"] = _tf_pair(tmp, "tf_workers", ["--epochs", "2", "--resume-after", "1", "--reference"])
        started["tf_kill"] = _tf_pair(tmp, "tf_kill", ["--epochs", "1000"], env={"MULTIWORKER_TIMEOUT": "15"})
        started["tf_kill_record"] = {}
        watchers.append(threading.Thread(target=_kill_when_ready, daemon=True,
                                         args=(started["tf_kill"], "epoch 1/", started["tf_kill_record"])))
        if HAS_JAX:
            started["jax_workers"] = _jax_pair(tmp, "jax_workers", ["--epochs", "2", "--reference"])
            started["jax_kill"] = _jax_pair(tmp, "jax_kill", ["--epochs", "1000"], env={"MULTIWORKER_TIMEOUT": "10"})
            started["jax_kill_record"] = {}
            watchers.append(threading.Thread(target=_kill_when_ready, daemon=True,
                                             args=(started["jax_kill"], "ready", started["jax_kill_record"])))
        for watcher in watchers:
            watcher.start()
        yield started
    finally:
        for group in started.values():
            for proc in group if isinstance(group, list) else []:
                proc.stop()


def _finished(proc):
    rc = proc.wait()
    assert rc == 0, f"{proc.log.name} failed (rc {rc}):\n{proc.text()[-4000:]}"


def _weights(path):
    with np.load(path) as data:
        return [data[f"w{i}"] for i in range(len(data.files))]


def _assert_same_training(chief):
    reference, initial, trained = (_weights(chief.out / "reference.npz"), _weights(chief.out / "initial.npz"),
                                   _weights(chief.out / "weights.npz"))
    assert len(trained) == len(reference) == len(initial)
    moved = max(float(np.max(np.abs(r - i))) for r, i in zip(reference, initial))
    assert moved > 100 * WEIGHT_ATOL, f"training barely changed the weights ({moved}): the comparison is void"
    worst = max(float(np.max(np.abs(t - r))) for t, r in zip(trained, reference))
    assert worst <= WEIGHT_ATOL, f"2 workers end {worst} away from the single-process weights"


def _assert_killed_worker_fails(pair, record, patterns):
    survivor, _ = pair
    deadline = time.monotonic() + TIMEOUT
    while "killed_at" not in record and "error" not in record and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "killed_at" in record, record.get("error", "the victim was never ready")
    rc = survivor.wait(deadline=record["killed_at"] + 120)
    text = survivor.text()
    assert rc != 0, f"the survivor exited 0 after its peer was killed:\n{text[-3000:]}"
    assert any(p in text for p in patterns), f"no clear error ({patterns}) in:\n{text[-3000:]}"


def test_tf_multiworker_equals_single_process_and_resumes(runs):
    chief, other = runs["tf_workers"]
    for proc in (chief, other):
        _finished(proc)
    _assert_same_training(chief)
    log = chief.text()
    assert "epoch 1/1" in log and "epoch 2/2" in log and "epoch 1/2" not in log, "the second call did not resume"
    history = json.loads((chief.out / "history.json").read_text())["epochs"]
    assert sorted(history) == ["0", "1"] and all("loss" in rec and "top1" in rec for rec in history.values())
    assert (chief.out / "model.keras").exists() and (chief.out / "training_curves.png").exists()
    assert json.loads((chief.out / "result.json").read_text())["workers"] == 2
    assert (chief.out / "backup" / "checkpoint").exists()
    worker_copy = worker_dir(chief.out, 1)  # the other worker's copies, beside the run directory
    assert (worker_copy / "backup" / "checkpoint").exists() and not (worker_copy / "model.keras").exists()


def test_tf_killed_worker_fails_clearly(runs):
    _assert_killed_worker_fails(runs["tf_kill"], runs["tf_kill_record"], ["WorkerLostError", "another worker died"])


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_jax_data_parallel_equals_single_process(runs):
    first, second = runs["jax_workers"]
    for proc in (first, second):
        _finished(proc)
    _assert_same_training(first)
    history = json.loads((first.out / "history.json").read_text())["epochs"]
    assert sorted(history) == ["0", "1"]
    assert (first.out / "model.keras").exists() and (worker_dir(first.out, 1) / "history.json").exists()


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_jax_killed_process_fails_clearly(runs):
    _assert_killed_worker_fails(runs["jax_kill"], runs["jax_kill_record"],
                                ["Gloo", "heartbeat timeout", "another task died"])


# ---- argument checks of the JAX route (no subprocess) ----

@pytest.mark.parametrize("nodes, host", [("node001", "node001"), ("node001,gpu2", "node001"),
                                         ("node[003-007,9],gpu2", "node003"), ("n[12,15]", "n12")])
def test_first_slurm_host(nodes, host):
    assert first_slurm_host(nodes) == host


def test_settings_from_slurm_environment():
    env = {"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_STEP_NODELIST": "gpu[07-10]", "SLURM_JOB_ID": "4097"}
    assert data_parallel_settings(environ=env) == ("gpu07:61441", 4, 2)
    env["KERAS_ATTENTION_COORDINATOR_PORT"] = "1234"
    assert data_parallel_settings(environ=env) == ("gpu07:1234", 4, 2)
    env["KERAS_ATTENTION_COORDINATOR"] = "head:999"
    assert data_parallel_settings(environ=env) == ("head:999", 4, 2)
    assert data_parallel_settings("h:1", 2, 1, environ={}) == ("h:1", 2, 1)


@pytest.mark.parametrize("env, message", [
    ({}, "coordinator_address is not given and KERAS_ATTENTION_COORDINATOR"),
    ({"KERAS_ATTENTION_COORDINATOR": "h:1", "SLURM_PROCID": "0"}, "num_processes is not given and SLURM_NTASKS"),
    ({"KERAS_ATTENTION_COORDINATOR": "h:1", "SLURM_NTASKS": "2"}, "process_id is not given and SLURM_PROCID"),
    ({"KERAS_ATTENTION_COORDINATOR": "h:1", "SLURM_NTASKS": "2", "SLURM_PROCID": "2"},
     "process_id must be in 0..1 .*got 2 from SLURM_PROCID"),
    ({"KERAS_ATTENTION_COORDINATOR": "h:1", "SLURM_NTASKS": "two", "SLURM_PROCID": "0"},
     "SLURM_NTASKS='two' is not an integer"),
    ({"KERAS_ATTENTION_COORDINATOR": "nohost", "SLURM_NTASKS": "2", "SLURM_PROCID": "0"},
     "host:port; got 'nohost' .from KERAS_ATTENTION_COORDINATOR"),
])
def test_settings_errors_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        data_parallel_settings(environ=env)


DAMAGED_BACKUP_WORKER = """
import sys
sys.path.insert(0, sys.argv[3])
from keras_attention.experiments.distributed import make_multiworker_strategy, train_multiworker
strategy = make_multiworker_strategy()  # one worker (no TF_CONFIG)
import keras, numpy as np, tensorflow as tf
rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
def build():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
train_multiworker(build, tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=int(sys.argv[2]),
                  out_dir=sys.argv[1], strategy=strategy, optimizer="sgd", verbose=False)
"""


def test_a_damaged_multiworker_backup_is_named_and_the_one_before_it_used(tmp_path):
    out = tmp_path / "run"
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CONFIG"}, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(epochs):
        return subprocess.run([sys.executable, "-c", DAMAGED_BACKUP_WORKER, str(out), str(epochs), str(ROOT)],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=tmp_path)

    first = run(2)
    assert first.returncode == 0, first.stderr[-3000:]
    data = out / "backup" / "ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # cut short after it was written
    before = json.loads((out / "history.json").read_text())["epochs"]
    second = run(3)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"backup {str(out / 'backup' / 'ckpt-2')!r} not used: " in second.stderr
    after = json.loads((out / "history.json").read_text())["epochs"]
    assert after["0"]["finished_at"] == before["0"]["finished_at"]  # epoch 1 kept, from ckpt-1
    assert after["1"]["finished_at"] > before["1"]["finished_at"]  # epoch 2 trained again
    assert sorted(after) == ["0", "1", "2"] and (out / "model.keras").exists()
