#!/usr/bin/env bash
# The GPU plan, rehearsed on this CPU machine as the lent GPU machine would run it (bench/lab/README.md):
#   1. the image: Python 3.12 with the packages that machine has (torch 2.11.0, torchvision 0.26.0 and the
#      others its page lists that this project needs), made once from PyPI, and no Hydra or Optuna;
#   2. the copy: what the device tool sends (tracked and untracked-not-ignored files) and the carried
#      .whl/ and .data/, checked against the 64 MiB limit;
#   3. the two commands, from the copy, with no package index (PIP_NO_INDEX) and tiny runs (EXTRA):
#      bench/lab/gpu_lab.sh (bench/gpu_study.sh), then bench/lab/gpu_lab.sh bench/gpu.sh.
# Every RESULT line of both must appear, and no part may fail; the log is $REHEARSAL/rehearsal.log.
#   bash bench/lab/rehearse.sh          (from the repository root, after bench/lab/README.md's two steps)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REHEARSAL=${REHEARSAL:-/tmp/gpu-rehearsal}
PY312=${PY312:-$(command -v python3.12 || ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)}
IMAGE=$REHEARSAL/image
TINY="model.width=0.125 data.train_subset=512 trainer.epochs=2"  # keys of data=cifar10 and of data=synthetic
SCALE=${SCALE:-4}  # the parts' timeouts and budgets, times this: the 2-core CPU runs bf16 and compiles slowly
fail() { echo "rehearsal: $*"; exit 1; }

[ -x "${PY312:-}" ] || fail "no Python 3.12 found: set PY312 to one"
[ -d "$ROOT/.whl" ] && ls "$ROOT"/.whl/*.whl >/dev/null 2>&1 || fail "no .whl/: copy the GPU wheels there first (README)"
if [ ! -x "$IMAGE/bin/python3" ]; then
  echo "making the image in $IMAGE (once: about 3 GB from PyPI)"
  "$PY312" -m venv "$IMAGE" && "$IMAGE/bin/python3" -m pip install -q torch==2.11.0 torchvision==0.26.0 numpy pandas \
    matplotlib scipy tqdm pyyaml joblib cloudpickle typing-extensions pillow markupsafe packaging tabulate \
    || fail "could not make the image"
fi
"$IMAGE/bin/python3" -c "import hydra" 2>/dev/null && fail "the image has hydra: it must not (the GPU machine lacks it)"

rm -rf "$REHEARSAL/tree" && mkdir -p "$REHEARSAL/tree"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$REHEARSAL/tree" 2>/dev/null)
cp -r "$ROOT/.whl" "$REHEARSAL/tree/" && { [ ! -d "$ROOT/.data" ] || cp -r "$ROOT/.data" "$REHEARSAL/tree/"; }
size=$(du -sm --apparent-size "$REHEARSAL/tree" | cut -f1)
echo "the copy: ${size} MiB (limit 64)"
[ "$size" -le 64 ] || fail "the copy is ${size} MiB, over the 64 MiB a device call takes"

cd "$REHEARSAL/tree"
rm -rf /tmp/site /tmp/cifar10 /tmp/gpu-study /tmp/gpu-bench  # a fresh machine
export PATH="$IMAGE/bin:$PATH" PIP_NO_INDEX=1 PYTHONPATH= EXTRA="$TINY" SCALE
log=$REHEARSAL/rehearsal.log
{
  echo "== command 1: bash bench/lab/gpu_lab.sh"
  time bash bench/lab/gpu_lab.sh
  echo "== command 2: bash bench/lab/gpu_lab.sh bench/gpu.sh"
  time STEPS=4 bash bench/lab/gpu_lab.sh bench/gpu.sh
} 2>&1 | tee "$log"
missing=()
for name in fast_seed0_epochs_done fast_seed0_test_acc faithful_seed0_epochs_done faithful_seed0_test_acc \
  fused_1_aggregate_train_images_per_second fused_4_aggregate_train_images_per_second \
  fused_8_aggregate_train_images_per_second cpu_vgg16_train_images_per_second_fp32_batch64; do
  grep -q "^RESULT $name " "$log" || missing+=("$name")
done
grep -E "^RESULT [a-z0-9_]+_status " "$log" | grep -v " completed" && fail "a run did not complete (above)"
[ ${#missing[@]} = 0 ] || fail "missing RESULT lines: ${missing[*]}"
echo "rehearsal passed: every part ran and printed its RESULT lines (log: $log)"
