"""A plain Hydra app for the sweeper's process tests: it sleeps, may report to its trial, and returns
(or raises) what its config says."""

import math
import time

import hydra
import optuna
from omegaconf import DictConfig

from optuna_pruning_sweeper import current_trial


@hydra.main(config_path="conf", config_name="app")
def app(cfg: DictConfig) -> float:
    trial = current_trial()
    seconds = cfg.seconds
    if cfg.first_seconds is not None and trial is not None and trial.number == 0:
        seconds = cfg.first_seconds
    time.sleep(seconds)
    if cfg.error:
        raise RuntimeError("cfg.error is True")
    value = (cfg.x - 1) ** 2
    if cfg.report and trial is not None:
        for step in range(3):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return math.nan if cfg.nan else value


if __name__ == "__main__":
    app()
