"""The Optuna trial a sweep job belongs to, when the optuna_pruning sweeper launched it.

After every epoch the job reports val_acc and raises `Pruned` (ours, so the training loop needs no
Optuna) when the pruner says so. When the run ends, its summary's numbers become the trial's user
attrs, which optuna-dashboard shows beside the objective. The sweeper keeps the trial's heartbeat.
"""

from __future__ import annotations

import optuna

from cifar_sweep.errors import Pruned
from cifar_sweep.results import HEADLINE, Summary, value
from optuna_pruning_sweeper import trial_of


class TrialLink:
    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    @classmethod
    def from_job(cls, hydra_cfg) -> TrialLink | None:
        """The link for the job of this Hydra config, or None outside an optuna_pruning sweep."""
        trial = trial_of(hydra_cfg)
        return cls(trial) if trial is not None else None

    def report(self, epoch: int, row: dict) -> None:
        self.trial.report(row["val_acc"], epoch)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {epoch} (val_acc {row['val_acc']:.4f})")

    def record(self, summary: Summary) -> None:
        """The run's status and headline numbers, as user attrs of its trial."""
        for key in ("status", *HEADLINE):
            if value(summary, key) is not None:
                self.trial.set_user_attr(key, value(summary, key))
