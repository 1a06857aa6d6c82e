"""Hydra callbacks (hydra.callbacks in cifar_sweep/conf/hydra/default.yaml)."""

from __future__ import annotations

import logging
import math
import os
import shlex
import sys
import tempfile
import threading
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cifar_sweep import exits, locks, results, status, sweeps, task
from cifar_sweep.errors import UserError, one_line, refuse

log = logging.getLogger(__name__)


def check_writable(key: str, directory: str) -> None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        refuse(f"{key}={directory!r}: cannot write there ({e.strerror}); choose a writable directory")


def check_same_grid(config: DictConfig) -> None:
    """A grid's directory takes only that grid again: another's multirun.yaml and jobs are left alone."""
    directory = str(config.hydra.sweep.dir)
    if not sweeps.is_grid(config.hydra) or not (Path(directory) / sweeps.MULTIRUN_YAML).is_file():
        return
    try:
        then = sweeps.grid_identity(sweeps.command_line(Path(directory)))
    except Exception as e:  # emptied, NUL bytes or cut short, or another tool's file
        refuse(
            f"hydra.sweep.dir={directory!r}: holds a multirun.yaml that cannot be read as a grid's "
            f"({one_line(e)[:200]}); it is left as it is: move it away to continue the grid there, or choose "
            "another hydra.sweep.dir"
        )
    if then != sweeps.grid_identity(sweeps.task_overrides(config.hydra)):
        refuse(
            f"hydra.sweep.dir={directory!r}: holds another grid ({' '.join(then) or 'no overrides'}); continue it "
            f"with those overrides and {sweeps.RESUME}, or choose another hydra.sweep.dir"
        )


def hold(key: str, directory: str) -> None:
    """This process's lock on the directory (cifar_sweep/locks.py), or one line and exit 2."""
    try:
        locks.hold(Path(directory), key)
    except UserError as e:
        refuse(str(e))


class Preflight(Callback):
    """Before Hydra writes anything: the output directory is writable and no other command is in it,
    and a grid's holds no other grid. The lock is this process's until it ends."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)
        hold("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)
        hold("hydra.sweep.dir", config.hydra.sweep.dir)
        check_same_grid(config)


def grid_progress(job_dir: Path, job_num: int, jobs: int, objective: str) -> str:
    """'job 3 of 12 done (completed, test_acc 0.5192); 4 of 12 done, best so far test_acc 0.5301 (job 1)',
    from the summary.json files of the grid's jobs (which may run in other processes)."""
    finished: dict[str, dict] = {}
    for path in job_dir.parent.glob("*/summary.json"):
        try:
            finished[path.parent.name] = dict(results.read_summary(path.parent) or {})
        except (OSError, ValueError):  # being written by another process, or not ours
            continue
    mine = finished.get(job_dir.name, {})
    values: dict[str, float] = {
        name: s[objective]
        for name, s in finished.items()
        if s.get("status") == status.COMPLETED and isinstance(s.get(objective), (int, float))
    }
    line = f"job {job_num} of {jobs} done ({mine.get('status')}"
    mine_value = mine.get(objective)
    line += f", {objective} {mine_value:.4f})" if mine_value is not None else ")"
    line += f"; {len(finished)} of {jobs} done"
    if values:
        best = max(values, key=lambda name: values[name])
        line += f", best so far {objective} {values[best]:.4f} (job {best})"
    return line


class GridProgress(Callback):
    """Each job of a grid logs 'job k of N done' and the best so far when it ends ('refused' for a job
    that refused its config or directory). The grid's size is known where the sweep starts; worker
    processes (joblib, Slurm) inherit it as CIFAR_SWEEP_JOBS. A grid whose jobs, run in this process
    (basic and fused launchers), were all refused ends with one line and exit 2."""

    ENV = "CIFAR_SWEEP_JOBS"

    def __init__(self) -> None:
        self.refused, self.ran = 0, 0  # jobs of this process

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        size = sweeps.grid_size(config.hydra)
        if size is None:
            os.environ.pop(self.ENV, None)  # another sweeper (Optuna) reports its own progress
        else:
            os.environ[self.ENV] = str(size)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        jobs = os.environ.get(self.ENV)
        if not jobs or not sweeps.is_multirun(config.hydra):
            return
        job_num, result = config.hydra.job.get("num") or 0, task.RESULT.get()
        if result is None:  # interrupted: nothing to count
            return
        if result.outcome is task.JobOutcome.REFUSED:
            self.refused += 1
            log.info("job %d of %s refused (its error line says why); not counted as done", job_num, jobs)
            return
        self.ran += 1
        log.info(grid_progress(Path(config.hydra.runtime.output_dir), job_num, int(jobs), config.objective))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if os.environ.get(self.ENV) and self.refused and not self.ran and not stopping():
            refuse(
                f"hydra.sweep.dir={config.hydra.sweep.dir!r}: all {self.refused} jobs of the grid were refused "
                "and none ran; each job's error line above says why"
            )


class Refusals(Callback):
    """A sweep whose jobs are refused one after another with the same error line, for `limit` different
    sets of values, stops there with one line and exit 2: a mistake outside the swept values (a module
    missing from PYTHONPATH, an unset variable, data not there) would refuse every job left, and use up a
    search's n_trials. A search that samples one bad value again is refused with the same line for the
    same values: that is the value's fault, each such trial fails and the search goes on. Counted where
    jobs run one after another in the sweep's process (the basic launcher, for a grid or a search); each
    job of joblib, Slurm or a fused group still says its own line."""

    def __init__(self, limit: int | None = 3) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            refuse(f"hydra.callbacks.refusals.limit={limit!r}: must be a whole number >= 1, or null for no limit")
        self.limit = limit or math.inf
        self.line: str | None = None  # the last job's refusal, None if it was not refused
        self.values: set[tuple[str, ...]] = set()  # the overrides of the jobs refused with it in a row

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        result = task.RESULT.get()
        if result is None or not sweeps.is_multirun(config.hydra):
            return
        line = result.summary.get("error") if result.outcome is task.JobOutcome.REFUSED else None
        if line is None or line != self.line:
            self.values = set()
        self.line = line
        if line is None:
            return
        self.values.add(tuple(config.hydra.overrides.task))
        if len(self.values) >= self.limit and threading.current_thread() is threading.main_thread():
            resume = f"; once it is fixed, continue with: {exits.NOW.resume}" if exits.NOW else ""
            refuse(
                f"hydra.callbacks.refusals.limit={self.limit}: the sweep in {config.hydra.sweep.dir} stopped, as "
                f"its last {len(self.values)} jobs were refused with the same error ({line}){resume}"
            )


def stopping() -> bool:
    """Whether an exception is on its way out (Hydra calls the end callbacks from a `finally`): a
    refusal or an interrupt has said what happened already."""
    return sys.exc_info()[1] is not None


class Whereabouts(Callback):
    """Where a run's or a sweep's results go, logged when it starts and when it ends (a search's
    storage: its sweeper logs it), and kept in `exits.NOW` for the line an interrupt ends with."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self.start("run", str(config.hydra.run.dir))

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if not stopping():
            log.info("run: results in %s", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        kind = "grid" if sweeps.is_grid(config.hydra) else "search"
        self.start(kind, str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        directory = config.hydra.sweep.dir
        if not stopping():
            tables = f"python -m cifar_sweep.collect {shlex.quote(str(directory))}"
            log.info("%s: results in %s (tables: %s)", self.kind, directory, tables)

    def start(self, kind: str, directory: str) -> None:
        self.kind = kind
        exits.NOW = exits.Activity(kind, directory, exits.resume_command(kind, directory))
        log.info("%s: results go to %s", kind, directory)
