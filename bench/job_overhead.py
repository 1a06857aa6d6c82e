"""Benchmark 3: a sweep job's start-up, until its first optimizer step, with the data cached.

fresh process:  `python run.py` as a Slurm or first joblib job starts: process start -> first step
installed:      the same with the `cifar-sweep` command, from a folder outside the checkout
in a multirun:  later jobs of `python run.py -m ...` (basic launcher, or a reused joblib worker):
                Hydra launches the job (its "#k :" line) -> first step

    python bench/job_overhead.py [RUNS]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import ROOT, data_overrides, has_real_data, result, table

LINE = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]"  # Hydra's log-line time stamp
JOB = [
    *data_overrides(),
    "model.width=0.125",
    "trainer.epochs=1",
    "data.train_subset=640",
    "data.val_size=1000",
    "trainer.progress_bar=false",
]


def stamp(match: re.Match) -> float:
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def first_step_at(run_dir: Path) -> float:
    """summary.json's first_step_at: unix time of the run's first optimizer step."""
    return json.loads((run_dir / "summary.json").read_text())["first_step_at"]


RUN_PY = [sys.executable, str(ROOT / "run.py")]
INSTALLED = [str(Path(sys.executable).parent / "cifar-sweep")]  # the virtualenv's console script


def start_up(run_dir: Path, command: list[str] = RUN_PY) -> float:
    """Process start -> first optimizer step of one run of `command`, started in run_dir's parent."""
    start = time.time()
    subprocess.run([*command, *JOB, f"hydra.run.dir={run_dir}"], cwd=run_dir.parent, check=True, capture_output=True)
    return first_step_at(run_dir) - start


def in_multirun(sweep_dir: Path, jobs: int) -> list[float]:
    """Per job of one multirun process: Hydra's launch line for it -> its first optimizer step."""
    seeds = ",".join(map(str, range(jobs)))
    out = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "-m", *JOB, f"seed={seeds}", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    launched = [stamp(re.search(LINE + rf"\[HYDRA\] \t#{i} : ", out.stdout, re.M)) for i in range(jobs)]
    return [first_step_at(sweep_dir / str(i)) - start for i, start in enumerate(launched)]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        start_up(Path(tmp) / "warm")  # fills the page cache
        start_up(Path(tmp) / "warm-installed", INSTALLED)
        fresh, installed = [], []
        for i in range(runs):  # interleaved: run.py, then the installed command
            fresh.append(start_up(Path(tmp) / str(i)))
            installed.append(start_up(Path(tmp) / f"installed-{i}", INSTALLED))
        later = in_multirun(Path(tmp) / "sweep", runs + 1)[1:]  # job 0 pays the process's imports
    print(
        f"data: {'real arrays (50,000 + 10,000 images), decoded cache' if has_real_data() else 'synthetic'}; "
        f"seconds to the first optimizer step"
    )
    table(
        [(i, f"{a:.2f}", f"{c:.2f}", f"{b:.2f}") for i, (a, c, b) in enumerate(zip(fresh, installed, later))],
        ("run", "fresh process", "installed command", "later job in a multirun"),
    )
    result("job_startup_fresh_process_seconds", sorted(fresh)[len(fresh) // 2], "<=3")
    result("job_startup_installed_command_seconds", sorted(installed)[len(installed) // 2])
    result("job_startup_in_multirun_seconds", sorted(later)[len(later) // 2], "<=3")


if __name__ == "__main__":
    main()
