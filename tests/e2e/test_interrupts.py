"""Ctrl-C (SIGINT) and SIGTERM on a run, a grid and a search, sent as a user's terminal or a scheduler
would, once the first epoch is logged: one line naming what stopped and the command that continues
it, exit 130 / 143, no traceback, no trial left RUNNING; and that command finishes the work."""

from __future__ import annotations

import shlex
import signal

import optuna
import pytest

from cifar_sweep.sweeps import override_value

from helpers import ROOT, TINY, in_a_shell, interrupt, read_json

SLOW = [*TINY, "trainer.epochs=30"]  # long enough to be interrupted in its first job


@pytest.mark.parametrize(
    "kind,sig,launcher",
    [
        ("run", signal.SIGINT, "basic"),
        ("grid", signal.SIGTERM, "basic"),
        ("grid", signal.SIGINT, "fused"),  # the interrupt reaches the group's thread, not one job
        ("grid", signal.SIGTERM, "joblib"),  # its killed workers leave no semaphore to warn of after the line
        ("search", signal.SIGINT, "basic"),
    ],
    ids=["run-ctrl-c", "grid-sigterm", "fused-grid-ctrl-c", "joblib-grid-sigterm", "search-ctrl-c"],
)
def test_an_interrupt_is_one_line_and_its_command_finishes_the_work(tmp_path, kind, sig, launcher):
    directory = tmp_path / f"{kind} runs é, x=1 'q'"  # the shell's and Hydra's quoting both needed
    where = override_value(str(directory))
    storage = f"sqlite:///{tmp_path}/study.db"
    args = {
        "run": [*SLOW, f"hydra.run.dir={where}"],
        "grid": ["-m", *SLOW, "seed=0,1", f"hydra/launcher={launcher}", f"hydra.sweep.dir={where}"],
        "search": [
            "-m",
            *SLOW,
            "hparams_search=lr_pruning",
            "hydra.sweeper.n_trials=2",
            "hydra/sweeper/pruner=none",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweep.dir={where}",
        ],
    }[kind]
    stopped = interrupt(args, sig)
    assert stopped.returncode == 128 + sig, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stdout + stopped.stderr
    lines = [line for line in stopped.stderr.splitlines() if not line.startswith("[I ")]  # but Optuna's log
    what = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert len(lines) == 1 and lines[0].startswith(f"interrupted ({what}): the {kind} in {directory} stopped"), lines
    assert f"{kind}: results go to {directory}" in stopped.stdout
    command = lines[0].split("; continue it with: ", 1)[1]
    if kind == "search":
        study = optuna.load_study(study_name="lr_pruning", storage=storage)
        states = [t.state.name for t in study.trials]
        assert states == ["FAIL", "WAITING"], states  # interrupted, queued to run again; nothing RUNNING
        assert study.trials[0].user_attrs["fail_reason"] == "interrupted (KeyboardInterrupt)"
    else:
        assert "trainer.resume=true" in command
    assert command.startswith(f"PYTHONPATH={shlex.quote(str(ROOT))} python {shlex.quote(str(ROOT / 'run.py'))} ")
    finished = in_a_shell(command)  # the printed command, pasted: it continues the work
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"{kind}: results go to {directory}" in finished.stdout  # where results go, at the start and the end
    assert f"{kind}: results in {directory}" in finished.stdout
    if kind != "run":  # the tables line runs as printed too
        tables = finished.stdout.split("(tables: ", 1)[1].rsplit(")", 1)[0]
        shown = in_a_shell(tables)
        assert shown.returncode == 0 and "completed" in shown.stdout, shown.stderr[-3000:]
    if kind == "run":
        assert read_json(directory / "summary.json")["status"] == "completed"
    elif kind == "grid":
        assert [read_json(directory / j / "summary.json")["status"] for j in ("0", "1")] == ["completed"] * 2
    else:
        study = optuna.load_study(study_name="lr_pruning", storage=storage)
        assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
        assert study.trials[1].params == study.trials[0].params  # the interrupted trial, run again
