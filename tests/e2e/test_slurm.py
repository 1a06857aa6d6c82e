"""Sweeps on a real single-node Slurm cluster (scripts/slurm-cluster.sh: munge, slurmctld, slurmd) through
hydra/launcher=slurm: a grid, a search with two trials in flight (SQLite and PostgreSQL), a cancelled job
that a rerun finishes, and a timed-out job that requeues itself and resumes. Skipped without Slurm."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cifar_sweep.collect import collect

from helpers import FAST, HOPELESS_LR_SEARCH, ROOT, read_json, run_cli, study_trials

pytestmark = pytest.mark.slurm
CLUSTER = ROOT / "scripts" / "slurm-cluster.sh"
# a CPU node: no GPU, one core and 1 GB per job, so the two cores run two jobs at once
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]
SMALL = [*FAST, "data.train_size=1000", "data.val_size=200", "data.test_size=200"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    if not (shutil.which("slurmctld") and shutil.which("munged")):
        pytest.skip("Slurm is not installed (Debian: apt-get install slurm-wlm munge); .ci/run installs it")
    if os.geteuid() != 0:
        pytest.skip("the Slurm test cluster runs its daemons as root")
    started = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    saved = dict(os.environ)
    for line in started.stdout.splitlines():  # export SLURM_CONF=... / export PATH=<stand-in sacct>:$PATH
        key, value = line.removeprefix("export ").split("=", 1)
        os.environ[key] = value.replace("$PATH", saved["PATH"])
    yield
    os.environ.clear()
    os.environ.update(saved)
    subprocess.run([str(CLUSTER), "stop"], capture_output=True, timeout=120)


def files(job_dir: Path) -> set[str]:
    return {str(p.relative_to(job_dir)) for p in job_dir.rglob("*") if p.is_file() and ".submitit" not in p.parts}


def test_a_grid_on_slurm_writes_what_the_basic_launcher_writes(tmp_path):
    for where, launcher in (("slurm", SLURM), ("local", [])):
        result = run_cli(
            ["-m", *SMALL, "trainer.epochs=1", "seed=0,1", *launcher, f"hydra.sweep.dir={tmp_path / where}"]
        )
        assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert files(tmp_path / "slurm" / job) == files(tmp_path / "local" / job)
        assert read_json(tmp_path / "slurm" / job / "summary.json")["status"] == "completed"
    assert (tmp_path / "slurm" / ".submitit").is_dir()  # it really went through Slurm
    assert list(collect(tmp_path / "slurm")["status"]) == ["completed", "completed"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_search_runs_two_trials_at_a_time_on_slurm_and_prunes(tmp_path, backend, request):
    storage = f"sqlite:///{tmp_path}/study.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    result = run_cli(
        [
            "-m",
            *SMALL,
            *HOPELESS_LR_SEARCH,
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweeper.study_name=slurm_{backend}",
            f"hydra.sweep.dir={tmp_path}/sweep",
            *SLURM,
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 trials at a time (each slot refilled at once)" in result.stdout + result.stderr
    trials = study_trials(storage, f"slurm_{backend}")
    states = {t.number: t.state.name for t in trials}
    assert len(trials) == 4 and set(states.values()) <= {"COMPLETE", "PRUNED"}
    assert all(t.state.name == ("PRUNED" if t.params["optimizer.lr"] == 1e-9 else "COMPLETE") for t in trials)
    jobs = collect(tmp_path / "sweep")
    assert len(jobs) == 4 and set(jobs["trial_state"]) == set(states.values())


def slurm_jobs() -> list[str]:
    return subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout.split("\n")


def test_a_cancelled_job_is_one_line_the_others_finish_and_a_rerun_resumes_it(tmp_path):
    # long enough (about 20 s) that the job is still running when it is cancelled after its first epoch
    command = [
        "-m",
        *SMALL,
        "data.train_size=2000",
        "trainer.epochs=20",
        "seed=0,1",
        *SLURM,
        f"hydra.sweep.dir={tmp_path}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sweep = subprocess.Popen(
        [os.sys.executable, str(ROOT / "run.py"), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / "0" / "metrics.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.5)
    running = [line.split()[0] for line in slurm_jobs() if line.endswith("RUNNING") and line.split()[0].endswith("_0")]
    assert running, slurm_jobs()
    subprocess.run(["scancel", running[0]], check=True)
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-3000:]
    lines = [line for line in output.splitlines() if "ended CANCELLED" in line]
    assert len(lines) == 1 and f"job 0 (Slurm job {running[0]}) ended CANCELLED" in lines[0], output[-3000:]
    assert "Traceback" not in output
    assert read_json(tmp_path / "1" / "summary.json")["status"] == "completed"  # the other job finished
    assert not (tmp_path / "0" / "summary.json").exists()
    done_before = len(metrics.read_text().splitlines()) - 1

    rerun = run_cli([*command, "trainer.resume=true"])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = read_json(tmp_path / "0" / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 20
    assert "resumed from" in (tmp_path / "0" / "run.log").read_text()
    assert len(metrics.read_text().splitlines()) - 1 == 20 and 1 <= done_before < 20


PACED_NET = """
import os
import time

from torch import nn


class PacedNet(nn.Module):
    \"\"\"A linear classifier whose training steps take `step_seconds` each until its run has a checkpoint:
    slow in the job's first slot, whenever Slurm's signal comes, and quick once requeued and resumed.\"\"\"

    def __init__(self, num_classes: int, in_channels: int, step_seconds: float, checkpoint: str) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes))
        self.step_seconds = 0.0 if os.path.exists(checkpoint) else step_seconds

    def forward(self, x):
        if self.training:
            time.sleep(self.step_seconds)
        return self.head(x)
"""
PACED_CONF = """\
_target_: paced.PacedNet
num_classes: ${data.num_classes}
in_channels: ${data.channels}
step_seconds: 0.4
checkpoint: ${hydra:runtime.output_dir}/checkpoints/last.pt
"""


def test_a_timed_out_job_requeues_itself_and_resumes(tmp_path):
    """timeout_min=2: Slurm signals the job timeout_min/5 = 24 s before its limit, or up to 60 s earlier
    (its event resolution), so 36-96 s in; the job checkpoints, requeues (Slurm holds a requeued job for
    about 2 minutes) and finishes from its last epoch. The model paces the first slot (80 epochs of 4
    steps of 0.4 s: 128 s, longer than the limit) and not the resumed one, so the test does not depend on
    when the signal comes or how busy the machine is."""
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "paced.yaml").write_text(PACED_CONF)
    (tmp_path / "paced.py").write_text(PACED_NET)
    result = run_cli(
        [
            "-m",
            "--config-dir",
            str(tmp_path / "conf"),
            "model=paced",
            "data=synthetic",
            "trainer.progress_bar=false",
            "data.train_size=256",  # 4 steps of 64
            "data.val_size=64",
            "data.test_size=64",
            "trainer.epochs=80",
            "seed=0",
            *SLURM,
            "hydra.launcher.timeout_min=2",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        env={"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    job = tmp_path / "sweep" / "0"
    summary = read_json(job / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 80
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.err"))
    assert logs.count("Caught signal SIGUSR2") == 1 and "this job is timed-out" in logs
    assert re.search(r"resumed from .* after epoch [1-9]", (job / "run.log").read_text())


def test_a_claim_is_decided_with_its_looks_run_on_slurm(tmp_path):
    """`decide` passes the launcher to each look's multirun: a claim that holds by construction, its runs
    Slurm jobs."""
    conf = tmp_path / "my_conf" / "claims"
    conf.mkdir(parents=True)
    (conf / "lr.yaml").write_text(
        "learns:\n  key: optimizer.lr\n  cell: 3e-3\n  others: [1e-9]\n  kind: better\n  min_seeds: 2\n  max_seeds: 3\n"
    )
    runs = [*SMALL, "data.train_size=2000", "model=vgg11", *SLURM]
    result = run_cli(["--config-dir", str(conf.parent), "claims=lr", *runs], module="cifar_sweep.decide", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    verdicts = read_json(tmp_path / "multirun" / "claims" / "lr" / "verdicts.json")
    assert verdicts["learns"]["verdict"] == "holds"
    assert (tmp_path / "multirun" / "claims" / "lr" / "learns" / "look-0" / ".submitit").is_dir()  # through Slurm
