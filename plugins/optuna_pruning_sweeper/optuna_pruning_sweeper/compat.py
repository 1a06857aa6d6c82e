"""Every private or experimental API this plugin touches, in one place.

hydra-optuna-sweeper 1.4 is a pre-release whose private names moved between 1.3 and 1.4; `CONTRACT`
names what this module was written against, `broken()` says what no longer matches (checked when a
sweep starts and by tests/test_compat.py). Optuna's heartbeat API is experimental: it is called here
with its ExperimentalWarning silenced, so a sweep emits no warnings. No deprecated Optuna API is used.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.exceptions import ExperimentalWarning

from hydra_plugins.hydra_optuna_sweeper import _impl
from optuna_pruning_sweeper.study import rdb_storage

# callable -> the parameter names this module passes (positionally, in this order)
CONTRACT: dict[str, tuple[Any, list[str]]] = {
    "hydra_optuna_sweeper._impl.create_params_from_overrides": (_impl.create_params_from_overrides, ["arguments"]),
    "hydra_optuna_sweeper._impl.OptunaSweeperImpl": (
        _impl.OptunaSweeperImpl,
        [
            "sampler",
            "direction",
            "storage",
            "study_name",
            "n_trials",
            "n_jobs",
            "max_failure_rate",
            "custom_search_space",
            "params",
        ],
    ),
    "hydra_optuna_sweeper._impl.OptunaSweeperImpl._configure_trials": (
        _impl.OptunaSweeperImpl._configure_trials,
        ["self", "trials", "search_space_distributions", "fixed_params", "fixed_overrides"],
    ),
    "hydra_optuna_sweeper._impl.OptunaSweeperImpl._to_grid_sampler_choices": (
        _impl.OptunaSweeperImpl._to_grid_sampler_choices,
        ["distribution"],
    ),
    "optuna.trial.Trial": (optuna.trial.Trial, ["study", "trial_id"]),
}


def broken() -> list[str]:
    """The contract entries whose signature changed: empty when this module matches the installed versions."""
    changed = []
    for name, (func, expected) in CONTRACT.items():
        try:
            actual = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            actual = None
        if actual != expected:
            changed.append(f"{name}{tuple(actual) if actual is not None else ''} (expected {tuple(expected)})")
    for attr in ("_return_value",):  # a failed job's exception, read and set without JobReturn's banner
        if attr not in vars(JobReturn()):
            changed.append(f"hydra.core.utils.JobReturn.{attr} (missing)")
    for name in RDB_WRITES:
        if not callable(getattr(optuna.storages.RDBStorage, name, None)):
            changed.append(f"optuna.storages.RDBStorage.{name} (missing)")
    from optuna.storages._rdb import models  # silent_trial_numbers reads the heartbeat table

    for model, attr in [(models.TrialModel, a) for a in ("_datetime_start_utc", "number", "study_id", "state")] + [
        (models.TrialHeartbeatModel, "trial")  # its backref is TrialModel.heartbeats
    ]:
        if not hasattr(model, attr):
            changed.append(f"optuna.storages._rdb.models.{model.__name__}.{attr} (missing)")
    return changed


# ---------------------------------------------------------------- hydra-optuna-sweeper


def search_space(arguments: list[str]) -> tuple[dict, dict, list[str]]:
    """(distributions, fixed params, fixed overrides such as ~key) of `key=sweep(...)` arguments."""
    distributions, fixed, fixed_overrides = _impl.create_params_from_overrides(arguments)
    for name in fixed:
        distributions.pop(name, None)
    return distributions, fixed, fixed_overrides


def grid_choices(distributions: dict) -> dict[str, list]:
    return {name: _impl.OptunaSweeperImpl._to_grid_sampler_choices(d) for name, d in distributions.items()}


def is_grid_sampler(sampler: Any) -> bool:
    """hydra/sweeper/sampler=grid instantiates a partial, completed with the search space at sweep time."""
    return isinstance(sampler, functools.partial) and sampler.func is optuna.samplers.GridSampler


class TrialConfigurer:
    """Suggests a trial's parameters and returns its job overrides, as the `optuna` sweeper does
    (custom_search_space included)."""

    def __init__(self, custom_search_space: str | None, config: Any) -> None:
        self._impl = _impl.OptunaSweeperImpl(None, "minimize", None, None, 1, 1, 0.0, custom_search_space, None)
        self._impl.config = config

    def __call__(self, trial: optuna.Trial, distributions: dict, fixed: dict, fixed_overrides: list[str]) -> tuple:
        return tuple(self._impl._configure_trials([trial], distributions, fixed, fixed_overrides)[0])


# ---------------------------------------------------------------- Hydra


def job_error(ret: JobReturn) -> BaseException | None:
    """The exception a job raised, or None. (JobReturn.return_value prints a banner before re-raising.)"""
    return ret._return_value if ret.status == JobStatus.FAILED else None


def failed_return(overrides: Sequence[str], error: BaseException) -> JobReturn:
    """The JobReturn of a job that the launcher itself failed with `error`, as run_job makes one."""
    return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error)


# ---------------------------------------------------------------- Optuna


@contextlib.contextmanager
def experimental() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


def trial_id(trial: optuna.Trial) -> int:
    return trial._trial_id


def attach(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The live trial `trial_id` of `study`, asked by another process (the sweeper)."""
    return optuna.trial.Trial(study, trial_id)


def heartbeat_storage(url: str, heartbeat_interval: int, max_retry: int) -> optuna.storages.RDBStorage:
    """An RDB storage that fails RUNNING trials silent for 2 x heartbeat_interval and re-queues them."""
    with experimental():
        return rdb_storage(
            url,
            heartbeat_interval=heartbeat_interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
        )


def fail_stale_trials(study: optuna.Study) -> None:
    with experimental():
        optuna.storages.fail_stale_trials(study)


def silent_trial_numbers(storage: optuna.storages.RDBStorage, study: optuna.Study, grace_seconds: float) -> list[int]:
    """RUNNING trials that never recorded a heartbeat and started over grace_seconds ago: their worker
    stopped between asking them and its first heartbeat. Optuna's stale check skips such trials (it reads
    only heartbeats), so they would stay RUNNING for good; this reads its heartbeat table."""
    from datetime import datetime, timedelta

    from optuna.storages._rdb import models
    from sqlalchemy import func, orm

    study_id = storage.get_study_id_from_name(study.study_name)
    with orm.Session(storage.engine) as session:
        now = cast(datetime, session.execute(func.now()).scalar()).replace(tzinfo=None)  # UTC, as Optuna stores
        running = (
            session.query(models.TrialModel)
            .options(orm.selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == optuna.trial.TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study_id)
            .all()
        )
        return [
            int(t.number)
            for t in running
            if not t.heartbeats
            and t._datetime_start_utc is not None
            and now - t._datetime_start_utc > timedelta(seconds=grace_seconds)
        ]


def retry(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retry: int) -> None:
    """Queue `trial` (failed) to run again with its parameters, as a heartbeat-stale trial is."""
    with experimental():
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, trial)


def retried_from(trial: optuna.trial.FrozenTrial) -> int | None:
    """The number of the interrupted trial this one re-runs, or None."""
    with experimental():
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


# RDBStorage's methods that commit a change (study.CRASH_AT counts them); Optuna's study cache calls the
# private two, which the public create_new_trial and set_trial_param delegate to
RDB_WRITES = (
    "create_new_study",
    "set_study_system_attr",
    "set_study_user_attr",
    "_create_new_trial",
    "_set_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
)


def rdb_storage_with_writes(wrap: Callable[[Callable], Callable]) -> type:
    """A subclass of RDBStorage whose RDB_WRITES each go through wrap(method)."""
    base = optuna.storages.RDBStorage
    return type("WrappedRDBStorage", (base,), {name: wrap(getattr(base, name)) for name in RDB_WRITES})


def set_metric_names(study: optuna.Study, names: list[str]) -> None:
    with experimental():
        study.set_metric_names(list(names))
