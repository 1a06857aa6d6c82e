#!/usr/bin/env bash
# On the lab's lent GPU machine (see bench/lab/README.md): install the carried wheels, unpack the
# carried arrays, then run a plain benchmark script (default: bench/gpu_study.sh) with any arguments.
#   bash bench/lab/gpu_lab.sh [SCRIPT [ARGS...]]
# The project runs from the copied tree, not installed: PYTHONPATH holds the tree (cifar_sweep and its
# launchers), the sweeper plugin's folder, and the wheels' target.
set -uo pipefail
cd "$(dirname "$0")/../.."
# /tmp/site: the wheels' target, kept by a second command on the same (warm) machine
export PYTHONPATH="$PWD:$PWD/plugins/optuna_pruning_sweeper${PYTHONPATH:+:$PYTHONPATH}:/tmp/site"
if ! python3 -c "import hydra, optuna, hydra_plugins.hydra_optuna_sweeper" 2>/dev/null; then
  [ -d .whl ] || { echo "error: hydra/optuna are not installed and no .whl/ was carried (bench/lab/README.md)"; exit 2; }
  t0=$(date +%s)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  echo "installed the carried wheels in $(( $(date +%s) - t0 )) s"
fi
python3 -c "import cifar_sweep, optuna_pruning_sweeper, hydra_plugins.cifar_sweep_launchers" || exit 1
if [ -f /tmp/cifar10/test.npz ] && [ -f .data/cifar10_jpeg/train.npz ]; then
  export CIFAR10_DIR=/tmp/cifar10  # unpacked by the first command (test.npz is written last)
elif [ -f .data/cifar10_jpeg/train.npz ]; then
  t0=$(date +%s)
  python3 bench/lab/gpu_data.py unpack .data/cifar10_jpeg /tmp/cifar10 && export CIFAR10_DIR=/tmp/cifar10
  echo "unpacked the carried arrays in $(( $(date +%s) - t0 )) s"
fi
script=${1:-bench/gpu_study.sh}; shift || true
exec bash "$script" "$@"
