"""The sweeper's settings (the keys of hydra/sweeper=optuna_pruning), checked: one line for a mistake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna_pruning_sweeper.errors import fail


@dataclass
class Settings:
    sampler: Any
    pruner: Any
    direction: Any
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    max_failure_rate: float
    custom_search_space: str | None
    params: Any
    heartbeat_interval: int
    max_retry: int
    refill: bool
    metric_names: list[str] | None

    def check(self) -> None:
        rules = [
            ("n_trials", self.n_trials, self.n_trials >= 1, "an integer >= 1"),
            ("n_jobs", self.n_jobs, self.n_jobs >= 1, "an integer >= 1"),
            ("max_failure_rate", self.max_failure_rate, 0.0 <= self.max_failure_rate <= 1.0, "in [0, 1]"),
            ("heartbeat_interval", self.heartbeat_interval, self.heartbeat_interval >= 1, "an integer >= 1 (s)"),
            ("max_retry", self.max_retry, self.max_retry >= 0, "an integer >= 0"),
        ]
        seed = (self.sampler or {}).get("seed")
        if seed is not None:  # Optuna's samplers seed numpy's 32-bit RandomState
            ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= 2**32 - 1
            rules.append(("sampler.seed", seed, ok, "an integer in [0, 2**32 - 1] or null"))
        for key, value, ok, allowed in rules:
            if not ok:
                fail(f"hydra.sweeper.{key}={value}: must be {allowed}")


def directions(direction: Any) -> list[str]:
    """'minimize', Direction.maximize or a list of them -> ['minimize'] ... (as the optuna sweeper reads them)."""
    items = list(direction) if isinstance(direction, Sequence) and not isinstance(direction, str) else [direction]
    return [getattr(d, "name", d) for d in items]
