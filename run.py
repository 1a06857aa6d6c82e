"""Train one configuration of the study; the returned number is what a sweeper optimises.

    python run.py                                   the study's final recipe
    python run.py optimizer=rmsprop trainer.epochs=20
    python run.py -m experiment=optimizers seed=0,1,2
"""

import math
import os
import sys
from pathlib import Path

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from cifar_sweep import TRUSTED_TARGETS, records
from cifar_sweep.config import validate
from cifar_sweep.errors import UserError
from cifar_sweep.train import train
from cifar_sweep.trial import TrialLink


def parallel_jobs(hydra_cfg) -> int:
    """How many jobs the launcher runs at once on this machine (joblib's n_jobs; -1 = one per core)."""
    n = hydra_cfg.launcher.get("n_jobs", 1) if hydra_cfg.mode == RunMode.MULTIRUN else 1
    return max(1, (os.cpu_count() or 1) + 1 + n if n < 0 else n)


@hydra.main(config_path="conf", config_name="config", execution_whitelist=TRUSTED_TARGETS)
def main(cfg: DictConfig) -> float | optuna.TrialPruned:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    trial = None
    try:
        validate(cfg)
        trial = TrialLink.from_job(cfg, hydra_cfg)
        job_num = hydra_cfg.job.get("num") or 0
        summary = train(cfg, run_dir, job_num, parallel_jobs(hydra_cfg), trial and trial.report)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        summary = {"status": "failed", "error": str(e)}
        if records.read_summary(run_dir) is None:  # never overwrite an earlier run's result
            records.write_summary(run_dir, summary)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            sys.exit(2)
    finally:
        if trial is not None:
            trial.close()
    if summary["status"] == "pruned":  # an outcome, not an error: returned for the sweeper to record
        return optuna.TrialPruned(summary["error"])
    if summary["status"] != "completed":
        if hydra_cfg.mode != RunMode.MULTIRUN:
            sys.exit(1)
        return math.nan  # the Optuna sweeper records NaN as a failed trial and carries on
    return float(summary[cfg.objective])


if __name__ == "__main__":
    main()
