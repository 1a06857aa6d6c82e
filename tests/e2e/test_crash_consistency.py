"""A crash at any instant of a run loses nothing: the process is ended (exit 137, as SIGKILL) during
each atomic write of a run in turn, before and after its rename (files.atomic_write's
CIFAR_SWEEP_CRASH_AT hook, deterministic, no timer), and `trainer.resume=true` then completes it with
exactly one metrics.csv row per epoch and the numbers of an uninterrupted run."""

from __future__ import annotations

import csv
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import FAST, one_error_line, read_json, run_cli

ARGS = [
    *FAST,
    "trainer.epochs=2",
    "trainer.deterministic=true",
    "trainer.threads=1",
    "data.train_size=1200",
    "data.val_size=200",
    "data.test_size=200",
]
LEARNED = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")


def rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: r[k] for k in LEARNED} for r in csv.DictReader(f)]


@pytest.mark.parametrize(
    "saving",
    [[], ["trainer.epochs=3", "trainer.checkpoint_every=2"]],
    ids=["every-epoch", "every-2-epochs"],  # the second loses epoch 1 or 3 to a kill, and trains it again
)
def test_a_crash_at_any_write_of_a_run_resumes_to_the_same_results(tmp_path, saving):
    args = [*ARGS, *saving]
    straight = tmp_path / "straight"
    assert run_cli([*args, f"hydra.run.dir={straight}"]).returncode == 0
    expected, summary = rows(straight), read_json(straight / "summary.json")

    def crash_and_resume(write: int, stage: str) -> bool:
        """False when the run makes fewer writes than `write`; else crash there, resume, compare."""
        run_dir = tmp_path / f"{write}-{stage}"
        crashed = run_cli([*args, f"hydra.run.dir={run_dir}"], env={"CIFAR_SWEEP_CRASH_AT": f"{write}:{stage}"})
        if crashed.returncode == 0:
            return False
        assert crashed.returncode == 137, crashed.stderr[-2000:]
        resume = ["trainer.resume=true"]
        if not (run_dir / "checkpoints" / "config" / "config.yaml").is_file():  # killed while recording its config
            refused = run_cli([*args, *resume, f"hydra.run.dir={run_dir}"])
            assert refused.returncode == 2 and "holds no run to resume" in one_error_line(refused), write
            resume = []  # nothing trained there: the same command starts it afresh
        resumed = run_cli([*args, *resume, f"hydra.run.dir={run_dir}"])
        assert resumed.returncode == 0, (write, stage, resumed.stderr[-2000:])
        assert rows(run_dir) == expected, (write, stage)  # each epoch exactly once, the same numbers
        got = read_json(run_dir / "summary.json")
        for key in ("status", "test_acc", "best_val_acc", "best_epoch", "final_val_acc", "epochs_completed"):
            assert got[key] == summary[key], (write, stage, key)
        assert math.isclose(got["test_loss"], summary["test_loss"], rel_tol=1e-9)
        return True

    crashes = 0
    with ThreadPoolExecutor(2) as pool:  # both stages of a write side by side (one torch thread each)
        for write in range(1, 40):
            crashed = list(pool.map(crash_and_resume, [write, write], ["before", "after"]))
            if not any(crashed):  # the run makes fewer writes: every one has been crashed at
                assert crashes >= 10, crashes
                return
            assert all(crashed), write
            crashes += 2
    raise AssertionError("a 2- or 3-epoch run made more than 39 atomic writes")


def test_a_run_failed_by_a_full_disk_resumes_from_its_checkpoint_to_the_same_results(tmp_path):
    """The disk fills at epoch 2's first write (write 7: after the config record's three files and epoch
    1's metrics.csv, best.pt, last.pt): the run fails with one line; once there is space,
    trainer.resume=true continues from epoch 1's checkpoint (it does not start over) and ends as an
    uninterrupted run does."""
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    assert run_cli([*ARGS, f"hydra.run.dir={straight}"]).returncode == 0
    failed = run_cli([*ARGS, f"hydra.run.dir={run_dir}"], env={"CIFAR_SWEEP_CRASH_AT": "7:full"})
    assert failed.returncode == 2 and "No space left on device" in one_error_line(failed)
    assert read_json(run_dir / "summary.json")["status"] == "failed" and len(rows(run_dir)) == 1
    epoch_one = (run_dir / "checkpoints" / "last.pt").read_bytes()

    new_config = run_cli([*ARGS, "optimizer.lr=0.01", "trainer.resume=true", f"hydra.run.dir={run_dir}"])
    assert new_config.returncode == 2  # a failed run's directory takes no other config
    assert "this run (failed) was trained with optimizer.lr=0.001 (now 0.01)" in one_error_line(new_config)
    afresh = run_cli([*ARGS, f"hydra.run.dir={run_dir}"])
    assert afresh.returncode == 2 and "holds a run already (failed); add trainer.resume=true" in one_error_line(afresh)
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == epoch_one

    resumed = run_cli([*ARGS, "trainer.resume=true", f"hydra.run.dir={run_dir}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "after epoch 1" in resumed.stdout.split("resumed from", 1)[1].splitlines()[0]
    assert rows(run_dir) == rows(straight)
    assert read_json(run_dir / "summary.json")["test_acc"] == read_json(straight / "summary.json")["test_acc"]
