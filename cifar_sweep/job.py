"""One job of cifar-sweep, from its composed config to its return value: run.py's body, and what
hydra/launcher=fused runs for each job of a fused group (in threads of one process, so every Hydra
value comes from the job's own config, never from the HydraConfig singleton).

It owns a run's outcome: it is the one writer of summary.json, and it turns every mistake into one
`error:` line (exit 2 in a single run; a failed job, NaN to the sweeper, in a sweep).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import optuna
from hydra.types import RunMode
from omegaconf import DictConfig

from cifar_sweep import records, status, trackers
from cifar_sweep.callbacks import JOBS_ENV
from cifar_sweep.config import validate
from cifar_sweep.errors import UserError
from cifar_sweep.resume import RunDir
from cifar_sweep.train import train
from cifar_sweep.trial import TrialLink

log = logging.getLogger(__name__)


def parallel_jobs(hydra_cfg) -> int:
    """How many jobs the launcher runs at once on this machine (joblib's n_jobs; -1 = one per core)."""
    n = hydra_cfg.launcher.get("n_jobs", 1) if hydra_cfg.mode == RunMode.MULTIRUN else 1
    return max(1, (os.cpu_count() or 1) + 1 + n if n < 0 else n)


def outcome(cfg: DictConfig, hydra_cfg, run: RunDir, seat=None) -> dict:
    """Validate, check what the run directory allows, train: the run's summary. Afterwards, the
    run directory's `.hydra/` describes the training that made its files."""
    try:
        return attempt(cfg, hydra_cfg, run, seat)
    finally:
        run.restore_hydra()


def attempt(cfg: DictConfig, hydra_cfg, run: RunDir, seat=None) -> dict:
    validate(cfg)
    run.check(cfg)
    if cfg.trainer.resume and run.finished:
        log.info("already %s in %s; nothing to resume", run.summary["status"], run.path)
        return run.summary
    if run.trained is None:
        run.remember()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    tracker = trackers.start(cfg, run.path, Path(hydra_cfg.sweep.dir) if multirun else None)
    trial = TrialLink.from_job(hydra_cfg)

    def on_epoch(epoch: int, row: dict) -> None:
        tracker.epoch(row)
        if trial is not None:
            trial.report(epoch, row)  # may stop the run: Pruned

    job_num = hydra_cfg.job.get("num") or 0
    summary = train(cfg, run.path, job_num, parallel_jobs(hydra_cfg), on_epoch,
                    resume=cfg.trainer.resume and run.trained is not None,
                    label=f"job {job_num}: " if multirun else "", seat=seat)
    if trial is not None:
        trial.record(summary)
    tracker.finish(summary)
    return summary


def grid_progress(run_dir: Path, job_num: int, jobs: int, objective: str) -> str:
    """'job 3 of 12 done (completed, test_acc 0.5192); 4 of 12 done, best so far test_acc 0.5301 (job 1)',
    from the summary.json files of the grid's jobs (which may run in other processes)."""
    finished = {p.parent.name: records.read_summary(p.parent) for p in run_dir.parent.glob("*/summary.json")}
    mine = finished.get(run_dir.name) or {}
    values = {name: s[objective] for name, s in finished.items()
              if s and s.get("status") == status.COMPLETED and isinstance(s.get(objective), (int, float))}
    line = f"job {job_num} of {jobs} done ({mine.get('status')}"
    line += f", {objective} {mine[objective]:.4f})" if mine.get(objective) is not None else ")"
    line += f"; {len(finished)} of {jobs} done"
    if values:
        best = max(values, key=values.get)
        line += f", best so far {objective} {values[best]:.4f} (job {best})"
    return line


def run(cfg: DictConfig, hydra_cfg, seat=None) -> float | optuna.TrialPruned:
    """The job's return value for the sweeper: cfg.objective, NaN for a failed run in a sweep, or
    optuna.TrialPruned. A single run that fails exits 1 (2 for a mistake). seat: its place in a fused group."""
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    run_dir = RunDir(Path(hydra_cfg.runtime.output_dir), "hydra.sweep.dir" if multirun else "hydra.run.dir")
    mistake = False
    try:
        summary = outcome(cfg, hydra_cfg, run_dir, seat)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        summary, mistake = {"status": status.FAILED, "error": str(e)}, True
    except Exception as e:  # a bug, not a mistake: recorded for collect, then shown in full
        if not run_dir.finished:
            records.write_summary(run_dir.path, {"status": status.FAILED,
                                                 "error": f"{type(e).__name__}: {e}".splitlines()[0]})
        raise
    trained_now = summary is not run_dir.summary and not mistake
    if trained_now or (run_dir.trained is None and not run_dir.finished):  # never over an earlier run's files
        records.write_summary(run_dir.path, summary)
    if multirun and os.environ.get(JOBS_ENV):
        log.info(grid_progress(run_dir.path, hydra_cfg.job.get("num") or 0, int(os.environ[JOBS_ENV]), cfg.objective))
    if summary["status"] == status.PRUNED:  # an outcome, not an error: returned for the sweeper to record
        return optuna.TrialPruned(summary["error"])
    if summary["status"] != status.COMPLETED:
        if not multirun:
            sys.exit(2 if mistake else 1)
        return math.nan  # the Optuna sweeper records NaN as a failed trial and carries on
    return float(summary[cfg.objective])
