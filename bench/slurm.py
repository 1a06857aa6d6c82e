"""What Slurm adds per job: the same grid (N jobs of 1 short epoch, two at a time) through joblib on this
machine and through the single-node Slurm test cluster (scripts/slurm-cluster.sh: started here, and
stopped again if it was not running before, its start timed).

    python bench/slurm.py [JOBS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from _common import ROOT, result, table

GRID = [
    "data=synthetic",
    "model.width=0.125",
    "trainer.epochs=1",
    "trainer.progress_bar=false",
    "data.train_size=1000",
    "data.val_size=200",
    "data.test_size=200",
]
LAUNCHERS = {
    "joblib, 2 at a time": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "slurm, 2 at a time": [
        "hydra/launcher=slurm",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.array_parallelism=2",
    ],
}


def cluster(command: str) -> str:
    """scripts/slurm-cluster.sh COMMAND's output: the single-node test cluster on this machine."""
    script = ROOT / "scripts" / "slurm-cluster.sh"
    return subprocess.run([str(script), command], check=True, capture_output=True, text=True).stdout


def grid(launcher: list[str], jobs: int, folder: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "-m",
            *GRID,
            f"seed=range(0,{jobs})",
            *launcher,
            f"hydra.sweep.dir={folder}",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    was_running = "stopped" not in cluster("status")
    start = time.perf_counter()
    for line in cluster("start").splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        os.environ[key] = value.replace("$PATH", os.environ["PATH"])
    came_up = time.perf_counter() - start
    walls = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, launcher in LAUNCHERS.items():
                walls[name] = grid(launcher, jobs, f"{tmp}/{len(walls)}")
    finally:
        if not was_running:  # leave the machine as it was
            cluster("stop")
    print(f"a grid of {jobs} jobs (vgg16 width 1/8, 1 epoch of 1,000 synthetic images), 2 at a time, 2 CPU cores")
    table(
        [(name, f"{wall:.1f}", f"{wall / jobs:.1f}") for name, wall in walls.items()],
        ("launcher", "wall s", "s per job"),
    )
    slurm, local = walls["slurm, 2 at a time"], walls["joblib, 2 at a time"]
    result("slurm_overhead_seconds_per_job", (slurm - local) / jobs * 2, "(each of 2 slots, vs joblib)")
    result("slurm_grid_wall_seconds", slurm)
    result("slurm_joblib_grid_wall_seconds", local)
    if not was_running:
        result("slurm_cluster_start_seconds", came_up)


if __name__ == "__main__":
    main()
