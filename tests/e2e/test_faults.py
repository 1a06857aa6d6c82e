"""Storage, filesystem and collect faults: one clear line, a non-zero exit, nothing damaged.
(Config and data faults are in test_config.py, test_data.py and test_cli.py; docs/reliability.md
lists them all.)"""

from __future__ import annotations

import shlex
import shutil
import subprocess

import optuna
import pytest

from helpers import FAST, TINY, in_a_shell, one_error_line, read_json, run_cli


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgresql://user:hunter2@127.0.0.1:1/db", "Connection refused"),
        ("notaurl", "Could not parse"),
        ("mysql://user:hunter2@127.0.0.1:1/db", "cannot open it"),
    ],
)
def test_bad_storage_is_one_line_with_the_password_masked(tmp_path, url, expected):
    result = run_cli(
        ["-m", "hparams_search=lr_pruning", *FAST, f"hydra.sweeper.storage={url}", f"hydra.sweep.dir={tmp_path}/sweep"],
        timeout=120,
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: hydra.sweeper.storage=") and expected in line
    assert "hunter2" not in result.stdout + result.stderr
    assert not list((tmp_path / "sweep").glob("*/summary.json"))


@pytest.mark.parametrize("key,multirun", [("hydra.run.dir", False), ("hydra.sweep.dir", True)])
def test_unwritable_output_directory(tmp_path, key, multirun):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    result = run_cli([*(["-m"] if multirun else []), *FAST, f"{key}={blocker}/run"])
    assert result.returncode == 2
    line = one_error_line(result)
    assert (
        line.startswith(f"error: {key}=")
        and "cannot write there (Not a directory); choose a writable directory" in line
    )
    assert blocker.read_text() == "not a directory"


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root); the full-disk case is not exercised")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_full_disk_fails_cleanly_and_leaves_no_partial_file(tiny_disk):
    run_dir = tiny_disk / "run"
    result = run_cli([*FAST, f"hydra.run.dir={run_dir}"])
    assert result.returncode == 2
    assert "No space left on device" in one_error_line(result)
    assert not list((run_dir / "checkpoints").glob("*.pt"))  # no half-written checkpoint
    assert not list(run_dir.rglob(".*.tmp*"))  # nor a temporary file
    summary = run_dir / "summary.json"
    assert not summary.exists() or read_json(summary)["status"] == "failed"


def test_empty_sweep_list_fails_its_job_with_one_line(tmp_path):
    result = run_cli(["-m", *TINY, "seed=", f"hydra.sweep.dir={tmp_path}"])
    assert "error: seed='': must be an integer in [0, 2**64 - 1]" in result.stderr
    assert read_json(tmp_path / "0" / "summary.json")["status"] == "failed"


@pytest.mark.parametrize("launcher", ["basic", "fused"])
def test_an_unset_environment_variable_is_each_jobs_one_line(tmp_path, launcher):
    """data.dir=${oc.env:UNSET}: only the jobs resolve it (the callbacks and the fused launcher's
    grouping read the overrides as typed); the grid, all refused, exits 2."""
    unset = "data.dir=${oc.env:NO_SUCH_DIR}"
    result = run_cli(["-m", *TINY, unset, "seed=0,1", f"hydra.sweep.dir={tmp_path}", f"hydra/launcher={launcher}"])
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[:2] == ["error: data.dir: Environment variable 'NO_SUCH_DIR' not found"] * 2
    assert errors[2:] == [
        f"error: hydra.sweep.dir='{tmp_path}': all 2 jobs of the grid were refused and none ran; "
        "each job's error line above says why"
    ]
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_a_grid_refused_three_times_in_a_row_for_one_reason_stops_and_its_line_continues_it(tmp_path):
    """Five cells and a data.dir that no job can read: the grid stops at the third refusal with one line,
    exit 2, the last two cells never start; the command it prints, once the variable is set, runs all five."""
    args = ["-m", *TINY, "data.dir=${oc.env:CIFAR_SWEEP_TEST_DIR}", "seed=0,1,2,3,4", f"hydra.sweep.dir={tmp_path}"]
    stopped = run_cli(args)
    assert stopped.returncode == 2, stopped.stderr[-2000:]
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
    reason = "data.dir: Environment variable 'CIFAR_SWEEP_TEST_DIR' not found"
    assert errors[:3] == [f"error: {reason}"] * 3
    assert errors[3].startswith(
        f"error: hydra.callbacks.refusals.limit=3: the sweep in {tmp_path} stopped, as its last 3 jobs were "
        f"refused with the same error ({reason}); once it is fixed, continue with: "
    ), errors
    assert len(errors) == 4 and "Traceback" not in stopped.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1", "2"]
    command = errors[3].split("continue with: ", 1)[1]
    assert shlex.split(command)[-2:] == ["trainer.resume=true", f"hydra.sweep.dir={tmp_path}"]
    fixed = in_a_shell(command, env={"CIFAR_SWEEP_TEST_DIR": str(tmp_path / "unused")})  # synthetic data
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert [read_json(tmp_path / str(j) / "summary.json")["status"] for j in range(5)] == ["completed"] * 5


def test_failed_job_of_a_killed_grid_reruns_alone(tmp_path):
    """Re-running a grid into its own directory with trainer.resume=true redoes only what is missing."""
    args = ["-m", *TINY, "optimizer=adam,sgd", f"hydra.sweep.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    kept = (tmp_path / "0" / "summary.json").read_text()
    shutil.rmtree(tmp_path / "1")  # as if killed before job 1 ran
    assert run_cli([*args, "trainer.resume=true"]).returncode == 0
    assert (tmp_path / "0" / "summary.json").read_text() == kept  # finished job untouched
    assert read_json(tmp_path / "1" / "summary.json")["status"] == "completed"


# ---------------------------------------------------------------- collect


def test_collect_on_a_missing_directory(tmp_path):
    result = run_cli([str(tmp_path / "nope")], module="cifar_sweep.collect")
    assert result.returncode == 2 and "no such directory" in one_error_line(result)


def test_collect_on_a_directory_that_is_not_a_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli([str(tmp_path)], module="cifar_sweep.collect")
    assert result.returncode == 2 and "no job directories" in one_error_line(result)


def test_collect_with_corrupt_metrics_keeps_the_row(tmp_path):
    assert (
        run_cli(["-m", *TINY, "trainer.epochs=1", "optimizer=adam,sgd", f"hydra.sweep.dir={tmp_path}"]).returncode == 0
    )
    (tmp_path / "1" / "metrics.csv").write_bytes(b"\x00\xff garbage,,\n1,2")
    (tmp_path / "1" / "summary.json").unlink()
    result = run_cli([str(tmp_path)], module="cifar_sweep.collect")
    assert result.returncode == 0, result.stderr
    assert "incomplete" in (tmp_path / "results.md").read_text()


def test_a_grid_cell_with_a_bad_value_fails_alone_with_its_reason(tmp_path):
    result = run_cli(
        ["-m", *TINY, "trainer.epochs=1", "optimizer=sgd", "optimizer.momentum=0.9,-0.5", f"hydra.sweep.dir={tmp_path}"]
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "error: optimizer.momentum=-0.5: must be a number in [0, 1)" in result.stderr
    from cifar_sweep.collect import collect

    jobs = collect(tmp_path).set_index("optimizer.momentum")
    assert jobs.loc[0.9, "status"] == "completed"
    assert jobs.loc[-0.5, "status"] == "failed" and "must be a number in [0, 1)" in jobs.loc[-0.5, "error"]
    assert run_cli([str(tmp_path)], module="cifar_sweep.collect").returncode == 0
    assert "must be a number in [0, 1)" in (tmp_path / "results.md").read_text()  # the reason, in the table


def test_a_search_over_invalid_values_fails_each_trial_with_its_reason(tmp_path):
    """A mistake in a sampled value fails that trial (NaN to the sweeper), it does not crash the job; so,
    as with upstream's sweeper, it does not count toward max_failure_rate and the search goes on."""
    result = run_cli(
        [
            "-m",
            "hparams_search=lr_pruning",
            *TINY,
            "trainer.epochs=1",
            "optimizer.lr=choice(-1.0,-2.0)",
            "hydra.sweeper.n_trials=3",
            "hydra/sweeper/pruner=none",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: optimizer.lr=")]
    assert len(errors) == 3 and all("must be" in line for line in errors), result.stderr[-2000:]
    study = optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{tmp_path}/multirun/lr_pruning/optuna.db")
    assert [t.state.name for t in study.trials] == ["FAIL"] * 3
    assert {t.user_attrs["fail_reason"] for t in study.trials} == {"the job returned NaN"}
    assert "no trial of study lr_pruning completed" in result.stdout + result.stderr


def test_collect_on_a_sweep_whose_only_job_is_unreadable(tmp_path):
    assert run_cli(["-m", *TINY, "trainer.epochs=1", "seed=0", f"hydra.sweep.dir={tmp_path}"]).returncode == 0
    (tmp_path / "0" / "summary.json").write_text("{not json")
    result = run_cli([str(tmp_path)], module="cifar_sweep.collect")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "unreadable" in (tmp_path / "results.md").read_text()
