#!/usr/bin/env bash
# The study's final recipe at full scale on one GPU, in one command under 9 minutes, parts in order of value
# (timeouts from bench/lab/estimate.py's estimates, x1.5; the table is in bench/lab/README.md):
#   1. fast:      experiment=study_final with bf16 autocast, channels_last, torch.compile and fused Adam:
#                 the speed knobs only, the notebook's settings otherwise   (205 s)
#   2. faithful:  experiment=study_final as it is (fp32, TF32 off): the notebook, setting for setting
#                 (estimated 338 s: it gets the time left, and a timeout still reports its epochs and rate)
#   3. seed 1 of both, while time is left
# Each part has its own timeout; results land in $OUT (default /tmp/gpu-study) as they come: per run its
# folder (metrics.csv, summary.json), its log, and RESULT lines here. From the repo root:
#   CIFAR10_DIR=/path/to/cifar10 bash bench/gpu_study.sh
# Without train.npz/test.npz in CIFAR10_DIR it trains on a synthetic set of the same size (said below).
# EXTRA adds overrides to every run (the CPU rehearsal, bench/lab/rehearse.sh, makes each run tiny); SCALE
# multiplies every part's timeout (the rehearsal's CPU). Both runs save last.pt once a minute
# (trainer.checkpoint_every=60s), not after each ~1 s epoch: a full checkpoint is 169 MiB.
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=$(( ${BUDGET:-510} * ${SCALE:-1} ))
OUTDIR=${OUT:-/tmp/gpu-study}; mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 CIFAR_SWEEP_CACHE=${CIFAR_SWEEP_CACHE:-/tmp/cifar-sweep-cache}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
if [ -f "${CIFAR10_DIR:-data/cifar10}/train.npz" ]; then
  DATA="data.dir=${CIFAR10_DIR:-data/cifar10}"
else
  DATA="data=synthetic data.train_size=50000 data.test_size=10000"  # the study's sizes (val_size 0)
fi
echo "data: $DATA; extra overrides: ${EXTRA:-none}"

FAST="trainer.precision=bf16 trainer.channels_last=true trainer.compile=true trainer.fused_optimizer=true"
run() {  # run NAME SECONDS OVERRIDES...
  local name=$1 seconds=$(( $2 * ${SCALE:-1} )); shift 2
  [ "$(left)" -gt 30 ] || { echo "skipped $name: $(left) s left"; return; }
  [ "$seconds" -le "$(left)" ] || seconds=$(left)
  echo "== $name (timeout ${seconds} s): $*"
  timeout "$seconds" python3 run.py experiment=study_final $DATA "$@" ${EXTRA:-} trainer.progress_bar=false trainer.checkpoint_every=60s \
    hydra.run.dir="$OUTDIR/$name" > "$OUTDIR/$name.log" 2>&1
  local code=$?
  echo "exit $code$([ $code = 124 ] && echo ' (its timeout)')"
  [ $code = 0 ] || [ $code = 124 ] || tail -n 5 "$OUTDIR/$name.log"
  python3 - "$OUTDIR/$name" "$name" <<'PY'
import csv, json, pathlib, statistics, sys
run, name = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = list(csv.DictReader(open(run / "metrics.csv"))) if (run / "metrics.csv").is_file() else []
rates = [float(r["images_per_second"]) for r in rows[1:]] or [float(r["images_per_second"]) for r in rows]
summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
print(f"RESULT {name}_epochs_done {len(rows)}")
if rates:
    print(f"RESULT {name}_train_images_per_second_median {statistics.median(rates):.0f} (epochs after the first)")
    seconds = [float(r["epoch_seconds"]) for r in rows[1:]] or [float(r["epoch_seconds"]) for r in rows]
    print(f"RESULT {name}_epoch_seconds_median {statistics.median(seconds):.2f} (epochs after the first)")
if summary:
    print(f"RESULT {name}_status {summary.get('status')} {summary.get('error') or ''}")
    print(f"RESULT {name}_test_acc {summary.get('test_acc')} (the study: 0.9228, on official CIFAR-10)")
    print(f"RESULT {name}_wall_seconds {summary.get('wall_seconds', 0):.0f}")
PY
}

run fast_seed0 205 $FAST seed=0
run faithful_seed0 507 seed=0
run fast_seed1 205 $FAST seed=1
run faithful_seed1 507 seed=1
echo "total $(( $(date +%s) - START )) s"
