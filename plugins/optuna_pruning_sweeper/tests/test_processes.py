"""The sweeper with real processes, warnings as errors: the example app, two workers on one study with
jobs that outlive the heartbeat, a killed worker, refilled slots, max_failure_rate's one line, and
optuna-dashboard reading a study over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from optuna_pruning_sweeper import compat

from sweeper_testing import APPS, EXAMPLE, python

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("error")]


def app(tmp_path: Path, *overrides: str, sweep_dir: str = "sweep", **popen) -> list[str]:
    return [*python(), str(APPS / "app.py"), "-m", f"hydra.sweep.dir={tmp_path}/{sweep_dir}", *overrides]


def launched(root: Path) -> list[int]:
    """The trial id of every job below root, from its .hydra/hydra.yaml."""
    ids = []
    for path in root.rglob(".hydra/hydra.yaml"):
        env = yaml.safe_load(path.read_text())["hydra"]["job"]["env_set"]
        ids.append(int(env["OPTUNA_PRUNING_TRIAL_ID"]))
    return ids


def test_the_example_app_prunes_with_joblib(tmp_path) -> None:
    result = subprocess.run(
        [
            *python(),
            str(EXAMPLE / "toy.py"),
            "-m",
            f"hydra.sweep.dir={tmp_path}",
            "hydra.sweeper.n_trials=10",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path}/optuna.db")
    states = [t.state for t in study.trials]
    assert len(states) == 10 and TrialState.PRUNED in states and TrialState.COMPLETE in states
    assert study.metric_names == ["quality"]


def test_two_workers_with_jobs_longer_than_the_heartbeat_run_exactly_n_trials(tmp_path, url) -> None:
    """Jobs of a plain app (no reporting) take 2.5 x heartbeat_interval: the sweeper's own heartbeats
    keep them alive, so neither worker fails the other's running trial."""
    common = [
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.heartbeat_interval=1",
        "seconds=2.5",
        "hydra.sweeper.sampler.seed=null",
    ]
    workers = [
        subprocess.Popen(
            app(tmp_path, *common, sweep_dir=f"w{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name="app", storage=url).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert all(t.state == TrialState.COMPLETE or t.user_attrs.get("optuna_pruning") == "surplus" for t in trials)
    ids = launched(tmp_path)
    assert len(ids) == len(set(ids)) == 4  # nothing run twice


def test_a_killed_workers_trial_is_recovered(tmp_path, url) -> None:
    common = [f"hydra.sweeper.storage={url}", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.n_trials=2"]
    worker = subprocess.Popen(
        app(tmp_path, *common, "seconds=60", sweep_dir="killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "killed").rglob(".hydra/hydra.yaml")):
        time.sleep(0.2)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(3.5)  # past the grace period (2 s; SQLite keeps whole seconds): its trial is stale
    result = subprocess.run(
        app(tmp_path, *common, "seconds=0", sweep_dir="rescue"), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="app", storage=url).trials
    lost = [t for t in trials if t.state == TrialState.FAIL]
    assert len(lost) == 1 and sum(t.state == TrialState.COMPLETE for t in trials) == 2
    retry = [t for t in trials if compat.retried_from(t) == lost[0].number]
    assert len(retry) == 1 and retry[0].params == lost[0].params and retry[0].state == TrialState.COMPLETE


@pytest.mark.parametrize("refill", [True, False])
def test_a_finished_trials_slot_takes_the_next_trial_at_once(tmp_path, url, refill) -> None:
    """Trial 0 runs for 6 s, the others for 0.3 s, two at a time (joblib)."""
    result = subprocess.run(
        app(
            tmp_path,
            f"hydra.sweeper.storage={url}",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.refill={refill}",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "seconds=0.3",
            "first_seconds=6",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="app", storage=url).trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    started_beside_first = [t.number for t in trials[1:] if t.datetime_start < trials[0].datetime_complete]
    # refilled: trials 1, 2 and 3 run one after another beside trial 0; in batches, trial 2 waits for trial 0
    assert started_beside_first == ([1, 2, 3] if refill else [1])


@pytest.mark.parametrize("rate, stops", [(0.5, True), (1.0, False)])
def test_crashing_jobs_end_the_search_with_one_line_past_max_failure_rate(tmp_path, rate, stops) -> None:
    result = subprocess.run(
        app(
            tmp_path,
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.max_failure_rate={rate}",
            "error=true",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stderr.splitlines() if "cfg.error is True" in line]
    if stops:
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert lines == [
            "error: hydra.sweeper.max_failure_rate=0.5: 4 of n_trials=6 jobs raised an error (67%), so "
            "the search stopped; the first: RuntimeError: cfg.error is True"
        ]
    else:
        assert result.returncode == 0 and lines == [], result.stderr[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_reads_the_study_over_http(tmp_path, url) -> None:
    pytest.importorskip("optuna_dashboard")
    result = subprocess.run(
        app(tmp_path, f"hydra.sweeper.storage={url}", "hydra.sweeper.n_trials=3", "hydra.sweeper.metric_names=[loss]"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "optuna-dashboard"), url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        studies = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.load(r)["study_summaries"]
                break
            except OSError:
                time.sleep(0.2)
        assert [s["study_name"] for s in studies] == ["app"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", timeout=5) as r:
            detail = json.load(r)
    finally:
        server.terminate()
        server.wait(30)
    assert detail["objective_names"] == ["loss"]  # the dashboard names the value "loss", not "Objective 0"
    assert len(detail["trials"]) == 3
    for trial in detail["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert Path(attrs["run_dir"]).parent == tmp_path / "sweep"


def test_a_crash_at_any_study_write_resumes_to_the_same_trials(tmp_path) -> None:
    """The sweeper process (and its in-process jobs, which report each step) is ended at each of its study
    writes in turn (OPTUNA_PRUNING_CRASH_AT, the hook in every storage the plugin opens; a write is one
    transaction, so ending it just before write k+1 is ending it just after write k). Rerunning the same
    command, once the stranded trial's heartbeat is stale, completes the same grid with the same values:
    no trial is lost, run twice, or left RUNNING."""
    common = [
        "hydra/sweeper/sampler=grid",
        "x=choice(1,2)",
        "report=true",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.heartbeat_interval=1",
    ]

    def sweep(root: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "OPTUNA_PRUNING_CRASH_AT": crash_at} if crash_at else None
        url = f"hydra.sweeper.storage=sqlite:///{root}/study.db"
        return subprocess.run(app(root, *common, url), capture_output=True, text=True, timeout=120, env=env)

    def outcome(root: Path) -> list[tuple[str, float | None, str]]:
        study = optuna.load_study(study_name="app", storage=f"sqlite:///{root}/study.db")
        return sorted((str(t.params.get("x")), t.value, t.state.name) for t in study.trials if t.state.name != "FAIL")

    assert sweep(tmp_path / "straight").returncode == 0
    expected = outcome(tmp_path / "straight")
    assert expected == [("1", 0.0, "COMPLETE"), ("2", 1.0, "COMPLETE")]

    def crash_and_resume(write: int) -> bool:
        """False when the search makes fewer writes than `write`; else crash there, rerun, compare."""
        root = tmp_path / str(write)
        crashed = sweep(root, f"{write}:before")
        if crashed.returncode == 0:
            return False
        assert crashed.returncode == 137, crashed.stderr[-2000:]
        try:
            study = optuna.load_study(study_name="app", storage=f"sqlite:///{root}/study.db")
        except KeyError:  # ended before the study was created
            study = None
        if study is not None and any(t.state == TrialState.RUNNING for t in study.trials):
            time.sleep(3.5)  # older than 2 x heartbeat_interval (SQLite keeps whole seconds)
        resumed = sweep(root)
        assert resumed.returncode == 0, (write, resumed.stderr[-2000:])
        assert outcome(root) == expected, write
        return True

    crashes = 0
    with ThreadPoolExecutor(2) as pool:  # two crash points at a time, each in its own folder and study
        for first in range(1, 60, 2):
            crashed = list(pool.map(crash_and_resume, [first, first + 1]))
            crashes += sum(crashed)
            if not all(crashed):  # fewer writes than this: each boundary has been crashed at
                assert crashes >= 10 and crashed in ([True, False], [False, False]), (crashes, crashed)
                return
    raise AssertionError("a 2-trial search made more than 59 study writes")
