"""Ctrl-C (SIGINT) and SIGTERM on a run, a grid and a search, sent as a user's terminal or a scheduler
would, once the first epoch is logged: one line naming what stopped and the command that continues
it, exit 130 / 143, no traceback, no trial left RUNNING; and that command finishes the work."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import optuna
import pytest

from helpers import ROOT, TINY, read_json, run_cli

SLOW = [*TINY, "trainer.epochs=30"]  # long enough to be interrupted in its first job


def interrupt(args: list[str], sig: signal.Signals) -> subprocess.CompletedProcess:
    """Start `python run.py ARGS`, send `sig` once its first epoch is logged, wait for it to end."""
    process = subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)},
        # as from a terminal: a test session started in the background (`cmd &` in a script, nohup) has
        # SIGINT ignored, which its children inherit, and then Python never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "epoch 1/" in line:
            break
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + out, err)


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
    directory = tmp_path / kind
    storage = f"sqlite:///{tmp_path}/study.db"
    args = {
        "run": [*SLOW, f"hydra.run.dir={directory}"],
        "grid": ["-m", *SLOW, "seed=0,1", f"hydra/launcher={launcher}", f"hydra.sweep.dir={directory}"],
        "search": [
            "-m",
            *SLOW,
            "hparams_search=lr_pruning",
            "hydra.sweeper.n_trials=2",
            "hydra/sweeper/pruner=none",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweep.dir={directory}",
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
    words = shlex.split(command)  # the printed command continues it
    assert words[:2] == ["python", "run.py"]
    finished = run_cli(words[2:])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"{kind}: results go to {directory}" in finished.stdout  # where results go, at the start and the end
    assert f"{kind}: results in {directory}" in finished.stdout
    if kind == "run":
        assert read_json(directory / "summary.json")["status"] == "completed"
    elif kind == "grid":
        assert [read_json(directory / j / "summary.json")["status"] for j in ("0", "1")] == ["completed"] * 2
    else:
        study = optuna.load_study(study_name="lr_pruning", storage=storage)
        assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
        assert study.trials[1].params == study.trials[0].params  # the interrupted trial, run again
