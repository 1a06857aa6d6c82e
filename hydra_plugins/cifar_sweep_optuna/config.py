"""Config of the optuna_pruning sweeper and its pruner group (hydra/sweeper/pruner=...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from omegaconf import MISSING
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 1
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConf:
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0
    n_startup_trials: int = 5
    n_warmup_steps: int = 1
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = 1
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class ThresholdPrunerConf:
    """Stop a trial whose val_acc is below `lower` once n_warmup_steps epochs are done."""
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: float | None = 0.2
    upper: float | None = None
    n_warmup_steps: int = 2
    interval_steps: int = 1


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class OptunaPruningSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.cifar_sweep_optuna.sweeper.OptunaPruningSweeper"
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}])
    # optuna.pruners.*; each job reports val_acc after every epoch and stops when told
    pruner: Any = MISSING
    # n_trials is the study's total: trials finished or running in the storage count toward it, so a
    # restart finishes what is left and several workers share one budget.
    n_jobs: int = 1
    # the search stops when more than max_failure_rate * n_trials trials have failed (pruned ones don't count)
    max_failure_rate: float = 0.25
    # jobs record a heartbeat this often (s); a RUNNING trial silent for 2x this long was interrupted:
    # it is marked FAIL and, up to max_retry times, enqueued again with the same parameters
    heartbeat_interval: int = 60
    max_retry: int = 1


ConfigStore.instance().store(group="hydra/sweeper", name="optuna_pruning", node=OptunaPruningSweeperConf,
                             provider="cifar_sweep")
for name, node in {"median": MedianPrunerConf, "percentile": PercentilePrunerConf,
                   "successive_halving": SuccessiveHalvingPrunerConf, "hyperband": HyperbandPrunerConf,
                   "threshold": ThresholdPrunerConf, "none": NopPrunerConf}.items():
    ConfigStore.instance().store(group="hydra/sweeper/pruner", name=name, node=node, provider="cifar_sweep")


def build_pruner(pruner_cfg):
    """The configured optuna pruner (one of the group above), or none; the sweeper and each job
    build it alike."""
    import optuna  # not at plugin-scan time

    if not pruner_cfg:
        return optuna.pruners.NopPruner()
    return instantiate(pruner_cfg, _execution_whitelist_=("optuna.pruners.*",))
