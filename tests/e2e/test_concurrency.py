"""One live process per directory (cifar_sweep/locks.py), and refusals that block nothing: a second
command in a run's or a grid's directory while the first trains, started with it or later, resuming
or not, is refused in one line naming the holder's pid and changes nothing of the first; a run refused
once training starts leaves nothing that refuses the fixed command, and no tracker run open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, TINY, one_error_line, read_json, run_cli

EPOCHS = 60
SLOW = [*TINY, f"trainer.epochs={EPOCHS}"]  # 20 s or so: still running when the second command comes
# Started together, the two commands reach the lock within a second or so of each other
TOGETHER = [*TINY, "trainer.epochs=15"]


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_epoch(directory: Path) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and not (directory / "metrics.csv").is_file():
        time.sleep(0.05)
    assert (directory / "metrics.csv").is_file()


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_second_command_in_a_training_runs_directory_is_refused_and_changes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    first = start([*SLOW, "seed=1", f"hydra.run.dir={run_dir}"])
    wait_for_epoch(run_dir)
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    for second in (["seed=1", "trainer.resume=true"], ["seed=1"], ["seed=2"]):
        result = run_cli([*SLOW, *second, f"hydra.run.dir={run_dir}"])
        assert result.returncode == 2
        line = one_error_line(result)
        assert f"another command is running there (pid {first.pid})" in line and "hydra.run.dir=" in line
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == overrides  # refused before Hydra wrote
    assert first.poll() is None, "the first run ended before the second commands were tried"
    assert finish(first).returncode == 0
    rows = (run_dir / "metrics.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(e) for e in range(1, EPOCHS + 1)]  # each epoch once
    assert read_json(run_dir / "summary.json")["status"] == "completed"


@pytest.mark.parametrize("multirun", [False, True], ids=["runs", "grids"])
def test_two_commands_started_together_in_one_directory_one_trains_the_other_is_refused(tmp_path, multirun):
    directory = tmp_path / "shared"
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    commands = [
        (["-m", *TOGETHER, f"seed={seeds}"] if multirun else [*TOGETHER, f"seed={seeds}"]) + [f"{key}={directory}"]
        for seeds in (("0,1", "2,3") if multirun else ("1", "2"))
    ]
    processes = [start(c) for c in commands]
    results = [finish(p) for p in processes]
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [r.stderr[-2000:] for r in results]
    winner, loser = sorted(zip(results, processes), key=lambda pair: pair[0].returncode)
    assert f"another command is running there (pid {winner[1].pid})" in one_error_line(loser[0])
    won = winner[0].args[2:]
    seeds = [a for a in won if a.startswith("seed=")]
    if multirun:
        task = yaml.safe_load((directory / "multirun.yaml").read_text())["hydra"]["overrides"]["task"]
        assert seeds[0] in task
        assert sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name.isdigit()) == ["0", "1"]
    else:
        assert seeds[0] in yaml.safe_load((directory / ".hydra" / "overrides.yaml").read_text())
        assert read_json(directory / "summary.json")["status"] == "completed"


def test_a_run_refused_once_training_starts_stands_in_the_way_of_nothing(tmp_path):
    pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    common = [*TINY, "logger=mlflow", f"hydra.run.dir={run_dir}"]
    refused = run_cli([*common, "batch_size=5000"])  # found when the data is loaded
    assert refused.returncode == 2 and "batch_size=5000" in one_error_line(refused)
    assert not (run_dir / "checkpoints").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiments = client.search_experiments()
    assert not client.search_runs([e.experiment_id for e in experiments]) if experiments else True  # none opened

    fixed = run_cli(common)  # the same directory, the mistake fixed
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert read_json(run_dir / "summary.json")["status"] == "completed"
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_an_interrupted_run_leaves_no_tracker_run_open(tmp_path):
    pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    process = start([*SLOW, "logger=mlflow", f"hydra.run.dir={run_dir}"])
    wait_for_epoch(run_dir)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")

    def runs():
        return client.search_runs([e.experiment_id for e in client.search_experiments()])

    deadline = time.time() + 120
    while time.time() < deadline and [r.info.status for r in runs()] != ["RUNNING"]:
        time.sleep(0.2)  # the tracker's run opens with the first epoch's row
    process.send_signal(signal.SIGTERM)
    assert finish(process).returncode == 143
    ended = runs()
    assert [r.info.status for r in ended] == ["FAILED"] and ended[0].data.tags["status"] == "failed"
