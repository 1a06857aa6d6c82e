"""n_trials as the study's total: which trials count toward it.

A trial's user attr `optuna_pruning` marks the ones that never ran and do not count."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from optuna_pruning_sweeper import compat

SURPLUS = "surplus"  # user attr optuna_pruning of a trial asked beyond the budget by a racing worker; never run
REFUSED = "refused"  # ... of a trial whose overrides Hydra refused to compose: never run, not counted
ABANDONED = "abandoned"  # ... of a trial whose worker stopped before setting its parameters: not counted


def counts_toward_budget(trial: optuna.trial.FrozenTrial, retried: set[int]) -> bool:
    """Trials finished or under way count; interrupted ones that were retried and surplus ones don't."""
    if trial.state != TrialState.FAIL:
        return trial.state != TrialState.WAITING
    return trial.number not in retried and trial.user_attrs.get("optuna_pruning") not in (SURPLUS, REFUSED, ABANDONED)


def budget_used(study: optuna.Study, below: int | None = None, finished: bool = False) -> int:
    """Trials that count toward n_trials (only finished ones if `finished`; only numbers < `below`)."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials if (n := compat.retried_from(t)) is not None}
    return sum(
        counts_toward_budget(t, retried)
        for t in trials
        if (below is None or t.number < below) and (not finished or t.state.is_finished())
    )
