"""cifar_sweep.train in this process, on synthetic data: learning, the files a run leaves, early
stopping, every scheduler, out of memory, and the placement of a Slurm job's threads."""

import csv

import pytest
import torch

from cifar_sweep import checkpoints
from cifar_sweep import train as training
from cifar_sweep.config import validate
from cifar_sweep.errors import UserError
from cifar_sweep.placement import Placement
from cifar_sweep.results import METRICS_COLUMNS

from helpers import compose_cfg

CPU = Placement(torch.device("cpu"))


def train(cfg, run_dir, **kwargs):
    return training.train(cfg, run_dir, CPU, **kwargs)


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_two_epoch_synthetic_run_learns_and_writes_its_records(tmp_path, fast_cfg):
    summary = train(fast_cfg(), tmp_path)
    assert not (tmp_path / "summary.json").exists()  # the job writes it (tests/e2e/test_cli.py)
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
    last = checkpoints.load(tmp_path / "checkpoints" / "last.pt", torch.device("cpu"))  # weights_only
    assert {"model", "optimizer", "scheduler", "epoch", "rng"} <= last.keys() and last["epoch"] == 2
    best = checkpoints.load(tmp_path / "checkpoints" / "best.pt", torch.device("cpu"))
    assert best.keys() == {"model", "epoch", "val_acc"}  # the weights alone: a third of last.pt with Adam
    assert best["epoch"] == summary["best_epoch"] and best["val_acc"] == summary["best_val_acc"]


def saves(tmp_path, fast_cfg, monkeypatch, *overrides) -> tuple[list[tuple[str, int]], dict]:
    """The (file, epoch) of every checkpoint a run writes, in order, and its summary."""
    written: list[tuple[str, int]] = []
    write = checkpoints.write

    def recorded(path, state) -> None:
        written.append((path.name, state["epoch"]))
        write(path, state)

    monkeypatch.setattr(checkpoints, "write", recorded)
    summary = train(fast_cfg(*SMALL, *overrides), tmp_path)
    return written, summary


def test_checkpoint_every_n_epochs_saves_then_and_at_the_end_with_the_best_weights_of_between(
    tmp_path, fast_cfg, monkeypatch
):
    written, summary = saves(tmp_path, fast_cfg, monkeypatch, "trainer.epochs=5", "trainer.checkpoint_every=2")
    assert [w for w in written if w[0] == "last.pt"] == [("last.pt", 2), ("last.pt", 4), ("last.pt", 5)]
    best = [epoch for name, epoch in written if name == "best.pt"]
    assert best[-1] == summary["best_epoch"]  # the best epoch's weights, kept until the next save
    weights = checkpoints.load(tmp_path / "checkpoints" / "best.pt", torch.device("cpu"))
    assert weights["epoch"] == summary["best_epoch"] and weights["val_acc"] == summary["best_val_acc"]


def test_checkpoint_every_few_seconds_saves_only_at_the_end_of_a_short_run(tmp_path, fast_cfg, monkeypatch):
    written, _ = saves(tmp_path, fast_cfg, monkeypatch, "trainer.epochs=3", "trainer.checkpoint_every=5min")
    assert [w for w in written if w[0] == "last.pt"] == [("last.pt", 3)]


@pytest.mark.parametrize("value", [0, -1, "0s", "1h", "fast", True, 1.5])
def test_a_checkpoint_every_that_is_not_epochs_or_seconds_is_one_line(fast_cfg, value):
    message = "must be a whole number of epochs >= 1, or a time since the last save"
    with pytest.raises(UserError, match=rf"trainer.checkpoint_every=.*: {message} such as '120s' or '5min'"):
        validate(fast_cfg(f"trainer.checkpoint_every={value}"))


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


SMALL = ("data.train_size=600", "data.val_size=100", "data.test_size=100", "regularization=none")


def lrs(run_dir) -> list[float]:
    """The lr column: the rate each epoch trained with (at its start)."""
    return [float(r["lr"]) for r in read_metrics(run_dir)]


def test_step_decays_every_step_size_epochs(tmp_path, fast_cfg):
    summary = train(fast_cfg("scheduler=step", "scheduler.step_size=2", "trainer.epochs=5", *SMALL), tmp_path)
    assert summary["status"] == "completed"
    assert lrs(tmp_path) == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


def test_onecycle_steps_every_batch(tmp_path, fast_cfg):
    """Epoch 2 starts where OneCycleLR is after one epoch's batches (not after one step)."""
    cfg = fast_cfg("scheduler=onecycle", "trainer.epochs=3", *SMALL)
    summary = train(cfg, tmp_path)
    steps = 500 // cfg.batch_size + 1  # 600 images less 100 held out: 7 full batches and one of 52
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(probe, max_lr=1e-3, epochs=3, steps_per_epoch=steps)
    expected = []
    for _ in range(3):
        expected.append(probe.param_groups[0]["lr"])
        for _ in range(steps):
            probe.step()
            schedule.step()
    assert summary["status"] == "completed"
    assert lrs(tmp_path) == pytest.approx(expected) and expected[0] == pytest.approx(1e-3 / 25)
    assert expected[1] > 10 * expected[0]  # a schedule stepped once per epoch would still be near its start


def test_plateau_cuts_after_patience_epochs_without_a_better_val_loss(tmp_path, fast_cfg):
    """A run that cannot learn: its val_loss stops improving, and the rate is cut by `factor` once it has
    not improved for more than `patience` epochs, as ReduceLROnPlateau fed the val_loss column decides."""
    cfg = fast_cfg("scheduler=plateau", "scheduler.patience=1", "optimizer.lr=1e-6", "trainer.epochs=6", *SMALL)
    summary = train(cfg, tmp_path)
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-6)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(probe, mode="min", factor=0.1, patience=1)
    expected = []
    for row in read_metrics(tmp_path):
        expected.append(probe.param_groups[0]["lr"])
        schedule.step(float(row["val_loss"]))
    assert summary["status"] == "completed"
    assert lrs(tmp_path) == pytest.approx(expected, rel=1e-9)
    assert expected[:2] == [1e-6, 1e-6] and min(expected) < 1e-6  # no cut before patience + 1 epochs, then one


def test_no_schedule_keeps_the_rate(tmp_path, fast_cfg):
    summary = train(fast_cfg("scheduler=none", "trainer.epochs=2", *SMALL), tmp_path)
    assert summary["status"] == "completed" and lrs(tmp_path) == pytest.approx([1e-3, 1e-3])


@pytest.mark.parametrize(
    "where", ["cifar_sweep.runner.make_splits", "cifar_sweep.train.train_epoch"], ids=["make_splits", "train_epoch"]
)
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


def test_without_a_progress_bar_an_epoch_logs_where_it_stands(tmp_path, fast_cfg, monkeypatch, caplog):
    """Output to a file (or jobs side by side) draws no bar: a line about every minute says how far the
    epoch is, how fast and how long the run has left (here at every check, the interval set to 0)."""
    import re

    monkeypatch.setattr(training.EpochProgress, "LINE_EVERY", 0.0)
    with caplog.at_level("INFO", logger="cifar_sweep.train"):
        train(fast_cfg("trainer.epochs=2", "data.train_size=4000"), tmp_path)  # 3,500 images: 55 steps
    lines = [r.getMessage() for r in caplog.records if re.match(r"epoch \d/2: ", r.getMessage())]
    pattern = r"epoch (\d)/2: ([\d,]+) of 3,500 images, \d+ img/s, train_loss [\d.]+, about \d+ s left"
    found = [re.fullmatch(pattern, line) for line in lines]
    assert all(found) and [(m.group(1), m.group(2)) for m in found if m] == [
        ("1", "1,600"),
        ("1", "3,200"),
        ("2", "1,600"),
        ("2", "3,200"),
    ]


def test_a_network_whose_training_output_is_more_than_logits_trains_on_its_logits(tmp_path):
    cfg = compose_cfg(
        [
            "data=synthetic",
            "data.train_size=64",
            "data.val_size=32",
            "data.test_size=32",
            "batch_size=32",
            "trainer.epochs=1",
            "trainer.progress_bar=false",
            "model=torchvision",
            "model._target_=torchvision.models.GoogLeNet",
            "+model.init_weights=false",
            "+model.aux_logits=true",
        ]
    )  # training mode returns GoogLeNetOutputs(logits, aux_logits2, aux_logits1); evaluation, the logits
    validate(cfg)
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["epochs_completed"] == 1
    assert float(read_metrics(tmp_path)[0]["train_loss"]) > 0
