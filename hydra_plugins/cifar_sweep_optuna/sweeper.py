"""hydra-optuna-sweeper, with the loop that asks, launches and tells replaced by one that:

- hands each job its trial (`+optuna_trial_id=ID`), so the job can report val_acc after every epoch
  and stop when the pruner says so; such trials end PRUNED, not FAILED;
- treats n_trials as the study's total, so a restarted sweep finishes what is left and several
  workers on one storage together run exactly n_trials;
- fails RUNNING trials whose heartbeat stopped (a killed sweep) and retries them once;
- counts failures over the whole search (more than max_failure_rate * n_trials ends it);
- never logs a storage password.

Search-space parsing and trial configuration are the plugin's own (OptunaSweeperImpl).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import OmegaConf
from optuna.storages import RDBStorage, RetryFailedTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from cifar_sweep.storage import mask_password
from hydra_plugins.cifar_sweep_optuna.config import build_pruner  # importing it registers the configs

log = logging.getLogger(__name__)

SURPLUS = "surplus"  # user attr of a trial asked beyond the budget by a racing worker; never run


def counts_toward_budget(trial: optuna.trial.FrozenTrial, retried: set[int]) -> bool:
    """Trials finished or under way count; interrupted ones that were retried and surplus ones don't."""
    if trial.state != TrialState.FAIL:
        return True
    return trial.number not in retried and trial.user_attrs.get("cifar_sweep") != SURPLUS


def budget_used(study: optuna.Study, below: int | None = None) -> int:
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials if (n := RetryFailedTrialCallback.retried_trial_number(t)) is not None}
    return sum(counts_toward_budget(t, retried) for t in trials if below is None or t.number < below)


class PruningSweeperImpl(OptunaSweeperImpl):
    def __init__(self, sampler, pruner, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                 custom_search_space, params, heartbeat_interval: int, max_retry: int) -> None:
        super().__init__(sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                         custom_search_space, params)
        self.pruner = pruner
        self.heartbeat_interval = heartbeat_interval
        self.max_retry = max_retry

    def _storage(self) -> Any:
        if not isinstance(self.storage, str):
            return self.storage  # None: in memory, this process only
        return RDBStorage(self.storage, heartbeat_interval=self.heartbeat_interval,
                          heartbeat_stale_trial_callback=RetryFailedTrialCallback(max_retry=self.max_retry))

    def _search_space(self, arguments: list[str]):
        self._process_searchspace_config()
        distributions, fixed, fixed_overrides = create_params_from_overrides(
            self._parse_sweeper_params_config() + list(arguments))
        for name in fixed:
            distributions.pop(name, None)
        return distributions, fixed, fixed_overrides

    def _ask(self, study: optuna.Study, count: int) -> list[optuna.Trial]:
        """Ask for up to `count` trials; any that a racing worker pushed past the budget are
        closed unrun (FAIL, user attr cifar_sweep=surplus)."""
        trials = []
        for _ in range(count):
            trial = study.ask()
            if budget_used(study, below=trial.number) >= self.n_trials:
                trial.set_user_attr("cifar_sweep", SURPLUS)
                study.tell(trial, state=TrialState.FAIL)
                break
            if isinstance(self.storage, str):  # an RDB (wrapped in optuna's cache layer)
                study._storage.record_heartbeat(trial._trial_id)  # stale-detectable from the start
            trials.append(trial)
        return trials

    def _tell(self, study: optuna.Study, trial: optuna.Trial, ret) -> TrialState:
        try:
            value = ret.return_value  # re-raises the job's exception
        except Exception as e:  # a crash in the job: recorded, and counted toward max_failure_rate
            log.warning("trial %d failed: %s", trial.number, e)
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
        if isinstance(value, optuna.TrialPruned):  # run.py returns (not raises) it: an outcome
            study.tell(trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        if any(math.isnan(v) for v in values):  # the run recorded its own failure (summary.json)
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
        study.tell(trial, values=values)
        return TrialState.COMPLETE

    def sweep(self, arguments: list[str]) -> None:
        distributions, fixed, fixed_overrides = self._search_space(arguments)
        study = optuna.create_study(study_name=self.study_name, storage=self._storage(), sampler=self.sampler,
                                    pruner=self.pruner, directions=self._get_directions(), load_if_exists=True)
        link_jobs = isinstance(self.storage, str)
        log.info("Study %s in %s: %d of %d trials done or running; pruner %s", study.study_name,
                 mask_password(self.storage), budget_used(study), self.n_trials, type(self.pruner).__name__)
        if not link_jobs:
            log.warning("no storage URL: jobs cannot reach their trials, so nothing is pruned")
        failures = 0
        while True:
            fail_stale_trials(study)
            left = self.n_trials - budget_used(study)
            trials = self._ask(study, min(self.n_jobs, left)) if left > 0 else []
            if not trials:
                break
            overrides = self._configure_trials(trials, distributions, fixed, fixed_overrides)
            if link_jobs:
                overrides = [(*o, f"+optuna_trial_id={t._trial_id}") for o, t in zip(overrides, trials)]
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            states = [self._tell(study, t, r) for t, r in zip(trials, returns)]
            failures += states.count(TrialState.FAIL)
            self._log_progress(study, trials, states)
            if failures > self.max_failure_rate * self.n_trials:
                self._save_results(study)
                print(f"error: hydra.sweeper.max_failure_rate={self.max_failure_rate}: {failures} of n_trials="
                      f"{self.n_trials} trials failed ({failures / self.n_trials:.0%}), so the search stopped; each "
                      f"failed job's reason is in its summary.json (python -m cifar_sweep.collect "
                      f"{self.config.hydra.sweep.dir} lists them)", file=sys.stderr, flush=True)
                sys.exit(2)
        self._save_results(study)

    def _log_progress(self, study: optuna.Study, trials: list, states: list) -> None:
        """'trial 7 (4 of 16 done): COMPLETE 0.5192; best so far 0.5301 (trial 2)' per finished trial."""
        done = budget_used(study)
        try:
            best = study.best_trial if len(study.directions) == 1 else None
        except ValueError:  # no completed trial yet
            best = None
        frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
        for trial, state in zip(trials, states):
            value = frozen[trial.number].value
            shown = f" {value:.4g}" if value is not None and state == TrialState.COMPLETE else ""
            log.info("trial %d (%d of %d done): %s%s%s", trial.number, done, self.n_trials, state.name, shown,
                     f"; best so far {best.value:.4g} (trial {best.number})" if best else "")

    def _save_results(self, study: optuna.Study) -> None:
        states = [t.state.name for t in study.get_trials(deepcopy=False)]
        log.info("Study %s: %s", study.study_name, {s: states.count(s) for s in sorted(set(states))})
        if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            return
        if len(study.directions) > 1:
            results = {"name": "optuna", "solutions": [{"params": t.params, "values": t.values}
                                                       for t in study.best_trials]}
        else:
            best = study.best_trial
            results = {"name": "optuna", "best_params": best.params, "best_value": best.value,
                       "best_trial": best.number}
            log.info("Best value %s with %s", best.value, best.params)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # absent when the budget was already met
        OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")


class OptunaPruningSweeper(OptunaSweeper):
    def __init__(self, sampler, pruner, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                 custom_search_space, params, heartbeat_interval: int = 60, max_retry: int = 1) -> None:
        trusted = ("optuna.samplers.*", "hydra_plugins.hydra_optuna_sweeper.*")
        self.sweeper = PruningSweeperImpl(
            instantiate(sampler, _execution_whitelist_=trusted), build_pruner(pruner),
            direction, storage, study_name, n_trials, n_jobs, max_failure_rate, custom_search_space, params,
            heartbeat_interval, max_retry)
