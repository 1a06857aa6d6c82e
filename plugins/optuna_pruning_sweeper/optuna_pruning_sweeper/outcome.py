"""What a job's return means for its trial."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from optuna.trial import TrialState

from optuna_pruning_sweeper import Interrupted, compat


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None = None
    reason: str = ""  # why the trial failed
    crashed: bool = False  # the job raised: counts toward max_failure_rate
    retry: bool = False  # stopped from outside (Interrupted): run again, up to max_retry times


def outcome(ret: JobReturn, n_objectives: int) -> Outcome:
    """What a job's return means for its trial."""
    error = compat.job_error(ret)
    value = error if error is not None else ret.return_value
    if isinstance(value, optuna.TrialPruned):
        return Outcome(TrialState.PRUNED)
    if isinstance(value, Interrupted):
        return Outcome(TrialState.FAIL, reason=f"interrupted: {value}", retry=True)
    if error is not None:
        return Outcome(TrialState.FAIL, reason=f"{type(error).__name__}: {error}", crashed=True)
    items: list[Any] = list(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
    try:
        if any(isinstance(v, (str, bytes)) for v in items):
            raise TypeError
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        return Outcome(TrialState.FAIL, reason=f"the job returned {value!r}, not a number")
    if len(values) != n_objectives:
        return Outcome(TrialState.FAIL, reason=f"the job returned {len(values)} values for {n_objectives} objectives")
    if any(math.isnan(v) for v in values):
        return Outcome(TrialState.FAIL, reason="the job returned NaN")
    return Outcome(TrialState.COMPLETE, values)
