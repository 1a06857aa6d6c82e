"""What a search leaves when it ends: a log line of its trials' states and, as hydra-optuna-sweeper writes
it, optimization_results.yaml (the best trial, or the Pareto front of several objectives)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from optuna.trial import TrialState

from optuna_pruning_sweeper.study import mask_password

log = logging.getLogger(__name__)


def save_results(study: Any, n_directions: int, url: str, sweep_dir: Path) -> None:
    """Log how the study's trials ended; write optimization_results.yaml into sweep_dir when one completed."""
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    log.info(
        "Study %s in %s: %s; its jobs are in %s",
        study.study_name,
        mask_password(url),
        {s: states.count(s) for s in sorted(set(states))},
        sweep_dir,
    )
    if not any(t.state == TrialState.COMPLETE for t in trials):
        log.warning("no trial of study %s completed, so there is no best trial", study.study_name)
        return
    results: dict[str, Any]
    if n_directions > 1:
        results = {
            "name": "optuna",
            "solutions": [{"params": t.params, "values": t.values} for t in study.best_trials],
        }
    else:
        best = study.best_trial
        results = {
            "name": "optuna",
            "best_params": best.params,
            "best_value": best.value,
            "best_trial": best.number,
        }
        log.info("Best value %s with %s", best.value, best.params)
    sweep_dir.mkdir(parents=True, exist_ok=True)  # absent when the budget was already met
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
