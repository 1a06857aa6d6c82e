"""Our Hydra launchers' contracts with upstream, and the fused launcher's grouping.

hydra/launcher=slurm reuses hydra-submitit-launcher's `launch` whole and changes only how a job's
result is read, through submitit's `SlurmExecutor.job_class`: submitit must make its jobs from the
class we swap in (checked with a stand-in `sbatch`), and our class must turn each way a job can end into
a result (checked with a stand-in job). The real cluster runs are tests/e2e/test_slurm.py."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import submitit
from hydra.core.utils import JobStatus
from submitit.slurm.slurm import SlurmExecutor, SlurmJob

from cifar_sweep.sweeps import RESUME
from hydra_plugins.cifar_sweep_launchers.fused import groups, shape
from hydra_plugins.cifar_sweep_launchers.slurm import (
    job_return,
    reading_results_with,
    resilient_job_class,
    signal_delay,
)
from optuna_pruning_sweeper import Interrupted

from helpers import compose_cfg


def test_submitit_makes_a_job_and_an_arrays_jobs_from_the_class_we_swap_in(tmp_path, monkeypatch):
    """submitit's Slurm executor, with `sbatch` and `srun` stand-ins that only say what sbatch says."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sbatch", "srun"):
        (bin_dir / name).write_text("#!/bin/sh\necho 'Submitted batch job 4242'\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    ours = resilient_job_class(tmp_path)
    with reading_results_with(ours):
        executor = SlurmExecutor(folder=tmp_path / "jobs", max_num_timeout=0)
        one = executor.submit(print, 1)
        array = executor.map_array(print, [1, 2])
    assert type(one) is ours and [type(job) for job in array] == [ours, ours]
    assert [one.job_id, *(job.job_id for job in array)] == ["4242", "4242_0", "4242_1"]


def stand_in_job(tmp_path, monkeypatch, results):
    """Our job class over a SlurmJob whose results() is `results`, as Slurm job 42 (job 3 of the sweep)."""
    monkeypatch.setattr(SlurmJob, "results", results)

    class StandIn(resilient_job_class(tmp_path)):  # type: ignore[misc, valid-type]
        state = "CANCELLED"  # not asked of Slurm

        def submission(self):
            return SimpleNamespace(args=(["optimizer=sgd"], "config", 3))

    return StandIn(folder=tmp_path / "jobs", job_id="42")


def test_a_finished_jobs_result_passes_through(tmp_path, monkeypatch):
    ret = job_return(["seed=1"], JobStatus.COMPLETED, 0.5)
    assert stand_in_job(tmp_path, monkeypatch, lambda self: [ret]).results() == [ret]


def test_a_job_that_raised_is_its_error(tmp_path, monkeypatch):
    error = submitit.core.utils.FailedJobError("Traceback ... ValueError: boom")

    def raised(self):
        raise error

    (ret,) = stand_in_job(tmp_path, monkeypatch, raised).results()
    assert ret.status == JobStatus.FAILED and ret.overrides == ["optimizer=sgd"]
    with pytest.raises(submitit.core.utils.FailedJobError):
        ret.return_value  # noqa: B018  (raises the job's error, as for any failed Hydra job)


def test_a_job_slurm_ended_is_interrupted_with_one_line(tmp_path, monkeypatch, caplog):
    def ended(self):
        raise submitit.core.utils.UncompletedJobError("job 42 has not produced any output")

    with caplog.at_level(logging.WARNING, logger="hydra_plugins.cifar_sweep_launchers.slurm"):
        (ret,) = stand_in_job(tmp_path, monkeypatch, ended).results()
    assert ret.status == JobStatus.COMPLETED and ret.overrides == ["optimizer=sgd"]
    assert isinstance(ret.return_value, Interrupted) and str(ret.return_value) == "Slurm job 42 CANCELLED"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("job 3 (Slurm job 42) ended CANCELLED before it finished") and RESUME in line
    assert str(tmp_path / "3") in line


def test_the_job_class_is_ours_only_while_a_sweep_launches(tmp_path):
    from submitit.slurm import slurm

    ours = resilient_job_class(tmp_path)
    assert issubclass(ours, SlurmJob) and ours is not SlurmJob
    with reading_results_with(ours):
        assert slurm.SlurmExecutor.job_class is ours and slurm.SlurmJob is ours
    assert slurm.SlurmExecutor.job_class is SlurmJob and slurm.SlurmJob is SlurmJob


def test_signal_delay_is_a_fifth_of_the_time_limit_at_most_two_minutes():
    assert signal_delay(5) == 60 and signal_delay(60) == 120 and signal_delay(0) == 1


def test_jobs_of_one_shape_fuse_and_others_form_their_own_groups():
    configs = {
        i: compose_cfg(overrides)
        for i, overrides in enumerate(
            [
                ["optimizer=adam", "seed=0"],
                ["optimizer=sgd", "seed=1", "scheduler=step"],  # differs only in what may differ
                ["model.width=0.25"],  # another shape
                ["optimizer=rmsprop", "model.dropout=0.2"],
            ]
        )
    }
    assert shape(configs[0]) == shape(configs[1]) == shape(configs[3]) != shape(configs[2])
    assert groups(configs, max_fused=8) == [[0, 1, 3], [2]]
    assert groups(configs, max_fused=2) == [[0, 1], [3], [2]]
