"""Real Hydra multiruns in subprocesses on synthetic data: a comparison grid with a failing cell,
joblib, an Optuna study that continues, and collect on what they wrote."""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest

from cifar_sweep.collect import collect, read_sweep

from helpers import TINY, read_json, run_cli


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The optimizers grid x 2 seeds x a learning rate that is valid or not: 12 jobs, 6 failing."""
    sweep = tmp_path_factory.mktemp("grid") / "sweep"
    result = run_cli(
        ["-m", "experiment=optimizers", *TINY, "seed=0,1", "optimizer.lr=0.01,-1", f"hydra.sweep.dir={sweep}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


def test_grid_runs_every_job(grid):
    summaries = [read_json(p) for p in sorted(grid.glob("*/summary.json"))]
    assert len(summaries) == 12
    assert sum(s["status"] == "completed" for s in summaries) == 6


def test_collect_rows_equal_the_per_run_summaries(grid):
    jobs = collect(grid)
    assert len(jobs) == 12 and sorted(jobs["job"]) == list(range(12))
    assert {"optimizer", "seed", "optimizer.lr"} <= set(jobs.columns)
    assert set(jobs["optimizer"]) == {"adam", "rmsprop", "sgd"}
    for row in jobs.itertuples():
        summary = read_json(grid / row.dir / "summary.json")
        assert row.status == summary["status"]
        for key in ("best_val_acc", "test_acc", "epochs_completed"):
            expected = summary.get(key)
            actual = getattr(row, key)
            assert (expected is None and pd.isna(actual)) or math.isclose(actual, expected), key


def test_failed_jobs_are_shown_as_failed_with_the_reason(grid):
    jobs = collect(grid)
    failed = jobs[jobs["optimizer.lr"] == -1]
    assert len(failed) == 6 and set(failed["status"]) == {"failed"}
    assert failed["error"].str.contains("optimizer.lr=-1").all()
    assert set(jobs[jobs["optimizer.lr"] == 0.01]["status"]) == {"completed"}


@pytest.mark.readme  # make test runs it: a README command
def test_collect_cli_writes_tables_and_plots(grid):
    result = run_cli([str(grid)], module="cifar_sweep.collect")
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(grid / "results.csv")
    assert len(results) == 12
    summary = (grid / "summary.md").read_text()
    assert "Compared: `test_acc`" in summary  # the grid's objective, as the study compared
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in summary.splitlines()
        if line.startswith(("| adam", "| rmsprop", "| sgd"))
    ]
    header = [
        c.strip()
        for c in next(line for line in summary.splitlines() if line.startswith("| optimizer")).strip("|").split("|")
    ]
    table = [dict(zip(header, row)) for row in rows]
    assert len(table) == 6  # 3 optimizers x 2 learning rates (seeds folded)
    best = max((r for r in table if r["mean"] != "nan"), key=lambda r: float(r["mean"]))
    assert best["mark"] == "best" and [r["mark"] for r in table].count("best") == 1
    for name in ("loss_curves.png", "val_acc.png", "summary.png"):
        data = (grid / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name


def test_collect_keeps_killed_and_corrupt_jobs(grid, tmp_path):
    import shutil

    copy = tmp_path / "sweep"
    shutil.copytree(grid, copy)
    killed = collect(copy).query("status == 'completed'").iloc[0]["dir"]
    (copy / killed / "summary.json").unlink()  # as if killed after its last epoch
    corrupt = collect(copy).query("status == 'completed'").iloc[0]["dir"]
    (copy / corrupt / "summary.json").write_text("{not json")
    jobs, _, _ = read_sweep(copy)
    assert len(jobs) == 12
    row = jobs.set_index("dir").loc[killed]
    assert row["status"] == "incomplete" and row["epochs_completed"] == 2 and row["best_val_acc"] > 0
    assert jobs.set_index("dir").loc[corrupt]["status"] == "unreadable"


@pytest.mark.readme  # make test runs it: a README command
def test_joblib_runs_two_jobs_in_parallel(tmp_path):
    result = run_cli(
        [
            "-m",
            *TINY,
            "data.train_size=2000",
            "objective=test_acc",
            "optimizer=adam,sgd",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Joblib.Parallel(n_jobs=2" in output
    # each job says where the grid stands; the last one has seen both
    assert output.count(" of 2 done (completed, test_acc ") == 2 and "2 of 2 done, best so far test_acc" in output
    assert "job 0: epoch 2/2" in output and "job 1: epoch 2/2" in output  # lines, not interleaved bars
    jobs = collect(tmp_path)
    assert sorted(jobs["optimizer"]) == ["adam", "sgd"] and set(jobs["status"]) == {"completed"}
    # they ran at the same time: each trained while the other was training
    spans = [
        (read_json(tmp_path / d / "summary.json")["first_step_at"], (tmp_path / d / "summary.json").stat().st_mtime)
        for d in jobs["dir"]
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_optuna_search_continues_in_its_sqlite_study(tmp_path):
    # no pruner: with an unseeded sampler the median pruner may stop any trial after its one epoch
    command = ["-m", "hparams_search=vgg16_tpe", *TINY, "trainer.epochs=1", "hydra/sweeper/pruner=none"]
    for n_trials in (4, 8):  # n_trials is the study's total: the second call continues to 8
        result = run_cli([*command, f"hydra.sweeper.n_trials={n_trials}"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    storage = f"sqlite:///{tmp_path}/multirun/vgg16_tpe/optuna.db"
    study = optuna.load_study(study_name="vgg16_tpe", storage=storage)
    assert len(study.trials) == 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 8  # no trial repeated
    invocations = sorted(p for p in (tmp_path / "multirun" / "vgg16_tpe").iterdir() if p.is_dir())
    assert len(invocations) == 2 and all((p / "optimization_results.yaml").is_file() for p in invocations)
    jobs = collect(tmp_path / "multirun" / "vgg16_tpe")
    assert len(jobs) == 8 and {"optimizer", "optimizer.lr", "model.dropout"} <= set(jobs.columns)
    best = max(t.value for t in study.trials)
    assert math.isclose(jobs["best_val_acc"].max(), best)
    collected = run_cli([str(tmp_path / "multirun" / "vgg16_tpe")], module="cifar_sweep.collect")
    assert collected.returncode == 0 and "also trials_vgg16_tpe.csv and Optuna's plots" in collected.stdout
    summary = (tmp_path / "multirun" / "vgg16_tpe" / "summary.md").read_text()
    assert summary.count("best value") == 2 and f"{best:.4g}" in summary  # optimization_results.yaml, per invocation
    # a search gets its trials, best first, and Optuna's own plots instead of the grid's
    assert "## Trials, best first (8 of 8)" in summary and "No cell of this search was run more than once" in summary
    trials = pd.read_csv(tmp_path / "multirun" / "vgg16_tpe" / "trials_vgg16_tpe.csv")
    assert trials["value"].iloc[0] == best and list(trials["value"]) == sorted(trials["value"], reverse=True)
    plots = tmp_path / "multirun" / "vgg16_tpe" / "plots"
    for name in (
        "optuna_history.png",
        "optuna_slice.png",
        "optuna_parallel.png",
        "optuna_intermediate.png",
        "optuna_importance.png",
    ):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not (plots / "val_acc.png").exists()
