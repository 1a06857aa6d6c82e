"""What a job of an optuna_pruning sweep uses to report to its trial:

from optuna_pruning_sweeper import current_trial

trial = current_trial()          # None outside an optuna_pruning sweep
for epoch in range(epochs):
    ...
    if trial is not None:
        trial.report(val_acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()   # or return it: the trial ends PRUNED either way
"""

from __future__ import annotations

import optuna
from hydra.core.hydra_config import HydraConfig

from optuna_pruning_sweeper import compat
from optuna_pruning_sweeper.study import build_pruner, rdb_storage, trial_reference


def current_trial() -> optuna.Trial | None:
    """The Optuna trial this Hydra job runs, with the sweep's pruner; None outside an optuna_pruning sweep.
    The sweeper keeps the trial's heartbeat while the job runs, so the job needs no thread of its own."""
    return trial_of(HydraConfig.get()) if HydraConfig.initialized() else None


def trial_of(hydra_cfg) -> optuna.Trial | None:
    """The trial of the job whose Hydra config (the `hydra` node) this is: for a launcher that runs several
    jobs in one process, where the HydraConfig singleton holds only one of them."""
    reference = trial_reference(hydra_cfg)
    if reference is None:
        return None
    url, study_name, trial_id = reference
    study = optuna.load_study(
        study_name=study_name,
        storage=rdb_storage(url),
        pruner=build_pruner(hydra_cfg.sweeper.get("pruner")),
    )
    return compat.attach(study, trial_id)
