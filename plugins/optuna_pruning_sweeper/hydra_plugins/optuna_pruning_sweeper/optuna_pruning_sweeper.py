"""The Sweeper class Hydra discovers. It imports nothing heavy: Optuna is loaded when a sweep starts."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

import hydra_plugins.optuna_pruning_sweeper.config  # noqa: F401  registers the configs


class OptunaPruningSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: Any,
        storage: Any,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        custom_search_space: str | None,
        params: DictConfig | None,
        heartbeat_interval: int = 60,
        max_retry: int = 1,
        refill: bool = True,
        metric_names: list[str] | None = None,
    ) -> None:
        from optuna_pruning_sweeper.search import Search
        from optuna_pruning_sweeper.settings import Settings

        self.search = Search(
            Settings(
                sampler=sampler,
                pruner=pruner,
                direction=direction,
                storage=storage,
                study_name=study_name,
                n_trials=n_trials,
                n_jobs=n_jobs,
                max_failure_rate=max_failure_rate,
                custom_search_space=custom_search_space,
                params=params,
                heartbeat_interval=heartbeat_interval,
                max_retry=max_retry,
                refill=refill,
                metric_names=metric_names,
            )
        )

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.sweep(arguments)
