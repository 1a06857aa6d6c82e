"""The optuna_pruning sweeper in-process (Hydra's basic launcher) with toy objectives: discovery,
budget, rejected return values, crashes and max_failure_rate, pruning, grid, retry, dashboard attrs."""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from optuna.trial import TrialState

from hydra_plugins.optuna_pruning_sweeper.optuna_pruning_sweeper import OptunaPruningSweeper
from optuna_pruning_sweeper import Interrupted, compat, current_trial
from optuna_pruning_sweeper import study as study_module

pytestmark = pytest.mark.filterwarnings("error")  # as hydra-optuna-sweeper tests itself
COMPLETE, PRUNED, FAIL = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL


def sweep(
    runner,
    tmp_path: Path,
    task,
    *overrides: str,
    url: str | None = None,
    space: tuple[str, ...] = ("+x=interval(-3, 3)",),
) -> optuna.Study:
    url = url or f"sqlite:///{tmp_path}/study.db"
    with runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        overrides=[
            "hydra/sweeper=optuna_pruning",
            "hydra/launcher=basic",
            "hydra/sweeper/pruner=none",
            f"hydra.sweeper.storage={url}",
            "hydra.sweeper.study_name=toy",
            "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.sampler.seed=0",
            *space,
            *overrides,
        ],
        temp_dir=tmp_path / "sweep",
    ):
        pass
    return optuna.load_study(study_name="toy", storage=url)


def square(cfg) -> float:
    return (cfg.x - 1) ** 2


def test_discovery() -> None:
    assert OptunaPruningSweeper in Plugins.instance().discover(Sweeper)


def test_n_trials_is_the_studys_total(hydra_sweep_runner, tmp_path) -> None:
    for n_trials, expected in ((3, 3), (3, 3), (5, 5)):  # the same total again adds nothing
        study = sweep(hydra_sweep_runner, tmp_path, square, f"hydra.sweeper.n_trials={n_trials}")
        assert [t.state for t in study.trials] == [COMPLETE] * expected


@pytest.mark.parametrize(
    "direction, rejected, reason",
    [
        ("minimize", math.nan, "returned NaN"),
        ("minimize", None, "returned None, not a number"),
        ("minimize", "1.0", "returned '1.0', not a number"),
        ("minimize", [1.0, 2.0], "returned 2 values for 1 objectives"),
        ("[minimize,minimize]", [1.0], "returned 1 values for 2 objectives"),
    ],
)
def test_a_rejected_return_value_fails_that_trial_only(
    hydra_sweep_runner, tmp_path, direction, rejected, reason
) -> None:
    calls = []

    def task(cfg) -> Any:
        calls.append(cfg)
        if len(calls) == 1:
            return rejected
        return 1.0 if direction == "minimize" else [1.0, 1.0]

    # max_failure_rate stays upstream's 0.0: a rejected value is not a crash
    study = sweep(
        hydra_sweep_runner, tmp_path, task, f"hydra.sweeper.direction={direction}", "hydra.sweeper.n_trials=3"
    )
    assert [t.state for t in study.trials] == [FAIL, COMPLETE, COMPLETE]
    assert reason in study.trials[0].user_attrs["fail_reason"]


def test_a_crash_past_max_failure_rate_stops_the_search_with_one_line(hydra_sweep_runner, tmp_path, capsys) -> None:
    def crash(cfg) -> float:
        raise RuntimeError("boom")

    with pytest.raises(SystemExit) as stop:
        sweep(hydra_sweep_runner, tmp_path, crash, "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.25")
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: hydra.sweeper.max_failure_rate=0.25: 2 of n_trials=4 jobs raised an error (50%), so the "
        "search stopped; the first: RuntimeError: boom"
    ]
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path}/study.db")
    assert [t.state for t in study.trials] == [FAIL, FAIL]  # counted over the search, not per batch


def test_crashes_within_max_failure_rate_are_failed_trials(hydra_sweep_runner, tmp_path) -> None:
    calls = []

    def sometimes(cfg) -> float:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return 0.5

    study = sweep(
        hydra_sweep_runner, tmp_path, sometimes, "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.25"
    )
    assert [t.state for t in study.trials] == [COMPLETE, FAIL, COMPLETE, COMPLETE]
    assert study.trials[1].user_attrs["fail_reason"] == "RuntimeError: boom"


def test_a_job_reports_to_its_trial_and_is_pruned(hydra_sweep_runner, tmp_path) -> None:
    def train(cfg) -> Any:
        trial = current_trial()
        assert trial is not None and trial.params["+x"] == cfg.x
        for epoch in range(4):
            trial.report(cfg.x, epoch)
            if trial.should_prune():
                if cfg.x < -5:
                    return optuna.TrialPruned()  # returned or raised: PRUNED either way
                raise optuna.TrialPruned()
        return cfg.x

    study = sweep(
        hydra_sweep_runner,
        tmp_path,
        train,
        "hydra.sweeper.direction=maximize",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=0",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        "hydra.sweeper.n_trials=8",
        space=("+x=choice(-10, -1, 1, 2)",),
    )
    for trial in study.trials:
        negative = trial.params["+x"] < 0
        assert trial.state == (PRUNED if negative else COMPLETE)
        assert trial.last_step == (1 if negative else 3)


@pytest.mark.parametrize("pruner", ["none", "median"])
def test_grid_sampler_runs_each_point_once(hydra_sweep_runner, tmp_path, pruner) -> None:
    study = sweep(
        hydra_sweep_runner,
        tmp_path,
        lambda cfg: cfg.x * cfg.y,
        "hydra/sweeper/sampler=grid",
        f"hydra/sweeper/pruner={pruner}",
        "hydra.sweeper.n_trials=20",
        space=("+x=choice(1, 2, 3)", "+y=range(0, 2)"),
    )
    points = sorted((t.params["+x"], t.params["+y"]) for t in study.trials)
    assert points == [(x, y) for x in (1, 2, 3) for y in (0, 1)]
    assert all(t.state == COMPLETE for t in study.trials)


def test_an_interrupted_trial_is_failed_and_run_again(hydra_sweep_runner, tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="toy", storage=url)
    lost = study.ask({"+x": optuna.distributions.FloatDistribution(-3, 3)})  # a worker was killed running it
    optuna.storages.RDBStorage(url).record_heartbeat(compat.trial_id(lost))
    time.sleep(3.5)  # older than 2 x heartbeat_interval (SQLite keeps whole seconds)
    study = sweep(
        hydra_sweep_runner, tmp_path, square, "hydra.sweeper.n_trials=3", "hydra.sweeper.heartbeat_interval=1"
    )
    states = [t.state for t in study.trials]
    assert states.count(FAIL) == 1 and states.count(COMPLETE) == 3  # 3 counted: the retry replaces the lost one
    retry = [t for t in study.trials if compat.retried_from(t) == lost.number]
    assert len(retry) == 1 and retry[0].params == study.trials[lost.number].params


def test_trials_carry_the_metric_name_and_their_run_directory(hydra_sweep_runner, tmp_path) -> None:
    study = sweep(hydra_sweep_runner, tmp_path, square, "hydra.sweeper.n_trials=2", "hydra.sweeper.metric_names=[loss]")
    assert study.metric_names == ["loss"]
    assert [Path(t.user_attrs["run_dir"]).name for t in study.trials] == ["0", "1"]


def test_a_null_storage_is_a_file_in_the_sweep_directory(hydra_sweep_runner, tmp_path) -> None:
    seen = []

    def task(cfg) -> float:
        seen.append(current_trial().number)
        return 1.0

    with hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        overrides=[
            "hydra/sweeper=optuna_pruning",
            "hydra/launcher=basic",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.study_name=toy",
            "+x=interval(0, 1)",
        ],
        temp_dir=tmp_path / "sweep",
    ):
        study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path}/sweep/optuna.db")
        assert len(study.trials) == 3
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("max_failure_rate", "1.5", "must be in [0, 1]"),
        ("n_jobs", "0", "must be an integer >= 1"),
        ("heartbeat_interval", "0", "must be an integer >= 1 (s)"),
        ("metric_names", "[a,b]", "needs one name per direction (1)"),
        ("sampler.seed", "4294967296", "must be an integer in [0, 2**32 - 1] or null"),
    ],
)
def test_a_bad_setting_is_one_line(hydra_sweep_runner, tmp_path, capsys, key, value, allowed) -> None:
    with pytest.raises(SystemExit) as stop:
        sweep(hydra_sweep_runner, tmp_path, square, f"hydra.sweeper.{key}={value}")
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: hydra.sweeper.{key}=") and err[0].endswith(allowed), err


@pytest.mark.parametrize(
    "overrides, line",
    [
        (
            ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_warmup_steps=-1"],
            "error: hydra.sweeper.pruner: Number of warmup steps cannot be negative, but got n_warmup_steps=-1.",
        ),
        (
            ["+hydra.sweeper.sampler.bogus=1"],
            "error: hydra.sweeper.sampler: TPESampler.__init__() got an unexpected keyword argument 'bogus'",
        ),
    ],
)
def test_arguments_optuna_refuses_are_one_line(hydra_sweep_runner, tmp_path, capsys, overrides, line) -> None:
    with pytest.raises(SystemExit) as stop:
        sweep(hydra_sweep_runner, tmp_path, square, *overrides)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [line]
    assert not (tmp_path / "study.db").exists()  # refused before the study is made


@pytest.fixture
def read_only(tmp_path: Path):
    """tmp_path/ro: a read-only view of tmp_path/rw (a bind mount, as root)."""
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro").mkdir()
    mount = ["mount", "--bind", "-o", "ro", str(tmp_path / "rw"), str(tmp_path / "ro")]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount read-only here (needs root); the read-only storage is not exercised")
    try:
        yield tmp_path
    finally:
        subprocess.run(["umount", "--lazy", str(tmp_path / "ro")], capture_output=True)  # the study may be open


@pytest.mark.parametrize("study_name", ["toy", "another"])
def test_a_read_only_storage_is_one_line(hydra_sweep_runner, read_only, capsys, study_name) -> None:
    """A study's database that can be read, not written (a read-only file system or database user)."""
    sweep(hydra_sweep_runner, read_only, square, "hydra.sweeper.n_trials=1", url=f"sqlite:///{read_only}/rw/s.db")
    capsys.readouterr()
    url = f"sqlite:///{read_only}/ro/s.db"
    with pytest.raises(SystemExit) as stop:
        sweep(
            hydra_sweep_runner,
            read_only,
            square,
            "hydra.sweeper.n_trials=2",
            f"hydra.sweeper.study_name={study_name}",
            url=url,
        )
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: hydra.sweeper.storage='{url}': cannot write to it (attempt to write a readonly database); "
        "a search records every trial in its study, so it needs write access"
    ]


def test_an_interrupted_job_is_failed_and_its_trial_run_again_once(hydra_sweep_runner, tmp_path) -> None:
    """A job stopped from outside (a cancelled cluster job) returns Interrupted: retried, not a crash."""
    calls = []

    def task(cfg) -> Any:
        calls.append(cfg.x)
        return Interrupted("Slurm job 12_0 CANCELLED") if len(calls) == 1 else 1.0

    study = sweep(hydra_sweep_runner, tmp_path, task, "hydra.sweeper.n_trials=2")  # max_failure_rate 0.0
    assert [t.state for t in study.trials] == [FAIL, COMPLETE, COMPLETE]
    assert study.trials[0].user_attrs["fail_reason"] == "interrupted: Slurm job 12_0 CANCELLED"
    assert compat.retried_from(study.trials[1]) == 0 and calls[1] == calls[0]  # the same parameters


def test_a_search_space_hydra_cannot_compose_is_one_line_and_leaves_the_study_as_it_was(
    hydra_sweep_runner, tmp_path, capsys
) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    sweep(hydra_sweep_runner, tmp_path, square, "hydra.sweeper.n_trials=1", url=url)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # `nokey` is not in the config (it would need `+nokey`)
        sweep(hydra_sweep_runner, tmp_path, square, "hydra.sweeper.n_trials=2", url=url, space=("nokey=range(1, 3)",))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: hydra.sweeper.params: the search space cannot be composed")
    assert "nokey" in err[0]
    study = optuna.load_study(study_name="toy", storage=url)
    assert [t.state for t in study.trials] == [COMPLETE]  # no trial asked, none left RUNNING


def test_ctrl_c_leaves_no_trial_running_and_the_next_sweep_runs_the_interrupted_one(hydra_sweep_runner, tmp_path):
    calls = []

    def task(cfg) -> float:
        calls.append(cfg.x)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return square(cfg)

    with pytest.raises(KeyboardInterrupt):
        sweep(hydra_sweep_runner, tmp_path, task, "hydra.sweeper.n_trials=3")
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path}/study.db")
    assert [t.state for t in study.trials] == [COMPLETE, FAIL, TrialState.WAITING]
    assert study.trials[1].user_attrs["fail_reason"] == "interrupted (KeyboardInterrupt)"
    study = sweep(hydra_sweep_runner, tmp_path, task, "hydra.sweeper.n_trials=3")
    assert [t.state for t in study.trials] == [COMPLETE, FAIL, COMPLETE, COMPLETE]
    assert study.trials[2].params == study.trials[1].params and calls[2] == calls[1]  # run again, same point


@pytest.mark.parametrize(
    "lost_race",
    [
        'IntegrityError: duplicate key value violates unique constraint "pg_type_typname_nsp_index"',
        'ProgrammingError: relation "studies" already exists',
        'ProgrammingError: type "studydirection" already exists',
        "OperationalError: database is locked",
    ],
)
def test_a_worker_that_loses_the_race_to_create_the_tables_opens_them_next(monkeypatch, lost_race) -> None:
    """The errors PostgreSQL and SQLite raised when six workers opened one new database at once
    (tests/e2e/test_optuna.py races real ones): each is retried, and the second attempt opens the study."""
    from sqlalchemy import exc

    kind, message = lost_race.split(": ", 1)
    attempts: list[str] = []

    def racing(url: str) -> str:
        attempts.append(url)
        if len(attempts) == 1:
            raise getattr(exc, kind)("CREATE ...", {}, Exception(message))
        return "storage"

    monkeypatch.setattr(study_module, "rdb_storage", racing)
    monkeypatch.setattr(study_module.time, "sleep", lambda seconds: None)
    assert study_module.open_storage("postgresql://u:p@h/db") == "storage"
    assert len(attempts) == 2


def test_a_storage_that_cannot_be_reached_is_not_retried(monkeypatch, capsys) -> None:
    from sqlalchemy import exc

    attempts: list[str] = []

    def refused(url: str) -> str:
        attempts.append(url)
        raise exc.OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(study_module, "rdb_storage", refused)
    with pytest.raises(SystemExit):
        study_module.open_storage("postgresql://u:secret@h/db")
    assert len(attempts) == 1
    assert "secret" not in capsys.readouterr().err
