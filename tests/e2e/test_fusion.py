"""hydra/launcher=fused: a grid's jobs of one shape train as one fused model in one process, and each
job keeps its own run directory, numbers and return value."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
import torch

from cifar_sweep.collect import collect
from cifar_sweep.models import VGG

from helpers import FAST, HOPELESS_LR_SEARCH, one_error_line, read_json, run_cli

SMALL = [*FAST, "data.train_size=1000", "data.val_size=500", "data.test_size=200"]


def rows(job_dir: Path) -> list[dict]:
    with open(job_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def files(job_dir: Path) -> set[str]:
    return {str(p.relative_to(job_dir)) for p in job_dir.rglob("*") if p.is_file()}


def test_fused_jobs_match_unfused_ones_epoch_by_epoch(tmp_path):
    """In float64 the fused step computes what four separate steps compute, up to summation order, so
    every epoch's numbers agree to 1e-6 (and no validation image differs). Two optimizer types, two seeds."""
    grid = ["-m", *SMALL, "trainer.precision=fp64", "optimizer=adam,sgd", "seed=0,1"]
    for launcher in ("basic", "fused"):
        result = run_cli([*grid, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / launcher}"])
        assert result.returncode == 0, result.stderr[-3000:]
    assert "training jobs #0, #1, #2, #3 as one fused model" in result.stdout + result.stderr
    for job in ("0", "1", "2", "3"):
        fused, alone = tmp_path / "fused" / job, tmp_path / "basic" / job
        assert files(fused) == files(alone)  # .hydra/, run.log, metrics.csv, summary.json, checkpoints
        log = (fused / "run.log").read_text()  # Hydra's job log, fed with this job's records only
        assert f"job {job}: epoch 2/2" in log and all(f"job {o}: epoch" not in log for o in "0123" if o != job)
        assert f"job {job} of 4 done" in log  # a Hydra job callback (GridProgress.on_job_end) ran for it
        for f, a in zip(rows(fused), rows(alone), strict=True):
            for key in ("train_loss", "train_acc", "val_loss", "lr"):
                assert float(f[key]) == pytest.approx(float(a[key]), rel=1e-6, abs=1e-9), (job, key)
            assert round(float(f["val_acc"]) * 500) == round(float(a["val_acc"]) * 500)
        summary = read_json(fused / "summary.json")
        assert summary["status"] == "completed"
        assert summary["test_acc"] == pytest.approx(read_json(alone / "summary.json")["test_acc"], abs=1e-9)
        model = VGG("vgg16", 0.125).double()  # a fused job's checkpoint is a plain model's
        model.load_state_dict(torch.load(fused / "checkpoints" / "last.pt", weights_only=False)["model"])
    assert list(collect(tmp_path / "fused")["status"]) == ["completed"] * 4


@pytest.mark.readme  # make test runs it: a README command
def test_mixed_optimizers_fuse_and_jobs_of_another_shape_run_alone(tmp_path):
    result = run_cli(
        [
            "-m",
            *SMALL,
            "optimizer=adam,rmsprop,sgd",
            "model.width=0.125,0.25",
            "hydra/launcher=fused",
            "hydra.launcher.max_fused=2",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # jobs 0-2 are width 1/8, 3-5 width 1/4; two at most per group: the third of each shape runs alone
    assert "training jobs #0, #1 as one fused model" in output and "training jobs #3, #4 as one fused model" in output
    assert all((tmp_path / str(job) / "run.log").is_file() for job in range(6))
    jobs = collect(tmp_path)
    assert list(jobs["status"]) == ["completed"] * 6


def test_a_diverging_job_leaves_its_group_and_the_others_go_on(tmp_path):
    result = run_cli(
        [
            "-m",
            *SMALL,
            "trainer.epochs=3",
            "optimizer=sgd",
            "optimizer.lr=0.01,1e12",
            "optimizer.momentum=0",
            "hydra/launcher=fused",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    good, bad = read_json(tmp_path / "0" / "summary.json"), read_json(tmp_path / "1" / "summary.json")
    assert bad["status"] == "failed" and bad["error"].startswith("diverged: train_loss=")
    assert good["status"] == "completed" and good["epochs_completed"] == 3


def test_an_optuna_batch_trains_fused_and_pruning_removes_a_trial(tmp_path):
    result = run_cli(
        [
            "-m",
            *FAST,
            *HOPELESS_LR_SEARCH,
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            "hydra/launcher=fused",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "as one fused model" in result.stdout + result.stderr
    study = optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{tmp_path}/multirun/lr_pruning/optuna.db")
    assert len(study.trials) == 4
    for trial in study.trials:
        hopeless = trial.params["optimizer.lr"] == 1e-9
        assert trial.state.name == ("PRUNED" if hopeless else "COMPLETE") and trial.last_step == (2 if hopeless else 3)


def test_a_bad_max_fused_is_one_line(tmp_path):
    result = run_cli(
        ["-m", *SMALL, "seed=0,1", "hydra/launcher=fused", "hydra.launcher.max_fused=0", f"hydra.sweep.dir={tmp_path}"]
    )
    assert result.returncode == 2
    assert one_error_line(result) == "error: hydra.launcher.max_fused=0: must be an integer >= 1"
