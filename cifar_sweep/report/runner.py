"""--run: the six grids as `python -m cifar_sweep -m experiment=GRID seed=...` (or --run-py's entrypoint), one
after the other, each into its own folder below the sweeps folder. Rerunning the same command resumes it: an existing
grid folder runs with trainer.resume=true, which keeps its finished jobs. run-times.json records
the command, its start and end and the load average at its start (a resumed run keeps the first)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from cifar_sweep.errors import UserError
from cifar_sweep.report.claims import grid_commands, study_claims
from cifar_sweep.sweeps import RESUME, override_value

TIMES = "run-times.json"


class ReportError(UserError):
    """What the report cannot run or read (a grid that failed, no sweeps folder): one line, exit 2."""


def run_grids(sweeps: Path, scale: str, seeds: int, extra: list[str], run_py: Path | None, command: str) -> None:
    """Run every grid at `scale`; `command` is the report command, recorded in run-times.json."""
    times_file = sweeps / TIMES
    sweeps.mkdir(parents=True, exist_ok=True)
    first = json.loads(times_file.read_text()) if times_file.is_file() else {}
    started, load = first.get("started", time.time()), first.get("load_before", os.getloadavg()[0])
    for claim in study_claims():
        for sub, overrides in grid_commands(claim, scale):
            target = sweeps / claim.name / sub
            argv = [
                sys.executable,
                *([str(run_py)] if run_py is not None else ["-m", "cifar_sweep"]),
                "-m",
                f"seed={','.join(map(str, range(seeds)))}",
                *overrides,
                *extra,
                f"hydra.sweep.dir={override_value(str(target))}",
                *([RESUME] if (target / "report-run.log").is_file() else []),
            ]
            print(f"[{datetime.now():%H:%M:%S}] {' '.join(shlex.quote(a) for a in argv[1:])}", flush=True)
            target.mkdir(parents=True, exist_ok=True)
            with open(target / "report-run.log", "a") as log:
                if subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                    raise ReportError(f"the {claim.name} grid failed; see {target / 'report-run.log'}")
    times_file.write_text(
        json.dumps({"started": started, "finished": time.time(), "command": command, "load_before": load}) + "\n"
    )


def run_record(sweeps: Path) -> tuple[str | None, float | None, float | None]:
    """The --run command that made the sweeps, its wall time in minutes and the machine's 1-minute load
    average when it started, as it recorded them (no load in records older than that field)."""
    try:
        times = json.loads((sweeps / TIMES).read_text())
        return times.get("command"), (times["finished"] - times["started"]) / 60, times.get("load_before")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None, None
