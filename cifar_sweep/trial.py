"""The Optuna trial a sweep job belongs to, when the optuna_pruning sweeper launched it.

The sweeper adds `+optuna_trial_id=ID` to each job; the job's own Hydra config holds the storage,
study name and pruner. After every epoch the job reports val_acc and raises `Pruned` (ours, so the
training loop needs no Optuna) when the pruner says so. A heartbeat thread lets a restarted sweep
tell a live trial from a dead one.
"""

from __future__ import annotations

import threading

import optuna

from cifar_sweep.errors import Pruned
from hydra_plugins.cifar_sweep_optuna.config import build_pruner


class TrialLink:
    def __init__(self, trial: optuna.Trial, storage, heartbeat_seconds: float | None) -> None:
        self.trial = trial
        self._stop = threading.Event()
        self._beat = None
        if heartbeat_seconds and hasattr(storage, "record_heartbeat"):
            def beat() -> None:
                while not self._stop.wait(heartbeat_seconds):
                    storage.record_heartbeat(trial._trial_id)
            storage.record_heartbeat(trial._trial_id)
            self._beat = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
            self._beat.start()

    @classmethod
    def from_job(cls, cfg, hydra_cfg) -> TrialLink | None:
        """The link for this job, or None outside an optuna_pruning sweep."""
        trial_id = cfg.get("optuna_trial_id")
        if trial_id is None:
            return None
        sweeper = hydra_cfg.sweeper
        storage = optuna.storages.RDBStorage(sweeper.storage)
        study = optuna.load_study(study_name=sweeper.study_name, storage=storage,
                                  pruner=build_pruner(sweeper.get("pruner")))
        # Trial(study, id) re-attaches to a trial asked by another process (the sweeper)
        return cls(optuna.trial.Trial(study, int(trial_id)), storage, sweeper.get("heartbeat_interval"))

    def report(self, epoch: int, row: dict) -> None:
        self.trial.report(row["val_acc"], epoch)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {epoch} (val_acc {row['val_acc']:.4f})")

    def close(self) -> None:
        self._stop.set()
