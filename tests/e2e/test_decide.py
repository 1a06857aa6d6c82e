"""`python -m cifar_sweep.decide`: claims decided with real runs in subprocesses, on tiny synthetic
data: a claim that holds by construction (lr 3e-3 beats 1e-9, on each of two batch sizes), one that
does not (their looks run by the fused launcher), one left inconclusive by its budget, and a killed
decide that continues without running a finished seed again (its looks run by joblib). The Slurm
launcher: tests/e2e/test_slurm.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cifar_sweep.collect import collect

from helpers import ROOT, run_cli

RUNS = [
    "data=synthetic",
    "data.train_size=2000",
    "data.val_size=200",
    "data.test_size=200",
    "model=vgg11",
    "model.width=0.125",
    "trainer.epochs=2",
    "trainer.progress_bar=false",
]
CLAIMS = """
learns:
  text: A learning rate of 3e-3 beats 1e-9, at batch 32 and at batch 64.
  grid: ["batch_size=32,64"]
  key: optimizer.lr
  cell: 3e-3
  others: [1e-9]
  kind: better
  margin: 0.1
  per: batch_size
  min_seeds: 2
stalls:
  text: A learning rate of 1e-9 beats 3e-3 (it does not).
  key: optimizer.lr
  cell: 1e-9
  others: [3e-3]
  kind: better
  min_seeds: 2
"""
CLOSE = """
close:
  text: 3e-3 beats 2.9e-3 (too close to tell in a few seeds).
  key: optimizer.lr
  cell: 3e-3
  others: [2.9e-3]
  kind: better
  min_seeds: 2
  max_seeds: 6
  budget: {runs: 6}
"""


def claims_dir(tmp_path: Path, name: str, text: str) -> Path:
    conf = tmp_path / "my_conf"
    (conf / "claims").mkdir(parents=True, exist_ok=True)
    (conf / "claims" / f"{name}.yaml").write_text(text)
    return conf


def test_a_claim_that_holds_by_construction_holds_and_its_reverse_does_not(tmp_path):
    conf = claims_dir(tmp_path, "lr", CLAIMS)
    fused = [*RUNS, "hydra/launcher=fused"]
    result = run_cli(["--config-dir", str(conf), "claims=lr", *fused], module="cifar_sweep.decide", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = tmp_path / "multirun" / "claims" / "lr"
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["learns"]["verdict"] == "holds"
    assert verdicts["learns"]["seeds"] == {"32": {"0.003": 2, "1e-09": 2}, "64": {"0.003": 2, "1e-09": 2}}
    assert verdicts["stalls"]["verdict"] == "does not hold"
    assert verdicts["stalls"]["seeds"] == {"": {"1e-09": 2, "0.003": 2}}
    report = (out / "claims.md").read_text()
    assert "| learns | **holds** | 32: 0.003 2, 1e-09 2; 64: 0.003 2, 1e-09 2 | 8 |" in report
    assert "**Verdict: does not hold**" in report and "- 1e-09 - 0.003: -0." in report
    assert (out / "claims" / "learns.png").stat().st_size > 10_000
    jobs = collect(out)  # which claim each run served
    assert sorted(jobs["claim"].value_counts().items()) == [("learns[32]", 4), ("learns[64]", 4), ("stalls", 4)]
    again = run_cli(["--config-dir", str(conf), "claims=lr", *fused], module="cifar_sweep.decide", cwd=tmp_path)
    assert again.returncode == 0 and "look 1," not in again.stdout  # decided from the runs there: none ran again
    assert json.loads((out / "verdicts.json").read_text()) == verdicts


def test_a_killed_decide_continues_without_rerunning_a_finished_seed_and_stops_at_its_budget(tmp_path):
    conf = claims_dir(tmp_path, "close", CLOSE)
    out = tmp_path / "multirun" / "claims" / "close" / "close"
    joblib = [*RUNS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=1"]  # a look's two runs one after the other
    argv = [sys.executable, "-m", "cifar_sweep.decide", "--config-dir", str(conf), "claims=close", *joblib]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((out / "look-1").glob("*/summary.json")) and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # decide and look 2's second run with it
    first.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("summary.json")}
    assert len(finished) == 5, sorted(finished)  # look 1's four runs and the first of look 2's
    result = run_cli(["--config-dir", str(conf), "claims=close", *joblib], module="cifar_sweep.decide", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items())  # not one finished run again
    assert "close: look 2," in result.stdout  # the interrupted look resumed (begun within budget, it finishes)
    jobs = collect(out)
    assert len(jobs) == 6 and (jobs["status"] == "completed").all()
    assert sorted(zip(jobs["optimizer.lr"], jobs["seed"])) == sorted(
        (lr, seed) for lr in (0.0029, 0.003) for seed in range(3)
    )
    verdict = json.loads((tmp_path / "multirun" / "claims" / "close" / "verdicts.json").read_text())["close"]
    assert verdict["verdict"] == "inconclusive" and verdict["why"].startswith("budget spent: 6 runs")
    assert verdict["runs"] == 6
