"""Benchmark 3: a sweep job's start-up, from process start to its first optimizer step.

Starts `python run.py` as a job would (a fresh process), with the data already in the OS page cache
(one warm-up run first), and reads the timestamp of the "first optimizer step done" log line.

    python bench/job_overhead.py [RUNS]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import ROOT, data_overrides, has_real_data, result, table

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[cifar_sweep.train\]\[INFO\] - first optimizer step done",
                   re.M)


def start_up(run_dir: Path) -> float:
    start = time.time()
    subprocess.run([sys.executable, str(ROOT / "run.py"), *data_overrides(), "model.width=0.125", "trainer.epochs=1",
                    "data.train_subset=640", "data.val_size=1000", "trainer.progress_bar=false",
                    f"hydra.run.dir={run_dir}"], cwd=ROOT, check=True, capture_output=True)
    stamp = STAMP.search((run_dir / "run.log").read_text()).group(1)
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        start_up(Path(tmp) / "warm")  # fills the page cache
        times = [start_up(Path(tmp) / str(i)) for i in range(runs)]
    print(f"data: {'real arrays (50,000 + 10,000 images)' if has_real_data() else 'synthetic'}; "
          f"process start -> first optimizer step, {runs} runs")
    table([(i, f"{t:.2f}") for i, t in enumerate(times)], ("run", "seconds"))
    result("job_startup_seconds", sorted(times)[len(times) // 2], "<=3")


if __name__ == "__main__":
    main()
