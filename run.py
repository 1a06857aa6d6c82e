"""Train one configuration of the study; the returned number is what a sweeper optimises.

    python run.py                                   the study's final recipe
    python run.py optimizer=rmsprop trainer.epochs=20
    python run.py -m experiment=optimizers seed=0,1,2

What a job does, from its config to its return value, is cifar_sweep/task.py.
"""

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from cifar_sweep import TRUSTED_TARGETS, exits, task


@hydra.main(config_path="conf", config_name="config", execution_whitelist=TRUSTED_TARGETS)
def main(cfg: DictConfig) -> float | optuna.TrialPruned:
    return task.execute(cfg, HydraConfig.get())


if __name__ == "__main__":
    with exits.command_exits():  # Hydra's refusals exit 2 like ours; Ctrl-C and SIGTERM end in one line
        main()
