"""Hydra callbacks (hydra.callbacks in conf/config.yaml)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from cifar_sweep import results, status

log = logging.getLogger(__name__)


def refuse(message: str) -> None:
    """One line on stderr and exit 2: a user mistake, not a crash (Hydra lets SystemExit through)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def check_writable(key: str, directory: str) -> None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        refuse(f"{key}={directory!r}: cannot write there ({e.strerror}); choose a writable directory")


class Preflight(Callback):
    """Before Hydra writes anything: the output directory is writable."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)


def grid_size(config: DictConfig) -> int | None:
    """How many jobs Hydra's basic sweeper will launch: the product of the sweep values of the
    command line's overrides and hydra.sweeper.params (the command line wins a key). None for
    another sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = dict(config.hydra.sweeper.get("params") or {})
    for line in config.hydra.overrides.task:
        key, _, value = line.partition("=")
        params[key] = value
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    size = 1
    for override in parsed:
        if override.is_sweep_override():
            size *= len(list(override.sweep_string_iterator()))
    return size


def grid_progress(job_dir: Path, job_num: int, jobs: int, objective: str) -> str:
    """'job 3 of 12 done (completed, test_acc 0.5192); 4 of 12 done, best so far test_acc 0.5301 (job 1)',
    from the summary.json files of the grid's jobs (which may run in other processes)."""
    finished: dict[str, results.Summary] = {}
    for path in job_dir.parent.glob("*/summary.json"):
        try:
            finished[path.parent.name] = results.read_summary(path.parent) or {}
        except (OSError, ValueError):  # being written by another process, or not ours
            continue
    mine = finished.get(job_dir.name) or {}
    values = {
        name: results.value(s, objective)
        for name, s in finished.items()
        if s.get("status") == status.COMPLETED and isinstance(results.value(s, objective), (int, float))
    }
    line = f"job {job_num} of {jobs} done ({mine.get('status')}"
    mine_value = results.value(mine, objective)
    line += f", {objective} {mine_value:.4f})" if mine_value is not None else ")"
    line += f"; {len(finished)} of {jobs} done"
    if values:
        best = max(values, key=lambda name: values[name])
        line += f", best so far {objective} {values[best]:.4f} (job {best})"
    return line


class GridProgress(Callback):
    """Each job of a grid logs 'job k of N done' and the best so far when it ends. The grid's size is
    known where the sweep starts; worker processes (joblib, Slurm) inherit it as CIFAR_SWEEP_JOBS."""

    ENV = "CIFAR_SWEEP_JOBS"

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        size = grid_size(config)
        if size is None:
            os.environ.pop(self.ENV, None)  # another sweeper (Optuna) reports its own progress
        else:
            os.environ[self.ENV] = str(size)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        jobs = os.environ.get(self.ENV)
        if jobs and config.hydra.mode == RunMode.MULTIRUN:
            log.info(
                grid_progress(
                    Path(config.hydra.runtime.output_dir), config.hydra.job.get("num") or 0, int(jobs), config.objective
                )
            )
