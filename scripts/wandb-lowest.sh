#!/usr/bin/env bash
# The W&B tests against another wandb version than the pinned one, by default the lowest that the
# `wandb` extra allows (pyproject.toml), installed from PyPI into a temporary folder that shadows the
# pinned one for this command only.   Usage: scripts/wandb-lowest.sh [version]
set -euo pipefail
version=${1:-0.19.10}
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
.venv/bin/pip install -q --target "$target" "wandb==$version" 2>&1 | grep -v "^WARNING: Location\|dependency resolver\|requires protobuf" || true
export PYTHONPATH="$target"
.venv/bin/python -c "import sys, wandb; assert wandb.__version__ == sys.argv[1], wandb.__version__" "$version"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/unit/test_wandb.py tests/e2e/test_trackers.py -k wandb
