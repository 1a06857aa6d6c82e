"""Files damaged by a power loss (emptied, NUL bytes, cut short) read as damaged: collect shows that
job as unreadable or incomplete and the others as they are; a resume is one line naming the damaged file
and what to do, or goes on when the file is one it rewrites. One 2-job grid, job 0 killed after its
last epoch (no summary.json), is damaged one file at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cifar_sweep.collect import collect

from helpers import TINY, one_error_line, run_cli

GRID = ["-m", *TINY, "seed=0,1"]
DAMAGES = {
    "empty": lambda data: b"",
    "nul": lambda data: b"\0" * len(data),
    "cut": lambda data: data[: len(data) // 2],
}


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    sweep = tmp_path_factory.mktemp("grid") / "sweep"
    assert run_cli([*GRID, f"hydra.sweep.dir={sweep}"]).returncode == 0
    (sweep / "0" / "summary.json").unlink()  # job 0 was killed after its last checkpoint
    return sweep


def damaged(grid: Path, tmp_path: Path, name: str, damage: str) -> Path:
    sweep = tmp_path / "sweep"
    shutil.copytree(grid, sweep)
    path = sweep / name
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    return sweep


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize(
    "name, job_0, job_1",
    [
        ("0/.hydra/overrides.yaml", {"unreadable", "incomplete"}, "completed"),  # cut short, it may still parse
        ("0/.hydra/config.yaml", {"incomplete"}, "completed"),
        ("0/.hydra/hydra.yaml", {"incomplete"}, "completed"),
        ("0/metrics.csv", {"incomplete"}, "completed"),
        ("1/summary.json", {"incomplete"}, "unreadable"),
        ("multirun.yaml", {"incomplete"}, "completed"),
    ],
)
def test_collect_shows_the_damaged_job_and_the_others_as_they_are(grid, tmp_path, name, damage, job_0, job_1):
    jobs = collect(damaged(grid, tmp_path, name, damage)).set_index("dir")
    assert jobs.loc["0", "status"] in job_0 and jobs.loc["1", "status"] == job_1
    if name == "0/.hydra/overrides.yaml" and damage != "cut":
        assert jobs.loc["0", "error"].startswith(".hydra/overrides.yaml: ")


def job_files(sweep: Path, job: str) -> dict[Path, bytes]:
    """The files of one job (or the sweep's multirun.yaml), but those each command rewrites or appends to."""
    rewritten = (".hydra", ".lock", "run.log")
    return {
        p: p.read_bytes()
        for p in sweep.rglob("*")
        if p.is_file() and p.relative_to(sweep).parts[0] == job and not set(p.parts) & set(rewritten)
    }


@pytest.mark.parametrize(
    "name, damage, says",
    [
        ("0/checkpoints/config/config.yaml", "empty", "the record of the config its run trained with is damaged"),
        ("0/checkpoints/config/hydra.yaml", "cut", "the record of the config its run trained with is damaged"),
        ("0/checkpoints/config/overrides.yaml", "cut", "not the overrides its hydra.yaml records"),
        ("0/checkpoints/last.pt", "nul", "checkpoints/last.pt cannot be read"),
        ("0/metrics.csv", "cut", "does not hold the rows of the 2 epochs its checkpoint trained"),
        ("1/summary.json", "nul", "its summary.json cannot be read"),
        ("multirun.yaml", "empty", "holds a multirun.yaml that cannot be read as a grid's"),
    ],
)
def test_a_resume_over_a_damaged_file_is_one_line_and_changes_nothing(grid, tmp_path, name, damage, says):
    sweep = damaged(grid, tmp_path, name, damage)
    job = name.split("/")[0]
    before = job_files(sweep, job)
    result = run_cli([*GRID, "trainer.resume=true", f"hydra.sweep.dir={sweep}"])
    assert says in one_error_line(result)
    assert result.returncode == (2 if name == "multirun.yaml" else 0)  # a grid goes on with its other job
    assert job_files(sweep, job) == before  # the damaged job's files are left as they were


@pytest.mark.parametrize("name", ["0/.hydra/overrides.yaml", "0/checkpoints/best.pt"])
def test_files_a_resume_rewrites_do_not_stop_it(grid, tmp_path, name):
    sweep = damaged(grid, tmp_path, name, "nul")
    result = run_cli([*GRID, "trainer.resume=true", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert set(collect(sweep)["status"]) == {"completed"}
