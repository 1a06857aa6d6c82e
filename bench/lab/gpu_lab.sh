#!/usr/bin/env bash
# On the lab's lent GPU machine (see bench/lab/README.md): install the carried wheels, unpack the
# carried arrays, then run a plain benchmark script (default: bench/gpu.sh) with any arguments.
#   bash bench/lab/gpu_lab.sh [SCRIPT [ARGS...]]
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ -d .whl ] && ! python3 -c "import hydra, optuna" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -f .data/cifar10_jpeg/train.npz ] && python3 bench/lab/gpu_data.py unpack .data/cifar10_jpeg /tmp/cifar10; then
  export CIFAR10_DIR=/tmp/cifar10
fi
script=${1:-bench/gpu.sh}; shift || true
exec bash "$script" "$@"
