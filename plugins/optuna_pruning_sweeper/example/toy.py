"""A toy app for the optuna_pruning sweeper: 'training' that approaches a quality set by x and y, one
step per 'epoch', reported to its trial so that hopeless settings are pruned early.

    python example/toy.py -m                       # 20 trials, TPE + median pruner, 2 at a time
    python example/toy.py -m hydra/launcher=joblib # the same, jobs in worker processes
"""

import math
import time

import hydra
import optuna
from omegaconf import DictConfig

from optuna_pruning_sweeper import current_trial


@hydra.main(config_path="conf", config_name="config")
def train(cfg: DictConfig) -> float:
    trial = current_trial()  # None when run without the optuna_pruning sweeper
    quality = math.exp(-((cfg.x - 1) ** 2 + (cfg.y + 2) ** 2) / 10)
    value = 0.0
    for epoch in range(cfg.epochs):
        time.sleep(cfg.seconds_per_epoch)
        value = quality * (1 - 0.5 ** (epoch + 1))
        if trial is not None:
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")
    return value


if __name__ == "__main__":
    train()
