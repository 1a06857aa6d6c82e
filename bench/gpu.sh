#!/usr/bin/env bash
# The GPU's second command, run at once after bench/gpu_study.sh while the machine is warm (bench/lab/README.md):
#   1. fused trials: k = 1, 4, 8 runs of VGG16 trained as one model (hydra/launcher=fused), 2 epochs each,
#      bf16; the aggregate training images/s as each k finishes (timeouts from bench/lab/estimate.py, x1.5)
#   2. VGG16 training throughput per batch size and speed knob, one RESULT line per cell as it finishes
# From the repo root, on a machine with the project installed:
#   CIFAR10_DIR=/path/to/cifar10 bash bench/gpu.sh      (results also go to $OUT, default /tmp/gpu-bench)
# Without train.npz/test.npz in CIFAR10_DIR it measures on a synthetic set of the same size (said below).
# EXTRA adds overrides to every run and cell (the CPU rehearsal, bench/lab/rehearse.sh, makes them tiny);
# STEPS sets the throughput cells' steps (default 60); SCALE multiplies every part's timeout (the rehearsal's
# CPU runs bf16 ~10x slower than a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=$(( ${BUDGET:-210} * ${SCALE:-1} ))
export PYTHONUNBUFFERED=1 CIFAR_SWEEP_CACHE=${CIFAR_SWEEP_CACHE:-/tmp/cifar-sweep-cache}
OUTDIR=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUTDIR"
if [ -f "${CIFAR10_DIR:-data/cifar10}/train.npz" ]; then
  DATA="data.dir=${CIFAR10_DIR:-data/cifar10}"
else
  DATA="data=synthetic data.train_size=50000 data.test_size=10000 data.val_size=5000"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
echo "data: $DATA; extra overrides: ${EXTRA:-none}"
left() { echo $(( BUDGET - ($(date +%s) - START) )); }

echo "== 1. fused trials on one GPU (hydra/launcher=fused, k runs as one model, 2 epochs each, bf16)"
for k in 1 4 8; do
  seconds=$(( $([ $k = 8 ] && echo 42 || echo 38) * ${SCALE:-1} ))
  [ "$(left)" -gt "$seconds" ] || { echo "skipped k=$k: $(left) s left"; continue; }
  t0=$(date +%s.%N)
  timeout "$seconds" python3 run.py -m $DATA trainer.epochs=2 trainer.precision=bf16 "seed=$(seq -s, 0 $((k-1)))" \
    hydra/launcher=fused ${EXTRA:-} trainer.progress_bar=false hydra.sweep.dir="$OUTDIR/fused$k" \
    > "$OUTDIR/fused$k.log" 2>&1
  code=$?
  t1=$(date +%s.%N)
  [ $code = 0 ] || { echo "k=$k: exit $code$([ $code = 124 ] && echo ' (its timeout)')"; tail -n 5 "$OUTDIR/fused$k.log"; }
  python3 - "$OUTDIR/fused$k" "$t0" "$t1" "$k" <<'PY'
import csv, pathlib, sys
root, t0, t1, k = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = [r for p in root.glob("*/metrics.csv") for r in csv.DictReader(open(p))]
images = sum(float(r["images_per_second"]) * float(r["epoch_seconds"]) for r in rows)
train_s = max((sum(float(r["epoch_seconds"]) for r in csv.DictReader(open(p))) for p in root.glob("*/metrics.csv")), default=0)
print(f"RESULT fused_{k}_epochs_done {len(rows)} of {2 * k}")
if train_s:
    print(f"RESULT fused_{k}_aggregate_train_images_per_second {images / train_s:.0f} (training time only)")
print(f"RESULT fused_{k}_wall_seconds {t1 - t0:.0f} (start-up included)")
PY
done

echo "== 2. VGG16 training throughput (img/s), a cell at a time"
[ "$(left)" -gt 20 ] && timeout "$(left)" python3 bench/gpu_throughput.py "${STEPS:-60}" ${EXTRA:-} 2>&1 \
  | grep -v Warning | tee "$OUTDIR/throughput.txt"
echo "total $(( $(date +%s) - START )) s"
