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
from omegaconf import DictConfig, OmegaConf

from cifar_sweep import exits, results, status, task
from cifar_sweep.resume import harmless

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


def sweep_overrides(overrides) -> list[str]:
    """A grid's command-line overrides that choose what it trains (resume.harmless keys left out), sorted."""
    kept = []
    for line in overrides:
        if not harmless(str(line).partition("=")[0].lstrip("+~")):
            kept.append(str(line))
    return sorted(kept)


def check_same_grid(config: DictConfig) -> None:
    """A grid's directory takes only that grid again: another's multirun.yaml and jobs are left alone."""
    directory = str(config.hydra.sweep.dir)
    path = Path(directory) / "multirun.yaml"
    if not is_grid(config) or not path.is_file():
        return
    try:
        then = sweep_overrides(OmegaConf.load(path).hydra.overrides.task)
    except Exception as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        refuse(
            f"hydra.sweep.dir={directory!r}: holds a multirun.yaml that no grid of ours wrote ({reason[:200]}); "
            "it is left as it is: choose another hydra.sweep.dir"
        )
    if then != sweep_overrides(config.hydra.overrides.task):
        refuse(
            f"hydra.sweep.dir={directory!r}: holds another grid ({' '.join(then) or 'no overrides'}); continue it "
            "with those overrides and trainer.resume=true, or choose another hydra.sweep.dir"
        )


def is_grid(config: DictConfig) -> bool:
    return str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper")


class Preflight(Callback):
    """Before Hydra writes anything: the output directory is writable, and a grid's holds no other grid."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_same_grid(config)
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)


def grid_size(config: DictConfig) -> int | None:
    """How many jobs Hydra's basic sweeper will launch: the product of the sweep values of the
    command line's overrides and hydra.sweeper.params (the command line wins a key). None for
    another sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not is_grid(config):
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
    """Each job of a grid logs 'job k of N done' and the best so far when it ends ('refused' for a job
    that refused its config or directory). The grid's size is known where the sweep starts; worker
    processes (joblib, Slurm) inherit it as CIFAR_SWEEP_JOBS. A grid whose jobs, run in this process
    (basic and fused launchers), were all refused ends with one line and exit 2."""

    ENV = "CIFAR_SWEEP_JOBS"

    def __init__(self) -> None:
        self.refused, self.ran = 0, 0  # jobs of this process

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        size = grid_size(config)
        if size is None:
            os.environ.pop(self.ENV, None)  # another sweeper (Optuna) reports its own progress
        else:
            os.environ[self.ENV] = str(size)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        jobs = os.environ.get(self.ENV)
        if not jobs or config.hydra.mode != RunMode.MULTIRUN:
            return
        job_num, outcome = config.hydra.job.get("num") or 0, task.OUTCOME.get()
        if outcome is None:  # interrupted, or a crash (shown in full): nothing to count
            return
        if outcome is task.JobOutcome.REFUSED:
            self.refused += 1
            log.info("job %d of %s refused (its error line says why); not counted as done", job_num, jobs)
            return
        self.ran += 1
        log.info(grid_progress(Path(config.hydra.runtime.output_dir), job_num, int(jobs), config.objective))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if os.environ.get(self.ENV) and self.refused and not self.ran:
            refuse(
                f"hydra.sweep.dir={config.hydra.sweep.dir!r}: all {self.refused} jobs of the grid were refused "
                "and none ran; each job's error line above says why"
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
        kind = "grid" if is_grid(config) else "search"
        self.start(kind, str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        directory = config.hydra.sweep.dir
        if not stopping():
            log.info("%s: results in %s (tables: python -m cifar_sweep.collect %s)", self.kind, directory, directory)

    def start(self, kind: str, directory: str) -> None:
        self.kind = kind
        exits.NOW = exits.Activity(kind, directory, exits.resume_command(kind, directory))
        log.info("%s: results go to %s", kind, directory)
