"""One job of cifar-sweep, from its composed config to its return value: the body of run.py's
task function, also for jobs that hydra/launcher=fused runs side by side in one process (so every
Hydra value comes from the `hydra_cfg` it is given, never from the HydraConfig singleton).

It owns a job's outcome (`JobOutcome`): it is the one writer of summary.json, and it turns every
mistake into one `error:` line (exit 2 in a single run; a failed job, NaN to the sweeper, in a sweep).
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import optuna
from omegaconf import DictConfig
from tqdm import tqdm

from cifar_sweep import fusion, locks, results, status, sweeps, trackers
from cifar_sweep.config import validate
from cifar_sweep.errors import UserError, one_line, say
from cifar_sweep.naming import job_name
from cifar_sweep.optuna_link import TrialLink
from cifar_sweep.placement import Placement, placed
from cifar_sweep.results import Summary
from cifar_sweep.resume import PreviousRun
from cifar_sweep.runner import EpochRunner
from cifar_sweep.train import train

log = logging.getLogger(__name__)

# tqdm's default lock is a multiprocessing RLock: a named semaphore in every process that makes a bar,
# which a killed joblib worker leaves to the resource tracker ("leaked semaphore objects", printed after
# the line that says what stopped). A job's bars are drawn by its own process, so a thread lock does.
tqdm.set_lock(threading.RLock())


class JobOutcome(enum.Enum):
    TRAINED = "trained"  # training ran: completed, failed (diverged, out of memory) or pruned
    SKIPPED = "skipped"  # trainer.resume=true on a run that had finished: nothing to do
    REFUSED = "refused"  # a mistake in the config, the data or the directory: one line
    CRASHED = "crashed"  # a bug: recorded in summary.json, then raised in full


@dataclass
class JobResult:
    outcome: JobOutcome
    summary: Summary
    crash: Exception | None = None

    def writes_summary(self, previous: PreviousRun) -> bool:
        """Whether summary.json gets this result: never over the files of an earlier run that this
        job did not continue."""
        if self.outcome is JobOutcome.TRAINED:
            return True
        if self.outcome is JobOutcome.CRASHED:
            return not previous.finished and previous.foreign is None
        return self.outcome is JobOutcome.REFUSED and previous.empty


# the result of the job this thread ran last, for Hydra's job callbacks (callbacks.GridProgress, Refusals)
RESULT: contextvars.ContextVar[JobResult | None] = contextvars.ContextVar("cifar_sweep_result", default=None)


def execute(cfg: DictConfig, hydra_cfg) -> float | optuna.TrialPruned:
    """The job's return value for the sweeper: cfg.objective, NaN for a failed run in a sweep, or
    optuna.TrialPruned. A single run that fails exits 1 (2 for a mistake)."""
    runner = fusion.take_seat()  # first: a fused job's Hydra config is read by now; None: the run trains alone
    RESULT.set(None)  # until this job has one (an interrupted job never does)
    multirun = sweeps.is_multirun(hydra_cfg)
    path, key = Path(hydra_cfg.runtime.output_dir), "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        with locks.holding(path, key):  # read and written by this process alone from here
            previous = PreviousRun(path, key)
            result = settle(cfg, hydra_cfg, previous, runner)
            if result.writes_summary(previous):
                results.write_summary(previous.path, result.summary)
    except locks.Busy as e:  # another process trains there: its files are left alone
        say(str(e))
        PreviousRun(path, key).restore_hydra()  # Hydra has just rewritten .hydra/ there
        result = JobResult(JobOutcome.REFUSED, results.failed(str(e)))
    RESULT.set(result)
    if result.crash is not None:
        raise result.crash
    summary = result.summary
    if summary["status"] == status.PRUNED:  # an outcome, not an error: returned for the sweeper to record
        return optuna.TrialPruned(summary["error"])
    if summary["status"] != status.COMPLETED:
        if not multirun:
            if result.outcome is JobOutcome.TRAINED:
                log.info("run %s: its files are in %s", summary["status"], previous.path)
            sys.exit(2 if result.outcome is JobOutcome.REFUSED else 1)
        return math.nan  # the Optuna sweeper records NaN as a failed trial and carries on
    return float(results.value(summary, cfg.objective))


def settle(cfg: DictConfig, hydra_cfg, previous: PreviousRun, runner: EpochRunner | None) -> JobResult:
    """Validate, check what the run directory allows, train. Afterwards, the run directory's
    `.hydra/` describes the training that made its files."""
    try:
        return JobResult(*attempt(cfg, hydra_cfg, previous, runner))
    except UserError as e:
        say(str(e))
        previous.forget()  # a refusal stands in the way of nothing
        return JobResult(JobOutcome.REFUSED, results.failed(str(e)))
    except Exception as e:  # a bug, not a mistake: recorded for collect, then shown in full
        return JobResult(JobOutcome.CRASHED, results.failed(one_line(e)), e)
    finally:
        previous.restore_hydra()


def attempt(
    cfg: DictConfig, hydra_cfg, previous: PreviousRun, runner: EpochRunner | None
) -> tuple[JobOutcome, Summary]:
    validate(cfg)
    previous.check(cfg)
    if cfg.trainer.resume and previous.summary is not None and previous.finished:
        log.info("already %s in %s; nothing to resume", previous.summary["status"], previous.path)
        return JobOutcome.SKIPPED, previous.summary
    with placed(cfg, hydra_cfg, fused=isinstance(runner, fusion.FusedRunner)) as placement:
        return JobOutcome.TRAINED, trained(cfg, hydra_cfg, previous, runner, placement)


def trained(
    cfg: DictConfig, hydra_cfg, previous: PreviousRun, runner: EpochRunner | None, placement: Placement
) -> Summary:
    """The run trained on `placement`, its tracker and its trial told of each epoch and of its end."""
    if previous.trained is None:
        previous.remember()
    multirun = sweeps.is_multirun(hydra_cfg)
    trial = TrialLink.from_job(hydra_cfg)
    name = job_name(hydra_cfg, *((trial.trial.number, trial.trial.params) if trial is not None else ()))
    tracker = trackers.start(cfg, previous.path, Path(hydra_cfg.sweep.dir) if multirun else None, name)

    def on_epoch(epoch: int, row: dict) -> None:
        tracker.epoch(row)
        if trial is not None:
            trial.report(epoch, row)  # may stop the run: Pruned

    try:
        summary = train(
            cfg,
            previous.path,
            placement,
            on_epoch,
            resume=cfg.trainer.resume and previous.trained is not None,
            runner=runner,
        )
        if trial is not None:
            trial.record(summary)
        tracker.finish(summary)
    except BaseException as e:  # a refusal, a crash, an interrupt: the tracker's run does not stay open
        tracker.abandon(one_line(e))
        raise
    return summary
