#!/usr/bin/env bash
# Installs the plugin alone into a fresh virtualenv (no torch, no cifar-sweep) and runs the toy app's
# search with pruning there. CI runs it; so can you:  plugins/optuna_pruning_sweeper/check_fresh_install.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
constraints=$here/../../requirements/constraints.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv=$work/venv
mkdir "$work/src" && cp -r "$here/pyproject.toml" "$here/README.md" "$here/hydra_plugins" "$here/optuna_pruning_sweeper" \
  "$here/example" "$work/src/"   # the sources alone, as a user's copy would be
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q -c "$constraints" "$work/src" 2>&1 | grep -v "^WARNING: Location" || true
if "$venv/bin/python" -c "import torch" 2>/dev/null; then echo "torch is installed: it should not be" >&2; exit 1; fi
cd "$work"
"$venv/bin/python" -W error "$work/src/example/toy.py" -m hydra.sweep.dir=sweep hydra.sweeper.n_trials=10 >log.txt 2>&1 \
  || { tail -20 log.txt >&2; exit 1; }
"$venv/bin/python" - <<'PY'
import optuna
study = optuna.load_study(study_name="toy", storage="sqlite:///sweep/optuna.db")
states = [t.state.name for t in study.trials]
assert len(states) == 10 and "PRUNED" in states and "COMPLETE" in states, states
print(f"fresh install without torch: the toy search ran 10 trials ({states.count('PRUNED')} pruned)")
PY
