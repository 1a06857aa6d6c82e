"""Our Hydra launchers' contracts with upstream, and the fused launcher's grouping.

hydra/launcher=slurm reuses hydra-submitit-launcher's `launch` whole and changes only how a job's
result is read, through submitit's `SlurmExecutor.job_class`; these tests fail when either upstream
moves what that relies on."""

from __future__ import annotations

import inspect

from submitit.slurm.slurm import SlurmExecutor, SlurmJob

from hydra_plugins.cifar_sweep_launchers.fused import groups, shape
from hydra_plugins.cifar_sweep_launchers.slurm import reading_results_with, resilient_job_class, signal_delay
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

from helpers import compose_cfg


def test_upstreams_launch_reads_each_result_from_jobs_made_where_we_swap_the_class():
    from submitit.core.core import PicklingExecutor

    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert "executor.map_array(" in source and ".results()[0]" in source
    assert "self.job_class(" in inspect.getsource(PicklingExecutor._submit_command)  # one job
    assert "SlurmJob(folder=" in inspect.getsource(SlurmExecutor._internal_process_submissions)  # an array


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
