#!/usr/bin/env bash
# Benchmark 5: the GPU measurement, one command, under 8 minutes on one H200. From the repo root, on a
# machine with the project installed:
#   CIFAR10_DIR=/path/to/cifar10 bash bench/gpu.sh      (results also go to $OUT, default /tmp/gpu-bench)
# Without train.npz/test.npz in CIFAR10_DIR it measures on a synthetic set of the same size (said below).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
export PYTHONUNBUFFERED=1 CIFAR_SWEEP_CACHE=${CIFAR_SWEEP_CACHE:-/tmp/cifar-sweep-cache}
OUTDIR=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUTDIR"
if [ -f "${CIFAR10_DIR:-data/cifar10}/train.npz" ]; then
  DATA="data.dir=${CIFAR10_DIR:-data/cifar10}"
else
  DATA="data=synthetic data.train_size=50000 data.test_size=10000 data.val_size=5000"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
echo "data: $DATA"
left() { echo $(( 470 - ($(date +%s) - START) )); }   # seconds left of the 8-minute budget, with a margin

echo "== 1. VGG16 training throughput (img/s)"
timeout 150 python3 bench/gpu_throughput.py 60 2>&1 | grep -v Warning | tee "$OUTDIR/throughput.txt"

echo "== 2. one epoch of the final recipe"
timeout 90 python3 run.py $DATA trainer.epochs=1 trainer.progress_bar=false hydra.run.dir="$OUTDIR/epoch" 2>&1 \
  | grep -E "epoch 1/1|test_acc|error"

echo "== 3. packed trials on one GPU (joblib n_jobs=k, 2 epochs each, bf16)"
for k in 1 2 4 8; do
  [ "$(left)" -gt 200 ] || { echo "skipped k=$k: time"; continue; }
  seeds=$(seq -s, 0 $((k-1)))
  t0=$(date +%s.%N)
  timeout 120 python3 run.py -m $DATA trainer.epochs=2 trainer.progress_bar=false "seed=$seeds" \
    hydra/launcher=joblib hydra.launcher.n_jobs=$k hydra.sweep.dir="$OUTDIR/packed$k" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 - "$OUTDIR/packed$k" "$t0" "$t1" "$k" <<'PY'
import csv, pathlib, sys
root, t0, t1, k = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
images = sum(float(r["images_per_second"]) * float(r["epoch_seconds"]) for p in root.glob("*/metrics.csv") for r in csv.DictReader(open(p)))
print(f"RESULT packed_{k}_aggregate_train_images_per_second {images / (t1 - t0):.0f} goal rises with k (wall {t1 - t0:.0f} s incl. start-up)")
PY
done

echo "== 4. the final recipe, 50 epochs (if time allows)"
if [ "$(left)" -gt 120 ]; then
  timeout "$(left)" python3 run.py $DATA trainer.progress_bar=false hydra.run.dir="$OUTDIR/final" 2>&1 | grep -E "epoch (10|20|30|40|50)/50|test_acc|error"
  python3 -c "import json; s=json.load(open('$OUTDIR/final/summary.json')); print(f\"RESULT final_recipe_test_acc {s.get('test_acc')} goal >=0.92\"); print(f\"RESULT final_recipe_wall_seconds {s.get('wall_seconds'):.0f} goal <=90\")" 2>/dev/null \
    || echo "final recipe did not finish in the time left"
else
  echo "skipped: $(left) s left"
fi
echo "total $(( $(date +%s) - START )) s"
