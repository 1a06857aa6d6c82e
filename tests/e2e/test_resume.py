"""A run directory that holds a run: only resuming the same run may touch it, and nothing it wrote
is ever changed by a refused command."""

from __future__ import annotations

import hashlib

import pytest

from cifar_sweep.locks import LOCK_FILE

from helpers import FAST, one_error_line, read_json, run_cli


def snapshot(run_dir, logs: bool = False) -> dict:
    """Every file below run_dir -> its hash; but the logs, which each command appends to (unless `logs`),
    and the directory's lock, which each command that enters takes and writes its pid in (locks.py)."""
    return {
        str(p.relative_to(run_dir)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and (logs or p.name != "run.log") and p.name != LOCK_FILE
    }


def refused(run_dir, args: list[str]) -> str:
    """Run `python run.py ARGS` in run_dir; it must refuse (exit 2) and change no file there.
    Returns its one error line."""
    before = snapshot(run_dir)
    result = run_cli([*FAST, *args, f"hydra.run.dir={run_dir}"])
    assert result.returncode == 2
    line = one_error_line(result)
    assert snapshot(run_dir) == before  # .hydra/ included: put back after Hydra rewrote it
    return line


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    result = run_cli([*FAST, "model=vgg11", "trainer.epochs=1", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.fixture
def killed(tmp_path):
    """A run killed after its last epoch's checkpoint, before its summary.json was written."""
    run_dir = tmp_path / "run"
    assert run_cli([*FAST, "model=vgg11", f"hydra.run.dir={run_dir}"]).returncode == 0
    (run_dir / "summary.json").unlink()
    return run_dir


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["model=vgg16"], "model.name=vgg11 (now vgg16)"),
        (["trainer.epochs=2"], "trainer.epochs=1 (now 2)"),  # extending a run is refused: cosine's T_max follows it
        (["optimizer.lr=0.01"], "optimizer.lr=0.001 (now 0.01)"),
    ],
)
def test_resuming_a_finished_run_with_another_config_is_refused(finished, overrides, expected):
    line = refused(finished, ["model=vgg11", "trainer.epochs=1", *overrides, "trainer.resume=true"])
    assert line.startswith("error: trainer.resume=true: this run (completed) was trained with") and expected in line


def test_resuming_a_killed_run_with_another_model_is_refused(killed):
    line = refused(killed, ["model=vgg16", "trainer.resume=true"])
    assert "killed before it finished) was trained with model.name=vgg11 (now vgg16)" in line
    # the same config then resumes it from its checkpoint, with no epoch trained twice
    resumed = run_cli([*FAST, "model=vgg11", "trainer.resume=true", f"hydra.run.dir={killed}"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in (killed / "run.log").read_text()
    assert read_json(killed / "summary.json")["status"] == "completed"
    assert (killed / "metrics.csv").read_text().count("\n") == 3  # header + epochs 1 and 2, once each


def test_a_new_run_into_a_finished_runs_directory_is_refused(finished):
    line = refused(finished, ["model=vgg11", "trainer.epochs=1"])
    assert "holds a run already (completed); add trainer.resume=true" in line


def test_resuming_a_finished_run_with_its_own_config_changes_nothing(finished):
    before = snapshot(finished)
    result = run_cli(
        [
            *FAST,
            "model=vgg11",
            "trainer.epochs=1",
            "trainer.resume=true",
            "trainer.progress_bar=true",
            f"hydra.run.dir={finished}",
        ]
    )  # progress_bar is harmless: it changes no result
    assert result.returncode == 0, result.stderr
    assert snapshot(finished) == before


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_checkpoint_on_resume_is_one_line_and_nothing_is_lost(killed, damage):
    last = killed / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:200] if damage == "truncated" else b"not a checkpoint")
    line = refused(killed, ["model=vgg11", "trainer.resume=true"])
    assert "last.pt cannot be read" in line and "delete" in line and "to start this run over" in line


def test_a_grid_resumed_with_another_model_is_refused_and_keeps_its_files(tmp_path):
    args = ["-m", *FAST, "trainer.epochs=1", "optimizer=adam,sgd", f"hydra.sweep.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    before = snapshot(tmp_path, logs=True)
    result = run_cli([*args, "model=vgg11", "trainer.resume=true"])  # another grid, into this one's folder
    assert result.returncode == 2
    assert "holds another grid (data=synthetic model.width=0.125 optimizer=adam,sgd" in one_error_line(result)
    assert snapshot(tmp_path, logs=True) == before  # multirun.yaml and the jobs' run.log included


def test_a_grid_whose_jobs_all_refuse_exits_2_and_counts_nothing_done(tmp_path):
    """The same grid, but the jobs' config changed underneath (here: a job's own record edited, as a
    changed default would): each job refuses with its line and the grid ends with one more, exit 2."""
    args = ["-m", *FAST, "trainer.epochs=1", "optimizer=adam,sgd", f"hydra.sweep.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    for job in ("0", "1"):
        record = tmp_path / job / "checkpoints" / "config" / "config.yaml"
        record.write_text(record.read_text().replace("batch_size: 64", "batch_size: 32"))
    before = snapshot(tmp_path)
    result = run_cli([*args, "trainer.resume=true"])
    assert result.returncode == 2
    assert result.stderr.count("was trained with batch_size=32 (now 64)") == 2
    assert "all 2 jobs of the grid were refused and none ran" in result.stderr
    assert "of 2 done" not in result.stdout and result.stdout.count("refused (its error line says why)") == 2
    assert results_only(snapshot(tmp_path)) == results_only(before)


def results_only(files: dict) -> dict:
    """Leave out what a resumed grid rewrites by design: each job's .hydra/ (put back from its record) and
    the grid's own multirun.yaml."""
    return {k: v for k, v in files.items() if "/.hydra/" not in k and k != "multirun.yaml"}


@pytest.mark.parametrize(
    "name,content",
    [
        ("summary.json", '{"status": "compl'),
        ("summary.json", "[1, 2]"),
        ("summary.json", '{"foo": 1}'),
        ("metrics.csv", "epoch,loss\n1,0.5\n"),
        ("checkpoints/last.pt", "weights"),
    ],
    ids=["summary-truncated", "summary-list", "summary-foreign", "metrics", "checkpoint"],
)
def test_files_we_did_not_write_are_refused_and_left_as_they_are(tmp_path, name, content):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(content)
    before = snapshot(tmp_path)
    for resume in ("false", "true"):
        result = run_cli([*FAST, f"trainer.resume={resume}", f"hydra.run.dir={tmp_path}"])
        assert result.returncode == 2
        assert "holds files that no run of ours wrote" in one_error_line(result)
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(".hydra")} == before


def test_a_diverged_run_is_not_resumed_and_keeps_its_files(tmp_path):
    diverging = [*FAST, "optimizer=sgd", "optimizer.lr=1e12", "regularization=none"]
    assert run_cli([*diverging, f"hydra.run.dir={tmp_path}"]).returncode == 1
    line = refused(tmp_path, [*diverging, "trainer.resume=true"])
    assert "failed (diverged: train_loss=" in line and "resuming from its checkpoint would diverge again" in line


def test_resume_with_nothing_to_resume_is_one_line_for_a_run_and_a_start_in_a_grid(tmp_path):
    result = run_cli([*FAST, "trainer.resume=true", f"hydra.run.dir={tmp_path / 'nothing'}"])
    assert result.returncode == 2
    assert "holds no run to resume; run without trainer.resume=true" in one_error_line(result)
    assert not (tmp_path / "nothing" / "metrics.csv").exists()
    grid = run_cli(
        ["-m", *FAST, "trainer.epochs=1", "seed=0,1", "trainer.resume=true", f"hydra.sweep.dir={tmp_path / 'g'}"]
    )
    assert grid.returncode == 0, grid.stderr[-2000:]
    assert (grid.stdout + grid.stderr).count("holds no run yet, so this job starts from epoch 1") == 2
    assert read_json(tmp_path / "g" / "1" / "summary.json")["status"] == "completed"
