"""Single runs as a user starts them (`python run.py ...`): what they log, divergence, and a SIGKILL
that trainer.resume=true recovers from."""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from helpers import FAST, ROOT, read_json, run_cli


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_val_size_zero_validates_on_the_test_set_and_says_so(tmp_path):
    result = run_cli([*FAST, "data.val_size=0", "objective=test_acc", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run.log").read_text()
    assert "per-epoch validation on the test set (data.val_size=0" in log
    assert re.search(r"epoch 1/2 .* about \d+ s left", log) and re.search(r"epoch 2/2 .* done", log)
    summary = read_json(tmp_path / "summary.json")
    assert summary["final_val_acc"] == summary["test_acc"]  # the last epoch's validation is the test set
    assert summary["test_acc"] > 0.5


def test_diverging_run_stops_and_is_recorded_as_failed(tmp_path):
    result = run_cli([*FAST, "optimizer=sgd", "optimizer.lr=1e12", "regularization=none", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 1, result.stderr
    summary = read_json(tmp_path / "summary.json")
    assert summary["status"] == "failed" and summary["error"].startswith("diverged")
    assert summary["epochs_completed"] == 0 and "test_acc" not in summary


@pytest.mark.readme  # make test runs it: a README command
def test_sigkilled_run_resumes_to_the_same_metrics(tmp_path):
    args = [
        *FAST,
        "trainer.epochs=4",
        "trainer.deterministic=true",
        "trainer.threads=1",
        "data.train_size=3000",
        "regularization=weight_decay_augmentation",
        "model.dropout=0.2",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli([*args, f"hydra.run.dir={straight}"]).returncode == 0

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={killed}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not ((killed / "metrics.csv").is_file() and len(read_metrics(killed)) >= 2):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through epoch 3
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"

    resumed = run_cli([*args, "trainer.resume=true", f"hydra.run.dir={killed}"])
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_metrics(straight), read_metrics(killed)
    assert [r["epoch"] for r in b] == ["1", "2", "3", "4"]  # each epoch exactly once
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert [r[key] for r in a] == [r[key] for r in b], key
    sa, sb = read_json(straight / "summary.json"), read_json(killed / "summary.json")
    assert sa["test_acc"] == sb["test_acc"] and sa["best_val_acc"] == sb["best_val_acc"]
    assert math.isclose(sa["test_loss"], sb["test_loss"], rel_tol=1e-9)
