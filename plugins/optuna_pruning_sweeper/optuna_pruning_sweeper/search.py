"""The search loop of the optuna_pruning sweeper.

Search-space parsing, samplers (grid included), directions and optimization_results.yaml are those of
hydra-optuna-sweeper. The loop differs:

- each job gets its trial (hydra.job.env_set), so it can report after every epoch and stop when the
  pruner says so (optuna_pruning_sweeper.current_trial); such trials end PRUNED;
- n_trials is the study's total: a restarted sweep finishes what is left, and several workers on one
  storage together run exactly n_trials;
- the sweeper keeps the heartbeat of every trial whose job runs, for any app; a RUNNING trial whose
  heartbeat stopped (a killed worker) is failed and run again, up to max_retry times;
- with a launcher that runs jobs side by side, a finished or pruned trial's slot is refilled at once;
- a return value that is not a number, has the wrong arity, or is NaN fails that trial only; jobs that
  raise count toward max_failure_rate, over the whole search;
- the search space is composed once before the study is opened, so a key the config lacks is one line
  (exit 2) and the study stays as it was; a search interrupted (Ctrl-C, SIGTERM) or refused while jobs
  are under way leaves no trial RUNNING: interrupted trials are failed and queued to run again.

The parts it uses have modules of their own: settings, outcome, budget, heartbeats, results, study.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.utils import instantiate
from omegaconf import DictConfig
from optuna.trial import TrialState

from optuna_pruning_sweeper import compat
from optuna_pruning_sweeper.budget import ABANDONED, REFUSED, SURPLUS, budget_used
from optuna_pruning_sweeper.errors import fail, one_line, root_cause
from optuna_pruning_sweeper.heartbeats import Heartbeats
from optuna_pruning_sweeper.outcome import Outcome, outcome
from optuna_pruning_sweeper.results import save_results
from optuna_pruning_sweeper.settings import Settings, directions
from optuna_pruning_sweeper.study import (
    STUDY,
    TRIAL_ID,
    build_pruner,
    mask_password,
    open_storage,
    sqlite_file,
    storage_url,
)

log = logging.getLogger(__name__)

CONCURRENT_LAUNCHERS = ("hydra_plugins.hydra_joblib_launcher.", "hydra_plugins.hydra_submitit_launcher.")


def next_job_number(sweep_dir: Path) -> int:
    """The first job number free in sweep_dir: a search continued in its own directory numbers its new jobs
    after the ones there, so no job runs in another's folder."""
    taken = [int(p.name) for p in sweep_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(taken, default=-1) + 1


def first_value(distribution: Any) -> Any:
    """A value every distribution of the search space allows: its first choice or its lower bound."""
    choices = getattr(distribution, "choices", None)
    return choices[0] if choices is not None else distribution.low


def quoted(text: str) -> str:
    """A Hydra override value that stays one string whatever it holds."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def built(key: str, build: Callable[[], Any]) -> Any:
    """build(), or one line naming hydra.sweeper.<key> and why Optuna refused its arguments."""
    try:
        return build()
    except Exception as e:  # Hydra wraps the sampler's or pruner's own ValueError or TypeError
        fail(f"hydra.sweeper.{key}: {one_line(root_cause(e))}")


class Search:
    def __init__(self, settings: Settings) -> None:
        settings.check()
        self.settings = settings
        whitelist = ("optuna.samplers.*", "hydra_plugins.hydra_optuna_sweeper.*")
        self.sampler = built("sampler", lambda: instantiate(settings.sampler, _execution_whitelist_=whitelist))
        self.pruner = built("pruner", lambda: build_pruner(settings.pruner))
        self.directions: list[Any] = directions(settings.direction)  # "minimize" | "maximize"
        self.lock = threading.Lock()
        self.job_idx = 0

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config = config
        self.config_loader = hydra_context.config_loader
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    # ------------------------------------------------------------ the study

    def open_study(self, sampler: Any) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
        s = self.settings
        self.url = storage_url(s.storage, self.config.hydra.sweep.dir, self.config.hydra.runtime.cwd)
        if (path := sqlite_file(self.url)) is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                fail(
                    f"hydra.sweeper.storage={self.url!r}: cannot create {path.parent} ({e.strerror}); "
                    "choose a writable directory"
                )
        storage = open_storage(self.url)
        try:
            study = optuna.create_study(
                study_name=s.study_name,
                storage=storage,
                sampler=sampler,
                pruner=self.pruner,
                directions=self.directions,
                load_if_exists=True,
            )
        except optuna.exceptions.StorageInternalError as e:  # a read-only file or database user
            fail(
                f"hydra.sweeper.storage={mask_password(self.url)!r}: cannot write to it "
                f"({one_line(root_cause(e))}); a search records every trial in its study, so it needs write access"
            )
        # stale trials are found through a second view of the study whose storage knows the heartbeat
        # settings (Optuna warns when a storage with them is used outside Study.optimize)
        self.watch = optuna.load_study(
            study_name=study.study_name, storage=compat.heartbeat_storage(self.url, s.heartbeat_interval, s.max_retry)
        )
        if s.metric_names:
            if len(s.metric_names) != len(self.directions):
                fail(
                    f"hydra.sweeper.metric_names={list(s.metric_names)}: needs one name per direction "
                    f"({len(self.directions)})"
                )
            compat.set_metric_names(study, list(s.metric_names))
        return study, storage

    def sweep(self, arguments: list[str]) -> None:
        if changed := compat.broken():
            fail(
                "the installed hydra-optuna-sweeper or optuna changed private API this sweeper uses: "
                + "; ".join(changed)
                + " (tested with hydra-optuna-sweeper 1.4.0rc3)"
            )
        s = self.settings
        params = [f"{k!s}={v}" for k, v in (s.params or {}).items()]
        self.space = compat.search_space(params + list(arguments))
        self.configure = compat.TrialConfigurer(s.custom_search_space, self.config)
        self.n_trials, sampler = s.n_trials, self.sampler
        if compat.is_grid_sampler(sampler):
            grid = compat.grid_choices(self.space[0])
            sampler = sampler(grid)
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid.values()))
            log.info("GridSampler: n_trials is %d, the grid's size or less", self.n_trials)
        self.check_search_space()
        self.job_idx = next_job_number(Path(self.config.hydra.sweep.dir))
        self.study, self.storage = self.open_study(sampler)
        self.failures, self.first_failure, self.stopped = 0, "", False
        self.error: BaseException | None = None
        self.in_flight: dict[int, optuna.Trial] = {}  # trial id -> trial, for every trial asked and not told
        concurrent = any(c.__module__.startswith(CONCURRENT_LAUNCHERS) for c in type(self.launcher).__mro__)
        refill = s.refill and s.n_jobs > 1 and concurrent
        log.info(
            "Study %s in %s: %d of %d trials done or running; sampler %s, pruner %s, directions %s; "
            "%d trials at a time%s",
            self.study.study_name,
            mask_password(self.url),
            budget_used(self.study),
            self.n_trials,
            type(sampler).__name__,
            type(self.pruner).__name__,
            self.directions,
            s.n_jobs,
            " (each slot refilled at once)" if refill else "",
        )
        try:
            with Heartbeats(self.storage, s.heartbeat_interval) as self.beats:
                self.run_slots(s.n_jobs) if refill else self.run_batches(s.n_jobs)
            if self.error is not None:
                raise self.error
        except BaseException as e:  # Ctrl-C, SIGTERM, a refused launch: no trial stays RUNNING
            self.close_in_flight(e)
            raise
        save_results(self.study, len(self.directions), self.url, Path(self.config.hydra.sweep.dir))
        if self.stopped:
            fail(
                f"hydra.sweeper.max_failure_rate={s.max_failure_rate}: {self.failures} of n_trials={self.n_trials} "
                f"jobs raised an error ({self.failures / self.n_trials:.0%}), so the search stopped; the first: "
                f"{self.first_failure}"
            )

    def check_search_space(self) -> None:
        """Compose one point of the search space (each parameter's first choice or lower bound) before the
        study is opened: a key the config lacks, or a value it cannot take, is one line and changes nothing."""
        distributions, fixed, fixed_overrides = self.space
        point = {name: first_value(d) for name, d in distributions.items()} | dict(fixed)
        overrides = [f"{name}={value}" for name, value in point.items()] + list(fixed_overrides)
        try:
            self.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=overrides)
        except Exception as e:
            reason = " ".join(str(e).split())  # Hydra's message spans lines
            fail(f"hydra.sweeper.params: the search space cannot be composed with the config ({reason})")

    def close_in_flight(self, error: BaseException) -> None:
        """Fail every trial asked and not yet told. Interrupted ones (Ctrl-C, SIGTERM, or the app stopping the
        sweep with SystemExit, its own line said why) are queued to run again with the same parameters, up to
        max_retry times; ones whose launch was refused are not counted."""
        interrupted = not isinstance(error, Exception)
        kind = type(error).__name__
        reason = f"interrupted ({kind})" if interrupted else f"{kind}: {one_line(error)}"
        if isinstance(error, SystemExit):
            reason = f"the app stopped the sweep (exit {error.code})"
        for trial_id, trial in list(self.in_flight.items()):
            self.in_flight.pop(trial_id, None)
            self.beats.remove(trial_id)
            try:
                trial.set_user_attr("fail_reason", reason[:500])
                if not interrupted:
                    trial.set_user_attr("optuna_pruning", REFUSED)
                self.study.tell(trial, state=TrialState.FAIL)
                if interrupted:
                    frozen = self.study.get_trials(deepcopy=False)[trial.number]
                    compat.retry(self.study, frozen, self.settings.max_retry)
            except Exception as e:  # told meanwhile by its slot, or the storage is gone: the heartbeat will tell
                log.debug("trial %d not closed: %s", trial.number, e)
            # after an app's own last line (SystemExit), nothing more on the console
            log.log(
                logging.DEBUG if isinstance(error, SystemExit) else logging.INFO,
                "trial %d: FAIL (%s)%s",
                trial.number,
                reason,
                "; it will run again" if interrupted else "",
            )

    # ------------------------------------------------------------ ask, launch, tell

    def ask(self, count: int) -> list[tuple[optuna.Trial, tuple]]:
        """Up to `count` new trials and their overrides; none once the budget is used or the search stopped.
        Trials a racing worker pushed past the budget are closed unrun (FAIL, user attr optuna_pruning=surplus)."""
        if self.stopped:
            return []
        compat.fail_stale_trials(self.watch)
        self.fail_silent_trials()
        asked = []
        for _ in range(min(count, self.n_trials - budget_used(self.study))):
            trial = self.study.ask()
            if budget_used(self.study, below=trial.number) >= self.n_trials:
                trial.set_user_attr("optuna_pruning", SURPLUS)
                self.study.tell(trial, state=TrialState.FAIL)
                break
            trial_id = compat.trial_id(trial)
            self.beats.add(trial_id)
            self.in_flight[trial_id] = trial  # closed by tell() or, if the search ends first, close_in_flight()
            overrides = self.configure(trial, *self.space)
            asked.append(
                (
                    trial,
                    (
                        *overrides,
                        f"++hydra.job.env_set.{TRIAL_ID}={trial_id}",
                        f"++hydra.job.env_set.{STUDY}={quoted(self.study.study_name)}",
                    ),
                )
            )
        return asked

    def fail_silent_trials(self) -> None:
        """Fail trials whose worker stopped before their first heartbeat: queued to run again when they have
        their parameters, else (stopped while asking) not counted, so a new trial takes their place."""
        grace = 2 * self.settings.heartbeat_interval
        for number in compat.silent_trial_numbers(self.storage, self.study, grace):
            frozen = self.study.get_trials(deepcopy=False)[number]
            study_id = self.storage.get_study_id_from_name(self.study.study_name)
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
            try:  # the storage's own call, as Optuna fails a stale trial: the sampler never saw it end
                if not frozen.params:
                    self.storage.set_trial_user_attr(trial_id, "optuna_pruning", ABANDONED)
                if not self.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                    continue  # finished meanwhile by its worker
            except optuna.exceptions.UpdateFinishedTrialError as e:
                log.debug("trial %d not failed: %s", number, e)
                continue
            if frozen.params:
                compat.retry(self.study, self.study.get_trials(deepcopy=False)[number], self.settings.max_retry)
            log.info(
                "trial %d: FAIL (its worker stopped before its first heartbeat)%s",
                number,
                "; it will run again" if frozen.params else "",
            )

    def tell(self, trial: optuna.Trial, ret: JobReturn) -> None:
        result = outcome(ret, len(self.directions))
        self.beats.remove(compat.trial_id(trial))
        self.in_flight.pop(compat.trial_id(trial), None)
        try:
            if ret.hydra_cfg is not None:
                trial.set_user_attr("run_dir", str(ret.hydra_cfg.hydra.runtime.output_dir))
            if result.reason:
                trial.set_user_attr("fail_reason", result.reason[:500])
            self.study.tell(trial, values=result.values, state=result.state)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as e:
            log.warning(
                "trial %d was already finished by another worker (%s); its job's result is not recorded",
                trial.number,
                e,
            )
            return
        except RuntimeError as e:  # GridSampler stops the study after its last point; the trial is recorded
            if "Study.stop" not in str(e):
                raise
        if result.retry:
            compat.retry(self.study, self.study.get_trials(deepcopy=False)[trial.number], self.settings.max_retry)
        if result.crashed:
            self.failures += 1
            self.first_failure = self.first_failure or result.reason
            if self.failures > self.settings.max_failure_rate * self.n_trials:
                self.stopped = True
        self.log_progress(trial, result)

    def run_batches(self, n_jobs: int) -> None:
        """n_jobs trials per launch; each batch waits for its slowest job (any launcher)."""
        while asked := self.ask(n_jobs):
            returns = self.launcher.launch([o for _, o in asked], initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            for (trial, _), ret in zip(asked, returns):
                self.tell(trial, ret)

    def run_slots(self, n_jobs: int) -> None:
        """n_jobs slots, each launching one trial at a time: a slot whose trial ends takes the next at once."""
        slots = [
            threading.Thread(target=self.slot, name=f"optuna-pruning-slot-{i}", daemon=True) for i in range(n_jobs)
        ]
        for slot in slots:
            slot.start()
        for slot in slots:
            while slot.is_alive():
                slot.join(0.5)  # stays interruptible

    def slot(self) -> None:
        try:
            while True:
                with self.lock:
                    asked = self.ask(1)
                    if not asked:
                        return
                    ((trial, overrides),) = asked
                    job_idx, self.job_idx = self.job_idx, self.job_idx + 1
                try:
                    ret = self.launcher.launch([overrides], initial_job_idx=job_idx)[0]
                except Exception as e:  # the launcher itself failed this job (e.g. a cancelled cluster job)
                    ret = compat.failed_return(overrides, e)
                with self.lock:
                    self.tell(trial, ret)
        except BaseException as e:
            self.error, self.stopped = e, True

    # ------------------------------------------------------------ reporting

    def log_progress(self, trial: optuna.Trial, result: Outcome) -> None:
        """'trial 7 (4 of 16 done): COMPLETE 0.5192; best so far 0.5301 (trial 2)'."""
        try:
            best = self.study.best_trial if len(self.directions) == 1 else None
        except ValueError:  # no completed trial yet
            best = None
        complete = result.state == TrialState.COMPLETE and result.values is not None and len(result.values) == 1
        shown = f" {result.values[0]:.4g}" if complete and result.values is not None else ""
        why = f" ({result.reason})" if result.reason else ""
        log.info(
            "trial %d (%d of %d done): %s%s%s%s",
            trial.number,
            budget_used(self.study, finished=True),
            self.n_trials,
            result.state.name,
            shown,
            why,
            f"; best so far {best.value:.4g} (trial {best.number})" if best else "",
        )
