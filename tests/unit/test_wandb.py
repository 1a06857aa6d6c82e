"""logger=wandb in-process, offline (no account, no network), read back from the run file W&B writes
(tests/wandb_records.py), as the other trackers are read back with their own tools."""

from __future__ import annotations

import json
import time

import pytest
from wandb_records import read_run

from cifar_sweep import trackers
from cifar_sweep.naming import JobName

from helpers import compose_cfg

wandb = pytest.importorskip("wandb", reason="pip install -e '.[wandb]'")


@pytest.fixture(autouse=True)
def no_service_left_behind():
    """W&B's service lives on in this process and names itself in WANDB_SERVICE, which every later
    subprocess of the test session would inherit and connect to: end it, as a job's process does."""
    yield
    wandb.teardown()


def rows(epochs: int) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 2.0 / e,
            "train_acc": 0.3 * e,
            "val_loss": 2.1 / e,
            "val_acc": 0.25 * e,
            "lr": 1e-3 / e,
            "images_per_second": 1000.0 + e,
        }
        for e in range(1, epochs + 1)
    ]


def test_a_wandb_run_holds_the_config_metrics_and_summary_and_a_resumed_job_continues_it(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)  # offline by default
    cfg = compose_cfg(["logger=wandb", "optimizer=sgd"])
    run_dir, sweep = tmp_path / "sweep" / "3", tmp_path / "sweep"
    run_dir.mkdir(parents=True)
    name = JobName({"optimizer.lr": "0.01"}, trial=3)
    first = trackers.start(cfg, run_dir, sweep, name)
    for row in rows(3)[:2]:
        first.epoch(row)
    first.inner.run.finish(exit_code=1)  # as if the job were killed after epoch 2
    time.sleep(1.0)  # a resumed job starts seconds later: W&B names an offline run's folder by its start second
    again = trackers.start(cfg, run_dir, sweep, name)  # trainer.resume=true: the same W&B run
    again.epoch(rows(3)[2])
    again.finish({"status": "completed", "test_acc": 0.71, "best_val_acc": 0.75, "epochs_completed": 3})

    found = read_run(run_dir)
    assert len(found["runs"]) == 2 and len({r.run_id for r in found["runs"]}) == 1  # one run id, continued
    run = found["runs"][0]
    assert run.display_name == "trial=3,optimizer.lr=0.01" and run.run_group == "default/sweep"
    assert list(run.tags) == ["trial-3"] and run.project == "cifar-sweep"
    config = {i.key: json.loads(i.value_json) for i in run.config.update}
    assert config["optimizer._target_"] == "torch.optim.SGD" and config["seed"] == 0, config
    assert sorted(found["history"]) == [1, 2, 3]
    for row in rows(3):
        logged = found["history"][row["epoch"]]
        assert logged["val/acc"] == pytest.approx(row["val_acc"]) and logged["lr"] == pytest.approx(row["lr"])
    assert found["summary"]["test_acc"] == 0.71 and found["summary"]["status"] == "completed"
    assert found["exit"] == 0
