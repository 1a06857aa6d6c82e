"""hydra/launcher=slurm: hydra-submitit-launcher's Slurm launcher, made to survive cancelled,
timed-out and preempted jobs.

- A job that Slurm ends (scancel, a node failure, too many timeouts) is one log line, and the sweep
  waits for and keeps every other job's result. The job returns `Interrupted` (optuna_pruning_sweeper):
  a grid carries on, and an Optuna search fails that trial and runs it again, up to max_retry times.
  Rerunning a grid's command with trainer.resume=true finishes the job from its last checkpoint.
- On Slurm's timeout or preemption signal, submitit checkpoints and requeues the job; the requeued job
  runs with trainer.resume=true, so it continues from its last epoch.
- signal_delay_s: null sends that signal a fifth of timeout_min before the limit (at most 120 s), so a
  short time limit still leaves the job time to run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
RESUME = "trainer.resume=true"


@dataclass
class ResilientSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.cifar_sweep_launchers.slurm.ResilientSlurmLauncher"
    signal_delay_s: int | None = None  # null: timeout_min * 60 / 5 seconds, at most 120
    max_num_timeout: int = 3            # requeues after a timeout or preemption (submitit's default: 0)


ConfigStore.instance().store(group="hydra/launcher", name="resilient_slurm", node=ResilientSlurmConf,
                             provider="cifar_sweep")


def signal_delay(timeout_min: int) -> int:
    return max(1, min(120, int(timeout_min * 60 / 5)))


def with_resume(overrides: Sequence[str]) -> list[str]:
    return [*(o for o in overrides if not o.startswith(("trainer.resume=", "+trainer.resume="))), RESUME]


class ResilientSlurmLauncher(SlurmLauncher):
    def __init__(self, **params: Any) -> None:
        if params.get("signal_delay_s") is None:
            params["signal_delay_s"] = signal_delay(params["timeout_min"])
        super().__init__(**params)

    def checkpoint(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on the timeout/preemption signal: requeue this job, resuming."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, with_resume(sweep_overrides), *args, **kwargs)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        params = dict(self.params)
        init_keys = {"max_num_timeout", "python"}
        executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                         **{f"slurm_{k}": params.pop(k) for k in init_keys if k in params})
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Slurm sweep output dir : {sweep_dir}")
        numbers = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for idx, overrides in zip(numbers, job_overrides):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        jobs = executor.map_array(self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(job_overrides),
                                  list(numbers), [f"job_id_for_{i}" for i in numbers],
                                  [Singleton.get_state()] * len(job_overrides))
        return [self.result(job, idx, overrides) for job, idx, overrides in zip(jobs, numbers, job_overrides)]

    def result(self, job: Any, idx: int, overrides: Sequence[str]) -> JobReturn:
        """The job's JobReturn; one line and `Interrupted` when Slurm ended it before it could return."""
        import submitit
        from optuna_pruning_sweeper import Interrupted

        try:
            return job.results()[0]
        except submitit.core.utils.FailedJobError as e:  # the job itself raised: a crash, shown by the sweeper
            return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=e)
        except submitit.core.utils.UncompletedJobError:
            state = job.state
        job_dir = Path(str(self.config.hydra.sweep.dir)) / str(idx)
        log.warning(f"job {idx} (Slurm job {job.job_id}) ended {state} before it finished; the other jobs go on. "
                    f"Its files stay in {job_dir}; rerun the command with {RESUME} to finish it")
        return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                         _return_value=Interrupted(f"Slurm job {job.job_id} {state}"))
