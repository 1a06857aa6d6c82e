"""Config of the optuna_pruning sweeper and its pruner group (hydra/sweeper/pruner=NAME).

Every key of hydra-optuna-sweeper's `optuna` sweeper keeps its meaning and its default; these are added."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
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
    """Stop a trial whose reported value is below `lower` (or above `upper`) after n_warmup_steps."""

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
    _target_: str = "hydra_plugins.optuna_pruning_sweeper.optuna_pruning_sweeper.OptunaPruningSweeper"
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}])
    # optuna.pruners.*: a job reports with optuna_pruning_sweeper.current_trial() and stops when told
    pruner: Any = MISSING
    # storage: null (upstream: in memory) is an SQLite file optuna.db in hydra.sweep.dir, because jobs in
    # other processes must reach their trial; a relative sqlite:/// path is relative to the directory
    # the sweep was started in. n_trials is the study's total (finished or running trials count).
    # A RUNNING trial whose heartbeat (kept by the sweeper while its job runs) is older than
    # 2 x heartbeat_interval seconds was interrupted: it is failed and, up to max_retry times, run again.
    heartbeat_interval: int = 60
    max_retry: int = 1
    # true: with a launcher that runs jobs side by side (joblib, submitit), a finished or pruned trial's
    # slot takes the next trial at once; false: n_jobs trials per batch, each batch waits for its slowest
    refill: bool = True
    # names of the objective's values, shown by optuna-dashboard instead of "Objective 0"
    metric_names: list[str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_pruning", node=OptunaPruningSweeperConf, provider="optuna_pruning_sweeper"
)
for _name, _node in {
    "median": MedianPrunerConf,
    "percentile": PercentilePrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
    "threshold": ThresholdPrunerConf,
    "none": NopPrunerConf,
}.items():
    ConfigStore.instance().store(
        group="hydra/sweeper/pruner", name=_name, node=_node, provider="optuna_pruning_sweeper"
    )
