"""The commands we print are read back as they were meant: a folder's name as an override's value that
Hydra parses to the same text, and the continue line in a shell, with the PYTHONPATH it needed."""

from __future__ import annotations

import shlex
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf

from cifar_sweep import exits, sweeps, task
from cifar_sweep.callbacks import Refusals

NAMES = [
    "multirun/study/2026-12-04_10-00-00_123456",
    "runs é, x=1 'q'",
    "a b",
    "a,b",
    "p=q",
    "it's",
    'say "hi"',
    "ends with \\",
    "back\\'slash before a quote",
    "tab\there",
    "(x)[y]{z}",
    "$HOME/~user",
]


@pytest.mark.parametrize("name", NAMES)
def test_an_override_value_reads_back_as_the_text_and_sweeps_nothing(name):
    override = OverridesParser.create().parse_override(f"hydra.sweep.dir={sweeps.override_value(name)}")
    assert override.value() == name and not override.is_sweep_override()


def test_a_plain_value_is_left_unquoted():
    assert sweeps.override_value("outputs/run_1/2026-12-04_10-00-00") == "outputs/run_1/2026-12-04_10-00-00"


@pytest.mark.parametrize("path", [None, "/opt/my models:.", "it's here"])
def test_the_continue_line_is_one_shell_line_with_the_pythonpath_it_ran_with(monkeypatch, path):
    monkeypatch.setattr(sys, "argv", ["run.py", "-m", "seed=0,1", "name='a b'", "hydra.sweep.dir=old"])
    if path is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", path)
    words = shlex.split(exits.resume_command("grid", "multirun/x, y=1"))
    assert words[: int(path is not None)] == ([f"PYTHONPATH={path}"] if path else [])
    assert words[int(path is not None) :] == [
        "python",
        "run.py",
        "-m",
        "seed=0,1",
        "name='a b'",
        "trainer.resume=true",
        "hydra.sweep.dir='multirun/x, y=1'",
    ]


@pytest.mark.parametrize("limit", [0, -1, "abc", True, 1.5])
def test_a_refusal_limit_that_is_not_a_whole_number_from_1_is_one_line(capsys, limit):
    with pytest.raises(SystemExit) as stop:
        Refusals(limit)
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: hydra.callbacks.refusals.limit={limit!r}: must be a whole number >= 1, or null for no limit\n"
    )


def refused_job(refusals: Refusals, line: str, values: list[str]) -> None:
    """One job of a sweep ends, refused with `line`, as the callback sees it."""
    config = OmegaConf.create(
        {"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": "sweep"}, "overrides": {"task": values}}}
    )
    task.RESULT.set(task.JobResult(task.JobOutcome.REFUSED, {"status": "failed", "error": line}))
    refusals.on_job_end(config, job_return=None)


def test_one_bad_value_sampled_again_fails_its_trials_and_the_sweep_goes_on():
    refusals = Refusals(3)
    for _ in range(5):  # a search that samples lr=-1.0 five times: the value's fault, every time
        refused_job(refusals, "error: optimizer.lr=-1.0: must be > 0", ["optimizer.lr=-1.0"])


def test_one_line_for_three_sets_of_values_in_a_row_stops_the_sweep(capsys):
    refusals = Refusals(3)
    refused_job(refusals, "error: no module named 'models'", ["optimizer.lr=0.1"])
    refused_job(refusals, "error: no module named 'models'", ["optimizer.lr=0.1"])  # the same values again
    refused_job(refusals, "error: no module named 'models'", ["optimizer.lr=0.2"])
    with pytest.raises(SystemExit) as stop:
        refused_job(refusals, "error: no module named 'models'", ["optimizer.lr=0.3"])
    assert stop.value.code == 2
    assert "its last 3 jobs were refused with the same error" in capsys.readouterr().err


def test_another_line_between_them_starts_the_count_again():
    refusals = Refusals(2)
    refused_job(refusals, "error: a", ["x=1"])
    refused_job(refusals, "error: b", ["x=2"])
    refused_job(refusals, "error: a", ["x=3"])
