"""cifar_sweep.train in this process, on synthetic data: learning, the files a run leaves, early
stopping, every scheduler, out of memory, and the placement of a Slurm job's threads."""

import csv

import pytest
import torch

from cifar_sweep import checkpoints
from cifar_sweep import train as training
from cifar_sweep.placement import Placement
from cifar_sweep.results import METRICS_COLUMNS

CPU = Placement(torch.device("cpu"))


def train(cfg, run_dir, **kwargs):
    return training.train(cfg, run_dir, CPU, **kwargs)


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_two_epoch_synthetic_run_learns_and_writes_its_records(tmp_path, fast_cfg):
    summary = train(fast_cfg(), tmp_path)
    assert not (tmp_path / "summary.json").exists()  # run.py writes it (tests/test_cli.py)
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["test_acc"] > 0.5 and summary["best_val_acc"] > 0.5  # chance is 0.1
    assert summary["best_epoch"] in (1, 2) and summary["params"] == 232_274
    assert summary["device"] == "cpu" and summary["wall_seconds"] > 0
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == ",".join(METRICS_COLUMNS)
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:
        assert 0 <= float(r["train_acc"]) <= 1 and 0 <= float(r["val_acc"]) <= 1
        assert float(r["train_loss"]) > 0 and float(r["lr"]) > 0 and float(r["images_per_second"]) > 0
    assert float(rows[1]["lr"]) < float(rows[0]["lr"])  # cosine decays
    assert summary["final_val_acc"] == float(rows[-1]["val_acc"])
    for name in ("last.pt", "best.pt"):
        ckpt = checkpoints.load(tmp_path / "checkpoints" / name, torch.device("cpu"))  # weights_only
        assert {"model", "optimizer", "scheduler", "epoch", "rng"} <= ckpt.keys()
    assert checkpoints.load(tmp_path / "checkpoints" / "last.pt", torch.device("cpu"))["epoch"] == 2


def test_patience_stops_a_run_that_cannot_learn(tmp_path, fast_cfg):
    summary = train(
        fast_cfg(
            "trainer.epochs=12", "trainer.patience=2", "optimizer.lr=1e-12", "scheduler=none", "regularization=none"
        ),
        tmp_path,
    )
    assert summary["status"] == "completed" and summary["stopped_early"] is True
    assert summary["epochs_completed"] == summary["best_epoch"] + 2 < 12
    assert len(read_metrics(tmp_path)) == summary["epochs_completed"] and summary["test_acc"] is not None
    learns = train(fast_cfg("trainer.patience=2"), tmp_path / "learns")  # a run that improves goes on
    assert learns["stopped_early"] is False and learns["epochs_completed"] == 2


@pytest.mark.parametrize("scheduler", ["onecycle", "plateau", "step", "none"])
def test_every_scheduler_kind_trains(tmp_path, fast_cfg, scheduler):
    summary = train(
        fast_cfg(f"scheduler={scheduler}", "trainer.epochs=1", "data.train_size=600", "data.val_size=100"), tmp_path
    )
    assert summary["status"] == "completed"


@pytest.mark.parametrize("where", ["cifar_sweep.runner.make_splits", "cifar_sweep.train.train_epoch"])
def test_cuda_out_of_memory_is_a_failed_run_not_a_traceback(tmp_path, fast_cfg, monkeypatch, where):
    """Simulated on the CPU: the data or model move (make_splits) or a training step runs out of memory."""

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail")

    monkeypatch.setattr(where, out_of_memory)
    summary = train(fast_cfg(), tmp_path)
    assert summary["status"] == "failed" and summary["epochs_completed"] == 0
    assert summary["error"] == "CUDA out of memory: CUDA out of memory. Tried to allocate 20.00 GiB"


def test_a_slurm_job_uses_the_cores_it_was_given(monkeypatch, fast_cfg):
    """Slurm without CPU binding does not stop a job from using every core: two 1-core jobs on 2 cores
    with 2 threads each ran 5x slower (bench/slurm.py). The job takes SLURM_CPUS_PER_TASK threads."""
    from cifar_sweep import placement

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert placement.threads(None, parallel_jobs=1) == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert placement.threads(None, parallel_jobs=2) == 2
    assert placement.threads(3, parallel_jobs=2) == 3  # trainer.threads wins
