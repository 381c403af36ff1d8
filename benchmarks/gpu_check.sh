#!/usr/bin/env bash
# The package's checks on a GPU, one script, under 10 minutes on one GPU. It writes, with the device named:
#   benchmarks/results/gpu_layer_overhead_float32.{md,json}        every module, graph and XLA, float32
#   benchmarks/results/gpu_layer_overhead_mixed_float16.{md,json}  the same under mixed_float16
#   benchmarks/results/gpu_conventions.{md,json}                   tests/layers/test_conventions.py on the GPU
#                                                                  (config, save/load, jit_compile=True, mixed
#                                                                  precision, Sequential), one row per layer set-up
#   benchmarks/results/gpu_attention_lenet.{md,json}               one seed of `reproduce attention-lenet`
# Where no GPU is visible it exits at once (status 2) and writes nothing.
#
#   bash benchmarks/gpu_check.sh                  # Fashion-MNIST from KERAS_ATTENTION_DATA / --data-dir default
#   KERAS_ATTENTION_DATA=/data/fashion-mnist bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PYTHON=${PYTHON:-python3}

no_gpu() {
    echo "gpu_check.sh: no GPU is visible ($1); nothing was measured or written." >&2
    echo "gpu_check.sh: run it on a machine with an NVIDIA GPU and TensorFlow's CUDA build (pip install -e \".[gpu,test]\")." >&2
    exit 2
}
command -v nvidia-smi > /dev/null 2>&1 || no_gpu "nvidia-smi is not on PATH"
nvidia-smi -L > /dev/null 2>&1 || no_gpu "nvidia-smi -L failed"
"$PYTHON" -c 'import sys, tensorflow as tf; sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)' \
    || no_gpu "TensorFlow lists no GPU device"

RESULTS=benchmarks/results
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
step() { echo "== gpu_check.sh [$((SECONDS - start)) s] $*"; }

step "1/4 layer_overhead, float32, graph and XLA"
(cd benchmarks && "$PYTHON" layer_overhead.py --modes graph xla --steps 20 --warmup 3 \
    --name gpu_layer_overhead_float32 --out "../$RESULTS")

step "2/4 layer_overhead, mixed_float16, graph and XLA"
(cd benchmarks && "$PYTHON" layer_overhead.py --modes graph xla --steps 20 --warmup 3 --mixed-precision \
    --name gpu_layer_overhead_mixed_float16 --out "../$RESULTS")

step "3/4 the layer conventions (jit_compile=True included) on the GPU"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/layers/test_conventions.py --junitxml="$WORK/conventions.xml" || true
"$PYTHON" benchmarks/gpu_conventions.py "$WORK/conventions.xml" "$RESULTS/gpu_conventions"

step "4/4 one seed of reproduce attention-lenet"
keras-attention reproduce attention-lenet --seeds 1 --out "$WORK/attention-lenet"
"$PYTHON" - "$WORK/attention-lenet" "$RESULTS/gpu_attention_lenet" <<'PY'
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from support import machine_description

run, stem = Path(sys.argv[1]), Path(sys.argv[2])
summary = sorted(run.glob("*.md"))
text = "\n".join(p.read_text() for p in summary) if summary else "(the run wrote no summary)"
stem.with_suffix(".md").write_text(f"# attention-lenet, one seed, on the GPU\n\nMachine: {machine_description()}.\n\n{text}\n")
records = {p.name: json.loads(p.read_text()) for p in sorted(run.glob("*.json"))}
stem.with_suffix(".json").write_text(json.dumps({"machine": machine_description(), "files": records}, indent=1))
PY
step "done: $RESULTS/gpu_*.{md,json}"
