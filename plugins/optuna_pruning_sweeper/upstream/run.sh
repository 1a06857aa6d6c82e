#!/usr/bin/env bash
# hydra-optuna-sweeper's own test suite, run as-is against hydra/sweeper=optuna_pruning.
#
#   plugins/optuna_pruning_sweeper/upstream/run.sh [HYDRA_REPO] [PYTEST_ARGS...]
#
# It downloads the sweeper's sdist (which ships tests/), takes the example apps and test configs from
# HYDRA_REPO (a clone of github.com/facebookresearch/hydra, work tree or bare; cloned when not given),
# changes only the sweeper's name (optuna -> optuna_pruning) and runs pytest with Hydra's own
# warnings-as-errors settings. Nothing is written outside a temporary directory ($WORK to keep it).
# Upstream=1 runs the same suite against the original sweeper, for comparison.
set -euo pipefail
python=${PYTHON:-python}
version=1.4.0rc3
work=${WORK:-$(mktemp -d)}
"$python" -m pip download -q --no-binary :all: --no-deps "hydra-optuna-sweeper==$version" -d "$work"
tar xzf "$work/hydra_optuna_sweeper-$version.tar.gz" -C "$work"
src=$work/hydra_optuna_sweeper-$version

repo=${1:-}
if [ -z "$repo" ]; then
  git clone -q --depth 1 https://github.com/facebookresearch/hydra "$work/hydra"
  repo=$work/hydra
fi
plugin=plugins/hydra_optuna_sweeper
git -C "$repo" archive HEAD "$plugin/example" "$plugin/tests/conf" | tar x -C "$work"
cp -r "$work/$plugin/example" "$src/"
cp -r "$work/$plugin/tests/conf" "$src/tests/"

if [ "${UPSTREAM:-0}" != 1 ]; then  # the one change: the sweeper's name
  sed -i 's#"hydra/sweeper=optuna"#"hydra/sweeper=optuna_pruning"#' "$src/tests/test_optuna_sweeper_plugin.py"
  find "$src/example" "$src/tests/conf" -name '*.yaml' -exec sed -i 's#override hydra/sweeper: optuna$#override hydra/sweeper: optuna_pruning#' {} +
fi

# Hydra's pytest.ini: warnings are errors, but for three named third-party ones
cat > "$src/pytest.ini" <<'INI'
[pytest]
filterwarnings =
  error
  ignore:datetime.datetime.utcfromtimestamp\(\) is deprecated:DeprecationWarning:sqlalchemy.sql.sqltypes
  ignore:.*Future Hydra versions will no longer change working directory at job runtime by default.*:UserWarning
  ignore:unclosed database in <sqlite3.Connection object at:ResourceWarning
INI
cd "$src"
echo "upstream suite in $src (sweeper: $([ "${UPSTREAM:-0}" = 1 ] && echo optuna || echo optuna_pruning))"
"$python" -m pytest -p no:cacheprovider -q "${@:2}" tests
